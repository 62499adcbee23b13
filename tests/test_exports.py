"""Exports read the database a chunk at a time (issue 14 point 3): the grades and the
gradebook exports hand back their rows as an iterator that reads ``chunk`` learners' work
per step, so the number of statements grows with the number of chunks, never with the
rows, and the rows are those of the whole table, in its order. (Peak memory at 500 and
5,000 learners: bench/exports.py.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from lms.database import utcnow
from lms.extensions import db
from lms.gradebook import services as gradebook
from lms.grading.exports import grade_rows, grade_table
from tests.test_grading import course, criteria_of, grade_url, levels  # noqa: F401 (the fixture)


def consumed(count_queries: Callable[..., int], make: Callable[[], Any]) -> tuple[int, int, list[Any]]:
    """(statements to make the export, statements to read all its rows, the rows); the
    first may vary (objects the test's commits expired are loaded again), the second not."""
    made: list[Any] = []
    rows: list[Any] = []
    setup = count_queries(lambda: made.append(make()))
    reading = count_queries(lambda: rows.extend(made[0].rows))
    return setup, reading, rows


def test_the_grades_export_reads_a_chunk_of_work_at_a_time(course: Any, count_queries: Callable[..., int]) -> None:  # noqa: F811
    cohort = course["cohort"]
    for n in range(7):
        _learner, _client, work = course["hand_in"](cohort, f"Learner {n:02d}")
        if n % 3 == 0:
            course["client_for"](course["teacher"]).post(grade_url(work), data={**levels(criteria_of(work), 0),
                                                                               "action": "release"})
    db.session.expire_all()

    def export() -> Any:
        return grade_rows(db.session, cohort, chunk=3)

    found = export()
    assert isinstance(found.rows, Iterator) and found.estimate == 7  # nothing read yet
    _, seven, rows = consumed(count_queries, export)  # chunks of 3, 3 and 1
    assert rows == grade_table(db.session, cohort).rows and len(rows) == 7
    assert [r[0] for r in rows] == [f"Learner {n:02d}" for n in range(7)]
    assert sum(1 for r in rows if r[8] != "") == 3  # the released grades' scores

    course["hand_in"](cohort, "Learner 07")  # 3, 3, 2: the same statements
    assert consumed(count_queries, export)[1] == seven
    for n in (8, 9):
        course["hand_in"](cohort, f"Learner {n:02d}")  # 3, 3, 3, 1: one chunk more
    _, ten, rows = consumed(count_queries, export)
    assert len(rows) == 10 and ten - seven == seven // 3 > 0


def test_the_gradebook_export_reads_a_chunk_of_learners_at_a_time(course: Any, count_queries: Callable[..., int],  # noqa: F811
                                                                  enrol_learner: Callable[..., Any]) -> None:
    cohort = course["cohort"]
    for n in range(6):
        enrol_learner(cohort, name=f"Learner {n:02d}")
    course["hand_in"](cohort, "Learner 06")
    now = utcnow()

    def export() -> Any:
        return gradebook.export_rows(db.session, cohort, now, chunk=3)

    found = export()
    assert isinstance(found.rows, Iterator) and found.estimate == 7
    _, seven, rows = consumed(count_queries, export)
    whole = gradebook.table(gradebook.gradebook(db.session, cohort, now))
    assert found.columns == whole.columns and rows == whole.rows and len(rows) == 7
    enrol_learner(cohort, name="Learner 07")
    assert consumed(count_queries, export)[1] == seven
    for n in (8, 9):
        enrol_learner(cohort, name=f"Learner {n:02d}")
    _, ten, rows = consumed(count_queries, export)
    assert [r[0] for r in rows] == [f"Learner {n:02d}" for n in range(10)]
    assert ten > seven and (ten - seven) * 3 <= seven  # one chunk's statements more
    at_risk = gradebook.export_rows(db.session, cohort, now, gradebook.RowFilter.AT_RISK, chunk=3)
    assert list(at_risk.rows) == gradebook.table(gradebook.gradebook(db.session, cohort, now, gradebook.RowFilter.AT_RISK)).rows
