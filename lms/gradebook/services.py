"""The gradebook of a cohort: its learners against every assessed item (weekly checks,
module quizzes, assignments, portfolio reviews, level exams) in program-month order, each
cell with a status and a score. Read in a fixed number of statements whatever the number
of learners: the due dates and overdue items come from the kept schedule state
(``lms.progress.state``: nothing worked out per learner on a view), the learners at risk
from ``lms.competency.services.at_risk_judge`` (asked for the learners shown), quiz grades from the quiz's own grading method.
The page shows ``PER_PAGE`` learners at a time, by name, filtered over the whole cohort;
only the shown learners' rows are built, unless the ungraded filter needs its candidates' cells.

Bulk actions write only through the features that own the data: releasing drafted grades
through ``lms.grading.services.save_grade`` (a conditional write on the revision the
staff member saw), extensions through ``lms.learning.services.grant_override`` (removed
through its ``remove_extensions``, after a confirmation page), messages
through ``lms.notifications.services.notify_all`` (which mails them through the outbox). Each answers per learner; services only flush."""

from __future__ import annotations

import uuid
import zipfile
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from blinker import Namespace
from sqlalchemy import ColumnElement, ColumnExpressionArgument, and_, func, not_, or_, select, tuple_
from sqlalchemy.orm import load_only, selectinload

from lms.accounts.models import User
from lms.assessment.methods import GRADING_METHODS
from lms.assessment.models import Attempt, Quiz, QuizKind, percent_of
from lms.catalog.models import Lesson, Phase
from lms.catalog.revision import cached
from lms.cohorts.calendar import PROGRAM_MONTHS, program_over
from lms.cohorts.enrolment import learners_page
from lms.cohorts.models import Cohort, Enrolment, Pace
from lms.cohorts.services import CohortError
from lms.competency.services import at_risk_judge, at_risk_learners, learners_of
from lms.coursework.models import Assignment, AssignmentKind, Attachment, Submission, SubmissionStatus, SubmissionVersion
from lms.coursework.services import attachment_bytes
from lms.coursework.sharing import Group, WorkRow, groups_of, sharers, work_by_learner, work_rows_by_learner
from lms.database import DbSession, among, fold_name, folded_name
from lms.gradebook.models import CellStatus, ColumnKind, RowFilter
from lms.grading.exports import CsvExporter, GradeRows, GradeTable
from lms.grading.models import Grade, GradeAction, GradeStatus
from lms.grading.services import save_grade
from lms.learning.models import OverrideKind, ScheduleOverride
from lms.learning.services import (
    EXTENSION_PAST_DUE,
    StaleOverride,
    Timeline,
    applying_extensions,
    cohort_today,
    grant_override,
    latest_extension,
    opens_at,
    timeline_of,
)
from lms.learning.services import remove_extensions as remove_learner_extensions
from lms.notifications.models import NotificationEvent
from lms.notifications.services import Notice, notify_all
from lms.progress.models import ItemKind
from lms.progress.state import ScheduledItem, overdue_keys, scheduled_items
from lms.storage.backends import Storage
from lms.web.downloads import ARCHIVE_NAME_BYTES, ZipSink, safe_filename, shortened
from lms.web.paging import Paging, paging

KIND_ORDER = (ColumnKind.CHECK, ColumnKind.QUIZ, ColumnKind.ASSIGNMENT, ColumnKind.PORTFOLIO, ColumnKind.EXAM)
KIND_LABELS = {ColumnKind.CHECK: "Check", ColumnKind.QUIZ: "Quiz", ColumnKind.ASSIGNMENT: "Assignment",
               ColumnKind.PORTFOLIO: "Portfolio", ColumnKind.EXAM: "Exam"}
STATUS_LABELS = {CellStatus.NOT_OPEN: "not open", CellStatus.NOT_STARTED: "not started",
                 CellStatus.IN_PROGRESS: "in progress", CellStatus.OVERDUE: "overdue", CellStatus.SUBMITTED: "to grade",
                 CellStatus.DRAFTED: "drafted", CellStatus.RETURNED: "returned", CellStatus.RELEASED: "released",
                 CellStatus.PASSED: "passed", CellStatus.FAILED: "failed"}
PER_PAGE = 100  # learners on one page of the gradebook
# learners whose rows are built at once (exports, filters over every row): a learner's
# progress and cells take about 0.2 MB while made
EXPORT_CHUNK = 200
IDS_A_STATEMENT = 1000  # submissions whose groups are read in one statement
# Filters decided without any row's cells: the page builds the rows it shows only.
WITHOUT_CELLS = frozenset({RowFilter.ALL, RowFilter.AT_RISK, RowFilter.OVERDUE})
FILTER_LABELS = {RowFilter.ALL: "All learners", RowFilter.AT_RISK: "At risk", RowFilter.OVERDUE: "Overdue",
                 RowFilter.UNGRADED: "Ungraded"}
# Handed in and not graded for the learner yet: what the "ungraded" filter looks for.
UNGRADED = frozenset({CellStatus.SUBMITTED, CellStatus.DRAFTED})
PROGRESS_KIND = {ColumnKind.QUIZ: ItemKind.QUIZ, ColumnKind.EXAM: ItemKind.EXAM,
                 ColumnKind.ASSIGNMENT: ItemKind.ASSIGNMENT, ColumnKind.PORTFOLIO: ItemKind.PORTFOLIO}
MAX_SUBJECT = 200
MAX_MESSAGE = 5000


class GradebookError(ValueError):
    """A bulk action refused as a whole (nothing was done); the message says why. ``field``:
    the form field it is about (``column``, ``subject``, ``body``), when it is about one, for
    the page to show it there and mark that field invalid (``refuse_field``)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotInCohort(LookupError):
    """A learner, item or grade named in a request is not part of this cohort's gradebook (a 404)."""


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Column:
    kind: ColumnKind
    key: str
    title: str
    month: int  # the month whose lessons it covers (``Quiz.covers_month`` for a quiz): labelled "M11", ordered by
    module_key: str | None
    module_title: str | None
    phase_id: int | None  # the part of the program whose extensions move its due date
    item_id: int          # the quiz's or the assignment's id
    passing_score: float | None = None
    lesson_key: str | None = None  # a weekly check's lesson: the check opens with it

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.key}"

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def graded_work(self) -> bool:
        """Work graded with a rubric: grades to release, submissions to download."""
        return self.kind in (ColumnKind.ASSIGNMENT, ColumnKind.PORTFOLIO)

    @property
    def extendable(self) -> bool:
        return self.phase_id is not None and self.kind not in (ColumnKind.CHECK, ColumnKind.EXAM)


