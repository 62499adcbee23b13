"""Grading with rubrics. Services take a session and plain values and only flush."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from blinker import Namespace
from sqlalchemy import ColumnExpressionArgument, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import load_only, selectinload
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.elements import ColumnElement

from lms.accounts.models import User
from lms.catalog.models import Module
from lms.coursework.models import Assignment, RubricVersion, Submission, SubmissionStatus, SubmissionVersion
from lms.coursework.services import DiffLine, compare, dates_for
from lms.coursework.sharing import Group, groups_of
from lms.coursework.specs import CriterionSpec
from lms.database import DbSession
from lms.grading.models import Grade, GradeAction, GradeEvent, GradeStatus, QueueFilter
from lms.learning.models import ScheduleOverride
from lms.learning.services import Schedule, applying_extensions
from lms.teams.models import Team, TeamMember
from lms.web.page_cache import fingerprint
from lms.web.paging import Paging, paging

events = Namespace()
# Sent with ``session=`` and ``now=`` after every save of a grade (drafts, releases, returns)
# and after a peer review is completed; features above turn them into evidence.
grade_saved = events.signal("grade-saved")
peer_review_completed = events.signal("peer-review-completed")


class GradingError(ValueError):
    """Input the grading form refuses; nothing was saved."""


class StaleGrade(GradingError):
    """Someone else saved this grade after the grader opened it (or created the first grade
    at the same moment): the save is refused and nothing of it is kept. ``current`` is the
    grade as it now stands; ``changed_by`` and ``changed_at`` say whose save won and when."""

    def __init__(self, current: Grade) -> None:
        super().__init__(f"This grade was changed by {current.grader.name} after you opened it; nothing of yours was saved.")
        self.current = current
        self.changed_by: str = current.grader.name
        self.changed_by_id: int = current.grader_id
        self.changed_at: datetime = current.updated_at


class NewerVersion(GradingError):
    """A version was handed in after the grader's page showed the work (a revision of work
    returned, say): the grade would have gone on work the grader has not read. Nothing was
    saved; ``number`` and ``submitted_at`` are the newest version's."""

    def __init__(self, number: int, submitted_at: datetime) -> None:
        super().__init__(f"Not saved: version {number} was handed in after you opened this page.")
        self.number = number
        self.submitted_at = submitted_at


class LevelsMissing(GradingError):
    """A release with criteria left without a level; nothing was saved. ``criteria``: their
    ids, for the page to mark each of them where it is."""

    def __init__(self, titles: list[str], criteria: list[str]) -> None:
        super().__init__(f"Choose a level for every criterion before releasing: {', '.join(titles)}.")
        self.criteria = tuple(criteria)


class GradingBusy(GradingError):
    """Another writer held the database longer than a save waits for it (SQLite's lock,
    past its busy timeout); nothing was saved and saving again may well succeed."""


def grade_of(session: DbSession, submission: Submission) -> Grade | None:
    return session.scalar(select(Grade).where(Grade.submission_id == submission.id))


def _current_grade(session: DbSession, submission: Submission) -> Grade | None:
    """The grade as the database holds it now, overwriting what the session had loaded."""
    return session.scalar(select(Grade).where(Grade.submission_id == submission.id)
                          .options(selectinload(Grade.grader)).execution_options(populate_existing=True))


def rubric_for(session: DbSession, submission: Submission, grade: Grade | None) -> RubricVersion:
    """A grade keeps its rubric version; ungraded work uses the rubric's current one."""
    if grade is not None:
        return grade.rubric_version
    return submission.assignment.rubric.current


@dataclass(frozen=True)
class DueDate:
    """The due date that applies to a learner's work (their extension counted, as
    ``lms.learning.services.deadline_that_applies`` rules through ``dates_for``), the extension
    that moved it there with who granted it (None: none did), and whether the version shown
    was handed in after it."""

    due_on: date
    extension: ScheduleOverride | None
    late: bool


def due_date_of(session: DbSession, submission: Submission, plan: Schedule) -> DueDate | None:
    """The grading page's due date of ``submission`` on its learner's schedule ``plan``
    (None: the item is not on it). Two statements for the extension and its granter,
    whatever the cohort's size."""
    dates = dates_for(submission.assignment, plan)  # the regular window: a revision's is told apart on the page
    if dates is None or submission.latest is None:
        return None
    extension = (applying_extensions(session, [submission.user_id], submission.assignment.phase_id).get(submission.user_id)
                 if dates.extended else None)
    return DueDate(due_on=dates.due_on, extension=extension, late=dates.late(submission.latest.submitted_at))


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


MAX_FEEDBACK = 20_000           # characters of a grade's overall feedback
MAX_CRITERION_COMMENT = 4_000   # characters of a comment on one criterion


