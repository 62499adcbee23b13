"""The gradebook: learners against every assessed item in month order, statuses and scores,
filters, pages of learners, CSV and JSON with the page's columns, a fixed number of
statements, due dates from the kept schedule state; bulk actions
(release drafted grades conditionally, extensions, messages, a zip of submissions) that
answer per learner and refuse learners of other cohorts."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from markupsafe import escape
from sqlalchemy import event, func, select, update

from lms.accounts.models import User
from lms.assessment.models import Quiz
from lms.catalog.models import Lesson, Phase
from lms.cohorts.calendar import program_closes_on
from lms.cohorts.models import Pace
from lms.competency.services import learners_of
from lms.coursework.models import Assignment, Submission
from lms.database import utcnow
from lms.extensions import db
from lms.gradebook import services as gradebook_services
from lms.gradebook.models import CellStatus, ColumnKind, RowFilter
from lms.gradebook.services import KIND_ORDER, PROGRESS_KIND, Outcome, gradebook, table
from lms.grading.models import Grade, GradeAction, GradeStatus
from lms.grading.services import save_grade
from lms.inbox.models import Conversation
from lms.learning.models import OverrideKind, ScheduleOverride
from lms.learning.services import Timeline
from lms.mail.models import OutboxMessage
from lms.notifications.models import Channel, Notification, NotificationEvent
from lms.notifications.services import set_preferences
from lms.privacy.services import erase_learner
from lms.progress.completion import cohort_progress
from lms.progress.models import ItemKind, ProgressItem
from lms.progress.state import scheduled_items
from tests.conftest import PASSWORD

CASE = "mlops-case-coldwatch"
COLUMN = f"assignment:{CASE}"


@pytest.fixture()
def course(app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user, login) -> dict[str, Any]:
    org_admin = make_user(name="Olga Admin")
    org = make_org(admins=[org_admin])
    teacher, other_teacher = make_user(name="Tess Teacher"), make_user(name="Otto Teacher")
    cohort = make_cohort(org, "Когорта 東京 1", months_ago=5, instructors=[teacher])
    other = make_cohort(months_ago=5, instructors=[other_teacher])

    def client_for(user: Any) -> Any:
        client = app.test_client()
        login(client, user)
        return client

    def hand_in(cohort_: Any, name: str, body: str = "My analysis.", file: tuple[str, bytes] | None = None) -> tuple[Any, Any]:
        learner = enrol_learner(cohort_, name=name)
        data: dict[str, Any] = {"body": body, "action": "submit"}
        if file:
            data["file"] = (io.BytesIO(file[1]), file[0])
        client_for(learner).post(f"/assignments/{CASE}/work", data=data, content_type="multipart/form-data")
        db.session.expire_all()
        return learner, db.session.scalar(select(Submission).where(Submission.user_id == learner.id))

    def draft(work: Any, pick: int = 1, grader: Any = None) -> Grade:
        criteria = work.assignment.rubric.current.criteria
        grade = save_grade(db.session, work, grader or teacher, {c.id: c.levels[pick].id for c in criteria}, {},
                           "Draft feedback", None, GradeAction.DRAFT, utcnow())
        db.session.commit()
        return grade

    return {"cohort": cohort, "other": other, "teacher": teacher, "other_teacher": other_teacher, "org_admin": org_admin,
            "client_for": client_for, "hand_in": hand_in, "draft": draft, "enrol": enrol_learner}


def url(cohort: Any, tail: str = "") -> str:
    return f"/cohorts/{cohort.id}/gradebook{tail}"


def seen(page: str) -> list[str]:
    return re.findall(r'name="seen" value="(\d+:\d+)"', page)


def cell(book: Any, user: Any, column_id: str = COLUMN) -> Any:
    index = next(i for i, c in enumerate(book.columns) if c.id == column_id)
    return next(r for r in book.rows if r.user.id == user.id).cells[index]


# --------------------------------------------------------------------------- the table


def test_columns_in_month_order_with_every_kind_and_statuses(course) -> None:
    ada, work = course["hand_in"](course["cohort"], "Ada Drafted")
    bo, _ = course["hand_in"](course["cohort"], "Bo Submitted")
    cy = course["enrol"](course["cohort"], name="Cy Nothing")
    course["draft"](work)
    book = gradebook(db.session, course["cohort"], utcnow())
    keys = [(c.month, KIND_ORDER.index(c.kind)) for c in book.columns]
    assert keys == sorted(keys)
    assert {c.kind for c in book.columns} == set(ColumnKind)
    assert [r.user.name for r in book.rows] == ["Ada Drafted", "Bo Submitted", "Cy Nothing"]
    drafted = cell(book, ada)
    assert drafted.status == CellStatus.DRAFTED and drafted.score is not None and drafted.max_score
    assert cell(book, bo).status == CellStatus.SUBMITTED
    assert cell(book, cy).status in (CellStatus.NOT_STARTED, CellStatus.OVERDUE)
    assert all(isinstance(c.status, CellStatus) for r in book.rows for c in r.cells)


def test_filters_ungraded_overdue_and_one_module(course) -> None:
    ada, work = course["hand_in"](course["cohort"], "Ada Drafted")
    course["enrol"](course["cohort"], name="Cy Nothing")
    now = utcnow()
    ungraded = gradebook(db.session, course["cohort"], now, RowFilter.UNGRADED)
    assert [r.user.name for r in ungraded.rows] == ["Ada Drafted"]
    overdue = gradebook(db.session, course["cohort"], now, RowFilter.OVERDUE)
    assert "Cy Nothing" in [r.user.name for r in overdue.rows]  # five months in, the first months' work is overdue
    mlops = gradebook(db.session, course["cohort"], now, module="mlops")
    assert mlops.columns and {c.module_key for c in mlops.columns} == {"mlops"}
    assert COLUMN in {c.id for c in mlops.columns} and not any(c.kind == ColumnKind.EXAM for c in mlops.columns)
    at_risk = gradebook(db.session, course["cohort"], now, RowFilter.AT_RISK)
    assert {r.user.id for r in at_risk.rows} <= {r.user.id for r in gradebook(db.session, course["cohort"], now).rows}
    assert all(r.at_risk for r in at_risk.rows)


def test_page_has_sticky_headers_filters_and_a_link_from_the_cohort(course) -> None:
    ada, work = course["hand_in"](course["cohort"], "Ada Drafted")
    grade = course["draft"](work)
    teacher = course["client_for"](course["teacher"])
    assert url(course["cohort"]) in teacher.get(f"/cohorts/{course['cohort'].id}").get_data(as_text=True)
    page = teacher.get(url(course["cohort"])).get_data(as_text=True)
    assert 'class="table-wrap gb-scroll"' in page and "<thead>" in page and "style=" not in page.split("<main", 1)[-1]
    assert "Ada Drafted" in page and "drafted" in page and seen(page) == [f"{grade.id}:{grade.revision}"]
    assert "Ada Drafted" in teacher.get(url(course["cohort"], "?show=ungraded&module=mlops")).get_data(as_text=True)
    page = teacher.get(url(course["cohort"], "?show=ungraded&module=customer-success")).get_data(as_text=True)
    assert "Ada Drafted" not in page and CASE not in page  # the filters look at the module's columns only
    assert teacher.get(url(course["cohort"], "?show=nonsense&module=nope")).status_code == 200


def test_a_row_links_the_learner_and_their_work_and_escapes_their_name(course) -> None:
    """The rows are made in Python (``lms.gradebook.render``): what a learner typed is escaped,
    the name links to their progress, work handed in to its grading page, a ticked box stays
    ticked when the form comes back."""
    learner, work = course["hand_in"](course["cohort"], '<b onmouseover="x()">Ada</b> & Co')
    teacher = course["client_for"](course["teacher"])
    page = teacher.get(url(course["cohort"])).get_data(as_text=True)
    assert "<b onmouseover" not in page and "&lt;b onmouseover=&#34;x()&#34;&gt;Ada&lt;/b&gt; &amp; Co" in page
    row = page[page.index(f'<tr data-user="{learner.id}"'):]
    row = row[:row.index("</tr>")]
    assert f'href="/cohorts/{course["cohort"].id}/learners/{learner.id}/progress"' in row
    assert f'<td class="gb-cell gb-submitted"><a href="/cohorts/{course["cohort"].id}/submissions/{work.id}">to grade</a>' in row
    assert 'class="gb-cell gb-overdue gb-overdue">overdue</td>' in row  # five months in: earlier items overdue
    posted = teacher.post(url(course["cohort"]), data={"action": "extend", "column": COLUMN, "scope": "selected",
                                                        "learner": [learner.id], "until": "not a date"})
    assert posted.status_code == 400
    again = posted.get_data(as_text=True)
    assert f'name="learner" value="{learner.id}" aria-label="Select {escape(learner.name)}" checked>' in again


def test_csv_and_json_carry_the_same_columns_with_a_unicode_file_name(course) -> None:
    ada, work = course["hand_in"](course["cohort"], "=Ada Drafted")
    course["draft"](work)
    teacher = course["client_for"](course["teacher"])
    response = teacher.get(url(course["cohort"], ".csv"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert "filename*=UTF-8''gradebook-%D0%BA" in disposition and disposition.isascii()
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    data = teacher.get(url(course["cohort"], ".json")).get_json()
    book = gradebook(db.session, course["cohort"], utcnow())
    assert rows[0] == data["columns"] == table(book).columns
    assert rows[0][:3] == ["learner", "email", "at_risk"] and f"{COLUMN} status" in rows[0]
    assert rows[1][0] == "'=Ada Drafted"  # formula-safe, as the grades export
    assert data["rows"][0][f"{COLUMN} status"] == "drafted" and data["rows"][0]["learner"] == "=Ada Drafted"
    assert teacher.get(url(course["cohort"], ".xlsx")).status_code == 404


def test_page_and_exports_run_a_fixed_number_of_statements(course, page_statements) -> None:
    for n in range(2):
        course["draft"](course["hand_in"](course["cohort"], f"First {n}")[1])
    teacher = course["client_for"](course["teacher"])
    urls = [url(course["cohort"]), url(course["cohort"], ".csv"), url(course["cohort"], ".json"),
            url(course["cohort"], "?show=ungraded&module=mlops")]

    def counts() -> list[int]:
        return page_statements(teacher, urls)

    few = counts()
    for n in range(6):
        learner, work = course["hand_in"](course["cohort"], f"Extra {n}")
        if n % 2:
            course["draft"](work)
    assert counts() == few


def test_the_chunks_schedule_is_read_by_learner_and_keeps_to_the_cohort(course) -> None:
    """``scheduled_items`` reads a chunk's rows through the index on the learners, not the
    cohort's (given both conditions, SQLite without statistics read the whole cohort's items
    for every chunk: 347 ms a chunk at 5,000 learners, against 16 ms), and still gives only
    the cohort's rows."""
    ada, _work = course["hand_in"](course["cohort"], "Ada Chunk")
    bo = course["enrol"](course["cohort"], name="Bo Chunk")
    mine = scheduled_items(db.session, course["cohort"].id, [ada.id, bo.id])
    assert set(mine) == {ada.id, bo.id} and all(mine.values())
    assert scheduled_items(db.session, course["other"].id, [ada.id, bo.id]) == {}
    statements: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if "FROM progress_items" in statement:
            statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        scheduled_items(db.session, course["cohort"].id, [ada.id, bo.id])
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    [(statement, parameters)] = statements
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        plan = " ".join(str(row) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
        assert "ix_progress_items_user_position" in plan and "cohort" not in plan, plan
    assert "cohort_id =" not in statement and "cohort_id=" not in statement


def test_due_dates_and_overdue_come_from_the_kept_schedule_state(course) -> None:
    """The cells' due dates and overdue flags are the kept state's (``lms.progress.state``),
    which equals the schedule worked out afresh (``cohort_progress``), extensions included."""
    ada, _work = course["hand_in"](course["cohort"], "Ada Late")
    bo = course["enrol"](course["cohort"], name="Bo Nothing")
    course["hand_in"](course["other"], "Sam Stranger")
    later = (utcnow() + timedelta(days=60)).date()
    course["client_for"](course["teacher"]).post(url(course["cohort"]), data={
        "action": "extend", "column": COLUMN, "scope": "selected", "learner": [bo.id], "until": later.isoformat()})
    now = utcnow()
    book = gradebook(db.session, course["cohort"], now)
    afresh = cohort_progress(db.session, course["cohort"], [ada.id, bo.id], now)
    compared = 0
    for row in book.rows:
        items = {(i.kind, i.key): i for i in afresh[row.user.id].items}
        for column, found in zip(book.columns, row.cells, strict=True):
            item = items.get((PROGRESS_KIND[column.kind], column.key)) if column.kind in PROGRESS_KIND else None
            if item is not None:
                assert found.due_on == item.due_on, (row.user.name, column.id)
                assert not (found.overdue and (item.done or item.due_on >= book.today)), (row.user.name, column.id)
                compared += 1
    assert compared > 20
    assert cell(book, bo).due_on == later and not cell(book, bo).overdue  # the extension moved Bo's case study
    assert cell(book, ada).due_on != later


def test_the_page_shows_a_page_of_learners_filtered_over_the_whole_cohort(course, monkeypatch) -> None:
    monkeypatch.setattr(gradebook_services, "PER_PAGE", 2)
    handed = [course["hand_in"](course["cohort"], f"{name} Handed")[0] for name in ("Ada", "Cy", "Ed")]
    idle = [course["enrol"](course["cohort"], name=f"{name} Idle") for name in ("Bo", "Di")]
    teacher = course["client_for"](course["teacher"])
    names = ["Ada Handed", "Bo Idle", "Cy Handed", "Di Idle", "Ed Handed"]

    def shown(query: str = "") -> tuple[list[str], str]:
        page = teacher.get(url(course["cohort"], query)).get_data(as_text=True)
        return re.findall(r'aria-label="Select ([^"]+)"', page), page

    first, page = shown()
    assert first == names[:2] and "Learners 1–2 of the 5 the filter shows" in page
    assert 'rel="next"' in page and f'href="/cohorts/{course["cohort"].id}/gradebook?show=all&amp;page=2"' in page
    assert shown("?page=2")[0] == names[2:4]
    last, page = shown("?page=3")
    assert last == names[4:] and 'rel="prev"' in page and 'rel="next"' not in page
    assert shown("?page=99")[0] == names[4:] and shown("?page=-1")[0] == names[:2]  # out of range: the nearest page
    # the ungraded filter chooses over the whole cohort, then pages what it shows
    ungraded, page = shown("?show=ungraded")
    assert ungraded == ["Ada Handed", "Cy Handed"] and "of the 3 the filter shows" in page
    assert f'href="/cohorts/{course["cohort"].id}/gradebook?show=ungraded&amp;page=2"' in page
    assert shown("?show=ungraded&page=2")[0] == ["Ed Handed"]
    book = gradebook(db.session, course["cohort"], utcnow(), RowFilter.UNGRADED, page=2)
    assert [r.user.name for r in book.rows] == ["Ed Handed"] and book.paging.total == 3 and book.learners == 5
    # "every learner the filter shows" reaches every page, not just this one
    response = teacher.post(url(course["cohort"]), data={"action": "message", "scope": "shown", "show": "all", "page": "1",
                                                          "subject": "Case study", "body": "Hand it in."},
                            follow_redirects=True)
    assert "Messaged 5" in response.get_data(as_text=True)
    notified = set(db.session.scalars(select(Notification.user_id).where(Notification.event == NotificationEvent.MESSAGE)))
    assert notified == {u.id for u in handed + idle}
    # releasing for every learner the filter shows releases only the drafts this page showed
    drafted = {name: course["draft"](db.session.scalar(select(Submission).where(Submission.user_id == learner.id)))
               for name, learner in zip(("Ada", "Cy", "Ed"), handed, strict=True)}
    page = teacher.get(url(course["cohort"], "?show=ungraded")).get_data(as_text=True)
    assert seen(page) == [f"{g.id}:{g.revision}" for g in (drafted["Ada"], drafted["Cy"])]
    released = teacher.post(url(course["cohort"]), data={
        "action": "release", "column": COLUMN, "scope": "shown", "show": "ungraded", "seen": seen(page)},
        follow_redirects=True).get_data(as_text=True)
    assert "Released 2; 1 was not on the page you released from (open it to check them) (Ed Handed)." in released
    # a refused action re-renders the page the form was posted from
    again = teacher.post(url(course["cohort"]), data={"action": "message", "scope": "selected", "page": "2",
                                                       "subject": "x", "body": "y"})
    assert again.status_code == 400 and "Learners 3–4 of the 5" in again.get_data(as_text=True)


def test_a_page_of_a_bigger_cohort_runs_the_same_statements(course, page_statements, monkeypatch) -> None:
    """Only the shown learners' rows are built: a page costs the same statements at 3 and 9 learners."""
    monkeypatch.setattr(gradebook_services, "PER_PAGE", 2)
    teacher = course["client_for"](course["teacher"])
    urls = [url(course["cohort"]), url(course["cohort"], "?page=2"), url(course["cohort"], "?show=ungraded"),
            url(course["cohort"], "?show=at_risk&page=2")]
    for n in range(3):
        course["hand_in"](course["cohort"], f"First {n}")
    page_statements(teacher, urls)  # the process's kept curriculum read once (alone, this test is the first to ask)
    few = page_statements(teacher, urls)
    for n in range(6):
        course["draft"](course["hand_in"](course["cohort"], f"Extra {n}")[1])
    assert page_statements(teacher, urls) == few


def test_a_page_reads_only_its_own_learners(course, monkeypatch) -> None:
    """The page of every learner reads its learners a page at a time in SQL (as the cohort
    page does), and asks who is at risk of them alone: a 5,000-learner cohort's page loaded
    every learner and judged all of them on each view (438 ms, 200 of it that)."""
    monkeypatch.setattr(gradebook_services, "PER_PAGE", 2)
    names = [f"Reader {n}" for n in range(7)]
    ids = {course["enrol"](course["cohort"], name=name).id: name for name in names}
    teacher = course["client_for"](course["teacher"])
    loaded: list[int] = []
    judged: list[Any] = []
    judge = gradebook_services.at_risk_judge

    def judging(*args: Any) -> Any:
        ask = judge(*args)

        def asked(user_ids: Any) -> set[int]:
            judged.append(None if user_ids is None else len(user_ids))
            return ask(user_ids)
        return asked

    def on_load(target: Any, _context: Any) -> None:
        loaded.append(target.id)

    monkeypatch.setattr(gradebook_services, "at_risk_judge", judging)
    event.listen(User, "load", on_load)
    try:
        page = teacher.get(url(course["cohort"], "?page=2"))
    finally:
        event.remove(User, "load", on_load)
    assert page.status_code == 200
    assert sorted(ids[i] for i in loaded if i in ids) == names[2:4] and judged == [2]
    text = page.get_data(as_text=True)
    assert -1 < text.find("Reader 2") < text.find("Reader 3") and "Reader 4" not in text and "Reader 1" not in text


def test_every_chunk_of_an_export_runs_the_same_statements(course) -> None:
    """Each chunk of learners an export reads runs the same statement texts, whatever its
    learners handed in: a list that varies with the data (a chunk's submissions) is bound as
    one value (``lms.database.among``). A placeholder per id made a new statement for every
    new length, and the drivers keep their recent statements: psycopg's counts of the last
    100 held 4 MB during a 5,000-learner export, which then peaked at 17.5 MiB, not 13.5."""
    for name, handed in (("A1", True), ("A2", True), ("B1", True), ("B2", False), ("C1", True), ("C2", True),
                         ("D1", False), ("D2", True)):
        if handed:
            course["hand_in"](course["cohort"], f"{name} Learner")
        else:
            course["enrol"](course["cohort"], name=f"{name} Learner")
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    found = gradebook_services.export_rows(db.session, course["cohort"], utcnow(), chunk=2)
    marks: list[int] = []
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        for row in found.rows:
            marks.append(len(statements))
            assert row[0].endswith("Learner")
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert len(marks) == 8
    # the chunks after the first (which reads without a keyset): B (one handed in), C (two), D (one)
    chunks = [statements[marks[1]:marks[3]], statements[marks[3]:marks[5]], statements[marks[5]:marks[7]]]
    assert any("grades" in text for text in chunks[0]) and len(chunks[0]) >= 5
    assert chunks[1] == chunks[0] and chunks[2] == chunks[0]


def test_the_overdue_filter_builds_its_page_only_and_the_ungraded_a_chunk_at_a_time(course, monkeypatch) -> None:
    """The overdue filter chooses its learners in SQL (an overdue item in the kept state,
    which is what makes a cell overdue) and builds only the page's rows. The ungraded
    filter builds the rows of the learners it may show (something waiting for marking),
    ``EXPORT_CHUNK`` at once: one statement over a 5,000-learner cohort's work would pass
    PostgreSQL's 65,535 parameters. Both give the same rows, cells and order as every row
    built, whatever the chunk."""
    for name in ("Ada", "Cy", "Ed"):
        course["hand_in"](course["cohort"], f"{name} Handed")
    for name in ("Bo", "Di"):
        course["enrol"](course["cohort"], name=f"{name} Idle")
    course["enrol"](course["cohort"], name="Fay Fresh", joined=utcnow(), pace=Pace.OWN_START)  # nothing due yet
    now = utcnow()

    def shown(row_filter: RowFilter) -> list[tuple[str, list[tuple[CellStatus, bool, float | None]]]]:
        book = gradebook(db.session, course["cohort"], now, row_filter)
        return [(r.user.name, [(c.status, c.overdue, c.score) for c in r.cells]) for r in book.rows]

    whole = {f: shown(f) for f in (RowFilter.OVERDUE, RowFilter.UNGRADED)}
    assert [name for name, _cells in whole[RowFilter.UNGRADED]] == ["Ada Handed", "Cy Handed", "Ed Handed"]
    assert len(whole[RowFilter.OVERDUE]) == 5 and "Fay Fresh" not in [name for name, _cells in whole[RowFilter.OVERDUE]]
    reading = gradebook_services._reading(db.session, course["cohort"], now, None)[0]
    every_row = reading.rows(learners_of(db.session, [course["cohort"].id])[course["cohort"].id])  # every learner's row
    assert len(every_row) == 6
    for row_filter, rows_shown in whole.items():
        assert rows_shown == [(r.user.name, [(c.status, c.overdue, c.score) for c in r.cells])
                              for r in every_row if r.shown_by(row_filter)]
    built: list[int] = []
    rows = gradebook_services._rows

    def counted(session: Any, cohort: Any, users: Any, *rest: Any) -> Any:
        built.append(len(users))
        return rows(session, cohort, users, *rest)

    monkeypatch.setattr(gradebook_services, "EXPORT_CHUNK", 2)
    monkeypatch.setattr(gradebook_services, "_rows", counted)
    assert {f: shown(f) for f in whole} == whole
    assert built == [5, 2, 1]  # the overdue page's five rows at once; the three handed in, two then one


def test_work_handed_in_waits_for_its_grade_and_returned_work_has_a_week_to_come_back(course) -> None:
    """Past its due date, work handed in and waiting for its grade is nobody's to chase: its
    cell is "to grade", not overdue, and the overdue filter leaves its learner out when
    nothing else is overdue. Work returned for revision is due again a week after its return
    (``REVISION_DAYS``): returned today it is not overdue; returned eight days ago and not
    handed in again, it is. The filter, chosen in SQL, shows exactly the learners whose built
    row has an overdue cell."""
    waiting, _work = course["hand_in"](course["cohort"], "Hal Handed")
    returned, work = course["hand_in"](course["cohort"], "Rita Returned")
    revising, fresh = course["hand_in"](course["cohort"], "Ria Revising")
    for submission, when in ((work, utcnow() - timedelta(days=8)), (fresh, utcnow())):
        criteria = submission.assignment.rubric.current.criteria
        save_grade(db.session, submission, course["teacher"], {c.id: c.levels[1].id for c in criteria}, {},
                   "Please revise the cost section.", None, GradeAction.RETURN, when)
    db.session.commit()
    idle = course["enrol"](course["cohort"], name="Ivo Idle")
    for learner in (waiting, returned, revising, idle):  # every other item done: the case study alone is late
        db.session.execute(update(ProgressItem).where(ProgressItem.user_id == learner.id, ProgressItem.key != CASE)
                           .values(done=True))
    db.session.commit()
    now = utcnow()
    book = gradebook(db.session, course["cohort"], now)
    assert cell(book, waiting).status == CellStatus.SUBMITTED and not cell(book, waiting).overdue
    assert cell(book, returned).status == CellStatus.RETURNED and cell(book, returned).overdue
    assert cell(book, revising).status == CellStatus.RETURNED and not cell(book, revising).overdue
    assert cell(book, revising).due_on == now.astimezone(ZoneInfo(course["cohort"].timezone)).date() + timedelta(days=7)
    assert cell(book, idle).status == CellStatus.OVERDUE and cell(book, idle).overdue
    overdue = gradebook(db.session, course["cohort"], now, RowFilter.OVERDUE)
    assert [r.user.name for r in overdue.rows] == ["Ivo Idle", "Rita Returned"]
    reading = gradebook_services._reading(db.session, course["cohort"], now, None)[0]
    every_row = reading.rows(learners_of(db.session, [course["cohort"].id])[course["cohort"].id])
    assert [(r.user.name, r.cells) for r in overdue.rows] == [(r.user.name, r.cells) for r in every_row if r.overdue]
    assert [u.name for u in gradebook_services.shown_learners(db.session, course["cohort"], now, RowFilter.OVERDUE)] == \
        ["Ivo Idle", "Rita Returned"]


# --------------------------------------------------------------------------- bulk actions


def test_bulk_release_reports_per_row_and_never_overwrites_a_changed_grade(course) -> None:
    ada, ada_work = course["hand_in"](course["cohort"], "Ada Ready")
    bo, bo_work = course["hand_in"](course["cohort"], "Bo Changed")
    cy, _ = course["hand_in"](course["cohort"], "Cy Ungraded")
    course["draft"](ada_work)
    course["draft"](bo_work)
    teacher = course["client_for"](course["teacher"])
    page = teacher.get(url(course["cohort"])).get_data(as_text=True)
    # Another grader changes Bo's draft after the page was opened.
    bo_grade = db.session.scalar(select(Grade).where(Grade.submission_id == bo_work.id))
    criteria = bo_work.assignment.rubric.current.criteria
    save_grade(db.session, bo_work, course["org_admin"], {c.id: c.levels[2].id for c in criteria}, {}, "Olga's view",
               bo_grade.revision, GradeAction.DRAFT, utcnow())
    db.session.commit()
    response = teacher.post(url(course["cohort"]), data={
        "action": "release", "column": COLUMN, "scope": "selected", "learner": [ada.id, bo.id, cy.id], "seen": seen(page)},
        follow_redirects=True)
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Released 1; 1 changed since you opened the page (open them to check) (Bo Changed); 1 had no drafted grade (Cy Ungraded)." in text
    db.session.expire_all()
    statuses = {g.submission_id: (g.status, g.feedback) for g in db.session.scalars(select(Grade))}
    assert statuses[ada_work.id][0] == GradeStatus.RELEASED
    assert statuses[bo_work.id] == (GradeStatus.DRAFT, "Olga's view")
    assert db.session.get(Submission, ada_work.id).status == "released"


def test_bulk_release_of_the_shown_column(course) -> None:
    works = [course["hand_in"](course["cohort"], f"Learner {n}")[1] for n in range(3)]
    for work in works[:2]:
        course["draft"](work)
    teacher = course["client_for"](course["teacher"])
    page = teacher.get(url(course["cohort"], "?show=ungraded")).get_data(as_text=True)
    response = teacher.post(url(course["cohort"]), data={"action": "release", "column": COLUMN, "scope": "shown",
                                                          "show": "ungraded", "seen": seen(page)})
    assert response.status_code == 302 and "show=ungraded" in response.headers["Location"]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Grade).where(Grade.status == GradeStatus.RELEASED)) == 2


