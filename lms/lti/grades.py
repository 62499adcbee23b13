"""Assignment and Grade Services: quiz and exam grades and released rubric grades go back to
the platforms' gradebooks as line-item scores.

The receivers of ``attempt_scored`` and ``grade_saved`` write the learner's latest score per
(platform course, target) into ``lti_scores`` (a regrade rewrites the row and makes it
pending again) inside the sender's unit of work. Sending happens after the commit: through
the RQ queue ``lti`` when REDIS_URL is set, else in the process right after the commit;
what fails is retried with exponential backoff by ``flask lms lti-sync`` (cron), up to
``LTI_MAX_ATTEMPTS`` tries. A row is claimed with a lease (a conditional write) so two
senders never send it at once, and it is marked sent only if no regrade came meanwhile."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.exception import LtiException
from pylti1p3.grade import Grade as LtiGrade
from pylti1p3.lineitem import LineItem
from pylti1p3.service_connector import ServiceConnector
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.exc import IntegrityError

from lms.assessment.methods import GRADING_METHODS
from lms.assessment.models import Attempt
from lms.coursework.sharing import groups_of, learner_ids
from lms.database import DbSession, unit_of_work, utcnow
from lms.grading.models import Grade, GradeStatus
from lms.lti.models import LtiAccount, LtiContext, LtiLineItem, LtiResourceLink, LtiScore, ScoreStatus
from lms.lti.services import SCORE_SCOPE
from lms.lti.tool import TimeoutSession, registration_for

QUEUED = "lms.lti.queued_scores"  # session.info: ids of the scores this unit of work queued
LEASE = timedelta(minutes=5)
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"


@dataclass(frozen=True)
class Counted:
    number: int
    percent: float | None


def _destinations(session: DbSession, user_id: int, cohort_id: int | None, target: str) -> list[tuple[LtiAccount, LtiContext]]:
    """The platform courses this learner's score on ``target`` goes to: their linked platform
    accounts x the courses mapped to their cohort that offer score passback and where the
    target is placed (a resource link launches it). One statement."""
    if cohort_id is None:
        return []
    placed = exists().where(LtiResourceLink.lti_context_id == LtiContext.id, LtiResourceLink.target == target)
    rows = session.execute(select(LtiAccount, LtiContext).join(LtiContext, LtiContext.platform_id == LtiAccount.platform_id)
                           .where(LtiAccount.user_id == user_id, LtiContext.cohort_id == cohort_id,
                                  LtiContext.ags_scopes.contains(SCORE_SCOPE), placed)).all()
    return [(account, context) for account, context in rows]


def queue_score(session: DbSession, user_id: int, cohort_id: int | None, target: str, label: str,
                given: float, maximum: float, at: datetime) -> list[LtiScore]:
    """Make the learner's score on ``target`` the one to send to every course that placed it."""
    queued = []
    for account, context in _destinations(session, user_id, cohort_id, target):
        score = session.scalar(select(LtiScore).where(LtiScore.lti_context_id == context.id, LtiScore.target == target,
                                                      LtiScore.lti_account_id == account.id))
        if score is None:
            score = LtiScore(lti_context_id=context.id, lti_account_id=account.id, target=target, revision=0)
            session.add(score)
        elif (score.score_given, score.score_maximum) == (given, maximum) and score.status is not ScoreStatus.FAILED:
            continue  # nothing new to say
        score.label, score.score_given, score.score_maximum, score.scored_at = label[:200], given, maximum, at
        score.status, score.attempts, score.next_attempt_at, score.last_error = ScoreStatus.PENDING, 0, utcnow(), ""
        score.revision = (score.revision or 0) + 1
        queued.append(score)
    if queued:
        session.flush()
        session.info.setdefault(QUEUED, []).extend(s.id for s in queued)
    return queued