class Cell(NamedTuple):
    """One learner's standing on one item. A page is some 8,600 of them: a tuple is made in
    a third of a frozen dataclass's time."""

    status: CellStatus
    score: float | None = None      # points for graded work, percent for quizzes
    max_score: float | None = None  # points for graded work; 100 for quizzes
    overdue: bool = False
    due_on: date | None = None
    submission_id: int | None = None
    grade_id: int | None = None
    grade_revision: int | None = None
    team: str | None = None  # the team whose work this is (its status is the team's)

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass(frozen=True)
class Row:
    user: User
    at_risk: bool
    cells: list[Cell]

    @property
    def overdue(self) -> bool:
        return any(c.overdue for c in self.cells)

    @property
    def closed(self) -> bool:
        """The learner's account is closed (deactivated, or erased: ``User.deactivated_at``):
        the row is listed, marked so, but on no filter that asks someone to act."""
        return not self.user.is_active

    @property
    def ungraded(self) -> bool:
        return any(c.status in UNGRADED for c in self.cells)

    def shown_by(self, row_filter: RowFilter) -> bool:
        """Overdue: a closed account is on nobody's to-do (as on the instructor's home,
        whose "and N more" links here), however overdue its cells read."""
        return {RowFilter.ALL: True, RowFilter.AT_RISK: self.at_risk, RowFilter.OVERDUE: self.overdue and not self.closed,
                RowFilter.UNGRADED: self.ungraded}[row_filter]


@dataclass(frozen=True)
class Gradebook:
    cohort: Cohort
    today: date
    columns: list[Column]
    rows: list[Row]           # this page of the rows the filter shows
    learners: int             # every learner of the cohort
    row_filter: RowFilter
    module: str | None
    modules: list[tuple[str, str]]  # (key, title) of every module with a column, in program order
    paging: Paging            # which page; ``paging.total``: how many learners the filter shows

    def column(self, column_id: str) -> Column | None:
        return next((c for c in self.columns if c.id == column_id), None)


def _columns(session: DbSession) -> list[Column]:
    """Every active assessed item, in program-month order (checks, quizzes, work, exams
    within a month): kept in this process for the content revision (``lms.catalog.revision``;
    plain values, nothing of a session's)."""
    return cached(session, "gradebook.columns", _load_columns)


def _load_columns(session: DbSession) -> list[Column]:
    columns: list[Column] = []
    quizzes = session.scalars(select(Quiz).where(Quiz.retired_at.is_(None)).options(
        selectinload(Quiz.module), selectinload(Quiz.phase), selectinload(Quiz.level),
        selectinload(Quiz.lesson).selectinload(Lesson.phase), selectinload(Quiz.lesson).selectinload(Lesson.module)))
    positions: dict[str, int] = {}
    for quiz in quizzes:
        if quiz.kind == QuizKind.CHECK:
            if quiz.lesson is None:
                continue
            kind, month, module, phase_id = ColumnKind.CHECK, quiz.covers_month, quiz.lesson.module, None
            lesson_key: str | None = quiz.lesson.key
        elif quiz.kind == QuizKind.EXAM:
            if quiz.level is None:
                continue
            kind, month, module, phase_id = ColumnKind.EXAM, quiz.covers_month, None, None
            lesson_key = None
        else:
            if quiz.phase is None:
                continue
            kind, month, module, phase_id = ColumnKind.QUIZ, quiz.covers_month, quiz.module, quiz.phase_id
            lesson_key = None
        positions[f"{kind}:{quiz.key}"] = quiz.position
        columns.append(Column(kind=kind, key=quiz.key, title=quiz.title, month=month,
                              module_key=module.key if module else None, module_title=module.title if module else None,
                              phase_id=phase_id, item_id=quiz.id, passing_score=quiz.passing_score, lesson_key=lesson_key))
    for work in session.scalars(select(Assignment).where(Assignment.retired_at.is_(None))
                                .options(selectinload(Assignment.module), selectinload(Assignment.phase))):
        kind = ColumnKind.PORTFOLIO if work.kind == AssignmentKind.PORTFOLIO else ColumnKind.ASSIGNMENT
        positions[f"{kind}:{work.key}"] = work.position
        columns.append(Column(kind=kind, key=work.key, title=work.title, month=work.phase.month,
                              module_key=work.module.key, module_title=work.module.title, phase_id=work.phase_id,
                              item_id=work.id))
    return sorted(columns, key=lambda c: (c.month, KIND_ORDER.index(c.kind), positions[c.id], c.key))


class _Tried(NamedTuple):
    """What a quiz cell needs of an attempt (``lms.assessment.methods.Scored``), read as a
    plain row: a cohort's attempts are tens of thousands."""

    number: int
    finished: bool
    percent: float | None
    pending_manual: bool


def _quiz_cell(column: Column, attempts: list[_Tried], grading: Any, item: ScheduledItem | None, today: date,
               lesson: ScheduledItem | None = None) -> Cell:
    """A quiz's, an exam's or a weekly check's cell. A check is on no one's schedule (practice,
    never due nor overdue) but opens with its lesson (``lesson``, the learner's): untried while
    its month is still locked for the learner, it is "not open", as the month's other items
    are, not "not started"."""
    if not attempts and lesson is not None and lesson.opens_on > today:
        return Cell(CellStatus.NOT_OPEN)
    finished = [a for a in attempts if a.finished]
    scored = [a for a in finished if not a.pending_manual]
    grade = grading.pick(scored) if scored else None
    overdue = bool(item and item.overdue(today))
    due = item.due_on if item else None
    if grade is not None:
        passed = column.passing_score is None or grade >= column.passing_score
        return Cell(CellStatus.PASSED if passed else CellStatus.FAILED, grade, 100.0, overdue, due)
    if any(a.pending_manual for a in finished):
        return Cell(CellStatus.SUBMITTED, None, 100.0, overdue, due)
    return _undone(CellStatus.IN_PROGRESS if attempts else CellStatus.NOT_STARTED, item, today)


def _undone(status: CellStatus, item: ScheduledItem | None, today: date, submission_id: int | None = None) -> Cell:
    """Nothing handed in: not open yet, overdue, or open (``status``)."""
    if item is None:
        return Cell(status, submission_id=submission_id)
    if item.opens_on > today and status == CellStatus.NOT_STARTED:
        return Cell(CellStatus.NOT_OPEN, due_on=item.due_on, submission_id=submission_id)
    if item.overdue(today):  # as the kept state has it (``state.overdue_keys``)
        return Cell(CellStatus.OVERDUE, overdue=True, due_on=item.due_on, submission_id=submission_id)
    return Cell(status, due_on=item.due_on, submission_id=submission_id)


WORK_STATUS = {SubmissionStatus.RETURNED: CellStatus.RETURNED, SubmissionStatus.RELEASED: CellStatus.RELEASED}


class _Graded(NamedTuple):
    """What a cell shows of a grade, read as a plain row."""

    id: int
    score: float | None
    max_score: float
    revision: int


