"""Exporters of a cohort's grades: a registry of small classes (CSV today)."""

from __future__ import annotations

import csv
import io
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lms.accounts.models import User
from lms.cohorts.models import Cohort
from lms.coursework.models import Assignment, Rubric, Submission, SubmissionStatus
from lms.coursework.sharing import groups_of
from lms.database import DbSession
from lms.grading.models import Grade, GradeStatus


@dataclass(frozen=True)
class GradeTable:
    columns: list[str]
    rows: list[list[Any]]


def grade_table(session: DbSession, cohort: Cohort) -> GradeTable:
    """One row per learner and assignment handed in; a column per rubric criterion
    ("<assignment> / <criterion>") holding the points of the level given. Only released
    grades count. A fixed number of statements."""
    submissions = list(session.scalars(
        select(Submission).where(Submission.cohort_id == cohort.id, Submission.status != SubmissionStatus.DRAFT)
        .options(selectinload(Submission.versions), selectinload(Submission.assignment).selectinload(Assignment.module),
                 selectinload(Submission.assignment).selectinload(Assignment.rubric).selectinload(Rubric.versions))
        .order_by(Submission.assignment_id, Submission.user_id)))
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_({s.user_id for s in submissions})))} if submissions else {}
    grades = {g.submission_id: g for g in session.scalars(
        select(Grade).where(Grade.submission_id.in_([s.id for s in submissions]), Grade.status == GradeStatus.RELEASED)
        .options(selectinload(Grade.rubric_version)))} if submissions else {}
    criteria: list[tuple[str, str]] = []
    for s in submissions:
        grade = grades.get(s.id)
        rubric = grade.rubric_version if grade else s.assignment.rubric.current
        for c in rubric.criteria:
            if (s.assignment.key, c.id) not in criteria:
                criteria.append((s.assignment.key, c.id))
    columns = ["learner", "email", "assignment", "module", "versions", "submitted_at", "late", "status", "score", "max_score"]
    columns += [f"{a} / {c}" for a, c in criteria]
    rows = []
    teams = groups_of(session, [s.id for s in submissions])  # a team's work: a row for each member, with their score
    for s in submissions:
        grade = grades.get(s.id)
        points: dict[tuple[str, str], Any] = {}
        if grade is not None:
            for c in grade.rubric_version.criteria:
                level = c.level(grade.selections.get(c.id, {}).get("level"))
                points[(s.assignment.key, c.id)] = level.points if level else ""
        team = teams.get(s.id)
        latest = s.latest
        for user in team.members if team else [users[s.user_id]]:
            score = team.score_of(user.id, grade.score, grade.max_score) if team and grade else (grade.score if grade else "")
            rows.append([user.name, user.email, s.assignment.key, s.assignment.module.key, len(s.versions),
                         latest.submitted_at.isoformat() if latest else "", "yes" if latest and latest.late else "no",
                         s.status.value, "" if score is None else score, grade.max_score if grade else "",
                         *[points.get(key, "") for key in criteria]])
    return GradeTable(columns=columns, rows=rows)


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
    """Spreadsheets run cells that start with = + - @ as formulas; such text gets a quote."""
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
