"""The kinds of data kept about a person: a registry of small classes, one a kind, each
knowing how to export its rows for the person (``export``), which files go with them
(``files``) and what erasure does to them (``erase``).

Every foreign key to ``users`` must be claimed by exactly one kind's ``covers``
(``table.column``): the tests walk the SQLAlchemy metadata and fail on a key nobody claims,
so a new feature that keeps data about people has to decide here what export and erasure
do with it.

Erasure keeps what cohort statistics are built from (scores, levels, evidence, mastery,
completion, enrolment) against the anonymised account, and removes what is personal:
the name and email, credentials and links, text the learner wrote (submission bodies,
reflections, notes, comments on teammates), text others wrote about them that has no
statistical use, uploaded files, notifications. The one exception the issue asks for:
peer reviews they wrote stay, text included, shown as by "a former learner" (the account's
new name). Only learners are erased: staff and admins hold other people's records (grades
they gave, notes they wrote) and are deactivated in the admin console instead; the
columns that name someone acting as staff are claimed by ``StaffActions``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any, ClassVar

from sqlalchemy import delete, inspect, or_, select, update
from sqlalchemy.orm import selectinload

from lms.accounts.models import LoginUnlockToken, PasswordResetToken, SignInDevice, User, erased_email
from lms.announcements.models import Announcement, AnnouncementDismissal
from lms.api.models import ApiToken
from lms.assessment.kinds import QuestionKind
from lms.assessment.models import Attempt, QuestionVersion, Quiz, Response
from lms.assessment.questions import part_named, type_of
from lms.catalog.models import Lesson, Level, Metric, Objective
from lms.certificates.models import Certificate
from lms.cohorts.models import (
    Cohort,
    Enrolment,
    EnrolmentImport,
    Invitation,
    Organization,
    TimeAllowance,
    cohort_instructors,
    organization_admins,
)
from lms.competency.models import AtRiskReview
from lms.coursework.models import Assignment, Attachment, Submission
from lms.database import DbSession, rowcount
from lms.discussions.models import Post, Thread
from lms.expert.models import ExpertInvite
from lms.feedback.models import FeedbackInvite
from lms.grading.models import Grade, GradeEvent, GradeStatus, PeerReview, PeerReviewStatus
from lms.grading.services import returned
from lms.inbox.models import Conversation, ConversationRead, Message
from lms.inbox.models import notice_key as message_notice_key
from lms.jobs.models import Job, JobStatus
from lms.kpi.models import KpiEntry
from lms.learning.models import CalendarFeed, ScheduleOverride
from lms.lti.models import LtiAccount, LtiPlatform, LtiScore
from lms.mail.models import OutboxMessage
from lms.notifications.models import DigestSent, Notification, NotificationPreference
from lms.portfolio.models import Portfolio, PortfolioHandIn
from lms.progress.models import Evidence, LessonRead, Mastery
from lms.simulations.models import SimulationRun
from lms.sso.models import SsoIdentity
from lms.teams.models import ContributionRating, GradeAdjustment, Team, TeamMember
from lms.twofactor.models import RecoveryCode, RememberedDevice, TwoFactorCredential
from lms.web.downloads import ARCHIVE_NAME_BYTES, safe_filename, shortened

ERASED_NAME = "A former learner"
ERASED_FILENAME = "erased"
# An attachment row whose file was deleted (by erasure or the retention purge) keeps its id
# (submitted versions list it) but its stored name points at nothing under the upload folder.
DELETED_PREFIX = "deleted/"
# Columns never exported: secrets (only hashes are kept, still not the person's to carry around).
SECRET_COLUMNS = frozenset({"password_hash", "token_hash", "share_token_hash", "session_version"})


def is_erased(user: User) -> bool:
    return user.erased


def plain(value: Any) -> Any:
    """A JSON-ready value: dates as ISO text, enums as their value, containers walked."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "model_dump"):  # pydantic values kept in typed JSON columns
        return plain(value.model_dump(mode="json"))
    return value


def row(obj: Any, *, without: Iterable[str] = (), **extra: Any) -> dict[str, Any]:
    """Every mapped column of ``obj`` but secrets and ``without``, plus ``extra``."""
    skipped = SECRET_COLUMNS | set(without)
    found = {attr.key: plain(getattr(obj, attr.key)) for attr in inspect(obj).mapper.column_attrs
             if attr.key not in skipped}
    found.update({k: plain(v) for k, v in extra.items()})
    return found


@dataclass(frozen=True)
class ExportFile:
    """A file for the zip: its name there and where it is stored under the upload folder."""

    name: str
    stored_name: str


@dataclass
class Erasure:
    """What an erasure works on: the account (its original email, for rows keyed by
    address) and the time; ``counts`` says what each kind did, ``doomed`` lists the stored
    files to delete once the erasure is committed (never before: a rolled-back erasure
    must not have lost files its rows still reference)."""

    user: User
    original_email: str
    now: datetime
    counts: dict[str, int] = field(default_factory=dict)
    doomed: list[str] = field(default_factory=list)