def _work_cell(submission: WorkRow | None, handed_in: bool, grade: _Graded | None, item: ScheduledItem | None,
               today: date, group: Group | None = None, user_id: int = 0, graded_in: str | None = None) -> Cell:
    """A team's work shows the team's status for every member, with the member's own
    (adjusted) score. ``handed_in``: the submission has a version. ``graded_in``: the
    submission is another cohort's (``graded_in`` names it), whose staff grade it: its
    status and released score as the learner sees them, linking nowhere here."""
    if submission is None or not handed_in:
        return _undone(CellStatus.IN_PROGRESS if submission else CellStatus.NOT_STARTED, item, today,
                       submission.id if submission and graded_in is None else None)
    if graded_in is not None:
        status = WORK_STATUS.get(submission.status, CellStatus.SUBMITTED)  # a drafted grade is not shown
        released = grade if grade is not None and status == CellStatus.RELEASED else None
        score = None
        if released is not None:
            score = group.score_of(user_id, released.score, released.max_score) if group else released.score
        return Cell(status, score, released.max_score if released else None, bool(item and item.overdue(today)),
                    item.due_on if item else None, team=f"{group.name}, {graded_in}" if group else graded_in)
    if submission.status == SubmissionStatus.SUBMITTED:
        status = CellStatus.DRAFTED if grade is not None else CellStatus.SUBMITTED
    else:
        status = WORK_STATUS.get(submission.status, CellStatus.SUBMITTED)
    overdue = bool(item and item.overdue(today))  # returned work only: what is handed in waits for its grade
    score = grade.score if grade else None
    if grade is not None and group is not None:
        score = group.score_of(user_id, grade.score, grade.max_score)
    return Cell(status, score, grade.max_score if grade else None, overdue,
                item.due_on if item else None, submission.id, grade.id if grade else None,
                grade.revision if grade else None, group.name if group else None)


def _shown_work(cohort: Cohort, user_ids: Collection[int]) -> ColumnElement[bool]:
    """The submissions a cohort's gradebook shows as these learners' work: those filed under
    the cohort, and work shared with them (a team's) filed under another cohort of its
    organization. A learner moved after their team handed in keeps the team's work with the
    team in the cohort they left (``lms.coursework.services.carry_work``), and it is theirs
    done, as their progress, to-do list and the heat map count it; its cohort's staff grade
    it. Their own work is carried with them, so nothing else of theirs is elsewhere."""
    here = Submission.cohort_id == cohort.id
    shared = sharers(user_ids)
    if shared is None:
        return here
    organization = select(Cohort.id).where(Cohort.organization_id == cohort.organization_id)
    return or_(here, and_(Submission.cohort_id.in_(organization), Submission.id.in_(select(shared.c.submission_id))))


def _quiz_grading(session: DbSession, columns: Sequence[Column]) -> dict[int, Any]:
    return {q.id: GRADING_METHODS[q.grading] for q in session.scalars(
        select(Quiz).where(Quiz.id.in_([c.item_id for c in columns if not c.graded_work]))
        .options(load_only(Quiz.id, Quiz.grading)))} if columns else {}


def _rows(session: DbSession, cohort: Cohort, users: Sequence[User], columns: Sequence[Column], at_risk: set[int],
          quiz_grading: Mapping[int, Any], today: date) -> list[Row]:
    """The rows of ``users``, in a fixed number of statements whatever their number."""
    ids = [u.id for u in users]
    if not ids:
        return []
    schedule = scheduled_items(session, cohort.id, ids, {c.lesson_key for c in columns if c.lesson_key})
    attempts: dict[tuple[int, int], list[_Tried]] = defaultdict(list)
    grades: dict[int, _Graded] = {}
    groups: dict[int, Group] = {}
    # plain rows, not ORM objects: a cohort's attempts are tens of thousands
    for user_id, quiz_id, number, submitted_at, score, max_score, pending_manual in session.execute(
            select(Attempt.user_id, Attempt.quiz_id, Attempt.number, Attempt.submitted_at, Attempt.score,
                   Attempt.max_score, Attempt.pending_manual).where(Attempt.user_id.in_(ids)).order_by(Attempt.number)):
        attempts[(user_id, quiz_id)].append(_Tried(number, submitted_at is not None, percent_of(score, max_score),
                                                   pending_manual))
    # a team's submission is every member's work (lms.coursework.sharing), whichever cohort
    # of the organization it is filed under (``_shown_work``); only what a cell shows is read
    # (not the bodies, drafts or rubric selections)
    work = work_rows_by_learner(session, ids, _shown_work(cohort, ids))
    elsewhere = {s.cohort_id for s in work.values() if s.cohort_id is not None and s.cohort_id != cohort.id}
    names: dict[int | None, str] = {  # the other cohorts' names, read only when there are any
        i: n for i, n in session.execute(select(Cohort.id, Cohort.name).where(Cohort.id.in_(elsewhere)))} if elsewhere else {}
    handed: set[int] = set()
    if work:
        submission_ids = [s.id for s in work.values()]
        # among: one statement text whatever a chunk's number of submissions (lms.database.among)
        handed = set(session.scalars(select(SubmissionVersion.submission_id)
                                     .where(among(SubmissionVersion.submission_id, submission_ids)).distinct()))
        grades = {submission_id: _Graded(grade_id, score, max_score, revision)
                  for submission_id, grade_id, score, max_score, revision in session.execute(
                      select(Grade.submission_id, Grade.id, Grade.score, Grade.max_score, Grade.revision)
                      .where(among(Grade.submission_id, submission_ids)))}
        groups = groups_of(session, set(submission_ids))
    rows = []
    for user in users:
        items = schedule.get(user.id, {})
        cells = []
        for column in columns:
            item = items.get((PROGRESS_KIND[column.kind], column.key)) if column.kind in PROGRESS_KIND else None
            if column.graded_work:
                submission = work.get((user.id, column.item_id))
                grade = grades.get(submission.id) if submission else None
                group = groups.get(submission.id) if submission else None
                cells.append(_work_cell(submission, submission is not None and submission.id in handed, grade, item,
                                        today, group, user.id, names.get(submission.cohort_id) if submission else None))
            else:
                cells.append(_quiz_cell(column, attempts.get((user.id, column.item_id), []),
                                        quiz_grading[column.item_id], item, today,
                                        items.get((ItemKind.LESSON, column.lesson_key)) if column.lesson_key else None))
        rows.append(Row(user=user, at_risk=user.id in at_risk, cells=cells))
    return rows


