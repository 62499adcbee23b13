"""Schedule state kept, not recomputed (issue 14 points 1 and 2): each learner's items are
kept in ``progress_items`` as their records change, ``flask lms rebuild-progress`` gives
the same rows; the heat map and the cohort page read it with set-based SQL, page their
learners (sorted and filtered over the whole cohort) and run a fixed number of statements."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from sqlalchemy import select

from lms.assessment.models import Attempt, Quiz, QuizKind
from lms.catalog import revision
from lms.catalog.models import Lesson, Objective
from lms.cohorts import views as cohort_views
from lms.cohorts.enrolment import move_learner
from lms.cohorts.models import Cohort
from lms.competency import services as competency
from lms.coursework.models import Assignment, Submission
from lms.database import utcnow
from lms.extensions import db
from lms.learning.models import OverrideKind
from lms.learning.services import grant_override
from lms.progress import state
from lms.progress.completion import cohort_progress, learner_progress
from lms.progress.models import LessonRead, ProgressItem, ProgressLearner
from lms.progress.services import mark_read, record, unmark_read
from tests.races import second_waits_for_first


def cli(app: Flask, *args: str) -> Result:
    with app.app_context():  # a session of its own, as on the command line
        result = app.test_cli_runner().invoke(args=["lms", *args])
    db.session.rollback()
    db.session.expire_all()
    return result


def kept(user_id: int) -> dict[str, tuple[bool, Any, int]]:
    """One learner's kept items: key -> (done, due on, cohort id)."""
    return {r.key: (r.done, r.due_on, r.cohort_id)
            for r in db.session.scalars(select(ProgressItem).where(ProgressItem.user_id == user_id))}


def rebuilt_equals_kept() -> bool:
    before = state.stored_rows(db.session)
    state.rebuild(db.session, utcnow())
    after = state.stored_rows(db.session)
    db.session.rollback()
    return before == after


def test_rebuilt_state_equals_the_state_kept_as_the_demo_was_built(
        loaded: Flask, demo_command: Callable[[], Result]) -> None:
    assert demo_command().exit_code == 0
    everything = state.stored_rows(db.session)
    assert {r[0] for r in everything} == {"progress_items", "progress_levels", "progress_learners", "progress_objectives"}
    rows = [r[1:] for r in everything if r[0] == "progress_items"]
    columns = [c.name for c in ProgressItem.__table__.columns if c.name != "id"]
    learners = {r[columns.index("user_id")] for r in rows}
    assert len(learners) >= 12
    done = [r[columns.index("done")] for r in rows]
    assert any(done) and not all(done)  # months of real activity: some items done, some not

    # What the events kept is what the schedule's definition gives for each learner today.
    cohort = db.session.scalar(select(Cohort).where(Cohort.name == "Northwind cohort 1"))
    mine = [r for r in rows if r[columns.index("cohort_id")] == cohort.id]
    ids = sorted({r[columns.index("user_id")] for r in mine})
    progress = cohort_progress(db.session, cohort, ids, utcnow())
    expected = [tuple(row[c] for c in columns) for uid in ids for row in state.item_rows(cohort.id, progress[uid])]
    assert mine == expected

    result = cli(loaded, "rebuild-progress")
    assert result.exit_code == 0 and f"Rebuilt {len(rows)} schedule items." in result.output
    assert state.stored_rows(db.session) == everything


@pytest.fixture()
def learner(loaded: Flask, make_org, make_cohort, enrol_learner) -> dict[str, Any]:
    org = make_org("Kept Co")
    cohort = make_cohort(org, "Kept 1", months_ago=3)
    other = make_cohort(org, "Kept 2", months_ago=1)
    return {"cohort": cohort, "other": other, "user": enrol_learner(cohort, name="Kim Kept"),
            "staff": enrol_learner(other, name="Somebody Else"), "app": loaded}


