"""Tombstones for the API's incremental sync: when an item one of its lists gave out stops
being listed, an ``ApiRemoval`` row says so, written in the unit of work that removed it.

- a released grade taken back (saved as a draft again, the work returned) or deleted:
  noted at the flush, from the grade's status (a session event, whoever made the change);
- an evidence row deleted (a regrade's ``replace_evidence`` deletes and adds): noted at
  the flush, once for each cohort its learner is enrolled in then (the cohort's evidence
  list is its current learners');
- an enrolment ended or a learner moved out (``enrolment_ended``): the learner leaves the
  cohort's learners list;
- a moved learner's own work carried to the new cohort (``work_carried``): its handed-in
  submissions and released grades leave the old cohort's lists.

A fixed number of statements a flush, whatever the number of rows removed."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import event, insert, inspect, select
from sqlalchemy.orm import Session

from lms.accounts.models import User
from lms.api.models import ApiRemoval, RemovedKind
from lms.cohorts.models import Cohort, Enrolment
from lms.coursework.models import Submission
from lms.database import DbSession, utcnow
from lms.grading.models import Grade, GradeStatus
from lms.progress.models import Evidence


def _was_released(grade: Grade) -> bool:
    """Whether the grade was released as the database last had it (before this flush)."""
    history = inspect(grade).attrs.status.history
    before = list(history.deleted) or list(history.unchanged)
    return bool(before) and before[0] == GradeStatus.RELEASED


def _note_removals(session: Session, _context: Any, _instances: Any) -> None:
    """``before_flush``: the removals this flush makes, written before it (one INSERT)."""
    taken_back: list[Grade] = []
    evidence: list[Evidence] = []
    for item in session.deleted:
        if isinstance(item, Evidence):
            evidence.append(item)
        elif isinstance(item, Grade) and _was_released(item):
            taken_back.append(item)
    for item in session.dirty:
        if isinstance(item, Grade) and item not in session.deleted and item.status != GradeStatus.RELEASED \
                and _was_released(item):
            taken_back.append(item)
    if not taken_back and not evidence:
        return
    now = utcnow()
    rows: list[dict[str, Any]] = []
    if taken_back:
        where = {row.id: row for row in session.execute(
            select(Submission.id, Submission.user_id, Submission.cohort_id, Cohort.organization_id)
            .join(Cohort, Cohort.id == Submission.cohort_id)
            .where(Submission.id.in_({g.submission_id for g in taken_back})))}
        rows += [{"kind": RemovedKind.GRADE, "object_id": g.id, "learner_id": where[g.submission_id].user_id,
                  "cohort_id": where[g.submission_id].cohort_id, "organization_id": where[g.submission_id].organization_id}
                 for g in sorted(taken_back, key=lambda g: g.id) if g.submission_id in where]
    if evidence:
        cohorts: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for user_id, cohort_id, organization_id in session.execute(
                select(Enrolment.user_id, Enrolment.cohort_id, Cohort.organization_id)
                .join(Cohort, Cohort.id == Enrolment.cohort_id)
                .where(Enrolment.user_id.in_({e.user_id for e in evidence}), Enrolment.active)):
            cohorts[user_id].append((cohort_id, organization_id))
        rows += [{"kind": RemovedKind.EVIDENCE, "object_id": e.id, "learner_id": e.user_id, "cohort_id": cohort_id,
                  "organization_id": organization_id}
                 for e in sorted(evidence, key=lambda e: e.id) for cohort_id, organization_id in cohorts[e.user_id]]
    if rows:  # one statement however many rows the flush removes
        session.execute(insert(ApiRemoval), [{**row, "removed_at": now} for row in rows])


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
