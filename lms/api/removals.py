"""Tombstones for the API's incremental sync: when an item one of its lists gave out stops
being listed, an ``ApiRemoval`` row says so, written in the unit of work that removed it.
A cohort's lists get a row with the cohort; a learner's own lists (/me) a row with no
cohort (``cohort_id`` None), whose rows stay with the learner when they move.

- a released grade taken back (saved as a draft again, the work returned) or deleted:
  noted at the flush, from the grade's status (a session event, whoever made the change),
  for its cohort and for each learner whose work it is (a team's, every member);
- an evidence row deleted (a regrade's ``replace_evidence`` deletes and adds): noted at
  the flush, once for each cohort its learner is enrolled in then (the cohort's evidence
  list is its current learners') and once for the learner;
- a mastery row deleted (its evidence gone): noted as evidence is, for each cohort the
  learner is enrolled in then and for the learner;
- a submission deleted (a team's draft discarded): the holder's list, and the cohort's
  when it had been handed in; the other members' lists through ``work_unshared``, and so
  the list of a member taken out of a team, whose work the team's is no longer;
- rows a bulk DELETE takes out without the ORM (``rows_deleting``: the quiz evidence
  rebuilt, every mastery rebuilt): one INSERT ... SELECT before the DELETE;
- an enrolment ended or a learner moved out (``enrolment_ended``): the learner leaves the
  cohort's learners list;
- a moved learner's own work carried to the new cohort (``work_carried``): its handed-in
  submissions and released grades leave the old cohort's lists; their quiz attempts still
  running or waiting for a grade (``attempts_carried``) leave its quiz attempts list.

A fixed number of statements a flush, whatever the number of rows removed. Rows older
than ``API_REMOVALS_KEPT_DAYS`` are deleted by ``prune`` (``flask lms prune-removals``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, event, insert, inspect, literal, null, select, union_all
from sqlalchemy.orm import Session

from lms.accounts.models import User
from lms.api.models import ApiRemoval, RemovedKind
from lms.cohorts.models import Cohort, Enrolment
from lms.coursework.models import Submission
from lms.coursework.sharing import sharers
from lms.database import DbSession, UTCDateTime, rowcount, utcnow
from lms.grading.models import Grade, GradeStatus
from lms.progress.models import Evidence, Mastery

DEFAULT_KEPT_DAYS = 90  # API_REMOVALS_KEPT_DAYS when the configuration does not say


def _was_released(grade: Grade) -> bool:
    """Whether the grade was released as the database last had it (before this flush)."""
    history = inspect(grade).attrs.status.history
    before = list(history.deleted) or list(history.unchanged)
    return bool(before) and before[0] == GradeStatus.RELEASED


def _own(kind: RemovedKind, object_id: int, learner_id: int) -> dict[str, Any]:
    """A row of the learner's own list (/me): no cohort, no organization."""
    return {"kind": kind, "object_id": object_id, "learner_id": learner_id, "cohort_id": None, "organization_id": None}


def _grade_rows(session: Session, taken_back: list[Grade]) -> list[dict[str, Any]]:
    """The cohort's row of each grade taken back and a row for each learner whose work it is."""
    if not taken_back:
        return []
    ids = {g.submission_id for g in taken_back}
    where = {row.id: row for row in session.execute(
        select(Submission.id, Submission.user_id, Submission.cohort_id, Cohort.organization_id)
        .join(Cohort, Cohort.id == Submission.cohort_id).where(Submission.id.in_(ids)))}
    members: dict[int, set[int]] = defaultdict(set)
    if (found := sharers()) is not None:
        for sub_id, learner_id in session.execute(select(found.c.submission_id, found.c.learner_id)
                                                  .where(found.c.submission_id.in_(ids))):
            members[sub_id].add(learner_id)
    rows: list[dict[str, Any]] = []
    for g in sorted(taken_back, key=lambda g: g.id):
        if (sub := where.get(g.submission_id)) is None:
            continue
        rows.append({"kind": RemovedKind.GRADE, "object_id": g.id, "learner_id": sub.user_id, "cohort_id": sub.cohort_id,
                     "organization_id": sub.organization_id})
        rows += [_own(RemovedKind.GRADE, g.id, learner) for learner in sorted(members[sub.id] | {sub.user_id})]
    return rows


