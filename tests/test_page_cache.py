"""The learner pages kept per process (``lms.web.page_cache``, issue 14 point 4): a kept
home or progress page is never stale. After each kind of change a learner's pages show
(their attempts, work, grades, reads, schedule, stakeholders' answers, announcements,
notifications, cohort, enrolment and pace, the curriculum, a write from another connection
behind the ORM's back), the page served from the cache equals the page built afresh, and it
differs from the page before the change. A kept page costs a fixed handful of statements, carries the asker's
own CSRF token, and is never kept with a flashed message or for staff."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select

from lms.accounts.models import User
from lms.announcements import services as announcements
from lms.assessment.models import Attempt, Quiz, QuizKind
from lms.assessment.services import start_attempt, submit_attempt
from lms.catalog.models import Lesson, Module, Phase
from lms.cohorts.models import Cohort, Enrolment, Pace
from lms.coursework.services import add_attachment, dates_for, get_assignment, start_submission, submit
from lms.database import utcnow
from lms.extensions import db
from lms.feedback import services as feedback
from lms.grading.models import GradeAction
from lms.grading.services import rubric_for, save_grade
from lms.learning import views as learning_views
from lms.learning.models import OverrideKind
from lms.learning.services import build_schedule, grant_override, set_pace
from lms.notifications.models import NotificationEvent
from lms.notifications.services import mark_all_read, notify
from lms.progress import state
from lms.progress.services import mark_read
from lms.web.page_cache import WRITE_MARKS, Scope, cache_of, fingerprint, quarter_hour, read_stamp, read_write_mark, summary

# a kept page's key turns with the quarter hour (conftest.py)
pytestmark = pytest.mark.usefixtures("clear_of_a_quarter_boundary")

PAGES = ("/home", "/progress")
TOKEN = re.compile(r'name="csrf_token" value="[^"]+"')
# When a heat map's figures were worked out: a kept page shows when it was built, a page built
# afresh the minute it was, and both are right.
WORKED_OUT = re.compile(r'(id="worked-out">Figures worked out at )[^(]+')


def body(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return WORKED_OUT.sub(r"\1-", TOKEN.sub('name="csrf_token" value="-"', response.get_data(as_text=True)))


@dataclass
class Learner:
    app: Flask
    cohort: Cohort
    learner: User
    teacher: User


@pytest.fixture()
def learner(app: Flask, loaded, client, make_user, make_cohort, enrol_learner, login) -> Learner:
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(months_ago=5, instructors=[teacher])
    person = enrol_learner(cohort, name="Lea Learner")
    login(client, person)
    return Learner(app, cohort, person, teacher)


def hand_in(world: Learner, key: str = "cs-hands-on-own-operation") -> Any:
    work = start_submission(db.session, get_assignment(db.session, key), world.learner.id, world.cohort.id, utcnow())
    dates = dates_for(work.assignment, build_schedule(db.session, world.cohort, world.learner.id, utcnow()))
    add_attachment(db.session, work, "plan.txt", b"plan", dates, Path(world.app.instance_path) / "uploads", utcnow())
    submit(db.session, work, dates, utcnow())
    return work


def take_quiz(world: Learner) -> Attempt:
    quizzes = db.session.scalars(select(Quiz).where(Quiz.kind != QuizKind.CHECK, Quiz.retired_at.is_(None)).order_by(Quiz.id))
    for quiz in quizzes:
        try:
            attempt = start_attempt(db.session, quiz, world.learner, utcnow())
        except Exception:  # noqa: BLE001 - not open to this learner yet: try the next one
            db.session.rollback()
            continue
        return submit_attempt(db.session, attempt, utcnow())
    raise AssertionError("no quiz open to the learner")


def first_lesson() -> Lesson:
    return db.session.scalars(select(Lesson).where(Lesson.retired_at.is_(None)).order_by(Lesson.id)).first()  # type: ignore[return-value]


def change_attempt_behind_the_orm(world: Learner) -> None:
    """Another process changes the learner's score with plain SQL: no session event sees it."""
    attempt = take_quiz(world)
    db.session.commit()
    other = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
    try:
        with other.begin() as conn:
            conn.execute(sa.text("UPDATE quiz_attempts SET score = max_score WHERE id = :id"), {"id": attempt.id})
    finally:
        other.dispose()