@dataclass(frozen=True)
class _Reading:
    """What a cohort's gradebook rows are made from, read once. The learners themselves are
    read only as a page or a filter needs them, never the whole cohort to show a page."""

    session: DbSession
    cohort: Cohort
    judge: Callable[[Sequence[int] | None], set[int]]  # who of these learners is at risk (None: the cohort)
    columns: list[Column]
    quiz_grading: dict[int, Any]
    today: date

    def rows(self, users: Sequence[User]) -> list[Row]:
        at_risk = self.judge([u.id for u in users]) if users else set()
        return _rows(self.session, self.cohort, users, self.columns, at_risk, self.quiz_grading, self.today)

    def count(self) -> int:
        return _count(self.session, self.cohort)

    def learners_among(self, ids: Collection[int], *where: ColumnExpressionArgument[bool]) -> list[User]:
        """The cohort's current learners among ``ids`` (and matching ``where``), by name (as
        every list of them)."""
        if not ids:
            return []
        return list(self.session.scalars(
            select(User).join(Enrolment, Enrolment.user_id == User.id)
            .where(*_current(self.cohort), among(User.id, ids), *where)
            .order_by(folded_name(User.name), User.id)))

    def chosen(self, row_filter: RowFilter) -> list[User]:
        """The learners a filter ``WITHOUT_CELLS`` shows, in order: no row built. Overdue:
        those with an item of these columns overdue in the kept state, which is what makes a
        cell overdue (``ScheduledItem.overdue``), an open account (``Row.shown_by``) and a
        program not over (``lms.cohorts.calendar.program_over``, in the same statement)."""
        if row_filter == RowFilter.ALL:
            return learners_of(self.session, [self.cohort.id])[self.cohort.id]
        if row_filter == RowFilter.OVERDUE:
            shown = {(PROGRESS_KIND[c.kind], c.key) for c in self.columns if c.kind in PROGRESS_KIND}
            # whose program is over (``program_over``) nobody chases: off the overdue, as off the at-risk lists
            return self.learners_among({uid for uid, keys in overdue_keys(self.session, self.cohort.id, self.today).items()
                                        if keys & shown}, User.deactivated_at.is_(None), not_(program_over(self.cohort, self.today)))
        return self.learners_among(self.judge(None))

    def candidates(self) -> list[User]:
        """The learners the ungraded filter may show, in order: those with something of
        these columns waiting for marking. Never fewer than it shows ("to grade" or
        "drafted" only for work handed in and neither returned nor released, or a finished
        attempt waiting for marking), but more: an attempt waiting beside one already
        scored shows the score."""
        return self.learners_among(_waiting_for_marking(self.session, self.cohort, self.columns))

    def shown_rows(self, row_filter: RowFilter) -> list[Row]:
        """The rows of the ungraded filter's candidates built, ``EXPORT_CHUNK`` learners at a time (a
        statement's list of submissions stays bounded: PostgreSQL takes at most 65,535
        parameters, a 5,000-learner cohort's work is 80,000), those it shows kept, in order."""
        users = self.candidates()
        return [row for first in range(0, len(users), EXPORT_CHUNK)
                for row in self.rows(users[first:first + EXPORT_CHUNK]) if row.shown_by(row_filter)]


def _current(cohort: Cohort) -> tuple[ColumnExpressionArgument[bool], ...]:
    """The cohort's current enrolments."""
    return Enrolment.cohort_id == cohort.id, Enrolment.active


def _count(session: DbSession, cohort: Cohort) -> int:
    """How many current learners the cohort has."""
    return session.scalar(select(func.count()).select_from(Enrolment).where(*_current(cohort))) or 0


def _waiting_for_marking(session: DbSession, cohort: Cohort, columns: Sequence[Column]) -> set[int]:
    """The ids of the cohort's learners with a finished attempt at one of ``columns``'
    quizzes waiting for marking, or whose work (their own or shared with them) for one of
    its assignments is handed in and neither returned nor released: a fixed number of
    statements (one more for each thousand such submissions)."""
    quizzes = [c.item_id for c in columns if not c.graded_work]
    assignments = [c.item_id for c in columns if c.graded_work]
    found: set[int] = set()
    if quizzes:
        found.update(session.scalars(
            select(Attempt.user_id).join(Enrolment, Enrolment.user_id == Attempt.user_id)
            .where(*_current(cohort), Attempt.quiz_id.in_(quizzes),
                   Attempt.submitted_at.is_not(None), Attempt.pending_manual.is_(True)).distinct()))
    if assignments:
        handed_in = select(SubmissionVersion.id).where(SubmissionVersion.submission_id == Submission.id).exists()
        waiting = dict(session.execute(
            select(Submission.id, Submission.user_id)
            .where(Submission.cohort_id == cohort.id, Submission.assignment_id.in_(assignments),
                   Submission.status.not_in([SubmissionStatus.RETURNED, SubmissionStatus.RELEASED]), handed_in)).all())
        found.update(waiting.values())
        ids = sorted(waiting)
        for first in range(0, len(ids), IDS_A_STATEMENT):  # each a bounded list of parameters
            for group in groups_of(session, ids[first:first + IDS_A_STATEMENT]).values():
                found.update(group.member_ids)
    return found


def _reading(session: DbSession, cohort: Cohort, now: datetime, module: str | None) -> tuple[_Reading, list[tuple[str, str]]]:
    every = _columns(session)
    modules = list(dict.fromkeys((c.module_key, c.module_title or "") for c in every if c.module_key))
    columns = [c for c in every if module is None or c.module_key == module]
    return _Reading(session=session, cohort=cohort, judge=at_risk_judge(session, cohort, now), columns=columns,
                    quiz_grading=_quiz_grading(session, columns), today=cohort_today(cohort, now)), modules


def gradebook(session: DbSession, cohort: Cohort, now: datetime, row_filter: RowFilter = RowFilter.ALL,
              module: str | None = None, page: int | None = 1) -> Gradebook:
    """One page (``PER_PAGE`` learners by name; out of range: the nearest page) of the
    cohort's gradebook, its rows filtered over the whole cohort and, for one module, its
    columns too. Only this page's rows are built, unless the ungraded filter needs its
    candidates' cells to choose: a fixed number of statements either way."""
    reading, modules = _reading(session, cohort, now, module)
    if row_filter == RowFilter.ALL:  # the page's learners read in SQL's order, as the cohort page's
        found, number, learners = learners_page(session, cohort, page or 1, PER_PAGE)
        pages = paging(number, PER_PAGE, learners)
        rows = reading.rows([e.user for e in found])
    else:
        learners = reading.count()
        if row_filter in WITHOUT_CELLS:
            chosen = reading.chosen(row_filter)
            pages = paging(page, PER_PAGE, len(chosen))
            rows = reading.rows(pages.slice(chosen))
        else:
            shown = reading.shown_rows(row_filter)
            pages = paging(page, PER_PAGE, len(shown))
            rows = pages.slice(shown)
    return Gradebook(cohort=cohort, today=reading.today, columns=reading.columns, rows=rows,
                     learners=learners, row_filter=row_filter, module=module, modules=modules, paging=pages)