class DataKind:
    """One kind of data. ``covers`` names the ``table.column`` foreign keys to users it
    answers for; ``export`` gives its rows for ``user`` as plain JSON objects, ``files``
    the uploads that go with them, ``erase`` does what the class docstring says and
    returns how many rows it touched."""

    name: ClassVar[str]  # its key in the export's data.json
    label: ClassVar[str]  # what pages call it: "KPI figures", "Two-factor sign-in"
    covers: ClassVar[tuple[str, ...]] = ()
    exported: ClassVar[bool] = True

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        return []

    def files(self, session: DbSession, user: User) -> list[ExportFile]:
        return []

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        return 0


class Account(DataKind):
    """The account. Erased: name and email replaced by a placeholder, password removed,
    deactivated (every session ends), time zone and last sign-in forgotten; reset and
    unlock tokens, sign-ins (devices), single sign-on identities, calendar feeds, notification preferences
    and digest records deleted;
    mail to the old address deleted from the outbox, invitations sent to it and the
    enrolment imports' rows naming it anonymised."""

    name = "account"
    label = "Account"
    covers = ("password_reset_tokens.user_id", "login_unlock_tokens.user_id", "calendar_feeds.user_id",
              "notification_preferences.user_id", "notification_digests.user_id", "sso_identities.user_id",
              "sign_in_devices.user_id")

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        feeds = session.scalars(select(CalendarFeed).where(CalendarFeed.user_id == user.id).order_by(CalendarFeed.id))
        preferences = session.scalars(select(NotificationPreference).where(NotificationPreference.user_id == user.id)
                                      .order_by(NotificationPreference.id))
        identities = session.scalars(select(SsoIdentity).where(SsoIdentity.user_id == user.id).order_by(SsoIdentity.id))
        sign_ins = session.scalars(select(SignInDevice).where(SignInDevice.user_id == user.id).order_by(SignInDevice.id))
        return [row(user, without=("is_admin",), calendar_feeds=[row(f, without=("user_id",)) for f in feeds],
                    notification_preferences={p.event.value: p.channel.value for p in preferences},
                    single_sign_on=[row(i, without=("user_id",)) for i in identities],
                    sign_ins=[row(d, without=("user_id",)) for d in sign_ins])]

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        user, email = erasure.user, erasure.original_email
        for model in (PasswordResetToken, LoginUnlockToken, CalendarFeed, NotificationPreference, DigestSent, SsoIdentity,
                      SignInDevice):
            session.execute(delete(model).where(model.user_id == user.id))
        session.execute(delete(OutboxMessage).where(OutboxMessage.recipient == email))
        session.execute(update(Invitation).where(Invitation.email == email)
                        .values(email=erased_email(user.id), name=ERASED_NAME))
        for imported in session.scalars(select(EnrolmentImport)):
            rows = imported.rows or []
            if any(str(r.get("email", "")).lower() == email for r in rows):
                imported.rows = [dict(r, email=erased_email(user.id), name=ERASED_NAME)
                                 if str(r.get("email", "")).lower() == email else r for r in rows]
        user.name, user.email, user.password_hash = ERASED_NAME, erased_email(user.id), None
        user.timezone, user.last_login_at = "UTC", None
        user.deactivated_at = user.deactivated_at or erasure.now
        user.session_version += 1
        return 1


class Memberships(DataKind):
    """Enrolments (with the time allowance on timed quizzes), staff roles and one's own
    schedule changes (extensions, early access). Erased: enrolments and schedule changes
    kept (cohort statistics count them), the staff's note on a schedule change removed, a
    time allowance (which tells of a need) back to standard. Roles: only learners are erased."""

    name = "memberships"
    label = "Enrolments, roles and schedule changes"
    covers = ("enrolments.user_id", "organization_admins.user_id", "cohort_instructors.user_id",
              "schedule_overrides.user_id")

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for enrolment, cohort in session.execute(select(Enrolment, Cohort).join(Cohort, Cohort.id == Enrolment.cohort_id)
                                                 .where(Enrolment.user_id == user.id).order_by(Enrolment.id)):
            found.append(row(enrolment, role="learner", cohort=cohort.name))
        for cohort in session.scalars(select(Cohort).join(cohort_instructors, cohort_instructors.c.cohort_id == Cohort.id)
                                      .where(cohort_instructors.c.user_id == user.id).order_by(Cohort.id)):
            found.append({"role": "instructor", "cohort_id": cohort.id, "cohort": cohort.name})
        for org in session.scalars(select(Organization).join(organization_admins, organization_admins.c.organization_id == Organization.id)
                                   .where(organization_admins.c.user_id == user.id).order_by(Organization.id)):
            found.append({"role": "organization admin", "organization_id": org.id, "organization": org.name})
        for override in session.scalars(select(ScheduleOverride).where(ScheduleOverride.user_id == user.id)
                                        .order_by(ScheduleOverride.id)):
            found.append(row(override, without=("granted_by_id", "removed_by_id"), role="schedule change"))
        return found

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        result = session.execute(update(ScheduleOverride).where(ScheduleOverride.user_id == erasure.user.id).values(note=""))
        allowances = session.execute(update(Enrolment).where(Enrolment.user_id == erasure.user.id,
                                                             Enrolment.time_allowance != TimeAllowance.STANDARD)
                                     .values(time_allowance=TimeAllowance.STANDARD))
        return rowcount(result) + rowcount(allowances)


