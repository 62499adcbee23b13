"""The gradebook's learner rows as HTML, made in Python: a page of a hundred learners by
some sixty items is six thousand cells, and the template's loop over them took a third of
the page's time. The markup is what ``gradebook/gradebook.html`` describes: a cell's class
``gb-cell gb-<status>`` (and ``gb-overdue``), its status (a link to the grading page once
work is handed in), the team whose work it is, the score, and for a drafted grade the
revision the page showed (``seen``, for the conditional release). Every value is escaped."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from flask import url_for
from markupsafe import Markup, escape

from lms.gradebook.models import CellStatus
from lms.gradebook.services import Cell, Column, Gradebook, Row

_PLACEHOLDER = "987654321"  # stands for an id in a link built once per page
_UNLINKED = frozenset({CellStatus.NOT_OPEN, CellStatus.NOT_STARTED, CellStatus.IN_PROGRESS, CellStatus.OVERDUE})


def score_text(column: Column, cell: Cell) -> str:
    """Points out of the maximum for graded work, a percentage for quizzes."""
    if cell.score is None:
        return ""
    if column.graded_work:
        return f"{cell.score:g}/{cell.max_score:g}"
    return f"{cell.score:g}%"


def cell_html(column: Column, cell: Cell, grade_link: str) -> str:
    parts = [f'<td class="gb-cell gb-{cell.status.value}{" gb-overdue" if cell.overdue else ""}">']
    if cell.submission_id and cell.status not in _UNLINKED:
        parts.append(f'<a href="{grade_link.replace(_PLACEHOLDER, str(cell.submission_id))}">{cell.label}</a>')
    else:
        parts.append(cell.label)
    if cell.overdue and cell.status != CellStatus.OVERDUE:
        parts.append(" · overdue")
    if cell.team:
        parts.append(f'<br><span class="gb-team">{escape(cell.team)}</span>')
    if cell.score is not None:
        parts.append(f'<br><span class="gb-score">{score_text(column, cell)}</span>')
    if cell.status == CellStatus.DRAFTED and cell.grade_id:
        parts.append(f'<input type="hidden" name="seen" value="{cell.grade_id}:{cell.grade_revision}">')
    parts.append("</td>")
    return "".join(parts)


def row_html(row: Row, columns: Sequence[Column], picked: Collection[str], learner_link: str, grade_link: str) -> str:
    uid = str(row.user.id)
    name = escape(row.user.name)
    marked = ' class="gb-at-risk"' if row.at_risk else ""
    flag = ' <span class="risk">at risk</span>' if row.at_risk else ""
    if row.closed:  # listed, as on the roster, but on no filter that asks someone to act
        flag += ' <span class="tag account-closed">account closed</span>'
    ticked = " checked" if uid in picked else ""
    cells = "\n".join(cell_html(column, cell, grade_link) for column, cell in zip(columns, row.cells, strict=True))
    return (f'<tr data-user="{uid}"{marked}>\n'
            f'<td class="gb-pick"><input type="checkbox" name="learner" value="{uid}" aria-label="Select {name}"{ticked}></td>\n'
            f'<th scope="row" class="gb-name"><a href="{learner_link.replace(_PLACEHOLDER, uid)}">{name}</a>{flag}</th>\n'
            f"{cells}\n</tr>\n")


def gradebook_rows(book: Gradebook, picked: Collection[str]) -> Markup:
    """This page's rows (``book.rows``), a learner's box ticked if their id is in ``picked``
    (the form posted back)."""
    learner_link = escape(url_for("progress.learner", cohort_id=book.cohort.id, user_id=int(_PLACEHOLDER)))
    grade_link = escape(url_for("grading.grade", cohort_id=book.cohort.id, submission_id=int(_PLACEHOLDER)))
    return Markup("".join(row_html(row, book.columns, picked, learner_link, grade_link) for row in book.rows))