def shown_learners(session: DbSession, cohort: Cohort, now: datetime, row_filter: RowFilter = RowFilter.ALL,
                   module: str | None = None) -> list[User]:
    """Every learner the filter shows, on any page (a bulk action on "every learner the filter shows")."""
    reading = _reading(session, cohort, now, module)[0]
    return reading.chosen(row_filter) if row_filter in WITHOUT_CELLS else [row.user for row in reading.shown_rows(row_filter)]


def _header(columns: Sequence[Column]) -> list[str]:
    """``at_risk`` and ``account_closed`` (the row's ``closed``: deactivated, or erased) are
    booleans: the CSV writes each ``yes`` or ``no``, the JSON true or false. ``account_closed``
    is read from the learners the rows are built from: no statement more."""
    header = ["learner", "email", "at_risk", "account_closed"]
    for c in columns:
        header += [f"{c.id} status", f"{c.id} score"]
    return header


def _values(row: Row) -> list[Any]:
    values: list[Any] = [row.user.name, row.user.email, row.at_risk, row.closed]
    for cell in row.cells:
        values += [cell.status.value, "" if cell.score is None else cell.score]
    return values


def table(book: Gradebook) -> GradeTable:
    """The gradebook as the exports carry it: the page's columns, a status and a score per item."""
    return GradeTable(columns=_header(book.columns), rows=[_values(row) for row in book.rows])


def export_rows(session: DbSession, cohort: Cohort, now: datetime, row_filter: RowFilter = RowFilter.ALL,
                module: str | None = None, chunk: int | None = None) -> GradeRows:
    """``table(gradebook(...))`` read ``chunk`` learners at a time (keyset on the page's
    order, name then id) as its rows are iterated, so an export's memory stays flat
    whatever the cohort's size: a fixed number of statements per chunk, never per learner.
    (Who is at risk is the heat map's judgement, asked for each chunk's learners: nothing
    is held for the whole cohort.)"""
    size = chunk or EXPORT_CHUNK
    columns = [c for c in _columns(session) if module is None or c.module_key == module]
    quiz_grading = _quiz_grading(session, columns)
    at_risk_of = at_risk_judge(session, cohort, now)
    today = cohort_today(cohort, now)
    estimate = _count(session, cohort)
    query = (select(User).join(Enrolment, Enrolment.user_id == User.id).where(*_current(cohort))
             .order_by(folded_name(User.name), User.id).limit(size))

    def rows() -> Iterator[list[Any]]:
        after: tuple[str, int] | None = None
        while True:
            page = query if after is None else query.where(tuple_(folded_name(User.name), User.id) > tuple_(*after))
            users = list(session.scalars(page))
            if not users:
                return
            after = (fold_name(users[-1].name), users[-1].id)
            at_risk = at_risk_of([u.id for u in users])
            for row in _rows(session, cohort, users, columns, at_risk, quiz_grading, today):
                if row.shown_by(row_filter):
                    yield _values(row)
            if len(users) < size:
                return

    return GradeRows(columns=_header(columns), rows=rows(), estimate=estimate)


# --------------------------------------------------------------------------- bulk actions


@dataclass
class Outcome:
    """A bulk action's answer per learner: who it was done for, and why not for the others."""

    verb: str  # "Released", "Extended", "Messaged"
    done: list[str] = field(default_factory=list)
    refused: dict[str, list[str]] = field(default_factory=dict)  # reason -> names
    # a service's own refusal, a sentence ("An extension must run past …, 12 March 2026.") -> names
    declined: dict[str, list[str]] = field(default_factory=dict)
    # done, with something to know, written like a reason ("have …") -> names (also in ``done``)
    noted: dict[str, list[str]] = field(default_factory=dict)

    def refuse(self, name: str, reason: str) -> None:
        """Not done for ``name``: ``reason`` is written for several learners ("were returned
        for revision"), to follow a count."""
        self.refused.setdefault(reason, []).append(name)

    def decline(self, name: str, sentence: str) -> None:
        """Not done for ``name``, as a service refused it in a sentence of its own (a
        ``CohortError``'s message): the answer names the learners, then says why."""
        self.declined.setdefault(sentence, []).append(name)

    def note(self, name: str, remark: str) -> None:
        """Done for ``name``, but with ``remark`` (written like ``refuse``'s reasons)."""
        self.done.append(name)
        self.noted.setdefault(remark, []).append(name)

    @property
    def warned(self) -> bool:
        """Something was not done, or done with a remark."""
        return bool(self.refused or self.declined or self.noted)

    @property
    def summary(self) -> str:
        """Each reason names at most ``NAMES_SHOWN`` learners, then how many more: the answer
        to "every learner the filter shows" is read at a glance, and it travels in the
        session cookie as a flashed message, which a list of a whole cohort's names outgrows
        (browsers drop a cookie past 4 KB, and with it the message). A refusal in the
        service's own sentence reads "Not extended: Ada, Bo — an extension must run …"."""
        parts = [f"{self.verb} {len(self.done)}"]
        for reason, names in (*self.noted.items(), *self.refused.items()):
            parts.append(f"{len(names)} {_agreeing(reason, len(names))} ({_names(names)})")
        sentences = [f"Not {self.verb.lower()}: {_names(names)} — {_clause(sentence, names)}"
                     for sentence, names in self.declined.items()]
        return " ".join(["; ".join(parts) + ".", *sentences])


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")


# The words a service's sentence opens with that are ordinary words, capitalised only for
# opening it (articles, determiners, pronouns, the verbs of an instruction): after a dash
# they are written in lower case. Any other first word may be a name (a learner's, a
# cohort's, a month's) or an acronym ("KO1"), and is kept as it is.
_ORDINARY_OPENERS = frozenset({
    "a", "an", "the", "this", "that", "these", "those", "there", "it", "its", "each", "every", "no", "none",
    "nothing", "not", "only", "some", "you", "your", "they", "their", "early", "unknown", "choose", "give",
    "keep", "say", "write", "tick", "open", "enter"})


def _clause(sentence: str, names: Sequence[str] = ()) -> str:
    """A service's sentence after a dash, ending with a full stop: only its first letter
    changes, to lower case, and only when its first word is an ordinary word written with
    a capital for opening the sentence ("An extension …" -> "an extension …"), and the
    sentence does not open with one of the ``names`` it is said of (a learner called "An Tran")."""
    text = sentence.strip()
    first = text.split(" ", 1)[0]
    bare = first.rstrip(",.;:!?")
    if (bare.lower() in _ORDINARY_OPENERS and bare == bare.capitalize()
            and not any(name and text.startswith(name) for name in names)):
        text = text[0].lower() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


NAMES_SHOWN = 10  # names a bulk action's answer gives for each reason it was refused


# A refusal's reason is written for several learners ("were returned for revision"); for one,
# its first verb is made singular ("1 was returned for revision").
_SINGULAR = {"were": "was", "have": "has", "are": "is"}