def test_bulk_actions_refuse_other_cohorts_and_unknown_items(course) -> None:
    ada, work = course["hand_in"](course["cohort"], "Ada Mine")
    stranger, _ = course["hand_in"](course["other"], "Sam Stranger")
    course["draft"](work)
    teacher = course["client_for"](course["teacher"])
    base = {"action": "release", "column": COLUMN, "scope": "selected"}
    assert teacher.post(url(course["cohort"]), data={**base, "learner": [ada.id, stranger.id]}).status_code == 404
    assert teacher.post(url(course["cohort"]), data={**base, "learner": ["x"]}).status_code == 404
    assert teacher.post(url(course["cohort"]), data={**base, "learner": [ada.id], "column": "assignment:nope"}).status_code == 404
    assert teacher.post(url(course["other"]), data={**base, "learner": [ada.id]}).status_code == 404  # not their cohort
    other_teacher = course["client_for"](course["other_teacher"])
    assert other_teacher.post(url(course["other"]), data={**base, "learner": [ada.id]}).status_code == 404
    refused = teacher.post(url(course["cohort"]), data={**base, "learner": []})
    assert refused.status_code == 400 and "Tick the learners first" in refused.get_data(as_text=True)
    assert teacher.post(url(course["cohort"]), data={**base, "action": "explode", "learner": [ada.id]}).status_code == 400
    db.session.expire_all()
    assert db.session.scalar(select(Grade)).status == GradeStatus.DRAFT