class LessonReads(DataKind):
    """Lessons marked read. Erased: kept (completion statistics)."""

    name = "lesson_reads"
    label = "Lessons read"
    covers = ("lesson_reads.user_id",)

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        return [row(read, without=("user_id",), lesson=key) for read, key in session.execute(
            select(LessonRead, Lesson.key).join(Lesson, Lesson.id == LessonRead.lesson_id)
            .where(LessonRead.user_id == user.id).order_by(LessonRead.id))]


class QuizAttempts(DataKind):
    """Quiz and exam attempts with every response. Erased: attempts, scores and choice
    answers kept (cohort and item statistics); the text of essay and scenario answers
    (written by the learner) removed, their scores kept."""

    name = "quiz_attempts"
    label = "Quiz and exam attempts"
    covers = ("quiz_attempts.user_id",)

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        attempts = session.execute(select(Attempt, Quiz.key).join(Quiz, Quiz.id == Attempt.quiz_id)
                                   .where(Attempt.user_id == user.id)
                                   .options(selectinload(Attempt.responses).selectinload(Response.version)
                                            .selectinload(QuestionVersion.question))
                                   .order_by(Attempt.id))
        return [row(attempt, without=("user_id", "layout"), quiz=key,
                    responses=[_response(r) for r in sorted(attempt.responses, key=lambda r: r.id)])
                for attempt, key in attempts]

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        written = session.scalars(
            select(Response).join(Attempt, Attempt.id == Response.attempt_id)
            .join(QuestionVersion, QuestionVersion.id == Response.version_id)
            .where(Attempt.user_id == erasure.user.id,
                   QuestionVersion.type.in_([QuestionKind.ESSAY, QuestionKind.SCENARIO])))
        count = 0
        for response in written:
            if isinstance(response.answer, dict) and "text" in response.answer:
                response.answer = dict(response.answer, text="")
                count += 1
        return count


def _team_submission_ids(session: DbSession) -> set[int]:
    return {i for i in session.scalars(select(Team.submission_id).where(Team.submission_id.is_not(None))) if i is not None}


def _own_submissions(session: DbSession, user: User) -> list[Submission]:
    """The person's submissions, their teams' included."""
    teams = select(Team.submission_id).join(TeamMember, TeamMember.team_id == Team.id).where(TeamMember.user_id == user.id)
    return list(session.scalars(select(Submission).where(or_(Submission.user_id == user.id, Submission.id.in_(teams)))
                                .options(selectinload(Submission.versions), selectinload(Submission.attachments),
                                         selectinload(Submission.assignment)).order_by(Submission.id)))


def _zip_name(attachment: Attachment) -> str:
    """Where a file is in the zip: its name made safe and cut to what a file system takes
    (a name stored before names were cut can be 255 characters or more)."""
    name = shortened(f"{attachment.id}-{safe_filename(attachment.filename)}", utf8_bytes=ARCHIVE_NAME_BYTES)
    return f"files/submission-{attachment.submission_id}/{name}"


def _response(response: Response) -> dict[str, Any]:
    """A response as its learner reads it: which question (its id and, as they saw it, its
    text) and the answer in words, beside the stored ids and values."""
    version = response.version
    part = part_named(version.spec, response.part)
    return row(response, without=("graded_by_id",), question=version.question.key, question_version=version.number,
               question_text=part.text, answer_text=type_of(part).describe(part, response.answer))


class Submissions(DataKind):
    """Assessed work: drafts, submitted versions and attached files (a team's work
    included). Erased: the text of one's own drafts and versions removed, attached files
    deleted from disk and their rows' file references and names cleared; statuses, dates
    and lateness kept. A team's submission is the teammates' work too and stays whole."""

    name = "submissions"
    label = "Submitted work"
    covers = ("submissions.user_id",)

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        return [row(s, assignment=s.assignment.key, assignment_title=s.assignment.title,
                    versions=[row(v, without=("submission_id",)) for v in s.versions],
                    attachments=[row(a, without=("stored_name", "submission_id"),
                                     in_zip=None if a.stored_name.startswith(DELETED_PREFIX) else _zip_name(a))
                                 for a in s.attachments])
                for s in _own_submissions(session, user)]

    def files(self, session: DbSession, user: User) -> list[ExportFile]:
        return [ExportFile(_zip_name(a), a.stored_name) for s in _own_submissions(session, user) for a in s.attachments
                if not a.stored_name.startswith(DELETED_PREFIX)]

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        teams = _team_submission_ids(session)
        mine = [s for s in session.scalars(select(Submission).where(Submission.user_id == erasure.user.id)
                                           .options(selectinload(Submission.versions), selectinload(Submission.attachments)))
                if s.id not in teams]
        for submission in mine:
            submission.draft_body = ""
            for version in submission.versions:
                version.body = ""
            for attachment in submission.attachments:
                if not attachment.stored_name.startswith(DELETED_PREFIX):
                    erasure.doomed.append(attachment.stored_name)
                attachment.filename, attachment.size = ERASED_FILENAME, 0
                attachment.stored_name = f"{DELETED_PREFIX}{attachment.id}"
                attachment.removed_at = attachment.removed_at or erasure.now
        return len(mine)