def _agreeing(reason: str, count: int) -> str:
    first, _, rest = reason.partition(" ")
    return f"{_SINGULAR[first]} {rest}" if count == 1 and first in _SINGULAR else reason


def learners_in(session: DbSession, cohort: Cohort, user_ids: Iterable[int]) -> list[User]:
    """The cohort's current learners among ``user_ids``, by name; any other id is ``NotInCohort``."""
    wanted = set(user_ids)
    found = [u for u in learners_of(session, [cohort.id])[cohort.id] if u.id in wanted]
    if len(found) != len(wanted):
        raise NotInCohort("Not a learner of this cohort.")
    return found


def column_of(session: DbSession, column_id: str) -> Column:
    column = next((c for c in _columns(session) if c.id == column_id), None)
    if column is None:
        raise NotInCohort("No such item.")
    return column


def _submissions(session: DbSession, cohort: Cohort, column: Column, users: Sequence[User]) -> dict[int, Submission]:
    """Each learner's work for ``column`` (a team's submission is each member's)."""
    work = work_by_learner(session, [u.id for u in users], Submission.cohort_id == cohort.id,
                           Submission.assignment_id == column.item_id,
                           options=(selectinload(Submission.versions), selectinload(Submission.attachments)))
    return {uid: s for (uid, _aid), s in work.items()}


def release_drafted(session: DbSession, cohort: Cohort, column: Column, users: Sequence[User], seen: Mapping[int, int],
                    grader: User, now: datetime) -> Outcome:
    """Release the drafted grades of ``column`` for ``users``. ``seen`` maps each grade id the
    page showed to its revision there: a grade not shown, or changed since, is not released
    (its row says so), and the save itself is conditional on that revision, so a grade
    changed between this check and the write raises ``StaleGrade`` (the caller rolls back)."""
    if not column.graded_work:
        raise GradebookError("Only assignments and portfolio reviews have drafted grades to release.", field="column")
    outcome = Outcome("Released")
    work = _submissions(session, cohort, column, users)
    grades = {g.submission_id: g for g in session.scalars(
        select(Grade).where(Grade.submission_id.in_([s.id for s in work.values()])))} if work else {}
    released: set[int] = set()  # a team's grade, released once for all its members
    for user in users:
        submission = work.get(user.id)
        grade = grades.get(submission.id) if submission else None
        if submission is not None and submission.id in released:
            outcome.done.append(user.name)
        elif submission is None or grade is None or grade.status != GradeStatus.DRAFT:
            outcome.refuse(user.name, "had no drafted grade")
        elif submission.status != SubmissionStatus.SUBMITTED:
            outcome.refuse(user.name, "were returned for revision")
        elif grade.id not in seen:  # drafted after the page was opened, or on another page of the gradebook
            outcome.refuse(user.name, "were not on the page you released from (open it to check them)")
        elif seen[grade.id] != grade.revision:
            outcome.refuse(user.name, "changed since you opened the page (open them to check)")
        elif submission.latest is None or grade.version_id != submission.latest.id:
            outcome.refuse(user.name, "handed in a newer version since the draft")
        elif grade.score is None:
            outcome.refuse(user.name, "have a criterion without a level")
        else:
            selections = grade.selections
            save_grade(session, submission, grader, {cid: s.get("level") for cid, s in selections.items()},
                       {cid: s.get("comment", "") for cid, s in selections.items()}, grade.feedback,
                       grade.revision, GradeAction.RELEASE, now)
            released.add(submission.id)
            outcome.done.append(user.name)
    return outcome


def grant_extensions(session: DbSession, cohort: Cohort, column: Column, users: Sequence[User], on_date: date,
                     note: str, by: User, now: datetime) -> Outcome:
    """An extension to ``on_date`` of the part of the program ``column`` belongs to, for each
    learner: every due date of that part before ``on_date`` moves to it. It must run past the
    item's own due date for the learner (the kept state's, one statement), not the part's
    latest: an assignment due mid-month can be extended by a few days."""
    if not column.extendable or column.phase_id is None:
        raise GradebookError(NO_EXTENSIONS, field="column")
    latest = _latest_extensions(session, cohort, column.phase_id, users)
    if latest and on_date > max(latest):
        who = "the learner chosen" if len(users) == 1 else "any of the learners chosen"
        raise GradebookError(f"An extension of this item can run at most to {max(latest):%d %B %Y} for {who}: the day "
                             f"the program closes, or {EXTENSION_PAST_DUE.days} days past the regular due date of the "
                             "item's part when that is later. Choose that day or an earlier one.", field="until")
    outcome = Outcome("Extended")
    item = (ItemKind(column.kind.value), column.key)
    items = scheduled_items(session, cohort.id, [u.id for u in users])
    for user in users:
        scheduled = items.get(user.id, {}).get(item)
        try:
            grant_override(session, cohort, user, column.phase_id, OverrideKind.EXTENSION, on_date, note, by, now,
                           item_due=scheduled.due_on if scheduled is not None else None)
        except CohortError as exc:
            outcome.decline(user.name, str(exc))
        else:
            outcome.done.append(user.name)
    return outcome


def _latest_extensions(session: DbSession, cohort: Cohort, phase_id: int, users: Sequence[User]) -> list[date]:
    """The latest day an extension of the part ``phase_id`` may run to for each of ``users``
    who is a current learner of ``cohort`` (``lms.learning.services.latest_extension``, on
    their own dates): two statements whatever the number of learners."""
    phase = session.get(Phase, phase_id)
    if phase is None:
        return []
    enrolments = session.scalars(select(Enrolment).where(
        Enrolment.cohort_id == cohort.id, Enrolment.active, among(Enrolment.user_id, [u.id for u in users])))
    timelines = [timeline_of(cohort, enrolment) for enrolment in enrolments]
    return [latest_extension(timeline, timeline.phase_dates(phase.month)[1]) for timeline in timelines]


@dataclass(frozen=True)
class ExtensionLimits:
    """How late the gradebook's extensions may run in a cohort, for its form to say: to the
    day the cohort's program closes (``closes_on``), or ``EXTENSION_PAST_DUE`` past the
    regular due date of the item's part when that is later (``later``: month -> that day,
    on the cohort's dates). Late joiners follow their own dates (``late``: the paces of
    the cohort's late joiners), so the rule, not one date, applies to them."""

    closes_on: date
    later: Mapping[int, date]
    late: frozenset[Pace]

    @property
    def words(self) -> str:
        text = f"At most to {self.closes_on:%d %B %Y}, the day the cohort's program closes"
        if self.later:
            months = ", ".join(f"M{month} items to {day:%d %B %Y}" for month, day in sorted(self.later.items()))
            text += f", or {EXTENSION_PAST_DUE.days} days past the regular due date of the item's part when that is later: {months}"
        text += "."
        if Pace.OWN_START in self.late:
            text += (" A late joiner at their own pace: at most to the day their own program closes (or "
                     f"{EXTENSION_PAST_DUE.days} days past their part's due date when that is later).")
        if Pace.CATCH_UP in self.late:
            text += (f" A late joiner catching up: also {EXTENSION_PAST_DUE.days} days past a catch-up due date "
                     "when that is later.")
        return text + (" Each late joiner's own date is on their schedule page." if self.late else "")