def test_an_item_is_extended_past_its_own_due_date_not_only_past_its_months(course) -> None:
    """The case study is due 21 days into its month, the month's work at its end: a few days'
    extension of the case study (before the month's end) is granted, moves the case study's
    due date, and leaves a later due date of the same part as it was."""
    bo = course["enrol"](course["cohort"], name="Bo Short")
    db.session.commit()
    case_due = scheduled_items(db.session, course["cohort"].id, [bo.id])[bo.id][(ItemKind.ASSIGNMENT, CASE)].due_on
    phase_id = db.session.scalar(select(Assignment.phase_id).where(Assignment.key == CASE))
    lessons = set(db.session.scalars(select(Lesson.key).where(Lesson.phase_id == phase_id)))

    def lessons_due() -> dict[str, date]:  # the part's lessons are due at its end, after the case study
        return {key: due for key, due in db.session.execute(select(ProgressItem.key, ProgressItem.due_on).where(
            ProgressItem.user_id == bo.id, ProgressItem.kind == ItemKind.LESSON, ProgressItem.key.in_(lessons)))}

    later_in_part = lessons_due()
    assert later_in_part and min(later_in_part.values()) > case_due + timedelta(days=3)
    teacher = course["client_for"](course["teacher"])
    until = case_due + timedelta(days=3)
    answer = teacher.post(url(course["cohort"]), data={"action": "extend", "column": COLUMN, "learner": [bo.id],
                                                        "until": until.isoformat()}, follow_redirects=True)
    assert "Extended 1." in answer.get_data(as_text=True)
    db.session.expire_all()
    after = scheduled_items(db.session, course["cohort"].id, [bo.id])[bo.id]
    assert after[(ItemKind.ASSIGNMENT, CASE)].due_on == until
    assert lessons_due() == later_in_part