class Grades(DataKind):
    """Released grades of one's work (drafts are the grader's until released), and what
    came back with each return for revision (its feedback and criterion comments, as the
    learner was shown them; never the levels). Erased: scores and rubric levels kept
    (statistics); the feedback text and the criterion comments, which are about the
    learner's erased work, removed from the grade and its history."""

    name = "grades"
    label = "Grades"

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        ids = [s.id for s in _own_submissions(session, user)]
        grades = session.scalars(select(Grade).where(Grade.submission_id.in_(ids), Grade.status == GradeStatus.RELEASED)
                                 .order_by(Grade.id))
        found = [row(g, without=("grader_id", "revision"), record="grade") for g in grades]
        for back in returned(session, ids):  # one statement for every return of every submission
            found.append({"record": "returned for revision", "submission_id": back.submission_id,
                          "returned_at": plain(back.at), "feedback": back.feedback,
                          "comments": {c.title: c.comment for c in back.comments}})
        return found

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        teams = _team_submission_ids(session)
        grades = list(session.scalars(select(Grade).join(Submission, Submission.id == Grade.submission_id)
                                      .where(Submission.user_id == erasure.user.id)))
        grades = [g for g in grades if g.submission_id not in teams]
        for grade in grades:
            grade.feedback = ""
            grade.selections = _without_comments(grade.selections)
        events = session.scalars(select(GradeEvent).where(GradeEvent.grade_id.in_([g.id for g in grades])))
        for event in events:
            for side in ("after", "before"):
                kept = getattr(event, side)
                if isinstance(kept, dict) and ("feedback" in kept or "selections" in kept):
                    blank = {"feedback": ""} if "feedback" in kept else {}
                    if "selections" in kept:
                        blank["selections"] = _without_comments(kept["selections"])
                    setattr(event, side, dict(kept, **blank))
        return len(grades)


def _without_comments(selections: Any) -> Any:
    """Rubric selections ({criterion: {"level": ..., "comment": ...}}) with every comment blank, the levels kept."""
    if not isinstance(selections, dict):
        return selections
    return {cid: dict(chosen, comment="") if isinstance(chosen, dict) else chosen for cid, chosen in selections.items()}


class PeerReviews(DataKind):
    """Peer reviews given (with their text) and received (without who wrote them, as the
    app shows them). Erased: reviews given stay, text included, attributed to the
    anonymised account ("a former learner"); reviews received are other people's work and
    stay."""

    name = "peer_reviews"
    label = "Peer reviews"
    covers = ("peer_reviews.reviewer_id",)

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        given = session.execute(select(PeerReview, Assignment.key).join(Submission, Submission.id == PeerReview.submission_id)
                                .join(Assignment, Assignment.id == Submission.assignment_id)
                                .where(PeerReview.reviewer_id == user.id).order_by(PeerReview.id))
        found = [row(r, without=("reviewer_id", "submission_id"), direction="given", assignment=key) for r, key in given]
        ids = [s.id for s in _own_submissions(session, user)]
        received = session.execute(select(PeerReview, Assignment.key).join(Submission, Submission.id == PeerReview.submission_id)
                                   .join(Assignment, Assignment.id == Submission.assignment_id)
                                   .where(PeerReview.submission_id.in_(ids), PeerReview.status == PeerReviewStatus.DONE)
                                   .order_by(PeerReview.id))
        found += [row(r, without=("reviewer_id", "id"), direction="received", assignment=key) for r, key in received]
        return found


def _objective_codes(session: DbSession) -> dict[int, str]:
    """Each objective's code (KO1 ... AO3) by id: eleven rows, read once per export."""
    return {id_: key for id_, key in session.execute(select(Objective.id, Objective.key))}


def _levels(session: DbSession) -> dict[int, str]:
    return {id_: key for id_, key in session.execute(select(Level.id, Level.key))}


class EvidenceAndMastery(DataKind):
    """Evidence against the objectives and the mastery it gives. Erased: kept (the
    cohort's heat map and statistics), the notes on evidence removed."""

    name = "evidence_and_mastery"
    label = "Evidence and mastery"
    covers = ("evidence.user_id", "mastery.user_id")

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        codes = _objective_codes(session)
        evidence = session.scalars(select(Evidence).where(Evidence.user_id == user.id).order_by(Evidence.id))
        mastery = session.scalars(select(Mastery).where(Mastery.user_id == user.id).order_by(Mastery.id))
        return ([row(e, without=("user_id", "recorded_by_id"), record="evidence", objective=codes.get(e.objective_id))
                 for e in evidence]
                + [row(m, without=("user_id",), record="mastery", objective=codes.get(m.objective_id)) for m in mastery])

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        result = session.execute(update(Evidence).where(Evidence.user_id == erasure.user.id, Evidence.note != "").values(note=""))
        return rowcount(result)