def test_each_event_rewrites_the_learners_state_and_nothing_on_a_rollback(learner: dict[str, Any]) -> None:
    cohort, user = learner["cohort"], learner["user"]
    start = kept(user.id)
    assert start and not any(done for done, _due, _c in start.values())
    assert {c for _d, _due, c in start.values()} == {cohort.id}

    # A lesson read.
    lesson = db.session.scalar(select(Lesson).where(Lesson.key.in_(start)).order_by(Lesson.id))
    mark_read(db.session, user.id, lesson, utcnow())
    db.session.commit()
    assert kept(user.id)[lesson.key][0]
    unmark_read(db.session, user.id, lesson)  # a bulk DELETE, past the flush
    db.session.commit()
    assert not kept(user.id)[lesson.key][0]
    mark_read(db.session, user.id, lesson, utcnow())
    db.session.commit()

    # Nothing kept from work rolled back.
    db.session.add(Attempt(quiz_id=db.session.scalar(select(Quiz.id).where(Quiz.key.in_(start))), user_id=user.id,
                           number=1, layout=[], submitted_at=utcnow(), score=100, max_score=100))
    db.session.flush()
    db.session.rollback()
    assert kept(user.id)[lesson.key][0] and sum(done for done, _d, _c in kept(user.id).values()) == 1

    # A quiz passed, work accepted.
    quiz = db.session.scalar(select(Quiz).where(Quiz.key.in_(start), Quiz.kind == QuizKind.QUIZ))
    db.session.add(Attempt(quiz_id=quiz.id, user_id=user.id, number=1, layout=[], submitted_at=utcnow(), score=100,
                           max_score=100))
    assignment = db.session.scalar(select(Assignment).where(Assignment.key.in_(start)).order_by(Assignment.id))
    work = Submission(assignment_id=assignment.id, user_id=user.id, cohort_id=cohort.id, status="submitted",
                      submitted_at=utcnow())
    db.session.add(work)
    db.session.commit()
    assert kept(user.id)[quiz.key][0] and not kept(user.id)[assignment.key][0]
    work.status = "released"
    db.session.commit()
    assert kept(user.id)[assignment.key][0]

    # An extension moves the due date of its phase's work.
    due = kept(user.id)[assignment.key][1]
    grant_override(db.session, cohort, user, assignment.phase_id, OverrideKind.EXTENSION, due + timedelta(days=45),
                   "family matters", learner["staff"], utcnow())
    db.session.commit()
    assert kept(user.id)[assignment.key][1] == due + timedelta(days=45)
    assert rebuilt_equals_kept()

    # Moving to another cohort: the rows follow, on the new cohort's dates.
    move_learner(db.session, user, cohort, learner["other"], utcnow())
    db.session.commit()
    assert {c for _d, _due, c in kept(user.id).values()} == {learner["other"].id}
    assert rebuilt_equals_kept()


def test_two_units_of_work_rewriting_one_learners_rows_at_once_leave_one_row_each(learner: dict[str, Any]) -> None:
    """Two requests for the same learner at once (two tabs marking lessons read): the
    second rewrites the learner's rows after the first commits and from what both wrote, so
    each item keeps one row and both lessons are done. A rewrite that deleted the rows it
    could see and inserted its own left the first one's rows beside its own on PostgreSQL."""
    user = learner["user"]
    start = kept(user.id)
    first, second = db.session.scalars(select(Lesson).where(Lesson.key.in_(start)).order_by(Lesson.id).limit(2)).all()
    rows = db.session.scalar(select(sa.func.count()).select_from(ProgressItem).where(ProgressItem.user_id == user.id))
    assert rows == len(start)
    db.session.commit()

    def read(lesson_id: int, settle: bool) -> Callable[[sa.orm.Session], None]:
        def run(session: sa.orm.Session) -> None:
            mark_read(session, user.id, session.get_one(Lesson, lesson_id), utcnow())
            if settle:
                state.settle(session)  # the first has rewritten the rows and holds them, not yet committed
        return run

    second_waits_for_first(learner["app"], read(first.id, True), read(second.id, False))
    assert db.session.scalar(select(sa.func.count()).select_from(ProgressItem)
                             .where(ProgressItem.user_id == user.id)) == rows
    assert kept(user.id)[first.key][0] and kept(user.id)[second.key][0]
    assert rebuilt_equals_kept()