def on_attempt_scored(attempt: Attempt, session: DbSession) -> None:
    """A quiz's grade (by its grading method: highest, latest, ...) in percent."""
    quiz = attempt.quiz
    if not _destinations(session, attempt.user_id, attempt.cohort_id, f"quiz:{quiz.key}"):
        return
    rows = session.execute(select(Attempt.number, Attempt.score, Attempt.max_score).where(
        Attempt.quiz_id == quiz.id, Attempt.user_id == attempt.user_id, Attempt.submitted_at.is_not(None),
        Attempt.pending_manual.is_(False), Attempt.score.is_not(None))).all()
    counted = [Counted(n, round(100 * float(s) / m, 2) if m and s is not None else None) for n, s, m in rows]
    percent = GRADING_METHODS[quiz.grading].pick(counted)
    if percent is not None:
        queue_score(session, attempt.user_id, attempt.cohort_id, f"quiz:{quiz.key}", quiz.title, percent, 100.0,
                    attempt.submitted_at or utcnow())


def on_grade_saved(grade: Grade, session: DbSession, now: datetime) -> None:
    """A released rubric grade (drafts stay here until released): for the learner whose work
    it is, or for each member of the team whose work it is, with their adjusted score (as
    the exports, the API, the webhooks and xAPI give it: ``lms.coursework.sharing``)."""
    if grade.status is GradeStatus.RELEASED:
        _queue_grade(grade, session, grade.released_at or now, only=None)


def on_adjustment_saved(grade: Grade, *, session: DbSession, now: datetime, user_id: int, **_: object) -> None:
    """A released team grade adjusted for one member: their new score goes back."""
    _queue_grade(grade, session, now, only=user_id)


def _queue_grade(grade: Grade, session: DbSession, at: datetime, only: int | None) -> None:
    """The released grade's score for each learner whose work it is (``only``: that member's)."""
    if grade.score is None or not grade.max_score:
        return
    submission = grade.submission
    assignment = submission.assignment
    group = groups_of(session, [submission.id]).get(submission.id)
    for user_id in learner_ids(submission, group):
        if only is not None and user_id != only:
            continue
        points = group.score_of(user_id, grade.score, grade.max_score) if group else grade.score
        assert points is not None  # a scored grade stays scored when adjusted
        queue_score(session, user_id, submission.cohort_id, f"assignment:{assignment.key}", assignment.title,
                    round(100 * points / grade.max_score, 2), 100.0, at)


def take_queued(session: DbSession) -> list[int]:
    return list(dict.fromkeys(session.info.pop(QUEUED, [])))


# Sending ---------------------------------------------------------------------------------

class SendError(Exception):
    pass


def _service(session: DbSession, context: LtiContext, secret_key: str, connectors: dict[int, ServiceConnector],
             http: TimeoutSession) -> AssignmentsGradesService:
    """The platform's grade service (its access token is fetched once per run and platform)."""
    connector = connectors.get(context.platform_id)
    if connector is None:
        connector = connectors[context.platform_id] = ServiceConnector(
            registration_for(session, context.platform, secret_key), http)
    data: Any = {"scope": context.ags_scopes.split(), "lineitems": context.lineitems_url or ""}
    return AssignmentsGradesService(connector, data)


def _lineitem(session: DbSession, ags: AssignmentsGradesService, score: LtiScore) -> str:
    """The line item of the score's target in its course: the resource link's (deep linking
    made it), one found or created earlier, or one found or created now by resourceId."""
    url = session.scalar(select(LtiResourceLink.lineitem_url).where(
        LtiResourceLink.lti_context_id == score.lti_context_id, LtiResourceLink.target == score.target,
        LtiResourceLink.lineitem_url.is_not(None)).limit(1))
    url = url or session.scalar(select(LtiLineItem.url).where(LtiLineItem.lti_context_id == score.lti_context_id,
                                                              LtiLineItem.target == score.target))
    if url:
        return url
    if not score.context.lineitems_url or LINEITEM_SCOPE not in score.context.ags_scopes.split():
        raise SendError("The course has no line item for this activity, and the platform does not let the tool create one.")
    item = LineItem().set_label(score.label).set_score_maximum(100).set_resource_id(score.target).set_tag(score.target)
    found = ags.find_or_create_lineitem(item, find_by="resource_id")
    url = found.get_id()
    if not url:
        raise SendError("The platform did not say where the new line item is.")
    try:
        with session.begin_nested():
            session.add(LtiLineItem(lti_context_id=score.lti_context_id, target=score.target, url=url))
    except IntegrityError:
        pass  # found by another sender meanwhile: the same line item
    return url


