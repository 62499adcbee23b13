"""Exporters of a cohort's grades: a registry of small classes (CSV today)."""

from __future__ import annotations

import csv
import io
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import and_, func, select, tuple_
from sqlalchemy.orm import aliased, selectinload

from lms.accounts.models import User
from lms.cohorts.models import Cohort
from lms.coursework.models import Assignment, Rubric, RubricVersion, Submission, SubmissionStatus, SubmissionVersion
from lms.coursework.sharing import groups_of
from lms.database import DbSession
from lms.grading.models import Grade, GradeStatus


@dataclass(frozen=True)
class GradeTable:
    columns: list[str]
    rows: list[list[Any]]


@dataclass(frozen=True)
class GradeRows:
    """An export's columns and its rows read as they are iterated (``EXPORT_CHUNK`` learners'
    work at a time), with ``estimate``, about how many rows (for a job's progress)."""

    columns: list[str]
    rows: Iterable[list[Any]]
    estimate: int


EXPORT_CHUNK = 500
# account_closed: the learner's account is closed (deactivated, or erased: ``User.deactivated_at``),
# last of these so the columns before it keep their places
COLUMNS = ["learner", "email", "assignment", "module", "versions", "submitted_at", "late", "status", "score", "max_score",
           "account_closed"]


@dataclass(frozen=True)
class _Rubrics:
    """What every chunk shares, read once: the assignments handed in (with their modules and
    rubrics), every rubric version a row is graded with, and the criteria columns."""

    assignments: dict[int, Assignment]
    versions: dict[int, RubricVersion]
    criteria: list[tuple[str, str]]


def _rubrics(session: DbSession, cohort: Cohort) -> _Rubrics:
    """(assignment key, criterion id) of every rubric the cohort's work is graded with (a
    released grade's version, else the rubric's current one), in the order the rows first
    meet them (by assignment, then learner). A fixed number of statements whatever the size."""
    released = aliased(Grade)
    used = session.execute(
        select(Submission.assignment_id, released.rubric_version_id, func.min(Submission.user_id))
        .outerjoin(released, and_(released.submission_id == Submission.id, released.status == GradeStatus.RELEASED))
        .where(Submission.cohort_id == cohort.id, Submission.status != SubmissionStatus.DRAFT)
        .group_by(Submission.assignment_id, released.rubric_version_id)
        .order_by(Submission.assignment_id, func.min(Submission.user_id))).all()
    if not used:
        return _Rubrics({}, {}, [])
    assignments = {a.id: a for a in session.scalars(
        select(Assignment).where(Assignment.id.in_({a for a, _v, _u in used}))
        .options(selectinload(Assignment.module), selectinload(Assignment.rubric).selectinload(Rubric.versions)))}
    versions = {v.id: v for a in assignments.values() for v in a.rubric.versions}
    missing = {v for _a, v, _u in used if v is not None and v not in versions}  # a grade on another rubric's version
    if missing:
        versions |= {v.id: v for v in session.scalars(select(RubricVersion).where(RubricVersion.id.in_(missing)))}
    criteria: list[tuple[str, str]] = []
    for assignment_id, version_id, _first in used:
        assignment = assignments[assignment_id]
        rubric = versions[version_id] if version_id is not None else assignment.rubric.current
        for c in rubric.criteria:
            if (assignment.key, c.id) not in criteria:
                criteria.append((assignment.key, c.id))
    return _Rubrics(assignments, versions, criteria)