def test_a_lesson_marked_read_twice_at_once_is_read_once(learner: dict[str, Any]) -> None:
    """A double click on "Mark as read": the second request inserts the same mark while
    the first's is not yet committed. It waits for the first, finds its mark and ends
    without an error (it had failed on the unique key: a 500); the lesson is read once."""
    user = learner["user"]
    lesson = db.session.scalars(select(Lesson).where(Lesson.key.in_(kept(user.id))).order_by(Lesson.id)).first()
    db.session.commit()

    def click(session: sa.orm.Session) -> int:
        return mark_read(session, user.id, session.get_one(Lesson, lesson.id), utcnow()).id

    first, second = second_waits_for_first(learner["app"], click, click)
    assert second == first
    assert db.session.scalars(select(LessonRead.id).where(LessonRead.user_id == user.id)).all() == [first]
    assert kept(user.id)[lesson.key][0]


def test_a_learners_rows_rewritten_read_the_objectives_once_a_content_revision(learner: dict[str, Any]) -> None:
    """An event rewrites a learner's rows; when each objective closes for them comes from the
    objectives and their modules, which this process keeps for the content revision: read
    once, then not again until the content changes (and afresh in the transaction that
    changes it)."""
    user, now = learner["user"], utcnow()
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    def rewritten() -> list[str]:
        statements.clear()
        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            state.refresh(db.session, [user.id], now)
            db.session.flush()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
        return [s for s in statements if re.search(r"\bFROM objectives\b", s)]

    before = state.stored_rows(db.session)
    rewritten()
    db.session.commit()
    assert rewritten() == []  # kept for this revision
    db.session.commit()
    assert state.stored_rows(db.session) == before

    revision.bump(db.session)  # the content changes in this transaction: read afresh, twice
    assert rewritten() and rewritten()
    db.session.commit()
    assert rewritten()  # the new revision's first read
    db.session.commit()
    assert rewritten() == []
    db.session.commit()
    assert state.stored_rows(db.session) == before


def writes_of(run: Callable[[], object]) -> list[tuple[str, str, int]]:
    """The INSERT, UPDATE and DELETE statements ``run`` sends: (verb, table, rows written)."""
    writes: list[tuple[str, str, int]] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        verb = statement.lstrip().split()[0].upper()
        if verb in ("INSERT", "UPDATE", "DELETE"):
            table = re.search(r"(?:INTO|UPDATE|FROM)\s+(\w+)", statement, re.IGNORECASE)
            writes.append((verb, table.group(1) if table else "?", cursor.rowcount))

    sa.event.listen(db.engine, "after_cursor_execute", record)
    try:
        run()
    finally:
        sa.event.remove(db.engine, "after_cursor_execute", record)
    return writes


def test_a_learners_rows_are_written_in_one_insert_a_table(learner: dict[str, Any]) -> None:
    """Every row of a table written with the same columns (NULLs included), so a learner's
    items, some of them without a module (a level's exam and portfolio), go in one statement."""
    user = learner["user"]
    for model in state.MODELS:
        db.session.execute(sa.delete(model).where(model.user_id == user.id))
    writes = writes_of(lambda: state.refresh(db.session, [user.id], utcnow()))
    items = db.session.scalars(select(ProgressItem).where(ProgressItem.user_id == user.id)).all()
    assert any(i.module_id is None for i in items) and any(i.module_id is not None for i in items)
    assert sorted(table for verb, table, _rows in writes) == [
        "progress_items", "progress_learners", "progress_levels", "progress_objectives"]
    assert {verb for verb, _table, _rows in writes} == {"INSERT"}


