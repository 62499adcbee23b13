"""Grading with rubrics. Services take a session and plain values and only flush."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blinker import Namespace
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lms.accounts.models import User
from lms.coursework.models import Assignment, RubricVersion, Submission, SubmissionStatus
from lms.coursework.services import DiffLine, compare
from lms.coursework.specs import CriterionSpec
from lms.database import DbSession
from lms.grading.models import Grade, GradeAction, GradeEvent, GradeStatus, QueueFilter

events = Namespace()
# Sent with ``session=`` and ``now=`` after every save of a grade (drafts, releases, returns)
# and after a peer review is completed; features above turn them into evidence.
grade_saved = events.signal("grade-saved")
peer_review_completed = events.signal("peer-review-completed")


class GradingError(ValueError):
    """Input the grading form refuses; nothing was saved."""


class StaleGrade(GradingError):
    """Someone saved this grade after the grader opened it; their save is refused."""

    def __init__(self, current: Grade) -> None:
        super().__init__("Another grader saved this grade after you opened it. Their version is shown below; "
                         "nothing of yours was saved. Review it and save again if you still want to change it.")
        self.current = current


def grade_of(session: DbSession, submission: Submission) -> Grade | None:
    return session.scalar(select(Grade).where(Grade.submission_id == submission.id))


def rubric_for(session: DbSession, submission: Submission, grade: Grade | None) -> RubricVersion:
    """A grade keeps its rubric version; ungraded work uses the rubric's current one."""
    if grade is not None:
        return grade.rubric_version
    return submission.assignment.rubric.current


def read_levels(criteria: list[CriterionSpec], levels: Mapping[str, str | None]) -> tuple[dict[str, str | None], float, list[str]]:
    """The level chosen per criterion (refusing levels the rubric does not have), the
    points they add up to, and the titles of criteria left without a level."""
    unknown = set(levels) - {c.id for c in criteria}
    if unknown:
        raise GradingError(f"Unknown criteria: {', '.join(sorted(unknown))}.")
    chosen: dict[str, str | None] = {}
    score, missing = 0.0, []
    for criterion in criteria:
        level_id = levels.get(criterion.id) or None
        level = criterion.level(level_id)
        if level_id is not None and level is None:
            raise GradingError(f"{criterion.title}: the level {level_id!r} does not exist in this rubric.")
        if level is None:
            missing.append(criterion.title)
        else:
            score += level.points
        chosen[criterion.id] = level_id
    return chosen, score, missing


def snapshot(grade: Grade) -> dict[str, Any]:
    return {"selections": grade.selections, "feedback": grade.feedback, "score": grade.score,
            "status": grade.status, "version": grade.version_id, "rubric_version": grade.rubric_version_id}


def save_grade(session: DbSession, submission: Submission, grader: User, levels: Mapping[str, str | None],
               comments: Mapping[str, str], feedback: str, expected_revision: int | None, action: GradeAction | str,
               now: datetime) -> Grade:
    """Save a draft, release it to the learner, or return the work for revision."""
    try:
        action = GradeAction(action)
    except ValueError:
        raise GradingError("Unknown action.") from None
    if submission.latest is None or submission.status == SubmissionStatus.DRAFT:
        raise GradingError("There is no submitted work to grade yet.")
    grade = grade_of(session, submission)
    if grade is not None and grade.revision != expected_revision:
        raise StaleGrade(grade)
    rubric = rubric_for(session, submission, grade)
    chosen, score, missing = read_levels(rubric.criteria, levels)
    selections = {cid: {"level": lid, "comment": (comments.get(cid) or "").strip()} for cid, lid in chosen.items()}
    if action == GradeAction.RELEASE and missing:
        raise GradingError(f"Choose a level for every criterion before releasing: {', '.join(missing)}.")
    before = snapshot(grade) if grade is not None else None
    if grade is None:
        grade = Grade(submission=submission, version_id=submission.latest.id, rubric_version_id=rubric.id,
                      grader_id=grader.id, selections={}, max_score=rubric.max_points, revision=0)
        session.add(grade)
    grade.version_id = submission.latest.id
    grade.selections, grade.feedback = selections, feedback.strip()
    grade.score = None if missing else score
    grade.grader_id, grade.updated_at, grade.revision = grader.id, now, grade.revision + 1
    if action == GradeAction.RELEASE:
        grade.status, grade.released_at = GradeStatus.RELEASED, now
        submission.status = SubmissionStatus.RELEASED
    else:
        grade.status = GradeStatus.DRAFT
        if action == GradeAction.RETURN:
            submission.status = SubmissionStatus.RETURNED  # the learner may edit and resubmit
        elif submission.status == SubmissionStatus.RELEASED:
            submission.status = SubmissionStatus.SUBMITTED  # taken back from the learner until released again
    submission.updated_at = now
    session.flush()
    session.add(GradeEvent(grade_id=grade.id, actor_id=grader.id, at=now, action=action, before=before, after=snapshot(grade)))
    session.flush()
    grade_saved.send(grade, session=session, now=now)
    return grade