def extension_limits(session: DbSession, cohort: Cohort) -> ExtensionLimits:
    """``ExtensionLimits`` of ``cohort``: one statement (which paces its late joiners have)."""
    timeline = Timeline(cohort.start_date)
    later = {month: day for month in range(1, PROGRAM_MONTHS + 1)
             if (day := latest_extension(timeline, timeline.phase_dates(month)[1])) > timeline.closes_on}
    late = session.scalars(select(Enrolment.pace).distinct().where(
        Enrolment.cohort_id == cohort.id, Enrolment.active,
        Enrolment.started_at >= opens_at(cohort, cohort.start_date + timedelta(days=1))))
    return ExtensionLimits(timeline.closes_on, later, frozenset(Pace(p) for p in late))


NO_EXTENSIONS = "Extensions move the due dates of a module's part; weekly checks and level exams have none."


@dataclass(frozen=True)
class Shown:
    """One learner on the confirmation page of "Remove extension": the extension of the
    item's part that applies to them (None: none, they are skipped)."""

    user: User
    extension: ScheduleOverride | None

    @property
    def value(self) -> str:
        """What the confirmation carries back: ``learner id:extension id`` (0: none shown).
        An extension is never edited (a grant is a new row, with a higher id; a removal marks
        it), so its id says which grant the page showed."""
        return f"{self.user.id}:{self.extension.id if self.extension else 0}"


def extensions_of(session: DbSession, column: Column, users: Sequence[User]) -> list[Shown]:
    """The confirmation of "Remove extension" for ``column``: each of ``users`` with the
    extension of the item's part that applies to them, if any (two statements whatever
    their number)."""
    if not column.extendable or column.phase_id is None:
        raise GradebookError(NO_EXTENSIONS, field="column")
    applying = applying_extensions(session, [u.id for u in users], column.phase_id)
    return [Shown(u, applying.get(u.id)) for u in users]


def parse_shown(values: Iterable[str]) -> dict[int, int] | None:
    """The confirmation's ``learner id:extension id`` pairs (``Shown.value``); None when
    one is not such a pair or a learner is named twice."""
    shown: dict[int, int] = {}
    for value in values:
        user_id, _, override_id = value.partition(":")
        if not (user_id.isdigit() and override_id.isdigit() and len(user_id) < 10 and len(override_id) < 10):
            return None
        if int(user_id) in shown:
            return None
        shown[int(user_id)] = int(override_id)
    return shown


@dataclass
class Removed(Outcome):
    """The answer of "Remove extension": "Removed N extensions; skipped: …"."""

    verb: str = "Removed"

    @property
    def summary(self) -> str:
        count = len(self.done)
        text = f"Removed {count} extension{'' if count == 1 else 's'}"
        skipped = []
        for reason, names in self.refused.items():
            shown = ", ".join(names[:NAMES_SHOWN])
            if len(names) > NAMES_SHOWN:
                shown += f" and {len(names) - NAMES_SHOWN} more"
            skipped.append(f"{shown} ({_agreeing(reason, len(names))})")
        return text + ("; skipped: " + "; ".join(skipped) if skipped else "") + "."


def remove_extensions(session: DbSession, cohort: Cohort, column: Column, users: Sequence[User], shown: Mapping[int, int],
                      by: User, now: datetime) -> Removed:
    """Remove, for each of ``users``, the extension of ``column``'s part that the
    confirmation page showed (``shown``: learner id -> extension id, 0 for none), through
    ``lms.learning.services.remove_extensions`` (the single removal's checks and effects:
    regular due dates, lateness judged again, audited, the learner told). What changed
    since the page opened is skipped and named, never removed unseen: an extension granted
    to a learner it showed without one, a newer grant than the one it showed, one removed
    by someone else meanwhile. A learner it showed without one is skipped and named too."""
    if not column.extendable or column.phase_id is None:
        raise GradebookError(NO_EXTENSIONS, field="column")
    outcome = Removed()
    applying = applying_extensions(session, [u.id for u in users], column.phase_id)
    listed: list[tuple[User, int]] = []
    for user in users:
        override_id = shown.get(user.id, 0)
        current = applying.get(user.id)
        if override_id:
            listed.append((user, override_id))
        elif current is not None:
            outcome.refuse(user.name, "were granted an extension after the confirmation page opened; it stays")
        else:
            outcome.refuse(user.name, "had no extension on this item")
    done = remove_learner_extensions(session, cohort, listed, by, now)
    removed = {o.user_id for o in done.removed}
    for user, _shown_id in listed:
        if user.id in removed:
            outcome.done.append(user.name)
            continue
        refusal = done.refused.get(user.id)
        newer = refusal.newer if isinstance(refusal, StaleOverride) else None
        if newer is not None:
            outcome.refuse(user.name, f"were granted a newer extension after the confirmation page opened "
                                      f"(by {newer.granted_by.name}, to {newer.on_date:%d %B %Y}); it stays")
        elif user.id not in applying or refusal is None:  # no extension applies any more: removed by someone else
            outcome.refuse(user.name, "had the extension shown removed meanwhile by someone else")
        else:  # the form named another extension than theirs (not one the page showed)
            outcome.refuse(user.name, f"not removed: {refusal}")
    return outcome


events = Namespace()

# Sent by ``message_learners`` before the notices are made, with ``session``, ``cohort``,
# ``by`` (the sender), ``learners`` (the open accounts messaged), ``subject``, ``body``, ``key`` (the
# notices') and ``now``. A receiver (the inbox) keeps the message where the learner can
# answer it and may return ``{learner id: link}``: each learner's notice links there.
learners_messaged = events.signal("learners-messaged")


def _message_text(subject: str, body: str) -> tuple[str, str]:
    """A staff message's subject (on one line) and body, tidied; refused when empty or too long."""
    subject, body = " ".join(subject.split()), body.strip()
    if not subject or not body:
        raise GradebookError("Write a subject and a message.", field="body" if subject else "subject")
    if len(subject) > MAX_SUBJECT or len(body) > MAX_MESSAGE:
        raise GradebookError(f"Keep the subject under {MAX_SUBJECT} and the message under {MAX_MESSAGE:,} characters.",
                             field="subject" if len(subject) > MAX_SUBJECT else "body")
    return subject, body


