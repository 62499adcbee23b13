"""Other features' events become notifications. The features announce them with blinker
signals (grading, assessment, feedback, expert, certificates) and never import this
feature; ``wiring.init_app`` connects these receivers. Each receiver makes its notices
with a key naming the occurrence, so a signal sent twice notifies once. Flush only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import select
from werkzeug.routing import BuildError

from lms.accounts.models import User
from lms.assessment.models import Attempt, Response
from lms.certificates.models import Certificate
from lms.cohorts.enrolment import active_enrolment
from lms.cohorts.models import Cohort
from lms.coursework.models import Submission, SubmissionStatus
from lms.coursework.services import dates_for
from lms.coursework.sharing import groups_of, learner_ids
from lms.database import DbSession, zone_named
from lms.expert.models import ExpertEvaluation
from lms.feedback.models import FeedbackResponse
from lms.grading.models import Grade, GradeStatus, PeerReview
from lms.learning.models import OverrideKind, ScheduleOverride
from lms.learning.services import build_schedule
from lms.notifications.models import Notification, NotificationEvent
from lms.notifications.services import Notice, mark_keys_read, notify_all, withdraw
from lms.web.filters import localdeadline


def link_to(endpoint: str, **values: Any) -> str | None:
    """The path of a page (no request needed: the reminder command has none), or None
    outside an app or for an endpoint this app does not have."""
    if not has_app_context():
        return None
    try:
        return current_app.url_map.bind("localhost").build(endpoint, values)
    except BuildError:
        return None


def _points(score: float | None, max_score: float) -> str:
    return "" if score is None else f"{score:g} of {max_score:g} points."


def on_grade_saved(grade: Grade, session: DbSession, now: datetime) -> None:
    """A released grade, or work returned for revision, tells the learner: every member
    when it is a team's work, each with their own (adjusted) points."""
    submission = grade.submission
    assignment = submission.assignment
    link = link_to("grading.feedback", key=assignment.key)
    group = groups_of(session, [submission.id]).get(submission.id)
    learners = learner_ids(submission, group)
    if grade.status == GradeStatus.RELEASED and submission.status == SubmissionStatus.RELEASED:
        notices = [Notice(uid, NotificationEvent.GRADE_RELEASED, f"grade:{grade.id}:released:{grade.revision}",
                          f"Your grade for {assignment.title} is released",
                          _points(group.score_of(uid, grade.score, grade.max_score) if group else grade.score,
                                  grade.max_score), link) for uid in learners]
    elif submission.status == SubmissionStatus.RETURNED:
        if grade.released_at is not None:
            # Returned after its grade was released: the release is over (the feedback page
            # explains the return), so its notices no longer say "released" beside this one.
            _withdraw_release_notices(session, grade, now)
        notices = [Notice(uid, NotificationEvent.RETURNED_FOR_REVISION, f"grade:{grade.id}:returned:{grade.revision}",
                          f"{assignment.title} was returned for revision", body, link)
                   for uid, body in _revision_words(session, submission, learners, now).items()]
    else:
        if grade.released_at is not None and submission.status == SubmissionStatus.SUBMITTED:
            # A released grade taken back by a draft: its notices gave points the learner can
            # no longer read ("No grade has been released"); they go until it is released again.
            _withdraw_release_notices(session, grade, now)
        return
    notify_all(session, notices, now)


def _withdraw_release_notices(session: DbSession, grade: Grade, now: datetime) -> None:
    """Take back every notice that told of ``grade`` as released: each release's (keyed by
    the revision released) and each member's adjustment of it (keyed by the moment), whose
    points the learner can no longer read once the grade is taken back or the work returned."""
    adjusted = session.scalars(select(Notification.key).where(Notification.key.like(f"grade:{grade.id}:adjusted:%")))
    withdraw(session, [*(f"grade:{grade.id}:released:{n}" for n in range(1, grade.revision + 1)), *adjusted], now)