def grade_released(world: Learner) -> None:
    work = hand_in(world)
    db.session.commit()
    rubric = rubric_for(db.session, work, None)
    save_grade(db.session, work, world.teacher, {c.id: c.levels[-1].id for c in rubric.criteria}, {}, "Well argued.",
               None, GradeAction.RELEASE, utcnow())


def override_granted(world: Learner) -> None:
    phase = db.session.scalars(select(Phase).where(Phase.retired_at.is_(None)).order_by(Phase.month, Phase.id)).first()
    assert phase is not None
    _opens, due = build_schedule(db.session, world.cohort, world.learner.id, utcnow()).timeline.phase_dates(phase.month)
    grant_override(db.session, world.cohort, world.learner, phase.id, OverrideKind.EXTENSION, due + timedelta(days=40),
                   "Family leave", world.teacher)


def announcement_posted(world: Learner) -> None:
    announcements.post(db.session, world.cohort, world.teacher, "Office hours move to Thursday", "See you there.", None,
                       utcnow(), lambda a: f"/announcements/{a.id}")


def notified(world: Learner) -> None:
    notify(db.session, user_id=world.learner.id, event=NotificationEvent.GRADE_RELEASED, key="page-cache-test",
           title="Your work was graded")


def cohort_renamed(world: Learner) -> None:
    db.session.get(Cohort, world.cohort.id).name = "Spring cohort, renamed"  # type: ignore[union-attr]


def cohort_moved(world: Learner) -> None:
    cohort = db.session.get(Cohort, world.cohort.id)
    assert cohort is not None
    cohort.start_date -= timedelta(days=45)


def lesson_renamed(world: Learner) -> None:
    first_lesson().title = "A lesson renamed by a content edit"


def feedback_answered(world: Learner) -> None:
    mlops = db.session.scalar(select(Module).where(Module.key == "mlops"))
    assert mlops is not None
    _invite, token = feedback.invite(db.session, world.learner, mlops, "Dana Client", "dana@client.example", "customer",
                                     utcnow(), lambda token: f"http://localhost/feedback/answer/{token}")
    feedback.answer(db.session, token, {question.id: 4 for question in feedback.QUESTIONS}, "Clear and useful.", utcnow())
    mark_all_read(db.session, world.learner.id, utcnow())  # the answer's notice read: the answer alone shows


def joined_late_at_own_pace(world: Learner) -> None:
    """The learner's enrolment now starts two months into the cohort, at their own pace."""
    enrolment = db.session.scalar(select(Enrolment).where(Enrolment.user_id == world.learner.id))
    assert enrolment is not None
    enrolment.started_at += timedelta(days=60)
    set_pace(db.session, world.cohort, world.learner, Pace.OWN_START)


def learner_renamed(world: Learner) -> None:
    db.session.get(User, world.learner.id).name = "Lea Renamed"  # type: ignore[union-attr]