def test_an_event_writes_only_the_rows_it_changes(learner: dict[str, Any]) -> None:
    """The first lesson read updates its item's row, its level's (started now) and the
    learner's line (their fresh revision), and leaves their other rows as they were; rows the schedule no longer holds are deleted
    and rows written twice keep one. Rebuilt, the rows are the same."""
    user = learner["user"]
    start = kept(user.id)
    lesson = db.session.scalar(select(Lesson).where(Lesson.key.in_(start)).order_by(Lesson.id))
    ids = set(db.session.scalars(select(ProgressItem.id).where(ProgressItem.user_id == user.id)))

    def read() -> None:
        mark_read(db.session, user.id, lesson, utcnow())
        db.session.commit()

    writes = writes_of(read)
    assert sorted((verb, table, rows) for verb, table, rows in writes if table.startswith("progress_")) == [
        ("UPDATE", "progress_items", 1), ("UPDATE", "progress_learners", 1), ("UPDATE", "progress_levels", 1)]
    assert kept(user.id)[lesson.key][0]
    assert set(db.session.scalars(select(ProgressItem.id).where(ProgressItem.user_id == user.id))) == ids

    # a row too many (written twice) and a row missing: put right by the next rewrite
    row = db.session.scalars(select(ProgressItem).where(ProgressItem.user_id == user.id)
                             .order_by(ProgressItem.position)).first()
    values = {c.name: getattr(row, c.name) for c in ProgressItem.__table__.columns if c.name != "id"}
    db.session.execute(sa.insert(ProgressItem), [values])
    last = max(ids)
    db.session.execute(sa.delete(ProgressItem).where(ProgressItem.id == last))
    db.session.commit()
    writes = writes_of(lambda: (state.refresh(db.session, [user.id], utcnow()), db.session.commit()))
    assert sorted((verb, table) for verb, table, _rows in writes if table == "progress_items") == [
        ("DELETE", "progress_items"), ("INSERT", "progress_items")]
    assert db.session.scalar(select(sa.func.count()).select_from(ProgressItem)
                             .where(ProgressItem.user_id == user.id)) == len(start)
    assert rebuilt_equals_kept()


def test_a_reader_sees_changes_made_earlier_in_its_unit_of_work(learner: dict[str, Any]) -> None:
    cohort, user = learner["cohort"], learner["user"]
    today = utcnow().date()
    before = state.overdue_items(db.session, cohort.id, today, [user.id])[user.id]
    assert before
    for assignment in db.session.scalars(select(Assignment).where(Assignment.key.in_({i.key for i in before[:2]}))):
        db.session.add(Submission(assignment_id=assignment.id, user_id=user.id, cohort_id=cohort.id, status="released",
                                  submitted_at=utcnow()))
    db.session.flush()  # not committed: settled before reading
    after = state.overdue_items(db.session, cohort.id, today, [user.id])[user.id]
    assert after == before[2:]
    db.session.rollback()