def one_line_break(text: str) -> str:
    """``text`` with each line break one character, as the form's ``maxlength`` counts them:
    a browser sends a textarea's line breaks as CR LF, so counted as sent, text the form
    let the grader type in full would be refused as too long."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def save_grade(session: DbSession, submission: Submission, grader: User, levels: Mapping[str, str | None],
               comments: Mapping[str, str], feedback: str, expected_revision: int | None, action: GradeAction | str,
               now: datetime, expected_version: int | None = None) -> Grade:
    """Save a draft, release it to the learner, or return the work for revision.

    ``expected_version``: the id of the version the grader's page showed. When a newer one
    was handed in since, ``NewerVersion`` is raised and the caller rolls back: a grade is
    never put on a version its grader has not seen. It is read after the submission's row
    is written, so a hand-in racing the save is either seen here or waits for it.

    The save is a conditional write on the revision the grader saw: ``expected_revision``
    must be the stored one (``None`` for ungraded work), and the UPDATE itself only matches
    the row at that revision (``Grade.revision`` is the mapper's version counter), so of
    several saves from one revision exactly one is written, whatever their timing. The
    others raise ``StaleGrade`` having written nothing to the grade, logged no event and
    sent no signal; the caller's other work survives (a savepoint) until it rolls back."""
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
    feedback = one_line_break(feedback)
    written = {cid: one_line_break(comments.get(cid) or "").strip() for cid in chosen}
    selections = {cid: {"level": lid, "comment": written[cid]} for cid, lid in chosen.items()}
    if action == GradeAction.RELEASE and missing:
        raise LevelsMissing(missing, [cid for cid, lid in chosen.items() if lid is None])
    too_long = [c.title for c in rubric.criteria if len(written[c.id]) > MAX_CRITERION_COMMENT]
    if len(feedback) > MAX_FEEDBACK or too_long:
        where = f" (too long: {', '.join(['the overall feedback'] * (len(feedback) > MAX_FEEDBACK) + too_long)})"
        raise GradingError(f"Keep the feedback under {MAX_FEEDBACK:,} characters and each criterion's comment under "
                           f"{MAX_CRITERION_COMMENT:,}{where}. Your text is kept below.")
    if action == GradeAction.RETURN and not feedback.strip() and not any(s["comment"] for s in selections.values()):
        # The learner is told to revise: without a word on what, they cannot.
        raise GradingError("Not returned: write what the learner should revise, as overall feedback or a comment "
                           "on at least one criterion. Your choices are kept below.")
    before = snapshot(grade) if grade is not None else None
    if action == GradeAction.RELEASE:
        submission.status = SubmissionStatus.RELEASED
    elif action == GradeAction.RETURN:
        submission.status = SubmissionStatus.RETURNED  # the learner may edit and resubmit
        submission.returned_at = now  # the schedule gives them a window from here (REVISION_DAYS)
    elif submission.status == SubmissionStatus.RELEASED:
        submission.status = SubmissionStatus.SUBMITTED  # taken back from the learner until released again
    submission.updated_at = now
    # The submission's row is written first. Its UPDATE opens the write transaction, so the
    # savepoint below nests in it (on SQLite a savepoint opening the transaction would commit
    # on release), and on PostgreSQL concurrent saves of one submission queue on its row lock.
    try:
        session.flush()
    except OperationalError as exc:
        if "database is locked" not in str(exc.orig):
            raise
        raise GradingBusy("Not saved: the database was busy with other work for too long. "
                          "Your input is kept below; save again.") from None
    if expected_version is not None:
        newest = session.execute(select(SubmissionVersion.id, SubmissionVersion.number, SubmissionVersion.submitted_at)
                                 .where(SubmissionVersion.submission_id == submission.id)
                                 .order_by(SubmissionVersion.number.desc()).limit(1)).one()
        if newest.id != expected_version:
            raise NewerVersion(newest.number, newest.submitted_at)
    # Read before a new grade is added: loading these (expired after a commit) would
    # autoflush the grade half-filled.
    latest_id, grader_id = submission.latest.id, grader.id
    try:
        with session.begin_nested():
            if grade is None:
                grade = Grade(submission=submission, rubric_version_id=rubric.id, max_score=rubric.max_points)
                session.add(grade)
            grade.version_id = latest_id
            grade.selections, grade.feedback = selections, feedback.strip()
            grade.score = None if missing else score
            grade.grader_id, grade.updated_at = grader_id, now
            grade.status = GradeStatus.RELEASED if action == GradeAction.RELEASE else GradeStatus.DRAFT
            if action == GradeAction.RELEASE:
                grade.released_at = now
            # Leaving the block flushes: INSERT of a first grade (one per submission, a unique
            # constraint), or UPDATE ... SET revision = revision + 1 WHERE revision = expected.
    except (IntegrityError, StaleDataError):
        current = _current_grade(session, submission)
        if current is None:  # not a lost race (there is no grade): a fault, not a refusal
            raise
        raise StaleGrade(current) from None  # another save won the race
    session.add(GradeEvent(grade_id=grade.id, actor_id=grader.id, at=now, action=action, before=before, after=snapshot(grade)))
    session.flush()
    grade_saved.send(grade, session=session, now=now)
    return grade


def released_grade(session: DbSession, submission: Submission) -> Grade | None:
    grade = grade_of(session, submission)
    return grade if grade is not None and grade.status == GradeStatus.RELEASED else None


class ReleasedScores:
    """For the learner's work list (lms.coursework.services.work_states): each
    submission's released score and its maximum, as correlated columns of its one statement."""

    def released_score(self) -> tuple[ColumnElement[float | None], ColumnElement[float | None]]:
        released = (Grade.submission_id == Submission.id, Grade.status == GradeStatus.RELEASED)
        return (select(Grade.score).where(*released).correlate(Submission).scalar_subquery().label("score"),
                select(Grade.max_score).where(*released).correlate(Submission).scalar_subquery().label("max_score"))


@dataclass(frozen=True)
class CriterionComment:
    title: str
    comment: str


@dataclass(frozen=True)
class ReturnedVersion:
    """What the grader wrote when they returned one version for revision: their overall
    feedback and their comments per criterion. Never the levels or a score: a return is
    not a grade, and what the grader chose on the way may change once the work is revised."""

    version_id: int
    version_number: int
    returned_at: datetime
    feedback: str
    comments: list[CriterionComment]


@dataclass(frozen=True)
class Returned:
    """One return for revision as its event kept it: which submission and version, when,
    the overall feedback and the criterion comments (never the levels)."""

    submission_id: int
    version_id: int | None
    at: datetime
    feedback: str
    comments: list[CriterionComment]


def returned(session: DbSession, submission_ids: Sequence[int]) -> list[Returned]:
    """Every return for revision of ``submission_ids``, oldest first, from the grades' trail
    (the snapshot each RETURN event kept): one statement whatever the submissions."""
    if not submission_ids:
        return []
    rows = session.execute(
        select(Grade.submission_id, GradeEvent.at, GradeEvent.after, RubricVersion)
        .join(Grade, Grade.id == GradeEvent.grade_id).join(RubricVersion, RubricVersion.id == Grade.rubric_version_id)
        .where(Grade.submission_id.in_(list(submission_ids)), GradeEvent.action == GradeAction.RETURN)
        .order_by(GradeEvent.at, GradeEvent.id))
    result = []
    for submission_id, at, after, rubric in rows:
        kept = after if isinstance(after, dict) else {}
        selections = kept.get("selections") or {}
        comments = [CriterionComment(c.title, text) for c in rubric.criteria
                    if (text := str((selections.get(c.id) or {}).get("comment") or "").strip())]
        result.append(Returned(submission_id, kept.get("version"), at, str(kept.get("feedback") or ""), comments))
    return result


def returns_of(session: DbSession, submission: Submission) -> list[ReturnedVersion]:
    """Each version of ``submission`` returned for revision, with what the grader sent back
    with it, the newest first. It is read from the grade's trail (``returned``), so a draft
    the grader saves afterwards, on that version or the next, stays theirs until they return
    or release it. A version returned twice shows its last return. One statement;
    ``submission.versions`` is read for the numbers."""
    numbers = {v.id: v.number for v in submission.versions}
    found: dict[int, ReturnedVersion] = {}
    for back in returned(session, [submission.id]):
        if back.version_id not in numbers:
            continue
        found[back.version_id] = ReturnedVersion(back.version_id, numbers[back.version_id], back.at, back.feedback,
                                                 back.comments)
    return sorted(found.values(), key=lambda r: r.version_number, reverse=True)


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
    team: Group | None = None  # a team's work: the team, named instead of the member who holds it

    @property
    def late(self) -> bool:
        return self.submission.handed_in_late


@dataclass(frozen=True)
class Queue:
    rows: list[QueueRow]      # this page of the tab's rows
    counts: Counter[QueueFilter]
    paging: Paging = field(default_factory=lambda: Paging(1, QUEUE_PER_PAGE, 0))


QUEUE_PER_PAGE = 100  # rows of the grading queue on one page


def _queue_tab(status: QueueFilter) -> list[SubmissionStatus]:
    """The submission statuses a tab lists (every one but drafts for "all")."""
    return [s for s, tab in QUEUE_TAB.items() if status in (tab, QueueFilter.ALL)]


def queue(session: DbSession, cohort_ids: list[int], cohort_id: int | None = None, module: str | None = None,
          status: QueueFilter = QueueFilter.TO_GRADE, late_only: bool = False, page: int | None = 1) -> Queue:
    """Submitted work in the staff member's cohorts, oldest first, a page of one tab at a
    time; each tab's count from one GROUP BY. A fixed number of statements whatever the
    number of submissions, and only the page's rows read: a cohort's released work is
    thousands of submissions (at 500 learners, reading all of them for every view took
    640 ms to show an empty "to grade" tab)."""
    if not cohort_ids:
        return Queue([], Counter())
    where: list[ColumnExpressionArgument[bool]] = [Submission.cohort_id.in_(cohort_ids), Submission.status.in_(list(QUEUE_TAB))]
    if cohort_id is not None:
        where.append(Submission.cohort_id == cohort_id)
    if module:
        where.append(Submission.assignment.has(Assignment.module.has(key=module)))
    if late_only:  # the tabs count what they list
        where.append(Submission.handed_in_late)
    counts: Counter[QueueFilter] = Counter()
    for found, count in session.execute(select(Submission.status, func.count()).where(*where).group_by(Submission.status)):
        counts[QUEUE_TAB[SubmissionStatus(found)]] += count
    counts[QueueFilter.ALL] = sum(counts.values())
    shown = [*where, Submission.status.in_(_queue_tab(status))]
    total = session.scalar(select(func.count()).select_from(Submission).where(*shown)) or 0
    pages = paging(page, QUEUE_PER_PAGE, total)
    submissions = list(session.scalars(
        select(Submission).where(*shown)
        # what a row shows of each version: how many, and whether the latest was late (not the bodies)
        .options(selectinload(Submission.versions).load_only(SubmissionVersion.number, SubmissionVersion.late,
                                                              SubmissionVersion.submitted_at),
                 selectinload(Submission.assignment).selectinload(Assignment.module))
        .order_by(Submission.submitted_at, Submission.id).offset(pages.first).limit(QUEUE_PER_PAGE)))
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_({s.user_id for s in submissions})))} if submissions else {}
    grades = ({g.submission_id: g for g in session.scalars(
        select(Grade).where(Grade.submission_id.in_([s.id for s in submissions]))
        .options(load_only(Grade.submission_id, Grade.status, Grade.score, Grade.max_score)))} if submissions else {})
    teams = groups_of(session, [s.id for s in submissions])
    rows = [QueueRow(s, users[s.user_id], grades.get(s.id), teams.get(s.id)) for s in submissions]
    return Queue(rows, counts, pages)