def test_bulk_extension_through_the_schedule_overrides(course) -> None:
    ada, _ = course["hand_in"](course["cohort"], "Ada Late")
    bo = course["enrol"](course["cohort"], name="Bo Late")
    teacher = course["client_for"](course["teacher"])
    later = (utcnow() + timedelta(days=60)).date()  # within the program (it ends seven months on)
    response = teacher.post(url(course["cohort"]), data={"action": "extend", "column": COLUMN, "scope": "selected",
                                                          "learner": [ada.id, bo.id], "until": later.isoformat(),
                                                          "note": "Family emergency"}, follow_redirects=True)
    assert "Extended 2." in response.get_data(as_text=True)
    overrides = list(db.session.scalars(select(ScheduleOverride)))
    assert {o.user_id for o in overrides} == {ada.id, bo.id}
    assert all(o.kind == OverrideKind.EXTENSION and o.on_date == later and o.note == "Family emergency" for o in overrides)
    early = teacher.post(url(course["cohort"]), data={"action": "extend", "column": COLUMN, "learner": [ada.id],
                                                       "until": "2000-01-01"}, follow_redirects=True).get_data(as_text=True)
    # the refusal names the learner, then why, in one sentence (not "1 not extended: An
    # extension must run … 2026. (Ada Late)": a full sentence inside the summary)
    due = re.search(r"Not extended: Ada Late — an extension must run past the item&#39;s due date, (\d{2} \w+ \d{4})\.", early)
    assert due is not None and "Extended 0." in early, early
    assert "(Ada Late)" not in early
    past_the_end = teacher.post(url(course["cohort"]), data={
        "action": "extend", "column": COLUMN, "learner": [ada.id], "until": (utcnow() + timedelta(days=400)).date().isoformat()})
    assert past_the_end.status_code == 400  # beside the date field: see test_the_bulk_extension_form_says_how_late
    assert "An extension of this item can run at most to" in past_the_end.get_data(as_text=True)
    bad = teacher.post(url(course["cohort"]), data={"action": "extend", "column": COLUMN, "learner": [ada.id], "until": "soon"})
    assert bad.status_code == 400 and "Give the new due date as a date." in bad.get_data(as_text=True)
    far = teacher.post(url(course["cohort"]), data={"action": "extend", "column": COLUMN, "learner": [ada.id], "until": "9999-12-31"})
    assert far.status_code == 400 and "Choose a date between 1 January 2000 and 31 December 2099." in far.get_data(as_text=True)
    exam = next(c for c in gradebook(db.session, course["cohort"], utcnow()).columns if c.kind == ColumnKind.EXAM)
    refused = teacher.post(url(course["cohort"]), data={"action": "extend", "column": exam.id, "learner": [ada.id],
                                                         "until": later.isoformat()})
    assert refused.status_code == 400 and "level exams have none" in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ScheduleOverride)) == 2