class KpiFigures(DataKind):
    """Monthly KPI figures. Erased: figures kept (cohort trends), notes removed."""

    name = "kpi_figures"
    label = "KPI figures"
    covers = ("kpi_entries.user_id",)

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        return [row(k, without=("user_id",), metric=key, metric_name=name) for k, key, name in session.execute(
            select(KpiEntry, Metric.key, Metric.name).join(Metric, Metric.id == KpiEntry.metric_id)
            .where(KpiEntry.user_id == user.id).order_by(KpiEntry.id))]

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        result = session.execute(update(KpiEntry).where(KpiEntry.user_id == erasure.user.id).values(note=""))
        return rowcount(result)


class Feedback(DataKind):
    """Stakeholder feedback asked for and received, and outside experts invited to rate
    one's work. Erased: ratings and scores kept (evidence), the stakeholders' and experts'
    names, addresses and comments removed and their links revoked."""

    name = "feedback"
    label = "Feedback"
    covers = ("feedback_invites.learner_id", "expert_invites.invited_by_id")

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        invites = session.scalars(select(FeedbackInvite).where(FeedbackInvite.learner_id == user.id)
                                  .options(selectinload(FeedbackInvite.response)).order_by(FeedbackInvite.id))
        found = [row(i, without=("learner_id",), source="stakeholder",
                     response=row(i.response, without=("invite_id",)) if i.response else None) for i in invites]
        experts = session.scalars(select(ExpertInvite).where(ExpertInvite.invited_by_id == user.id)
                                  .options(selectinload(ExpertInvite.evaluation)).order_by(ExpertInvite.id))
        found += [row(i, without=("invited_by_id",), source="expert",
                      evaluation=row(i.evaluation, without=("invite_id",)) if i.evaluation else None) for i in experts]
        return found

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        count = 0
        invites = session.scalars(select(FeedbackInvite).where(FeedbackInvite.learner_id == erasure.user.id)
                                  .options(selectinload(FeedbackInvite.response)))
        for invite in invites:
            invite.name, invite.email = "", ""
            invite.revoked_at = invite.revoked_at or erasure.now
            if invite.response is not None:
                invite.response.comment = ""
            count += 1
        experts = session.scalars(select(ExpertInvite).where(ExpertInvite.invited_by_id == erasure.user.id)
                                  .options(selectinload(ExpertInvite.evaluation)))
        for expert in experts:
            expert.name, expert.email, expert.note = "", "", ""
            expert.revoked_at = expert.revoked_at or erasure.now
            if expert.evaluation is not None:
                expert.evaluation.comment = ""
            count += 1
        return count


class Certificates(DataKind):
    """Level certificates. Erased: kept (levels reached count in statistics), the name each
    kept as issued (``holder_name``) replaced by the anonymised account's, so the public
    verification page, the badges and the API name the anonymised account."""

    name = "certificates"
    label = "Certificates"
    covers = ("certificates.user_id",)

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        levels = _levels(session)
        return [row(c, without=("user_id",), level=levels.get(c.level_id)) for c in
                session.scalars(select(Certificate).where(Certificate.user_id == user.id).order_by(Certificate.id))]

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        result = session.execute(update(Certificate).where(Certificate.user_id == erasure.user.id)
                                 .values(holder_name=ERASED_NAME))
        return rowcount(result)


class Portfolios(DataKind):
    """Portfolios, and what each hand-in of one for its review held (reflections as written,
    the pieces of work at their versions). Erased: reflections (the learner's text, in the
    portfolio and in each hand-in) removed and share links revoked; the pieces kept (ids of
    work the submissions kind keeps)."""

    name = "portfolios"
    label = "Portfolios"
    covers = ("portfolios.user_id",)

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        levels = _levels(session)
        mine = list(session.scalars(select(Portfolio).where(Portfolio.user_id == user.id).order_by(Portfolio.id)))
        hand_ins: dict[int, list[dict[str, Any]]] = {}
        for h in session.scalars(select(PortfolioHandIn).where(PortfolioHandIn.portfolio_id.in_([p.id for p in mine]))
                                 .options(selectinload(PortfolioHandIn.pieces)).order_by(PortfolioHandIn.id)):
            hand_ins.setdefault(h.portfolio_id, []).append(
                row(h, without=("portfolio_id",), piece_version_ids=[piece.version_id for piece in h.pieces]))
        return [row(p, without=("user_id",), level=levels.get(p.level_id), hand_ins=hand_ins.get(p.id, [])) for p in mine]

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        mine = select(Portfolio.id).where(Portfolio.user_id == erasure.user.id)
        session.execute(update(PortfolioHandIn).where(PortfolioHandIn.portfolio_id.in_(mine)).values(reflections={})
                        .execution_options(synchronize_session=False))
        result = session.execute(update(Portfolio).where(Portfolio.user_id == erasure.user.id)
                                 .values(reflections={}, share_token_hash=None, shared_at=None))
        return rowcount(result)