def _learner_rows(session: Session, gone: list[tuple[RemovedKind, Evidence | Mastery]]) -> list[dict[str, Any]]:
    """Each evidence or mastery row's, for every cohort its learner is in now and for the
    learner (one statement for the cohorts)."""
    if not gone:
        return []
    cohorts: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for user_id, cohort_id, organization_id in session.execute(
            select(Enrolment.user_id, Enrolment.cohort_id, Cohort.organization_id)
            .join(Cohort, Cohort.id == Enrolment.cohort_id)
            .where(Enrolment.user_id.in_({item.user_id for _kind, item in gone}), Enrolment.active)):
        cohorts[user_id].append((cohort_id, organization_id))
    rows: list[dict[str, Any]] = []
    for kind, item in sorted(gone, key=lambda pair: (pair[0].value, pair[1].id)):
        rows += [{"kind": kind, "object_id": item.id, "learner_id": item.user_id, "cohort_id": cohort_id,
                  "organization_id": organization_id} for cohort_id, organization_id in cohorts[item.user_id]]
        rows.append(_own(kind, item.id, item.user_id))
    return rows


def _submission_rows(session: Session, gone: list[Submission]) -> list[dict[str, Any]]:
    """A deleted submission leaves its holder's list, and its cohort's if it was handed in."""
    handed_in = [s for s in gone if s.submitted_at is not None]
    organizations = dict(session.execute(select(Cohort.id, Cohort.organization_id)
                                         .where(Cohort.id.in_({s.cohort_id for s in handed_in})))) if handed_in else {}
    rows: list[dict[str, Any]] = []
    for sub in sorted(gone, key=lambda s: s.id):
        rows.append(_own(RemovedKind.SUBMISSION, sub.id, sub.user_id))
        if sub.submitted_at is not None and sub.cohort_id in organizations:
            rows.append({"kind": RemovedKind.SUBMISSION, "object_id": sub.id, "learner_id": sub.user_id,
                         "cohort_id": sub.cohort_id, "organization_id": organizations[sub.cohort_id]})
    return rows


def _note_removals(session: Session, _context: Any, _instances: Any) -> None:
    """``before_flush``: the removals this flush makes, written before it (one INSERT)."""
    taken_back: list[Grade] = []
    evidence: list[Evidence] = []
    mastery: list[Mastery] = []
    submissions: list[Submission] = []
    for item in session.deleted:
        if isinstance(item, Evidence):
            evidence.append(item)
        elif isinstance(item, Grade) and _was_released(item):
            taken_back.append(item)
        elif isinstance(item, Mastery):
            mastery.append(item)
        elif isinstance(item, Submission):
            submissions.append(item)
    for item in session.dirty:
        if isinstance(item, Grade) and item not in session.deleted and item.status != GradeStatus.RELEASED \
                and _was_released(item):
            taken_back.append(item)
    if not (taken_back or evidence or mastery or submissions):
        return
    gone: list[tuple[RemovedKind, Evidence | Mastery]] = [(RemovedKind.EVIDENCE, e) for e in evidence]
    gone += [(RemovedKind.MASTERY, m) for m in mastery]
    rows = [*_grade_rows(session, taken_back), *_learner_rows(session, gone), *_submission_rows(session, submissions)]
    if rows:  # one statement however many rows the flush removes
        now = utcnow()
        session.execute(insert(ApiRemoval), [{**row, "removed_at": now} for row in rows])


def _kind(kind: RemovedKind) -> ColumnElement[Any]:
    return literal(kind, ApiRemoval.__table__.c.kind.type)