def test_work_waiting_for_its_grade_makes_no_one_late_and_returned_work_does(learner: dict[str, Any]) -> None:
    """Work handed in is not late while it waits for its grade, however long the grader
    takes: it leaves the learner's overdue items and days behind, on their progress page
    and in the kept state the heat map reads (its at-risk reasons, the days behind). Work
    returned for revision is theirs to do again."""
    cohort, user = learner["cohort"], learner["user"]
    now = utcnow()
    today = now.date()

    def line() -> date | None:
        return db.session.scalar(select(ProgressLearner.oldest_due).where(ProgressLearner.user_id == user.id))

    before = state.overdue_items(db.session, cohort.id, today, [user.id])[user.id]
    # every overdue assignment handed in but the newest
    work = {a.key: a for a in db.session.scalars(select(Assignment).where(Assignment.key.in_({i.key for i in before[:-1]})))}
    assert len(work) >= 2 and before[0].key in work and line() == before[0].due_on
    handed = {key: Submission(assignment_id=a.id, user_id=user.id, cohort_id=cohort.id, status="submitted",
                              submitted_at=now) for key, a in work.items()}
    db.session.add_all(handed.values())
    db.session.commit()
    owed = [i for i in before if i.key not in work]
    assert state.overdue_items(db.session, cohort.id, today, [user.id])[user.id] == owed
    assert line() == owed[0].due_on
    progress = learner_progress(db.session, cohort, user.id, now)
    assert [i.key for i in progress.overdue if i.assessed] == [i.key for i in owed]
    assert progress.days_behind == (today - owed[0].due_on).days
    assert all(i.handed_in and not i.done for i in progress.items if i.key in work)

    returned = min(work, key=lambda key: next(i.due_on for i in before if i.key == key))
    handed[returned].status = "returned"
    db.session.commit()
    again = state.overdue_items(db.session, cohort.id, today, [user.id])[user.id]
    assert [i.key for i in again] == [i.key for i in before if i.key not in work or i.key == returned]
    assert line() == min(owed[0].due_on, next(i.due_on for i in before if i.key == returned))
    assert rebuilt_equals_kept()

    # Returned today (as a grader's return records it), it is due again a week on: to revise, not overdue.
    handed[returned].returned_at = now
    db.session.commit()
    zone = ZoneInfo(cohort.timezone)
    window = now.astimezone(zone).date() + timedelta(days=7)
    assert state.overdue_items(db.session, cohort.id, today, [user.id])[user.id] == owed
    assert line() == owed[0].due_on
    kept_due = db.session.scalar(select(ProgressItem.due_on).where(ProgressItem.user_id == user.id,
                                                                   ProgressItem.key == returned))
    assert kept_due == window
    assert rebuilt_equals_kept()
    # Returned ten days ago and not handed in again: overdue since its window closed.
    handed[returned].returned_at = now - timedelta(days=10)
    db.session.commit()
    late = state.overdue_items(db.session, cohort.id, today, [user.id])[user.id]
    assert [(i.key, i.due_on) for i in late if i.key == returned] == [(returned, window - timedelta(days=10))]
    assert rebuilt_equals_kept()


# --------------------------------------------------------------------------- the heat map, a page at a time


@pytest.fixture()
def crowd(loaded: Flask, make_user, make_org, make_cohort, enrol_learner) -> dict[str, Any]:
    admin = make_user(name="Pat Admin")
    org = make_org("Crowd Co", admins=[admin])
    cohort = make_cohort(org, "Crowd 1", months_ago=7)
    ko1 = db.session.scalar(select(Objective).where(Objective.key == "KO1"))
    people = []
    for n in range(7):
        person = enrol_learner(cohort, name=f"Learner {n}", email=f"crowd{n}@example.com")
        record(db.session, person.id, ko1.id, "quiz", f"t:{n}", n / 7, utcnow())
        people.append(person)
    db.session.commit()
    return {"admin": admin, "org": org, "cohort": cohort, "people": people}


def names(rows: list[competency.Row]) -> list[str]:
    return [r.user.name for r in rows]