def _until_help(page: str) -> str:
    found = re.search(r'<small class="muted" id="until-help">(.*?)</small>', page, re.S)
    assert found is not None, page[:3000]
    return " ".join(str(found.group(1)).replace("&#39;", "'").split())


def test_the_bulk_extension_form_says_how_late_and_refuses_later_by_the_field(course) -> None:
    """The bulk form said nothing of how late an extension may run, and a date past it was
    refused learner by learner in the answer above the page. Now the date field says the
    cohort's latest day (its program's close, or 90 days past a later part's due date, month
    by month), and a date past every chosen learner's latest is refused beside the field,
    the form kept, nothing granted."""
    cohort = course["cohort"]
    ada = course["enrol"](cohort, name="Ada Late")
    teacher = course["client_for"](course["teacher"])
    closes = program_closes_on(cohort.start_date)
    page = teacher.get(url(cohort)).get_data(as_text=True)
    words = _until_help(page)
    assert words.startswith(f"At most to {closes:%d %B %Y}, the day the cohort's program closes, or 90 days past the "
                            "regular due date of the item's part when that is later: M10 items to "), words
    m12_due = Timeline(cohort.start_date).phase_dates(12)[1]
    assert f"M12 items to {m12_due + timedelta(days=90):%d %B %Y}." in words and "M9 " not in words
    assert re.search(r'<input[^>]*aria-describedby="until-help"[^>]*name="until"', page)
    assert "late joiner" not in words  # nobody joined late: no rule of theirs to read
    phase_month = db.session.scalar(select(Phase.month).join(Assignment, Assignment.phase_id == Phase.id)
                                    .where(Assignment.key == CASE))
    assert phase_month < 10  # the case study's latest is the close
    base = {"action": "extend", "column": COLUMN, "learner": [ada.id], "note": "Kept note"}
    refused = teacher.post(url(cohort), data={**base, "until": (closes + timedelta(days=1)).isoformat()})
    text = refused.get_data(as_text=True).replace("&#39;", "'")
    message = (f"An extension of this item can run at most to {closes:%d %B %Y} for the learner chosen: the day the "
               "program closes, or 90 days past the regular due date of the item's part when that is later.")
    assert refused.status_code == 400 and f'<p class="error" role="alert" id="until-error-1">{message}' in text, text[-4000:]
    assert 'value="Kept note"' in text
    assert db.session.scalar(select(func.count()).select_from(ScheduleOverride)) == 0
    granted = teacher.post(url(cohort), data={**base, "until": closes.isoformat()}, follow_redirects=True)
    assert "Extended 1." in granted.get_data(as_text=True)