CHANGES: dict[str, Callable[[Learner], Any]] = {
    "work handed in": hand_in,
    "quiz taken": take_quiz,
    "score changed by another process": change_attempt_behind_the_orm,
    "grade released": grade_released,
    "lesson marked read": lambda world: mark_read(db.session, world.learner.id, first_lesson(), utcnow()),
    "extension granted": override_granted,
    "announcement posted": announcement_posted,
    "notification": notified,
    "cohort renamed": cohort_renamed,
    "cohort start moved": cohort_moved,
    "lesson renamed": lesson_renamed,
    "learner renamed": learner_renamed,
    "stakeholder feedback answered": feedback_answered,
    "joined late, at their own pace": joined_late_at_own_pace,
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_a_kept_page_is_never_stale(learner: Learner, client, change: Callable[[Learner], Any]) -> None:
    cache = cache_of(learner.app)
    before = {url: body(client.get(url)) for url in PAGES}
    hits = cache.hits
    assert {url: body(client.get(url)) for url in PAGES} == before
    assert cache.hits == hits + len(PAGES)  # nothing changed: both pages came from the cache

    change(learner)
    db.session.commit()
    db.session.expire_all()
    kept = {url: body(client.get(url)) for url in PAGES}
    cache.clear()
    fresh = {url: body(client.get(url)) for url in PAGES}
    assert kept == fresh
    assert kept != before  # the change shows on the learner's pages: the test proves something


def test_the_schedule_state_rewritten_changes_that_learners_stamp_only(learner: Learner, enrol_learner) -> None:
    """The stamp reads the schedule state as one row, the learner's line and the random
    revision it gets whenever their rows are written (``state.refresh``), not the rows."""
    other = enrol_learner(learner.cohort, name="Otto Other")
    db.session.commit()
    query = cache_of(learner.app).query(Scope.LEARNER)

    def stamp() -> tuple[Any, ...]:
        return read_stamp(db.session, query, learner.learner.id, utcnow()).values

    before = stamp()
    state.refresh(db.session, [other.id], utcnow())
    db.session.commit()
    assert stamp() == before
    state.refresh(db.session, [learner.learner.id], utcnow())
    db.session.commit()
    assert stamp() != before


def test_a_dismissed_announcement_leaves_the_kept_home(learner: Learner, client) -> None:
    posted = announcements.post(db.session, learner.cohort, learner.teacher, "Office hours", "Thursdays.", None,
                                utcnow(), lambda a: f"/announcements/{a.id}")
    db.session.commit()
    assert "Office hours" in body(client.get("/home"))
    assert "Office hours" in body(client.get("/home"))  # kept
    announcements.dismiss(db.session, posted, learner.learner.id, utcnow())
    db.session.commit()
    assert f'id="home-announcement-{posted.id}"' not in body(client.get("/home"))


def test_a_scheduled_announcement_appears_when_its_time_comes(learner: Learner, client, monkeypatch) -> None:
    """Publication turns on the clock, not on a write: the stamp asks with ``now``."""
    soon = utcnow() + timedelta(minutes=1)
    announcements.post(db.session, learner.cohort, learner.teacher, "Exam week notes", "Read these.", soon,
                       utcnow(), lambda a: f"/announcements/{a.id}")
    db.session.commit()
    assert "Exam week notes" not in body(client.get("/home"))
    later = soon + timedelta(seconds=1)
    same_quarter = quarter_hour(later) == quarter_hour(utcnow())
    monkeypatch.setattr(learning_views, "utcnow", lambda: later)
    page = body(client.get("/home"))
    assert "Exam week notes" in page, "kept past its publication" if same_quarter else "not shown"


def test_a_kept_page_sends_a_fixed_handful_of_statements(learner: Learner, client, app: Flask) -> None:
    cache = cache_of(app)
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    for url, most in (("/home", 1), ("/progress", 1)):
        client.get(url)
        hits = cache.hits
        statements.clear()
        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            assert client.get(url).status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
        assert cache.hits == hits + 1
        # the signed-in user with its roles, unread count and the page's stamp: one statement
        assert len(statements) <= most, statements


def test_each_session_gets_its_own_csrf_token_from_a_kept_page(learner: Learner, app: Flask, login) -> None:
    first, second = app.test_client(), app.test_client()
    login(first, learner.learner)
    login(second, learner.learner)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        tokens = []
        for client in (first, second):
            html = client.get("/home").get_data(as_text=True)
            found = re.search(r'name="csrf_token" value="([^"]+)"', html)
            assert found is not None
            tokens.append(found.group(1))
        assert cache_of(app).hits >= 1
        assert tokens[0] != tokens[1]
        # the kept page's token is the second session's own: signing out with it works
        assert second.post("/logout", data={"csrf_token": tokens[1]}).status_code == 302
        assert second.get("/home").status_code in (302, 401)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_a_flashed_message_is_shown_once_and_never_kept(learner: Learner, client) -> None:
    lesson = first_lesson()
    client.get("/home")
    client.post(f"/lessons/{lesson.key}/read", data={})
    assert "Marked as read." in client.get("/home").get_data(as_text=True)
    assert "Marked as read." not in client.get("/home").get_data(as_text=True)
    assert "Marked as read." not in client.get("/home").get_data(as_text=True)


def test_staff_pages_are_never_kept(learner: Learner, login) -> None:
    cache = cache_of(learner.app)
    client = learner.app.test_client()
    login(client, learner.teacher)
    before = (cache.hits, cache.misses)
    for _ in range(3):
        assert client.get("/home").status_code == 200
    assert (cache.hits, cache.misses) == before  # not even looked up: the stamp says staff


def test_turned_off_with_a_size_of_zero(make_app: Callable[..., Flask], monkeypatch) -> None:
    assert not cache_of(make_app(PAGE_CACHE_SIZE=0)).enabled
    monkeypatch.setenv("PAGE_CACHE_SIZE", "0")  # as bench/everyday.py starts its "built" server
    assert not cache_of(make_app()).enabled
    monkeypatch.setenv("PAGE_CACHE_SIZE", "-1")
    with pytest.raises(RuntimeError, match="PAGE_CACHE_SIZE='-1' must be 0 or more"):
        make_app()


def test_a_page_built_while_a_write_commits_is_not_kept(learner: Learner, client, monkeypatch) -> None:
    """The stamp is read, then another connection commits a change before the page reads
    its rows: the page shows the change, so it must not be kept under the stamp from before
    it, or it would be served again once the data came back to that state."""
    original = learner.cohort.name
    other = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)

    def rename(name: str) -> None:
        with other.begin() as conn:
            conn.execute(sa.text("UPDATE cohorts SET name = :name WHERE id = :id"), {"name": name, "id": learner.cohort.id})

    real = learning_views._home

    def racing(user: Any, now: Any) -> str:
        rename("Renamed in a race")
        return real(user, now)

    try:
        monkeypatch.setattr(learning_views, "_home", racing)
        assert "Renamed in a race" in body(client.get("/home"))
        monkeypatch.setattr(learning_views, "_home", real)
        rename(original)  # the data as it was when the stamp was read
        page = body(client.get("/home"))
        assert "Renamed in a race" not in page and original in page
    finally:
        other.dispose()