def _chunk_rows(session: DbSession, submissions: Sequence[Any], shared: _Rubrics) -> Iterator[list[Any]]:
    """The rows of one chunk of submissions (id, assignment, learner, status), read as plain
    values (nothing kept in the session): the same few statements for every chunk."""
    ids = [s.id for s in submissions]
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_({s.user_id for s in submissions})))}
    versions: dict[int, tuple[int, datetime | None, bool]] = {}  # submission -> (versions, the latest's time and lateness)
    for submission_id, at, was_late in session.execute(
            select(SubmissionVersion.submission_id, SubmissionVersion.submitted_at, SubmissionVersion.late)
            .where(SubmissionVersion.submission_id.in_(ids)).order_by(SubmissionVersion.submission_id, SubmissionVersion.number)):
        versions[submission_id] = (versions[submission_id][0] + 1 if submission_id in versions else 1, at, was_late)
    grades = {g.submission_id: g for g in session.execute(
        select(Grade.submission_id, Grade.rubric_version_id, Grade.selections, Grade.score, Grade.max_score)
        .where(Grade.submission_id.in_(ids), Grade.status == GradeStatus.RELEASED))}
    teams = groups_of(session, ids)  # a team's work: a row for each member, with their score
    criteria = shared.criteria
    for s in submissions:
        grade = grades.get(s.id)
        assignment = shared.assignments[s.assignment_id]
        points: dict[tuple[str, str], Any] = {}
        if grade is not None:
            for c in shared.versions[grade.rubric_version_id].criteria:
                level = c.level(grade.selections.get(c.id, {}).get("level"))
                points[(assignment.key, c.id)] = level.points if level else ""
        team = teams.get(s.id)
        count, submitted_at, late = versions.get(s.id) or (0, None, False)
        for user in team.members if team else [users[s.user_id]]:
            score = team.score_of(user.id, grade.score, grade.max_score) if team and grade else (grade.score if grade else "")
            yield [user.name, user.email, assignment.key, assignment.module.key, count,
                   submitted_at.isoformat() if submitted_at else "", "yes" if late else "no",
                   s.status.value, "" if score is None else score, grade.max_score if grade else "",
                   "yes" if user.deactivated_at is not None else "no",
                   *[points.get(key, "") for key in criteria]]


def grade_rows(session: DbSession, cohort: Cohort, chunk: int | None = None) -> GradeRows:
    """One row per learner and assignment handed in; a column per rubric criterion
    ("<assignment> / <criterion>") holding the points of the level given. Only released
    grades count. The rows are read ``chunk`` submissions at a time (keyset on assignment
    and learner) as they are iterated, so memory stays flat whatever the cohort's size:
    a fixed number of statements per chunk, never per row."""
    size = chunk or EXPORT_CHUNK
    shared = _rubrics(session, cohort)
    handed_in = (Submission.cohort_id == cohort.id, Submission.status != SubmissionStatus.DRAFT)
    estimate = session.scalar(select(func.count()).select_from(Submission).where(*handed_in)) or 0
    query = (select(Submission.id, Submission.assignment_id, Submission.user_id, Submission.status).where(*handed_in)
             .order_by(Submission.assignment_id, Submission.user_id).limit(size))

    def rows() -> Iterator[list[Any]]:
        after: tuple[int, int] | None = None
        while True:
            page = query if after is None else query.where(
                tuple_(Submission.assignment_id, Submission.user_id) > tuple_(after[0], after[1]))
            submissions = session.execute(page).all()
            if not submissions:
                return
            after = (submissions[-1].assignment_id, submissions[-1].user_id)
            yield from _chunk_rows(session, submissions, shared)
            if len(submissions) < size:
                return

    return GradeRows(columns=COLUMNS + [f"{a} / {c}" for a, c in shared.criteria], rows=rows(), estimate=estimate)


def grade_table(session: DbSession, cohort: Cohort) -> GradeTable:
    """``grade_rows`` held whole (for callers that want every row at once)."""
    found = grade_rows(session, cohort)
    return GradeTable(columns=found.columns, rows=list(found.rows))


class Exporter(ABC):
    name: ClassVar[str]
    mimetype: ClassVar[str]
    extension: ClassVar[str]

    @abstractmethod
    def render(self, table: GradeTable) -> str: ...

    def stream(self, table: GradeTable) -> Iterator[str]:
        """The export in pieces (one per row where the format allows), for a streamed
        response or a job's file; joined, they are ``render``'s text."""
        yield self.render(table)

    def stream_rows(self, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
        """``stream`` of the table these rows make (formats that can go a row at a time
        override it so the rows are never all held)."""
        return self.stream(GradeTable(columns=list(columns), rows=[list(row) for row in rows]))


def _safe(value: Any) -> Any:
    """Spreadsheets run cells that start with = + - @ as formulas; such text gets a quote.
    A boolean (a row shared with a JSON export, where it stays one) reads ``yes`` or ``no``,
    as every CSV here spells one."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


class CsvExporter(Exporter):
    name, mimetype, extension = "csv", "text/csv", "csv"

    def render(self, table: GradeTable) -> str:
        return "".join(self.stream(table))

    def stream(self, table: GradeTable) -> Iterator[str]:
        return self.stream_rows(table.columns, table.rows)

    def stream_rows(self, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
        """The header, then one CSV line per row as ``rows`` yields it: constant memory."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        yield out.getvalue()
        for row in rows:
            out.seek(0)
            out.truncate()
            writer.writerow([_safe(v) for v in row])
            yield out.getvalue()


EXPORTERS: dict[str, Exporter] = {e.name: e for e in (CsvExporter(),)}