def _revision_words(session: DbSession, submission: Submission, learners: Sequence[int], now: datetime) -> dict[int, str]:
    """What each learner is told of a return: until when they may hand the work in again on
    their schedule (``dates_for``: the revision window, or their due date when later), with
    the hour on their own clock when the cohort's day ends at another hour there, as their
    work page says it (``localdeadline``)."""
    cohort = session.get(Cohort, submission.cohort_id) if submission.cohort_id is not None else None
    zones = dict(session.execute(select(User.id, User.timezone).where(User.id.in_(list(learners)))).all())
    words = {}
    for uid in learners:
        dates = dates_for(submission.assignment, build_schedule(session, cohort, uid, now), submission) if cohort else None
        if dates is None:
            words[uid] = "Read the feedback, revise your work and hand it in again."
            continue
        until = localdeadline(dates.deadline, zone_named(zones.get(uid)))
        words[uid] = (f"Read the feedback, revise your work and hand it in again by {dates.due_on:%d %B %Y}"
                      f"{f' ({until}, your time)' if until else ''}.")
    return words


def on_adjustment_saved(grade: Grade, *, session: DbSession, now: datetime, user_id: int, **_: object) -> None:
    """A released team grade adjusted for one member: they are told their new points."""
    submission = grade.submission
    assignment = submission.assignment
    group = groups_of(session, [submission.id]).get(submission.id)
    points = group.score_of(user_id, grade.score, grade.max_score) if group else grade.score
    notify_all(session, [Notice(user_id, NotificationEvent.GRADE_RELEASED, f"grade:{grade.id}:adjusted:{user_id}:{now:%Y%m%d%H%M%S%f}",
                                f"Your grade for {assignment.title} was adjusted", _points(points, grade.max_score),
                                link_to("grading.feedback", key=assignment.key))], now)


def on_peer_review_completed(review: PeerReview, session: DbSession, now: datetime) -> None:
    assignment = review.submission.assignment
    notify_all(session, [Notice(review.submission.user_id, NotificationEvent.PEER_REVIEW_RECEIVED, f"peer-review:{review.id}",
                                f"A peer reviewed your {assignment.title}", "",
                                link_to("grading.peer_reviews", key=assignment.key))], now)


def on_attempt_scored(attempt: Attempt, session: DbSession) -> None:
    """An attempt scored after a grader marked its essays: the learner hears it once."""
    graded = session.scalar(select(Response.id).where(Response.attempt_id == attempt.id,
                                                      Response.graded_by_id.is_not(None)).limit(1))
    if graded is None:
        return
    notify_all(session, [Notice(attempt.user_id, NotificationEvent.ESSAY_GRADED, f"attempt:{attempt.id}:essays-graded",
                                f"Your essay answers in {attempt.quiz.title} are graded",
                                _points(attempt.score, attempt.max_score),
                                link_to("assessment.result", attempt_id=attempt.id))])


def on_feedback_answered(response: FeedbackResponse, session: DbSession, now: datetime) -> None:
    """A stakeholder answered: the learner, and the instructors of their cohort."""
    invite = response.invite
    notices = [Notice(invite.learner_id, NotificationEvent.FEEDBACK_RECEIVED, f"feedback:{invite.id}",
                      f"{invite.name} gave you feedback on {invite.module.title}", "", link_to("feedback.mine"))]
    enrolment = active_enrolment(session, invite.learner_id)
    if enrolment is not None:
        link = link_to("feedback.learner", cohort_id=enrolment.cohort_id, user_id=invite.learner_id)
        notices += [Notice(staff.id, NotificationEvent.FEEDBACK_LINK_ANSWERED, f"feedback:{invite.id}:answered",
                           f"{invite.name} answered the feedback link of {invite.learner.name} on {invite.module.title}",
                           "", link)
                    for staff in enrolment.cohort.instructors]
    notify_all(session, notices, now)