def test_late_joiners_rule_is_said_and_their_own_close_applies(course) -> None:
    """A late joiner at their own pace closes later than the cohort: the form says the rule
    for them, and a date past the cohort's close but within theirs is granted to them while
    a classmate on the cohort's dates is named as not extended (one date for both)."""
    cohort = course["cohort"]
    on_time = course["enrol"](cohort, name="Bo Cohort")
    joined = utcnow() - timedelta(days=3)
    own = course["enrol"](cohort, name="Cy Own", joined=joined, pace=Pace.OWN_START)
    teacher = course["client_for"](course["teacher"])
    words = _until_help(teacher.get(url(cohort)).get_data(as_text=True))
    assert ("A late joiner at their own pace: at most to the day their own program closes (or 90 days past their "
            "part's due date when that is later).") in words
    assert "catching up" not in words and words.endswith("Each late joiner's own date is on their schedule page.")
    course["enrol"](cohort, name="Di Catch", joined=joined, pace=Pace.CATCH_UP)
    assert "A late joiner catching up: also 90 days past a catch-up due date when that is later." in _until_help(
        teacher.get(url(cohort)).get_data(as_text=True))
    until = program_closes_on(cohort.start_date) + timedelta(days=5)
    assert until < program_closes_on(joined.date())
    answer = teacher.post(url(cohort), data={"action": "extend", "column": COLUMN, "learner": [on_time.id, own.id],
                                             "until": until.isoformat()}, follow_redirects=True).get_data(as_text=True)
    assert "Extended 1. Not extended: Bo Cohort — an extension can run at most to" in answer, answer[-3000:]
    assert [o.user_id for o in db.session.scalars(select(ScheduleOverride))] == [own.id]


def test_message_learners_notifies_and_mails_as_each_prefers(course) -> None:
    ada = course["enrol"](course["cohort"], name="Ada Reader")
    bo = course["enrol"](course["cohort"], name="Bo Reader")
    cy = course["enrol"](course["cohort"], name="Cy Quiet")
    set_preferences(db.session, cy.id, {NotificationEvent.MESSAGE: Channel.OFF})
    db.session.commit()
    teacher = course["client_for"](course["teacher"])
    response = teacher.post(url(course["cohort"]), data={"action": "message", "scope": "selected",
                                                          "learner": [ada.id, bo.id, cy.id],
                                                          "subject": "Case study", "body": "Hand it in by Friday."},
                            follow_redirects=True)
    # Cy switched notices of staff messages off: the message still opened a conversation in
    # their inbox, so they were messaged, with no notice or email (the answer says so)
    assert ("Messaged 3; 1 has switched staff messages off, so the message waits in their inbox with no notice "
            "or email (Cy Quiet).") in response.get_data(as_text=True)
    assert {c.learner_id for c in db.session.scalars(select(Conversation))} == {ada.id, bo.id, cy.id}
    notices = list(db.session.scalars(select(Notification).where(Notification.event == NotificationEvent.MESSAGE)))
    assert sorted(n.user_id for n in notices) == sorted([ada.id, bo.id])
    assert "Case study" in notices[0].title and "Hand it in by Friday." in notices[0].body
    mail = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.subject.contains("Case study"))))
    assert sorted(m.recipient for m in mail) == sorted([ada.email, bo.email])  # once each: by email, the default
    assert "Hand it in by Friday." in mail[0].body and "Tess Teacher" in mail[0].body
    empty = teacher.post(url(course["cohort"]), data={"action": "message", "learner": [ada.id], "subject": " ", "body": "x"})
    assert empty.status_code == 400 and "Write a subject and a message." in empty.get_data(as_text=True)
    assert ">\r\nx</textarea>" in empty.get_data(as_text=True)  # the message is kept in the form


DELIVERY = ("Each learner gets the message as a conversation of their own in their inbox, which they can answer (the "
            "cohort's staff read the replies), with a notice in their notifications, also by email as their preference "
            "for staff messages says.")


def test_the_message_pages_say_where_the_message_goes(course) -> None:
    """The at-risk message page said the message reached the learners' notifications and
    email; it also opens a conversation each learner can answer. Both message forms say so."""
    course["enrol"](course["cohort"], name="Ada Reader")
    teacher = course["client_for"](course["teacher"])
    for page in (teacher.get(url(course["cohort"])), teacher.get(url(course["cohort"], "/message-at-risk"))):
        text = " ".join(page.get_data(as_text=True).replace("&#39;", "'").split())
        assert page.status_code == 200 and DELIVERY in text, text[-3000:]


def test_whom_the_bulk_actions_apply_to_is_a_named_group_and_the_message_button_says_where_it_goes(course) -> None:
    """Before: the two radios choosing whom the bulk actions apply to sat in the form's
    "Bulk actions" group only, so a screen reader read "Bulk actions, Ticked learners"; and
    the note on where a message goes was beside the button, not read with it (WCAG 1.3.1)."""
    course["enrol"](course["cohort"], name="Ada Reader")
    page = course["client_for"](course["teacher"]).get(url(course["cohort"])).get_data(as_text=True)
    scope = page.split('<fieldset class="gb-scope">', 1)[1].split("</fieldset>", 1)[0]
    assert scope.startswith("<legend>Apply to</legend>") and scope.count('type="radio" name="scope"') == 2
    assert re.search(r'<button[^>]*aria-describedby="message-delivery"[^>]*>Message learners</button>', page)
    assert 'id="message-delivery"' in page


def test_message_learners_mails_no_closed_account(course) -> None:
    """An erased learner (erasure closes the account and its address is erased-<id>@erased.invalid)
    and a deactivated one get no notice and no mail, and the count says who was messaged."""
    ada = course["enrol"](course["cohort"], name="Ada Open")
    erased = course["enrol"](course["cohort"], name="Eve Erased")
    closed = course["enrol"](course["cohort"], name="Dee Deactivated")
    erase_learner(db.session, erased, erased.email, actor_id=None, ip=None, now=utcnow())
    closed.deactivated_at = utcnow()
    db.session.commit()
    teacher = course["client_for"](course["teacher"])
    response = teacher.post(url(course["cohort"]), data={"action": "message", "scope": "selected",
                                                          "learner": [ada.id, erased.id, closed.id],
                                                          "subject": "Case study", "body": "Hand it in by Friday."},
                            follow_redirects=True)
    assert "Messaged 1; 2 have a closed account (" in response.get_data(as_text=True)
    notices = list(db.session.scalars(select(Notification).where(Notification.event == NotificationEvent.MESSAGE)))
    assert [n.user_id for n in notices] == [ada.id]
    mail = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.subject.contains("Case study"))))
    assert [m.recipient for m in mail] == [ada.email]