class SimulationRuns(DataKind):
    """Branching simulation runs. Erased: kept (paths and scores are statistics)."""

    name = "simulation_runs"
    label = "Simulation runs"
    covers = ("simulation_runs.user_id",)

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        return [row(r, without=("user_id",)) for r in
                session.scalars(select(SimulationRun).where(SimulationRun.user_id == user.id).order_by(SimulationRun.id))]


class Notifications(DataKind):
    """Notifications received. Erased: deleted (nothing is counted from them)."""

    name = "notifications"
    label = "Notifications"
    covers = ("notifications.user_id",)

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        return [row(n, without=("user_id",)) for n in
                session.scalars(select(Notification).where(Notification.user_id == user.id).order_by(Notification.id))]

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        result = session.execute(delete(Notification).where(Notification.user_id == erasure.user.id))
        return rowcount(result)


class Teams(DataKind):
    """Team memberships, contribution ratings given (with comments) and received (scores
    only, as teammates never see who rated what), and staff's adjustments of one's share.
    Erased: memberships, scores and adjustments kept (the team's grades); the comments the
    learner wrote on teammates removed."""

    name = "teams"
    label = "Teams"
    covers = ("team_members.user_id", "team_ratings.rater_id", "team_ratings.ratee_id", "team_adjustments.user_id",
              "teams.created_by_id")

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        found = [row(m, without=("user_id",), record="membership", team=name) for m, name in session.execute(
            select(TeamMember, Team.name).join(Team, Team.id == TeamMember.team_id)
            .where(TeamMember.user_id == user.id).order_by(TeamMember.id))]
        found += [row(r, without=("rater_id",), record="rating given") for r in session.scalars(
            select(ContributionRating).where(ContributionRating.rater_id == user.id).order_by(ContributionRating.id))]
        found += [row(r, without=("rater_id", "id", "comment"), record="rating received") for r in session.scalars(
            select(ContributionRating).where(ContributionRating.ratee_id == user.id).order_by(ContributionRating.id))]
        found += [row(a, without=("user_id", "adjusted_by_id", "revision"), record="adjustment") for a in session.scalars(
            select(GradeAdjustment).where(GradeAdjustment.user_id == user.id).order_by(GradeAdjustment.id))]
        return found

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        result = session.execute(update(ContributionRating).where(ContributionRating.rater_id == erasure.user.id)
                                 .values(comment=""))
        return rowcount(result)


class AtRiskReviews(DataKind):
    """Staff's recorded reviews of the learner being at risk (the reviewer not named).
    Erased: the reasons and how far behind kept (statistics), staff's note removed."""

    name = "at_risk_reviews"
    label = "At-risk reviews"
    covers = ("at_risk_reviews.learner_id",)

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        return [row(r, without=("learner_id", "reviewer_id")) for r in
                session.scalars(select(AtRiskReview).where(AtRiskReview.learner_id == user.id).order_by(AtRiskReview.id))]

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        result = session.execute(update(AtRiskReview).where(AtRiskReview.learner_id == erasure.user.id).values(note=""))
        return rowcount(result)


ERASED_POST = "*This post was removed when its author's account was erased.*"


class Discussions(DataKind):
    """Discussion threads started and posts written. Erased: the body of every post they
    wrote replaced by a notice (text they authored), the post kept in its place so the
    replies of others still read in order; thread titles kept (the topic others answered
    under), shown as started by "a former learner"."""

    name = "discussions"
    label = "Discussions"
    covers = ("discussion_threads.author_id", "discussion_posts.author_id")

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        found = [row(t, without=("author_id",), record="thread started") for t in
                 session.scalars(select(Thread).where(Thread.author_id == user.id).order_by(Thread.id))]
        found += [row(p, without=("author_id", "revision"), record="post", thread=title) for p, title in session.execute(
            select(Post, Thread.title).join(Thread, Thread.id == Post.thread_id)
            .where(Post.author_id == user.id).order_by(Post.id))]
        return found

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        result = session.execute(update(Post).where(Post.author_id == erasure.user.id)
                                 .values(body=ERASED_POST, revision=Post.revision + 1))
        return rowcount(result)


ERASED_MESSAGE = "*This message was removed when its author's account was erased.*"