def test_the_heat_map_pages_sorts_and_filters_over_the_whole_cohort(crowd: dict[str, Any], monkeypatch) -> None:
    monkeypatch.setattr(competency, "PER_PAGE", 3)
    monkeypatch.setattr(competency, "AT_RISK_PER_PAGE", 2)
    cohort, now = crowd["cohort"], utcnow()
    pages = [competency.heat_map(db.session, cohort, now, "KO1", True, page=p) for p in (1, 2, 3)]
    assert [h.paging.pages for h in pages] == [3, 3, 3] and [len(h.shown) for h in pages] == [3, 3, 1]
    assert sum((names(h.shown) for h in pages), []) == [f"Learner {n}" for n in range(6, -1, -1)]
    assert names(pages[0].rows) == [f"Learner {n}" for n in range(6, -1, -1)]  # the exports: everyone
    assert all(d.total == 7 for d in pages[0].distributions)
    assert all(step.total == 7 for step in pages[0].funnel)
    # Out of range: the nearest page there is.
    assert competency.heat_map(db.session, cohort, now, page=99).paging.page == 3
    assert competency.heat_map(db.session, cohort, now, page=-4).paging.page == 1
    # Filtered over the whole cohort, then paged.
    found = competency.heat_map(db.session, cohort, now, "KO1", False, query="LEARNER 5")
    assert names(found.shown) == ["Learner 5"] and found.paging.total == 1
    assert names(competency.heat_map(db.session, cohort, now, query="crowd2@").shown) == ["Learner 2"]
    risky = competency.heat_map(db.session, cohort, now, "name", risk_only=True)
    assert risky.paging.total == len(risky.at_risk) == 7  # seven months in, nobody did anything
    assert len(risky.at_risk_shown) == 2 and risky.risk_paging.pages == 4
    assert all(r.user.id in risky.reviews for r in risky.at_risk_shown)


def test_heat_map_and_cohort_pages_through_the_browser_client(crowd: dict[str, Any], client, login, monkeypatch) -> None:
    monkeypatch.setattr(competency, "PER_PAGE", 3)
    monkeypatch.setattr(cohort_views, "LEARNERS_PER_PAGE", 3)
    login(client, crowd["admin"])
    cohort = crowd["cohort"]
    html = client.get(f"/cohorts/{cohort.id}/competency?sort=KO1&dir=desc&page=2").get_data(as_text=True)
    assert re.findall(r'<tr class="[^"]*" data-user="\d+">\s*<th scope="row" class="name"><a [^>]*>([^<]+)</a>', html) == [
        "Learner 3", "Learner 2", "Learner 1"]
    assert "Learners 4–6 of 7" in html and 'rel="next"' in html and 'rel="prev"' in html
    assert client.get(f"/cohorts/{cohort.id}/competency?page=x&risk_page=y").status_code == 200
    filtered = client.get(f"/cohorts/{cohort.id}/competency?q=learner+4").get_data(as_text=True)
    assert "Learners 1–1 of 1 matching (of 7)" in filtered
    roster = client.get(f"/cohorts/{cohort.id}?page=3").get_data(as_text=True)
    assert "7 learners" in roster and "Learners 7–7 of 7" in roster
    assert re.findall(r"<tr>\s*<td>(Learner \d)</td>", roster) == ["Learner 6"]


def test_statements_stay_fixed_as_the_cohort_grows_past_a_page(crowd: dict[str, Any], client, login, enrol_learner,
                                                                count_queries, monkeypatch) -> None:
    monkeypatch.setattr(competency, "PER_PAGE", 4)
    monkeypatch.setattr(cohort_views, "LEARNERS_PER_PAGE", 4)
    login(client, crowd["admin"])
    cohort = crowd["cohort"]
    urls = [f"/cohorts/{cohort.id}/competency", f"/cohorts/{cohort.id}/competency?sort=KO1&page=2&risk=1",
            f"/cohorts/{cohort.id}", f"/cohorts/{cohort.id}?page=2",
            f"/cohorts/{cohort.id}/learners/{crowd['people'][0].id}/at-risk"]

    def counts() -> list[int]:
        result = []
        for url in urls:
            result.append(count_queries(lambda url=url: client.get(url)))  # noqa: B023
            db.session.expire_all()
        return result

    few = counts()
    ko1 = db.session.scalar(select(Objective).where(Objective.key == "KO1"))
    when = datetime.now(UTC) - timedelta(days=40)
    for n in range(9):
        person = enrol_learner(cohort, name=f"More {n}")
        record(db.session, person.id, ko1.id, "quiz", f"more:{n}", (n % 4) / 4, when)
        db.session.add(LessonRead(user_id=person.id, lesson_id=db.session.scalar(select(Lesson.id).order_by(Lesson.id))))
        db.session.commit()
    assert counts() == few