def test_a_stamp_read_with_the_user_serves_its_own_request_only(learner: Learner, client, app: Flask) -> None:
    """The stamp read in the signed-in user's statement is kept in ``g`` for the page. When
    one app context spans several requests (``g`` with it, as in a test or a command), each
    request reads and uses its own: a change committed in between shows."""
    with app.app_context():
        before = body(client.get("/progress"))
        assert body(client.get("/progress")) == before  # kept
        cohort_renamed(learner)
        db.session.commit()
        after = body(client.get("/progress"))
    assert after != before and "Spring cohort, renamed" in after


def test_the_write_mark_moves_with_a_write_through_the_session_itself(learner: Learner, app: Flask) -> None:
    """A page built in a transaction that wrote must not be taken as unchanged: the mark
    counts the connection's own changes as well as other connections' commits (SQLite), so
    the stamp is read again. A database with no mark (PostgreSQL) always reads it again."""
    with app.app_context():
        before, connection = read_write_mark(db.session)
        assert read_write_mark(db.session) == (before, connection)  # nothing written in between
        db.session.execute(sa.text("UPDATE users SET name = :name WHERE id = :id"),
                           {"name": "Renamed in a transaction", "id": learner.learner.id})
        after, same = read_write_mark(db.session)
        db.session.rollback()
        marked = db.engine.dialect.name in WRITE_MARKS
    assert same is connection
    if marked:
        assert before is not None and after != before
    else:
        assert before is None and after is None


# Values whose summaries a careless join would confuse: NULL with its stand-in or an empty
# string, a separator or a quote inside a value with a boundary between two.
CONFUSABLE_ROWS = [(None, "x"), ("", "x"), ("~", "x"), ("NULL", "x"), ("a|b", "c"), ("a", "b|c"),
                   ("a'", "b"), ("a", "'b"), ('a"', "b"), ("a", '"b'), ("a,b", "c"), ("a", "b,c"), ("()", "x")]


def test_no_two_rows_summarise_alike(app: Flask) -> None:
    """A stamp folds each row into one string (``summary``) and a select's rows into one
    (``fingerprint``): two different rows, or two different sets of rows, must never fold
    alike, or a page changed between them would be served stale."""
    with app.app_context():
        folded = [db.session.scalar(select(summary(sa.literal(first, sa.String), sa.literal(second, sa.String))))
                  for first, second in CONFUSABLE_ROWS]
        assert len(set(folded)) == len(CONFUSABLE_ROWS), list(zip(CONFUSABLE_ROWS, folded, strict=True))

        def rows(*values: str) -> str | None:
            found = sa.union_all(*(select(sa.literal(value, sa.String).label("v")) for value in values)).subquery()
            return db.session.scalar(select(fingerprint(found.c.v)))

        assert rows("a,b") != rows("a", "b")
        assert rows("a|b") != rows("a", "b")
        db.session.rollback()