def on_rows_deleting(model: type[Any], *, session: DbSession, where: list[ColumnElement[bool]], **_: object) -> None:
    """``rows_deleting``'s receiver: the rows a bulk DELETE is about to take out, recorded
    as removed in one INSERT ... SELECT (no row is read here). Evidence and mastery leave
    their learner's list and the list of each cohort they are in."""
    now = literal(utcnow(), UTCDateTime())
    columns = ["kind", "object_id", "learner_id", "cohort_id", "organization_id", "removed_at"]
    kinds: dict[type[Any], RemovedKind] = {Evidence: RemovedKind.EVIDENCE, Mastery: RemovedKind.MASTERY}
    if (kind := kinds.get(model)) is None:
        return
    own = select(_kind(kind), model.id, model.user_id, null(), null(), now).where(*where)
    cohorts = (select(_kind(kind), model.id, model.user_id, Enrolment.cohort_id, Cohort.organization_id, now)
               .join(Enrolment, (Enrolment.user_id == model.user_id) & Enrolment.active)
               .join(Cohort, Cohort.id == Enrolment.cohort_id).where(*where))
    session.execute(insert(ApiRemoval).from_select(columns, union_all(own, cohorts)))


def prune(session: DbSession, older_than: timedelta, now: datetime) -> int:
    """Delete the removals recorded before ``now - older_than`` (one statement); how many."""
    return rowcount(session.execute(delete(ApiRemoval).where(ApiRemoval.removed_at < now - older_than)))


def listen() -> None:
    """Connect the session event (from ``lms.api.wiring``; once, whatever the apps)."""
    if not event.contains(Session, "before_flush", _note_removals):
        event.listen(Session, "before_flush", _note_removals)


def on_enrolment_ended(user: User, *, session: DbSession, enrolment: Enrolment, now: datetime | None = None,
                       **_: object) -> None:
    """``enrolment_ended``'s receiver: the learner leaves the cohort's learners list."""
    cohort = session.get(Cohort, enrolment.cohort_id)
    if cohort is None:
        return
    session.add(ApiRemoval(kind=RemovedKind.LEARNER, object_id=user.id, learner_id=user.id, cohort_id=cohort.id,
                           organization_id=cohort.organization_id, removed_at=now or utcnow()))
    session.flush()


def on_work_carried(user_id: int, *, session: DbSession, submission_ids: list[int], source_id: int, **_: object) -> None:
    """``work_carried``'s receiver: the carried work that the old cohort's submissions list
    showed (handed in) and the released grades on it leave that cohort's lists."""
    source = session.get(Cohort, source_id)
    if source is None:
        return
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for sub_id, submitted_at, grade_id, status in session.execute(
            select(Submission.id, Submission.submitted_at, Grade.id, Grade.status)
            .outerjoin(Grade, Grade.submission_id == Submission.id).where(Submission.id.in_(submission_ids))):
        if submitted_at is not None:
            rows.append({"kind": RemovedKind.SUBMISSION, "object_id": sub_id})
        if grade_id is not None and status == GradeStatus.RELEASED:
            rows.append({"kind": RemovedKind.GRADE, "object_id": grade_id})
    if rows:  # one statement however much work moved
        session.execute(insert(ApiRemoval), [{**row, "learner_id": user_id, "cohort_id": source.id,
                                              "organization_id": source.organization_id, "removed_at": now} for row in rows])


def on_work_unshared(_sender: object, *, session: DbSession, submission_id: int, learner_ids: list[int],
                     **_: object) -> None:
    """``work_unshared``'s receiver: learners who no longer share a submission (their team's
    draft discarded, or they left the team) see it leave their own submissions list (one
    INSERT)."""
    if learner_ids:
        now = utcnow()
        session.execute(insert(ApiRemoval), [{**_own(RemovedKind.SUBMISSION, submission_id, learner), "removed_at": now}
                                             for learner in sorted(set(learner_ids))])


def on_attempts_carried(user_id: int, *, session: DbSession, attempt_ids: list[int], source_id: int,
                        **_: object) -> None:
    """``attempts_carried``'s receiver: the quiz attempts a moved learner took along (still
    running, or waiting for a grade) leave the old cohort's quiz attempts list (one INSERT)."""
    source = session.get(Cohort, source_id)
    if source is None or not attempt_ids:
        return
    now = utcnow()
    session.execute(insert(ApiRemoval), [{"kind": RemovedKind.ATTEMPT, "object_id": attempt_id, "learner_id": user_id,
                                          "cohort_id": source.id, "organization_id": source.organization_id,
                                          "removed_at": now} for attempt_id in sorted(attempt_ids)])