def test_zip_of_every_submission_with_a_manifest(course) -> None:
    ada, _ = course["hand_in"](course["cohort"], "Ada Zip", "Ada's answer", file=("plan.pdf", b"%PDF-1.4 plan"))
    bo, _ = course["hand_in"](course["cohort"], "Бо Зип", "Bo's answer", file=("plan.pdf", b"%PDF-1.4 other"))
    course["enrol"](course["cohort"], name="Cy Nothing")
    course["hand_in"](course["other"], "Sam Stranger")
    teacher = course["client_for"](course["teacher"])
    response = teacher.post(url(course["cohort"]), data={"action": "download", "column": COLUMN, "scope": "shown"})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.is_streamed
    disposition = response.headers["Content-Disposition"]
    assert disposition.isascii() and "filename*=UTF-8''submissions-%D0%BA" in disposition
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    names = archive.namelist()
    assert names[0] == "manifest.csv"
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert [m["learner"] for m in manifest] == ["Ada Zip", "Бо Зип"]  # handed in, this cohort only
    folder = manifest[0]["folder"]
    assert archive.read(f"{folder}/answer-v1.md").decode() == "Ada's answer"
    assert archive.read(f"{folder}/plan.pdf") == b"%PDF-1.4 plan"
    assert archive.read(f"{manifest[1]['folder']}/plan.pdf") == b"%PDF-1.4 other"
    assert manifest[0]["files"] == "plan.pdf" and manifest[0]["version"] == "1"
    quiz = teacher.post(url(course["cohort"]), data={"action": "download", "column": "quiz:mlops-quiz", "scope": "shown"})
    assert quiz.status_code == 400


def test_the_zip_names_files_in_any_script_and_keeps_long_names_extractable(course, tmp_path) -> None:
    """The archive's member names come from the names shown (any script, cut when
    uploaded) and are cut further to what a file system takes, extension kept."""
    long = "报告" * 60 + ".pdf"  # 120 characters, 364 bytes of UTF-8
    course["hand_in"](course["cohort"], "Ada Zip", "Ada's answer", file=("отчёт «final».pdf", b"%PDF-1.4 plan"))
    course["hand_in"](course["cohort"], "Bo Zip", "Bo's answer", file=(long, b"%PDF-1.4 long"))
    teacher = course["client_for"](course["teacher"])
    response = teacher.post(url(course["cohort"]), data={"action": "download", "column": COLUMN, "scope": "shown"})
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert manifest[0]["files"] == "отчёт «final».pdf"
    assert archive.read(f"{manifest[0]['folder']}/отчёт «final».pdf") == b"%PDF-1.4 plan"
    [cut] = [n for n in archive.namelist() if n.startswith(f"{manifest[1]['folder']}/") and n.endswith(".pdf")]
    name = cut.split("/")[-1]
    assert name.startswith("报告报告") and len(name.encode()) <= 255 and manifest[1]["files"] == name
    archive.extractall(tmp_path)
    assert (tmp_path / cut).read_bytes() == b"%PDF-1.4 long"


@pytest.fixture()
def csrf_client(app: Flask, make_app: Callable[..., Flask]) -> Iterator[Any]:
    strict = make_app(WTF_CSRF_ENABLED=True)
    yield strict.test_client()
    with strict.app_context():
        db.session.remove()
        db.engine.dispose()


def test_bulk_actions_need_the_csrf_token(course, csrf_client) -> None:
    ada = course["enrol"](course["cohort"], name="Ada Reader")
    login_page = csrf_client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page)
    assert token
    csrf_client.post("/login", data={"email": course["teacher"].email, "password": PASSWORD,
                                     "csrf_token": token.group(1)})
    data = {"action": "message", "learner": [ada.id], "subject": "Hi", "body": "Hello"}
    assert csrf_client.post(url(course["cohort"]), data=data).status_code == 400
    page = csrf_client.get(url(course["cohort"])).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token
    assert csrf_client.post(url(course["cohort"]), data={**data, "csrf_token": token.group(1)}).status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.recipient == ada.email)) >= 1


def test_a_grade_changed_during_the_release_is_not_overwritten_and_nothing_is_released(course, monkeypatch) -> None:
    """The race the page's revisions cannot see: another grader saves between the bulk
    action's read and its write. The release is a conditional UPDATE, so it is refused
    (409) and the whole action rolled back, the other grader's save kept."""
    ada, ada_work = course["hand_in"](course["cohort"], "Ada Raced")
    bo, bo_work = course["hand_in"](course["cohort"], "Bo Second")
    raced_id = course["draft"](ada_work).id
    course["draft"](bo_work)
    teacher = course["client_for"](course["teacher"])
    page = teacher.get(url(course["cohort"])).get_data(as_text=True)
    real_save = gradebook_services.save_grade

    def racing_save(session: Any, submission: Any, *args: Any) -> Any:
        if submission.id == ada_work.id:  # someone else's save lands first, on its own connection
            with db.engine.begin() as other:
                other.execute(update(Grade).where(Grade.id == raced_id)
                              .values(revision=Grade.revision + 1, feedback="Olga's save"))
        return real_save(session, submission, *args)

    monkeypatch.setattr(gradebook_services, "save_grade", racing_save)
    response = teacher.post(url(course["cohort"]), data={"action": "release", "column": COLUMN, "learner": [ada.id, bo.id],
                                                          "seen": seen(page)})
    assert response.status_code == 409 and "Nothing was released" in response.get_data(as_text=True)
    db.session.expire_all()
    grades = {g.submission_id: g for g in db.session.scalars(select(Grade))}
    assert {g.status for g in grades.values()} == {GradeStatus.DRAFT}
    assert grades[ada_work.id].feedback == "Olga's save" and grades[bo_work.id].feedback == "Draft feedback"
    assert {s.status for s in db.session.scalars(select(Submission))} == {"submitted"}


def test_a_bulk_actions_answer_agrees_with_how_many_it_names() -> None:
    outcome = Outcome("Released")
    outcome.done.append("Ada")
    outcome.refuse("Bo", "were returned for revision")
    for name in ("Cy", "Di"):
        outcome.refuse(name, "have a criterion without a level")
    outcome.refuse("Ed", "had no drafted grade")
    assert outcome.summary == ("Released 1; 1 was returned for revision (Bo); 2 have a criterion without a level (Cy, Di); "
                               "1 had no drafted grade (Ed).")


def test_a_bulk_actions_answer_names_ten_learners_a_reason_then_counts_the_rest() -> None:
    """Refused for every learner of a large cohort ("every learner the filter shows"), the
    answer stays short: it is flashed, so it rides in the session cookie."""
    outcome = Outcome("Extended")
    for number in range(1, 2001):
        outcome.decline(f"Learner {number:04}", "The date is past the program's end.")
    names = ", ".join(f"Learner {number:04}" for number in range(1, 11))
    assert outcome.summary == f"Extended 0. Not extended: {names} and 1990 more — the date is past the program's end."
    exactly = Outcome("Released")
    for number in range(1, 11):
        exactly.refuse(f"L{number}", "had no drafted grade")
    assert exactly.summary.endswith("(L1, L2, L3, L4, L5, L6, L7, L8, L9, L10).")


