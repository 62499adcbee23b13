"""Events of other features turned into webhook deliveries. Each receiver runs inside the
sender's unit of work and only flushes; it finds the organization concerned and its
endpoints taking the event in one statement, and does nothing more when there are none."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import select

from lms.accounts.models import User
from lms.catalog.models import Objective
from lms.certificates.models import Certificate
from lms.cohorts.models import Cohort, Enrolment, Invitation
from lms.competency.services import at_risk_rows
from lms.coursework.models import Submission
from lms.coursework.sharing import groups_of
from lms.database import DbSession
from lms.grading.models import Grade, GradeStatus
from lms.progress.services import policy
from lms.webhooks.models import WebhookEndpoint, WebhookEvent
from lms.webhooks.services import queue_event, subscribed


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def learner(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name}


def cohort_of(cohort: Cohort) -> dict[str, Any]:
    return {"id": cohort.id, "name": cohort.name, "organization_id": cohort.organization_id}


def _learners_organization(user_id: int) -> Any:
    return (select(Cohort.organization_id).join(Enrolment, Enrolment.cohort_id == Cohort.id)
            .where(Enrolment.user_id == user_id, Enrolment.active).scalar_subquery())


def _active_cohort(session: DbSession, user_id: int) -> Cohort | None:
    return session.scalar(select(Cohort).join(Enrolment, Enrolment.cohort_id == Cohort.id)
                          .where(Enrolment.user_id == user_id, Enrolment.active))


def on_grade_saved(grade: Grade, *, session: DbSession, now: datetime, **_: Any) -> None:
    """A grade released (each release once; a draft save or a return sends nothing): an event
    for the learner whose work it is, or for each member of the team whose work it is
    (``lms.coursework.sharing``), with their adjusted score and the team."""
    if grade.status != GradeStatus.RELEASED or grade.released_at != now:
        return
    _released(grade, session, now, only=None)


def on_adjustment_saved(grade: Grade, *, session: DbSession, now: datetime, user_id: int, **_: Any) -> None:
    """A released team grade adjusted for one member: ``grade.released`` again for them
    alone, with their new score (``lms.teams.services.adjustment_saved``)."""
    _released(grade, session, now, only=user_id)


def _released(grade: Grade, session: DbSession, now: datetime, only: int | None) -> None:
    """The ``grade.released`` events of a released grade: for its learner, or each member of
    its team (those of ``only``, a member's id, when given)."""
    submission = grade.submission
    organization = (select(Cohort.organization_id).where(Cohort.id == submission.cohort_id).scalar_subquery()
                    if submission.cohort_id is not None else _learners_organization(submission.user_id))
    endpoints = subscribed(session, organization, WebhookEvent.GRADE_RELEASED)
    if not endpoints:
        return
    cohort = session.get(Cohort, submission.cohort_id) if submission.cohort_id else _active_cohort(session, submission.user_id)
    group = groups_of(session, [submission.id]).get(submission.id)
    if group is None or not group.members:
        if only is not None:
            return
        user = session.get(User, submission.user_id)
        assert user is not None
        data = _grade_released(grade, submission, user, cohort, grade.score, None)
        queue_event(session, endpoints, WebhookEvent.GRADE_RELEASED, f"grade:{grade.id}:{_iso(now)}", data, now)
        return
    for member in group.members:  # a team's work: an event for each member, with their own (adjusted) score
        if only is not None and member.id != only:
            continue
        adjustment = group.adjustments.get(member.id)
        team = {"name": group.name, "score": grade.score, "adjustment": adjustment.points if adjustment else None,
                "note": adjustment.note if adjustment else ""}
        data = _grade_released(grade, submission, member, cohort, group.score_of(member.id, grade.score, grade.max_score), team)
        queue_event(session, endpoints, WebhookEvent.GRADE_RELEASED, f"grade:{grade.id}:{member.id}:{_iso(now)}", data, now)


def _grade_released(grade: Grade, submission: Submission, user: User, cohort: Cohort | None, score: float | None,
                    team: dict[str, Any] | None) -> dict[str, Any]:
    return {"grade": {"id": grade.id, "score": score, "max_score": grade.max_score, "released_at": _iso(grade.released_at)},
            "submission": {"id": submission.id, "assignment": {"key": submission.assignment.key,
                                                                "title": submission.assignment.title}},
            "learner": learner(user), "cohort": cohort_of(cohort) if cohort else None, "team": team}


def on_mastery_changed(user_id: int, *, session: DbSession, now: datetime,
                       changes: dict[int, tuple[float | None, float | None]], **_: Any) -> None:
    """A learner's named mastery level (e.g. developing -> proficient) changed on an objective;
    a move within one named level sends nothing."""
    endpoints = subscribed(session, _learners_organization(user_id), WebhookEvent.MASTERY_LEVEL_CHANGED)
    if not endpoints:
        return
    rules = policy(session)
    moved = {oid: (b, a) for oid, (b, a) in changes.items() if rules.name_of(b) != rules.name_of(a)}
    if not moved:
        return
    objectives = {o.id: o for o in session.scalars(select(Objective).where(Objective.id.in_(list(moved))))}
    user = session.get(User, user_id)
    cohort = _active_cohort(session, user_id)
    assert user is not None
    for objective_id, (before, after) in sorted(moved.items()):
        objective = objectives[objective_id]
        data = {"learner": learner(user), "cohort": cohort_of(cohort) if cohort else None,
                "objective": {"code": objective.key, "title": objective.title, "kind": objective.kind.value},
                "before": {"level": before, "name": rules.name_of(before)},
                "after": {"level": after, "name": rules.name_of(after)}}
        queue_event(session, endpoints, WebhookEvent.MASTERY_LEVEL_CHANGED,
                    f"mastery:{user_id}:{objective.key}:{_iso(now)}:{after}", data, now)


def on_certificate_issued(certificate: Certificate, *, session: DbSession, now: datetime, **_: Any) -> None:
    endpoints = subscribed(session, _learners_organization(certificate.user_id), WebhookEvent.CERTIFICATE_ISSUED)
    if not endpoints:
        return
    user = session.get(User, certificate.user_id)
    cohort = _active_cohort(session, certificate.user_id)
    assert user is not None
    data = {"certificate": {"id": certificate.id, "code": certificate.code, "issued_at": _iso(certificate.issued_at),
                            "level": {"key": certificate.level.key, "title": certificate.level.title}},
            "learner": learner(user), "cohort": cohort_of(cohort) if cohort else None}
    queue_event(session, endpoints, WebhookEvent.CERTIFICATE_ISSUED, f"certificate:{certificate.id}", data, now)


def on_invitation_accepted(invitation: Invitation, *, session: DbSession, now: datetime, user: User, **_: Any) -> None:
    if invitation.cohort is None:  # sent for learners' invitations only, which are to a cohort
        return
    endpoints = subscribed(session, [invitation.organization_id], WebhookEvent.ENROLMENT_ACCEPTED)
    if not endpoints:
        return
    data = {"invitation": {"id": invitation.id, "accepted_at": _iso(invitation.accepted_at), "pace": invitation.pace.value},
            "learner": learner(user), "cohort": cohort_of(invitation.cohort)}
    queue_event(session, endpoints, WebhookEvent.ENROLMENT_ACCEPTED, f"enrolment:{invitation.id}", data, now)


def queue_at_risk(session: DbSession, now: datetime) -> int:
    """Learners newly at risk, for organizations with an endpoint taking the event: once per
    learner and the day their risk began (as the instructors' notice), so running it again
    queues nothing new. A fixed number of statements per cohort. Flushes only."""
    endpoints = [e for e in session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True)))
                 if WebhookEvent.LEARNER_AT_RISK.value in e.events]
    by_org: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in endpoints:
        by_org.setdefault(endpoint.organization_id, []).append(endpoint)
    if not by_org:
        return 0
    queued = 0
    cohorts = session.scalars(select(Cohort).where(Cohort.organization_id.in_(list(by_org)), Cohort.archived_at.is_(None))
                              .order_by(Cohort.id))
    for cohort in cohorts:
        for row in at_risk_rows(session, cohort, now):
            since = min(reason.since for reason in row.reasons)
            data = {"learner": learner(row.user), "cohort": cohort_of(cohort), "since": since.isoformat(),
                    "reasons": [{"kind": str(r.kind), "text": r.text, "since": r.since.isoformat(), "objective": r.objective}
                                for r in row.reasons]}
            queued += len(queue_event(session, by_org[cohort.organization_id], WebhookEvent.LEARNER_AT_RISK,
                                      f"at-risk:{cohort.id}:{row.user.id}:{since.isoformat()}", data, now))
    return queued


def on_reminders_due(app: Flask, *, session: DbSession, now: datetime, **_: Any) -> None:
    """``flask lms send-reminders`` (cron) looks for learners newly at risk: so does this."""
    queue_at_risk(session, now)