def _claim(session: DbSession, score_id: int, now: datetime) -> bool:
    claimed = session.execute(update(LtiScore).where(
        LtiScore.id == score_id, LtiScore.status == ScoreStatus.PENDING, LtiScore.next_attempt_at <= now,
        or_(LtiScore.leased_until.is_(None), LtiScore.leased_until < now)).values(leased_until=now + LEASE))
    return bool(getattr(claimed, "rowcount", 0))


def backoff(config: Mapping[str, Any], attempts: int) -> timedelta:
    first = float(config.get("LTI_RETRY_FIRST", 60))
    longest = float(config.get("LTI_RETRY_LONGEST", 6 * 3600))
    return timedelta(seconds=min(first * 2 ** max(attempts - 1, 0), longest))


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0


def send_pending(session: DbSession, config: Mapping[str, Any], ids: Sequence[int] | None = None,
                 limit: int = 500, now: datetime | None = None) -> SendResult:
    """Send the due scores (``ids``: only these), each in units of work of its own."""
    result = SendResult()
    moment = now or utcnow()
    query = select(LtiScore.id).where(LtiScore.status == ScoreStatus.PENDING, LtiScore.next_attempt_at <= moment)
    if ids is not None:
        query = query.where(LtiScore.id.in_(list(ids)))
    due = list(session.scalars(query.order_by(LtiScore.id).limit(limit)))
    session.rollback()
    connectors: dict[int, ServiceConnector] = {}
    http = TimeoutSession()
    try:
        _send(session, config, due, moment, connectors, http, result)
    finally:
        http.close()
    return result


def _send(session: DbSession, config: Mapping[str, Any], due: Sequence[int], moment: datetime,
          connectors: dict[int, ServiceConnector], http: TimeoutSession, result: SendResult) -> None:
    secret_key = str(config["SECRET_KEY"])
    for score_id in due:
        with unit_of_work(session):
            if not _claim(session, score_id, moment):
                continue
        score = session.get(LtiScore, score_id)
        assert score is not None
        revision = score.revision
        try:
            ags = _service(session, score.context, secret_key, connectors, http)
            grade = (LtiGrade().set_score_given(score.score_given).set_score_maximum(score.score_maximum)
                     .set_timestamp(score.scored_at.isoformat(timespec="milliseconds"))
                     .set_activity_progress("Completed").set_grading_progress("FullyGraded")
                     .set_user_id(score.account.subject))
            ags.put_grade(grade, LineItem().set_id(_lineitem(session, ags, score)))
            error = None
        except (LtiException, SendError, requests.RequestException, ValueError, KeyError, AssertionError) as exc:
            error = str(exc)[:2000] or type(exc).__name__
        with unit_of_work(session):
            fields: dict[str, Any] = {"leased_until": None}
            if error is None:
                fields |= {"status": ScoreStatus.SENT, "sent_at": utcnow(), "last_error": "", "attempts": LtiScore.attempts + 1}
                result.sent += 1
            else:
                attempts = score.attempts + 1
                gave_up = attempts >= int(config.get("LTI_MAX_ATTEMPTS", 8))
                fields |= {"attempts": attempts, "last_error": error,
                           "status": ScoreStatus.FAILED if gave_up else ScoreStatus.PENDING,
                           "next_attempt_at": utcnow() + backoff(config, attempts)}
                result.failed += 1
            # A regrade meanwhile (revision moved on) keeps its row pending for the next send.
            session.execute(update(LtiScore).where(and_(LtiScore.id == score_id, LtiScore.revision == revision)).values(**fields))
            session.execute(update(LtiScore).where(and_(LtiScore.id == score_id, LtiScore.revision != revision))
                            .values(leased_until=None))
        session.expire_all()


def retry_failed(session: DbSession) -> int:
    """Make every score that was given up on pending again (a site admin's button)."""
    done = session.execute(update(LtiScore).where(LtiScore.status == ScoreStatus.FAILED).values(
        status=ScoreStatus.PENDING, attempts=0, next_attempt_at=utcnow()))
    return int(getattr(done, "rowcount", 0))