@pytest.mark.parametrize(("sentence", "said"), [
    ("An extension must run past the item's due date, 12 March 2026.", "an extension must run past the item's due date"),
    ("Early access cannot open in the past", "early access cannot open in the past."),
    ("Choose a part of the program that exists.", "choose a part of the program that exists."),
    # names and acronyms keep their capitals: only an ordinary opening word is lowered
    ("Ada Late is not a learner of KO1.", "Ada Late is not a learner of KO1."),
    ("KO1 has no part to extend.", "KO1 has no part to extend."),
    ("Ko1 Founders is archived.", "Ko1 Founders is archived."),
    ("March is the program's last month.", "March is the program's last month."),
    ("An Tran is not a learner of Founders.", "An Tran is not a learner of Founders."),  # a name like a word
])
def test_a_declined_sentence_after_the_dash_changes_only_an_ordinary_first_letter(sentence: str, said: str) -> None:
    outcome = Outcome("Extended")
    for name in ("Ada Late", "An Tran"):
        outcome.decline(name, sentence)
    assert outcome.summary.startswith(f"Extended 0. Not extended: Ada Late, An Tran — {said}")


def test_a_weekly_check_of_a_month_still_locked_is_not_open_on_the_page_and_in_the_exports(course) -> None:
    """A weekly check is on no one's schedule, so its cell had no dates and read "not started"
    even in months 7-12, locked for the cohort (started five months ago): an instructor read
    that as a learner not doing the work. Untried while its lesson is locked, it is "not open",
    as the month's quizzes and work are; in an open month, untried, it is "not started"."""
    cy = course["enrol"](course["cohort"], name="Cy Nothing")
    teacher = course["client_for"](course["teacher"])
    book = gradebook(db.session, course["cohort"], utcnow())
    checks = [c for c in book.columns if c.kind == ColumnKind.CHECK]
    locked = [c for c in checks if c.month >= 7]
    opened = [c for c in checks if c.month <= 5]
    assert locked and opened
    assert {cell(book, cy, c.id).status for c in locked} == {CellStatus.NOT_OPEN}
    assert {cell(book, cy, c.id).status for c in opened} == {CellStatus.NOT_STARTED}
    later_quiz = next(c for c in book.columns if c.kind == ColumnKind.QUIZ and c.month >= 7)
    assert cell(book, cy, later_quiz.id).status == CellStatus.NOT_OPEN  # as the locked month's other items

    page = teacher.get(url(course["cohort"])).get_data(as_text=True)
    row = page.split(f'data-user="{cy.id}"')[1].split("</tr>")[0]
    cells = re.findall(r'<td class="gb-cell gb-([a-z_]+)', row)
    statuses = dict(zip([c.id for c in book.columns], cells, strict=True))
    assert {statuses[c.id] for c in locked} == {"not_open"} and {statuses[c.id] for c in opened} == {"not_started"}

    rows = list(csv.DictReader(io.StringIO(teacher.get(url(course["cohort"], ".csv")).get_data(as_text=True))))
    document = teacher.get(url(course["cohort"], ".json")).get_json()
    for exported in (rows[0], document["rows"][0]):
        assert {exported[f"{c.id} status"] for c in locked} == {"not_open"}
        assert {exported[f"{c.id} status"] for c in opened} == {"not_started"}


def ticked(page: str) -> set[str]:
    return set(re.findall(r'name="learner" value="(\d+)"[^>]* checked', page))


def test_a_bulk_action_done_for_nobody_keeps_the_form_to_correct(course) -> None:
    """An extension refused for every ticked learner (a date before the item's due date), or a
    release with no drafted grade among them, did nothing: the page comes back with the answer,
    the learners still ticked and the item, date and note as they were typed, to correct and
    send again (not a fresh page that makes them tick and type it all over)."""
    ada, _ = course["hand_in"](course["cohort"], "Ada Early")
    bo = course["enrol"](course["cohort"], name="Bo Early")
    teacher = course["client_for"](course["teacher"])
    early = teacher.post(url(course["cohort"]), data={"action": "extend", "column": COLUMN, "scope": "selected",
                                                       "learner": [ada.id, bo.id], "until": "2000-01-02",
                                                       "note": "Back from leave"})
    page = early.get_data(as_text=True)
    assert early.status_code == 400
    assert "Extended 0. Not extended: Ada Early, Bo Early — an extension must run past the item&#39;s due date" in page
    assert 'value="2000-01-02"' in page and 'value="Back from leave"' in page
    assert f'<option selected value="{COLUMN}">' in page
    assert ticked(page) == {str(ada.id), str(bo.id)}
    assert db.session.scalar(select(func.count()).select_from(ScheduleOverride)) == 0
    release = teacher.post(url(course["cohort"]), data={"action": "release", "column": COLUMN, "scope": "selected",
                                                         "learner": [ada.id]})
    text = release.get_data(as_text=True)
    assert release.status_code == 400 and "Released 0; 1 had no drafted grade (Ada Early)." in text
    assert ticked(text) == {str(ada.id)}
    # done for some: the answer comes on a fresh page as before
    later = (utcnow() + timedelta(days=60)).date()
    mixed = teacher.post(url(course["cohort"]), data={"action": "extend", "column": COLUMN, "scope": "selected",
                                                       "learner": [ada.id], "until": later.isoformat()})
    assert mixed.status_code == 302


def test_a_quiz_opening_as_its_month_ends_is_named_by_that_month_in_the_gradebook_as_in_the_learners_list(course) -> None:
    """The month-11 quiz opens as month 11's work is due, so its days count from month 12; the
    gradebook labelled it "M12" while the learner's quiz list says "month 11". Both now name
    the month whose lessons it covers (``Quiz.covers_month``)."""
    quizzes = db.session.scalars(select(Quiz).where(Quiz.opens_when_phase_ends.is_(True), Quiz.retired_at.is_(None))).all()
    month_11 = next(q for q in quizzes if q.phase is not None and q.phase.month == 11)
    assert month_11.release_month == 12 and month_11.covers_month == 11
    book = gradebook(db.session, course["cohort"], utcnow())
    phase_months = {q.key: q.phase.month for q in db.session.scalars(select(Quiz)) if q.phase is not None}
    assert all(c.month == phase_months[c.key] for c in book.columns if c.kind == ColumnKind.QUIZ)
    staff_page = course["client_for"](course["teacher"]).get(url(course["cohort"])).get_data(as_text=True)
    assert f'<span class="gb-month">M11 · Quiz</span><br>{escape(month_11.title)}</th>' in staff_page
    assert f"M12 · Quiz</span><br>{escape(month_11.title)}" not in staff_page
    learner = course["enrol"](course["cohort"], name="Lee Learner")
    learners_page = course["client_for"](learner).get("/quizzes").get_data(as_text=True)
    assert f"{escape(month_11.module.title)} · month 11</td>" in learners_page