def released_grade(session: DbSession, submission: Submission) -> Grade | None:
    grade = grade_of(session, submission)
    return grade if grade is not None and grade.status == GradeStatus.RELEASED else None


def history(session: DbSession, grade: Grade) -> list[GradeEvent]:
    return list(session.scalars(select(GradeEvent).where(GradeEvent.grade_id == grade.id)
                                .options(selectinload(GradeEvent.actor)).order_by(GradeEvent.at, GradeEvent.id)))


# --------------------------------------------------------------------------- the queue

STATUSES = {QueueFilter.TO_GRADE: "To grade", QueueFilter.RETURNED: "Returned for revision",
            QueueFilter.RELEASED: "Released", QueueFilter.ALL: "All"}
# The tab each submitted work shows under (besides "all").
QUEUE_TAB = {SubmissionStatus.SUBMITTED: QueueFilter.TO_GRADE, SubmissionStatus.RETURNED: QueueFilter.RETURNED,
             SubmissionStatus.RELEASED: QueueFilter.RELEASED}


@dataclass(frozen=True)
class QueueRow:
    submission: Submission
    learner: User
    grade: Grade | None

    @property
    def late(self) -> bool:
        return bool(self.submission.latest and self.submission.latest.late)


@dataclass(frozen=True)
class Queue:
    rows: list[QueueRow]
    counts: Counter[QueueFilter]


def queue(session: DbSession, cohort_ids: list[int], cohort_id: int | None = None, module: str | None = None,
          status: QueueFilter = QueueFilter.TO_GRADE, late_only: bool = False) -> Queue:
    """Submitted work in the staff member's cohorts, oldest first; a fixed number of
    statements whatever the number of submissions."""
    if not cohort_ids:
        return Queue([], Counter())
    query = (select(Submission).join(Submission.assignment)
             .where(Submission.cohort_id.in_(cohort_ids), Submission.status != SubmissionStatus.DRAFT)
             .options(selectinload(Submission.versions), selectinload(Submission.assignment).selectinload(Assignment.module),
                      selectinload(Submission.assignment).selectinload(Assignment.phase))
             .order_by(Submission.submitted_at, Submission.id))
    if cohort_id is not None:
        query = query.where(Submission.cohort_id == cohort_id)
    if module:
        query = query.where(Assignment.module.has(key=module))
    submissions = list(session.scalars(query))
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_({s.user_id for s in submissions})))} if submissions else {}
    grades = ({g.submission_id: g for g in session.scalars(select(Grade).where(Grade.submission_id.in_([s.id for s in submissions])))}
              if submissions else {})
    rows = [QueueRow(s, users[s.user_id], grades.get(s.id)) for s in submissions]
    counts = Counter(QUEUE_TAB.get(r.submission.status, QueueFilter.TO_GRADE) for r in rows)
    counts[QueueFilter.ALL] = len(rows)
    if status != QueueFilter.ALL:
        rows = [r for r in rows if QUEUE_TAB.get(r.submission.status) == status]
    if late_only:
        rows = [r for r in rows if r.late]
    return Queue(rows, counts)


def changes_since_last(submission: Submission) -> list[DiffLine]:
    versions = submission.versions
    return compare(versions[-2], versions[-1]) if len(versions) >= 2 else []