def message_learners(session: DbSession, cohort: Cohort, users: Sequence[User], subject: str, body: str,
                     sender: User, now: datetime, link: str | None = None) -> Outcome:
    """A message from staff to each learner, through the notifications: in the learner's
    notification centre, and mailed (through the outbox) as their preference for staff
    messages says (by email, unless they chose otherwise). One message is one notice per
    learner, whatever the preference, so nobody gets it mailed twice. Receivers of
    ``learners_messaged`` keep it for the learner to reply to, and say where it links: a
    learner who switched staff messages off is messaged all the same when a receiver kept it
    (the inbox's conversation), and the answer says they get no notice or email."""
    subject, body = _message_text(subject, body)
    key = f"gradebook-message:{cohort.id}:{uuid.uuid4().hex}"
    # A closed account (deactivated, or erased: erasure deactivates it and its address is
    # erased-<id>@erased.invalid) reads no message: it gets no notice and no mail.
    open_accounts = [u for u in users if u.deactivated_at is None]
    links: dict[int, str] = {}
    for _receiver, answer in learners_messaged.send(session=session, cohort=cohort, by=sender, learners=open_accounts,
                                                    subject=subject, body=body, key=key, now=now):
        links.update(answer or {})
    made = notify_all(session, [Notice(user_id=u.id, event=NotificationEvent.MESSAGE, key=key, title=f"{cohort.name}: {subject}",
                                       body=f"{body}\n\n— {sender.name}", link=links.get(u.id, link))
                                for u in open_accounts], now)
    reached = {n.user_id for n in made}
    outcome = Outcome("Messaged")
    for user in users:
        if user.id in reached:
            outcome.done.append(user.name)
        elif user.deactivated_at is not None:
            outcome.refuse(user.name, "have a closed account")
        elif user.id in links:  # kept where they read it (the inbox), without a notice
            outcome.note(user.name, "have switched staff messages off, so the message waits in their inbox with no "
                                    "notice or email")
        else:
            outcome.refuse(user.name, "have switched staff messages off")
    return outcome


def message_at_risk(session: DbSession, cohort: Cohort, ticked: Collection[int], query: str, subject: str, body: str,
                    sender: User, now: datetime, link: str | None = None) -> Outcome:
    """``message_learners`` to the ticked learners of the heat map's at-risk list, under its
    filter (``query``, a name or email; "" for the whole list: ``at_risk_learners``), judged
    again now: a ticked learner no longer at risk since the page was opened is not messaged,
    and the answer says so. Any id that is not a current learner of the cohort is ``NotInCohort``."""
    _message_text(subject, body)
    if not ticked:
        raise GradebookError("Tick the learners at risk to message.")
    others = learners_in(session, cohort, ticked)  # refuses ids from outside the cohort
    listed = [u for u in at_risk_learners(session, cohort, now, query) if u.id in ticked]
    outcome = message_learners(session, cohort, listed, subject, body, sender, now, link) if listed else Outcome("Messaged")
    at_risk = {u.id for u in listed}
    for user in others:
        if user.id not in at_risk:
            outcome.refuse(user.name, "are no longer at risk")
    return outcome


# --------------------------------------------------------------------------- the submissions archive


@dataclass(frozen=True)
class Archive:
    """What the zip holds: the manifest, then each learner's latest version (text and files).
    ``files`` are (name in the zip, a detached copy of the attachment) so streaming reads no
    database after the request's unit of work has ended."""

    manifest: str
    texts: list[tuple[str, str]]
    files: list[tuple[str, Attachment]]


def _unique(name: str, taken: set[str]) -> str:
    stem, dot, ext = name.rpartition(".")
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem} ({n}).{ext}" if dot else f"{name} ({n})"
    taken.add(candidate)
    return candidate


def submissions_archive(session: DbSession, cohort: Cohort, column: Column, users: Sequence[User]) -> Archive:
    """Every handed-in submission of ``column`` by ``users`` in ``cohort``: its latest version."""
    if not column.graded_work:
        raise GradebookError("Only assignments and portfolio reviews have submissions to download.", field="column")
    work = _submissions(session, cohort, column, users)
    grades = {g.submission_id: g for g in session.scalars(
        select(Grade).where(Grade.submission_id.in_([s.id for s in work.values()])))} if work else {}
    groups = groups_of(session, {s.id for s in work.values()})
    columns = ["learner", "email", "team", "folder", "status", "version", "submitted_at", "late", "grade_status", "score",
               "max_score", "files"]
    rows: list[list[Any]] = []
    texts: list[tuple[str, str]] = []
    files: list[tuple[str, Attachment]] = []
    taken: set[str] = {"manifest.csv"}
    written: dict[int, tuple[str, str]] = {}  # a team's submission: one folder, named once, for all its members
    for user in users:
        submission = work.get(user.id)
        latest = submission.latest if submission else None
        if submission is None or latest is None:
            continue
        group = groups.get(submission.id)
        if submission.id in written:
            folder, listed = written[submission.id]
        else:
            folder = _unique(safe_filename(f"{group.name} (team {submission.id})" if group else f"{user.name} ({user.id})"),
                             taken)
            names = set[str]()
            text_name = f"answer-v{latest.number}.md"
            names.add(text_name)
            texts.append((f"{folder}/{text_name}", latest.body))
            kept = [a for a in submission.attachments if a.id in latest.attachment_ids]
            for item in kept:
                name = _unique(shortened(safe_filename(item.filename), utf8_bytes=ARCHIVE_NAME_BYTES), names)
                files.append((f"{folder}/{name}", Attachment(stored_name=item.stored_name, filename=item.filename)))
            listed = "; ".join(sorted(names - {text_name}))
            written[submission.id] = (folder, listed)
        grade = grades.get(submission.id)
        score = grade.score if grade else None
        if grade is not None and group is not None:
            score = group.score_of(user.id, grade.score, grade.max_score)
        rows.append([user.name, user.email, group.name if group else "", folder, submission.status.value, latest.number,
                     latest.submitted_at.isoformat(), "yes" if latest.late else "no",
                     grade.status.value if grade else "", "" if score is None else score,
                     grade.max_score if grade else "", listed])
    return Archive(manifest=CsvExporter().render(GradeTable(columns=columns, rows=rows)), texts=texts, files=files)


def zip_stream(archive: Archive, folder: Storage | Path) -> Iterator[bytes]:
    """The archive as zip bytes, one file at a time: at most one attachment (10 MB at most)
    is held in memory. A file missing from the upload folder is listed in ``MISSING.txt``."""
    sink = ZipSink()
    missing: list[str] = []
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.csv", archive.manifest)
        yield sink.take()
        for name, text in archive.texts:
            zf.writestr(name, text)
            yield sink.take()
        for name, item in archive.files:
            data = attachment_bytes(folder, item)
            if data is None:
                missing.append(name)
                continue
            zf.writestr(name, data)
            del data
            yield sink.take()
        if missing:
            zf.writestr("MISSING.txt", "These files were not found in the file storage:\n" + "\n".join(missing) + "\n")
    yield sink.take()