class Inbox(DataKind):
    """Conversations with the cohort's staff (lms.inbox): each with its subject, cohort and
    every message in it (the staff's to the learner and the learner's replies), and how far
    the learner had read. Erased: the body of every message they wrote replaced by a notice,
    the message kept in its place so the staff's answers still read in order, and the text
    of the staff's notices of those replies emptied; their read marks deleted. The staff's
    messages stay (their work, on an account that is now "a former learner"'s). The columns
    naming staff (who started a conversation, staff's messages and read marks) are claimed
    here too: staff are never erased, so for them erasure changes nothing."""

    name = "inbox"
    label = "Inbox messages"
    covers = ("inbox_conversations.learner_id", "inbox_conversations.started_by_id", "inbox_messages.author_id",
              "inbox_reads.user_id")

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        conversations = list(session.scalars(select(Conversation).where(Conversation.learner_id == user.id)
                                             .options(selectinload(Conversation.cohort), selectinload(Conversation.started_by))
                                             .order_by(Conversation.id)))
        ids = [c.id for c in conversations]
        messages: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        reads: dict[int, int] = {}
        if ids:
            for message, author in session.execute(select(Message, User.name).join(User, User.id == Message.author_id)
                                                   .where(Message.conversation_id.in_(ids)).order_by(Message.id)):
                messages[message.conversation_id].append(
                    {"id": message.id, "from": "you" if message.author_id == user.id else author,
                     "body": message.body, "created_at": plain(message.created_at)})
            reads = {cid: up_to for cid, up_to in session.execute(
                select(ConversationRead.conversation_id, ConversationRead.read_up_to)
                .where(ConversationRead.user_id == user.id, ConversationRead.conversation_id.in_(ids)))}
        return [{"id": c.id, "subject": c.subject, "cohort": c.cohort.name, "started_by": c.started_by.name,
                 "created_at": plain(c.created_at), "read_up_to_message": reads.get(c.id, 0), "messages": messages[c.id]}
                for c in conversations]

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        mine = list(session.scalars(select(Message.id).where(Message.author_id == erasure.user.id)))
        if mine:
            for start in range(0, len(mine), 500):
                session.execute(update(Notification)
                                .where(Notification.key.in_([message_notice_key(i) for i in mine[start:start + 500]]))
                                .values(body="").execution_options(synchronize_session=False))
        result = session.execute(update(Message).where(Message.author_id == erasure.user.id).values(body=ERASED_MESSAGE)
                                 .execution_options(synchronize_session=False))
        session.execute(delete(ConversationRead).where(ConversationRead.user_id == erasure.user.id))
        return rowcount(result)


class AnnouncementsRead(DataKind):
    """Announcements dismissed from one's home. Erased: kept (staff see how many learners
    dismissed each)."""

    name = "announcements_dismissed"
    label = "Announcements dismissed"
    covers = ("announcement_dismissals.user_id",)

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        return [row(d, without=("user_id",), title=title) for d, title in session.execute(
            select(AnnouncementDismissal, Announcement.title)
            .join(Announcement, Announcement.id == AnnouncementDismissal.announcement_id)
            .where(AnnouncementDismissal.user_id == user.id).order_by(AnnouncementDismissal.dismissed_at))]


class TwoFactor(DataKind):
    """Two-factor sign-in (lms.twofactor): whether it is on and since when, how many
    recovery codes are used, the remembered devices; never the secret or any hash.
    Erased: all of it deleted."""

    name = "two_factor"
    label = "Two-factor sign-in"
    covers = ("two_factor_credentials.user_id", "two_factor_recovery_codes.user_id", "two_factor_devices.user_id")

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        found = session.scalar(select(TwoFactorCredential).where(TwoFactorCredential.user_id == user.id))
        if found is None:
            return []
        codes = list(session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)))
        devices = session.scalars(select(RememberedDevice).where(RememberedDevice.user_id == user.id)
                                  .order_by(RememberedDevice.id))
        return [{"set_up_at": plain(found.created_at), "confirmed_at": plain(found.confirmed_at),
                 "recovery_codes": len(codes), "recovery_codes_used": sum(c.used_at is not None for c in codes),
                 "remembered_devices": [row(d, without=("user_id",)) for d in devices]}]

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        total = 0
        for model in (RecoveryCode, RememberedDevice, TwoFactorCredential):
            total += rowcount(session.execute(delete(model).where(model.user_id == erasure.user.id)))
        return total


class LtiLinks(DataKind):
    """Accounts of learning platforms (LTI, lms.lti) linked to this one: the platform, its user
    id for the person, and the grades sent back there. Erased: the links and the queued
    grades deleted (the platform can no longer sign the account in)."""

    name = "lti_links"
    label = "Linked learning platforms (LTI)"
    covers = ("lti_accounts.user_id",)

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        found = []
        for account, platform in session.execute(select(LtiAccount, LtiPlatform).join(
                LtiPlatform, LtiPlatform.id == LtiAccount.platform_id).where(LtiAccount.user_id == user.id).order_by(LtiAccount.id)):
            scores = session.scalars(select(LtiScore).where(LtiScore.lti_account_id == account.id).order_by(LtiScore.id))
            found.append({"platform": platform.name, "issuer": platform.issuer, "platform_user_id": account.subject,
                          "linked_at": plain(account.created_at),
                          "grades_sent": [row(s, without=("lti_account_id", "leased_until")) for s in scores]})
        return found

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        accounts = select(LtiAccount.id).where(LtiAccount.user_id == erasure.user.id)
        session.execute(delete(LtiScore).where(LtiScore.lti_account_id.in_(accounts)))
        return rowcount(session.execute(delete(LtiAccount).where(LtiAccount.user_id == erasure.user.id)))