@dataclass(frozen=True)
class NextToGrade:
    """The oldest other work of a cohort waiting for a grade (the queue's order), and how
    many other pieces wait: the grading page's way on once this one is graded."""

    submission_id: int  # of the same cohort
    learner: str
    assignment: str
    waiting: int


def next_to_grade(session: DbSession, submission: Submission) -> NextToGrade | None:
    """The work after ``submission`` in its cohort's "to grade" tab, oldest first as the
    queue lists it (None: nothing else waits). One statement (the page names a team's work
    by its team, from the ``groups_of`` it reads for its own work)."""
    found = session.execute(
        select(Submission.id, User.name, Assignment.title, func.count().over())
        .join(User, User.id == Submission.user_id).join(Assignment, Assignment.id == Submission.assignment_id)
        .where(Submission.cohort_id == submission.cohort_id, Submission.status == SubmissionStatus.SUBMITTED,
               Submission.id != submission.id)
        .order_by(Submission.submitted_at, Submission.id).limit(1)).first()
    if found is None:
        return None
    submission_id, learner, assignment, waiting = found
    return NextToGrade(submission_id, learner, assignment, int(waiting))


def queue_modules(session: DbSession) -> list[tuple[str, str]]:
    """(key, title) of the program's modules in program order: the queue's module filter
    offers them by title (one statement)."""
    query = select(Module.key, Module.title).where(Module.retired_at.is_(None)).order_by(Module.position)
    return [(key, title) for key, title in session.execute(query)]


def changes_since_last(submission: Submission) -> list[DiffLine]:
    versions = submission.versions
    return compare(versions[-2], versions[-1]) if len(versions) >= 2 else []


def page_stamp(user_id: ColumnElement[int], now: ColumnElement[datetime]) -> list[ColumnElement[Any]]:
    """What a learner's cached pages (``lms.web.page_cache``) show from this feature: the
    grades of their own work and of their teams' shared work."""
    teams = (select(Team.submission_id).join(TeamMember, TeamMember.team_id == Team.id)
             .where(TeamMember.user_id == user_id, Team.submission_id.is_not(None)))
    own = select(Submission.id).where(Submission.user_id == user_id)
    return [select(fingerprint(Grade.id, Grade.submission_id, Grade.status, Grade.revision, Grade.score, Grade.max_score,
                               Grade.updated_at, Grade.released_at))
            .where(Grade.submission_id.in_(own.union_all(teams))).scalar_subquery()]