def on_expert_rated(evaluation: ExpertEvaluation, session: DbSession, now: datetime) -> None:
    """An expert rated a piece of work: the learner, and whoever sent the link."""
    invite = evaluation.invite
    submission = invite.submission
    assignment = submission.assignment
    learners = learner_ids(submission, groups_of(session, [submission.id]).get(submission.id))  # a team: every member
    notices = [Notice(user_id, NotificationEvent.FEEDBACK_RECEIVED, f"expert:{invite.id}",
                      f"{invite.name} rated your {assignment.title}", "", link_to("expert.mine", key=assignment.key))
               for user_id in learners]
    if invite.invited_by_id not in learners:
        link = (link_to("expert.submission", cohort_id=submission.cohort_id, submission_id=submission.id)
                if submission.cohort_id is not None else None)
        notices.append(Notice(invite.invited_by_id, NotificationEvent.FEEDBACK_LINK_ANSWERED, f"expert:{invite.id}:answered",
                              f"{invite.name} answered the expert link for {assignment.title}", "", link))
    notify_all(session, notices, now)


def on_certificate_issued(certificate: Certificate, session: DbSession, now: datetime) -> None:
    notify_all(session, [Notice(certificate.user_id, NotificationEvent.CERTIFICATE_ISSUED, f"certificate:{certificate.id}",
                                f"Your {certificate.level.title} certificate is issued",
                                "Share it, or add its badge to your profile.",
                                link_to("certificates.certificate", code=certificate.code))], now)


def _schedule_notice(override: ScheduleOverride, cohort: Cohort, removed: bool) -> Notice:
    """Staff changed a learner's dates: an extension or early access granted, or an
    extension removed. The learner is told, as a message from staff (their choice of channel
    for staff messages), with a link to their schedule: a due date that moves back without a
    word is a hand-in found late."""
    part = f"{override.phase.module.title}: {override.phase.title}"
    if removed:
        title = f"Your extension for {part} is removed"
        body = (f"The extension to {override.on_date:%d %B %Y} no longer applies: the regular due dates of this part "
                "apply again. Your schedule shows them.")
    elif override.kind == OverrideKind.EXTENSION:
        title = f"You have an extension for {part}"
        body = f"Its work is due by {override.on_date:%d %B %Y}. Your schedule shows the new dates."
    else:
        title = f"Early access to {part}"
        body = f"It opens for you on {override.on_date:%d %B %Y}; its due dates stay as they are."
    if override.note and not removed:
        body += f"\n\n{override.note}"
    return Notice(override.user_id, NotificationEvent.MESSAGE, f"schedule:{override.id}:{'removed' if removed else 'granted'}",
                  f"{cohort.name}: {title}", body, link_to("learning.schedule"))


def on_schedule_changed(override: ScheduleOverride, session: DbSession, cohort: Cohort, now: datetime) -> None:
    """An extension or early access granted: the learner is told (``_schedule_notice``)."""
    notify_all(session, [_schedule_notice(override, cohort, removed=False)], now)


def on_extensions_removed(cohort: Cohort, session: DbSession, overrides: list[ScheduleOverride], now: datetime) -> None:
    """Extensions removed (one learner, or the gradebook's several): each learner is told, in one batch."""
    notify_all(session, [_schedule_notice(o, cohort, removed=True) for o in overrides], now)


def on_review_recorded(reviewer: User, *, session: DbSession, cohort: Cohort, learner: User, now: datetime) -> None:
    """An at-risk review recorded: the reviewer's notices that the learner is at risk in that
    cohort (``reminders``: one a spell of risk) are marked read. They had acted on them; left
    unread, they still asked for attention in the centre and its count."""
    prefix = f"at-risk:{cohort.id}:{learner.id}:"
    mark_keys_read(session, reviewer.id, select(Notification.key).where(
        Notification.user_id == reviewer.id, Notification.event == NotificationEvent.LEARNER_AT_RISK,
        Notification.key.startswith(prefix, autoescape=True)), now)