class ApiTokens(DataKind):
    """API tokens (lms.api) the person made: their name, scopes, organization (for an
    organization's token), when made, last used, expiring or revoked; never the hash or the
    prefix. Erased: their personal tokens deleted (so none still opens their data).
    Organization tokens are made by organization admins, who are staff and never erased."""

    name = "api_tokens"
    label = "API tokens"
    covers = ("api_tokens.user_id",)

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        return [row(t, without=("user_id", "prefix")) for t in session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id))]

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        return rowcount(session.execute(delete(ApiToken).where(ApiToken.user_id == erasure.user.id,
                                                               ApiToken.organization_id.is_(None))))


class RequestedJobs(DataKind):
    """Background jobs (lms.jobs) the person asked for (exports): what, when, how it went and
    the file's name; not the parameters or the stored path. Erased: finished jobs deleted
    with the files they made (doomed, deleted after the commit); a job still queued or
    running is detached from the account (it ends as usual; nobody may download its file)."""

    name = "requested_jobs"
    label = "Requested background jobs"
    covers = ("jobs.requested_by_id",)

    def export(self, session: DbSession, user: User) -> list[dict[str, Any]]:
        return [row(j, without=("requested_by_id", "params", "key", "active_key", "file_path", "lease_until"))
                for j in session.scalars(select(Job).where(Job.requested_by_id == user.id).order_by(Job.id))]

    def erase(self, session: DbSession, erasure: Erasure) -> int:
        mine = Job.requested_by_id == erasure.user.id
        ended = Job.status.in_((JobStatus.DONE, JobStatus.FAILED, JobStatus.EXPIRED))
        erasure.doomed += [path for path in session.scalars(select(Job.file_path).where(mine, ended)) if path]
        total = rowcount(session.execute(delete(Job).where(mine, ended)))
        return total + rowcount(session.execute(update(Job).where(mine).values(requested_by_id=None)
                                                .execution_options(synchronize_session=False)))


class ScheduleState(DataKind):
    """Each learner's schedule state as it stands (``lms.progress.state``: items with their
    dates and done or not, the stage reached in each level, the oldest unfinished due date).
    Not exported: it is worked out from the enrolment, lessons read, attempts and work,
    which are. Erased: kept (the cohort's heat map and level funnel)."""

    name = "schedule_state"
    label = "Schedule state"
    exported = False
    covers = ("progress_items.user_id", "progress_levels.user_id", "progress_learners.user_id", "progress_objectives.user_id")


class ApiRemovals(DataKind):
    """What left the API's lists (``lms.api.removals``: a grade taken back, evidence replaced,
    an enrolment ended), naming the learner by id only, for an organization's sync. Not
    exported: ids and times of rows whose content is exported under its own kind. Erased:
    kept (ids only; the account they point at is what erasure anonymises)."""

    name = "api_removals"
    label = "Removals from API lists"
    exported = False
    covers = ("api_removals.learner_id",)


class StaffActions(DataKind):
    """Columns naming someone acting as staff (grader, author of a note, who granted or
    imported what). Not exported: these are the staff's work on other people's records.
    Not erased: only learners are erased (staff are deactivated instead); the rows keep
    pointing at the account, whose name and email are what erasure anonymises."""

    name = "staff_actions"
    label = "Actions as staff"
    exported = False
    covers = ("grades.grader_id", "grade_events.actor_id", "quiz_responses.graded_by_id", "evidence.recorded_by_id",
              "schedule_overrides.granted_by_id", "schedule_overrides.removed_by_id", "item_withdrawals.withdrawn_by_id",
              "invitations.invited_by_id",
              "enrolment_imports.created_by_id", "at_risk_reviews.reviewer_id", "team_adjustments.adjusted_by_id",
              "announcements.author_id", "announcements.edited_by_id", "discussion_moderations.actor_id",
              "webhook_endpoints.created_by_id", "credential_revocations.revoked_by_id")


KINDS: tuple[DataKind, ...] = (Account(), Memberships(), LessonReads(), QuizAttempts(), Submissions(), Grades(),
                               PeerReviews(), EvidenceAndMastery(), KpiFigures(), Feedback(), Certificates(),
                               Portfolios(), SimulationRuns(), Notifications(), Teams(), AtRiskReviews(), Discussions(), Inbox(),
                               AnnouncementsRead(), TwoFactor(), LtiLinks(), ApiTokens(), ApiRemovals(), RequestedJobs(), ScheduleState(),
                               StaffActions())


def covered(kinds: Sequence[DataKind] = KINDS) -> set[str]:
    return {column for kind in kinds for column in kind.covers}
