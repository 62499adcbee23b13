"""Fast everyday pages (issue 14 point 4): the curriculum each process keeps between
requests (``lms.catalog.revision``) is keyed on the database's content revision, so a
content load, in this process or another, is seen at the next request; a transaction that
changes content sees its own change and a rollback leaves nothing stale behind; the learner
home and progress pages run the same statements for more items and more learners."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select

from lms.assessment.models import Quiz
from lms.catalog import revision
from lms.catalog.models import ContentRevision, Lesson
from lms.catalog.services import kept_schedule
from lms.extensions import db
from lms.notifications.models import NotificationEvent
from lms.notifications.services import notify

LESSON = "mlops-release-pipeline-registry"
TITLE = "A release pipeline and model registry you can trust"


def kept_title(key: str = LESSON) -> str:
    titles = {lesson.key: lesson.title for phase in kept_schedule(db.session) for lesson in phase.lessons}
    db.session.rollback()  # the next call is a new transaction: it reads the revision again
    return titles[key]


def current_token() -> str:
    value = db.session.scalar(select(ContentRevision.token))
    db.session.rollback()
    assert value
    return value


def cli(app: Flask, *args: str) -> str:
    with app.app_context():  # a session of its own, as on the command line
        result = app.test_cli_runner().invoke(args=["lms", *args])
    db.session.rollback()
    assert result.exit_code == 0, result.output
    return result.output


def test_a_content_load_replaces_the_revision_and_the_pages_show_the_new_content(
        app: Flask, content_dir: Path, load_content, client, make_cohort, enrol_learner, login) -> None:
    load_content(content_dir)
    learner = enrol_learner(make_cohort(months_ago=1), name="Lea Learner")
    login(client, learner)
    assert TITLE in client.get("/progress").get_data(as_text=True)
    assert kept_title() == TITLE
    before = current_token()

    lesson_file = next((content_dir / "modules" / "mlops" / "lessons").glob("01-*.md"))
    lesson_file.write_text(lesson_file.read_text().replace(f"title: {TITLE}", "title: Releases you can trust, renamed"))
    cli(app, "load-content")  # CONTENT_DIR is the copy (the content_dir fixture)

    assert current_token() != before
    assert kept_title() == "Releases you can trust, renamed"
    html = client.get("/progress").get_data(as_text=True)
    assert "Releases you can trust, renamed" in html and TITLE not in html


def test_another_process_s_load_is_seen_and_the_token_is_what_the_cache_trusts(app: Flask, loaded) -> None:
    """Another process (here: a connection of its own, outside this process's session
    events) changes a lesson and the token: this process's next transaction sees it. A
    change without a new token is not seen: the token is the contract, and every write
    through the app replaces it."""
    with app.app_context():
        assert kept_title() == TITLE
        other = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
        try:
            with other.begin() as conn:
                conn.execute(sa.text("UPDATE lessons SET title = 'Quietly changed' WHERE key = :k"), {"k": LESSON})
            assert kept_title() == TITLE  # same token: the kept curriculum is used
            with other.begin() as conn:
                conn.execute(sa.text("UPDATE content_revisions SET token = 'another-process-load'"))
            assert kept_title() == "Quietly changed"
        finally:
            other.dispose()


def test_an_edit_through_the_app_replaces_the_token_its_own_transaction_sees_it_and_a_rollback_leaves_nothing_stale(
        app: Flask, loaded) -> None:
    with app.app_context():
        assert kept_title() == TITLE
        before = current_token()
        lesson = db.session.scalar(select(Lesson).where(Lesson.key == LESSON))
        lesson.title = "Renamed, not committed"
        titles = {les.key: les.title for phase in kept_schedule(db.session) for les in phase.lessons}
        assert titles[LESSON] == "Renamed, not committed"  # its own change, through its own session
        db.session.rollback()
        assert current_token() == before
        assert kept_title() == TITLE  # nothing of the rolled-back change was kept

        quiz = db.session.scalar(select(Quiz).where(Quiz.key == "mlops-quiz"))
        quiz.passing_score = 55
        db.session.commit()
        assert current_token() != before  # an ORM write to any content item replaces the token
        db.session.execute(sa.update(Lesson).where(Lesson.key == LESSON).values(title="Bulk renamed"))
        db.session.commit()
        assert kept_title() == "Bulk renamed"  # so does a bulk statement on one


@pytest.fixture()
def course(app: Flask, loaded) -> None:
    """The shipped curriculum, loaded."""


def test_home_and_progress_run_the_same_statements_for_more_items_and_learners(
        course, app: Flask, client, make_cohort, enrol_learner, login, count_queries) -> None:
    cohort = make_cohort(months_ago=5)
    learner = enrol_learner(cohort, name="Lea Learner")
    login(client, learner)

    def statements() -> tuple[int, int]:
        found = []
        for url in ("/home", "/progress"):
            assert client.get(url).status_code == 200, url  # warm up (and fill the kept curriculum)
            found.append(count_queries(lambda url=url: client.get(url)))
        return found[0], found[1]

    few = statements()
    for n in range(6):
        enrol_learner(cohort, name=f"More {n}")
    template = db.session.scalar(select(Quiz).where(Quiz.key == "mlops-quiz"))
    for n in range(5):  # more items on everyone's schedule: quizzes on the same phase
        db.session.add(Quiz(key=f"everyday-extra-{n}", title=f"Extra quiz {n}", kind=template.kind,
                            module_id=template.module_id, phase_id=template.phase_id, position=template.position + n + 1))
    db.session.commit()
    many = statements()
    assert few == many, f"statements (home, progress) before: {few}; with 6 more learners and 5 more quizzes: {many}"
    assert "Extra quiz 4" in client.get("/progress").get_data(as_text=True)



def nav_of(response: Any) -> str:
    """The navigation of a page, without its sign-out form's CSRF token (signed anew each time)."""
    menu = response.get_data(as_text=True).split('<div id="nav-menu"')[1].split("</nav>")[0]
    return re.sub(r'name="csrf_token" value="[^"]*"', "", menu)


def test_a_page_reads_its_user_with_the_navigation_roles_and_the_unread_count(
        course, client, make_user, make_cohort, enrol_learner, login, count_queries) -> None:
    """Every page's fixed cost: on a GET the signed-in user comes with whether they learn,
    administer or teach and their unread count, in one statement (lms.accounts.current); the
    navigation and the Learner and Staff rules ask nothing more. A page a POST renders asks
    the database itself (a POST may have changed them), and shows the same."""
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(months_ago=2, instructors=[teacher])
    learner = enrol_learner(cohort)
    for n in range(3):
        notify(db.session, user_id=learner.id, event=NotificationEvent.MESSAGE, key=f"m{n}", title=f"Message {n}")
    db.session.commit()
    login(client, learner)
    assert client.get("/notifications").status_code == 200
    assert count_queries(lambda: client.get("/notifications")) == 2  # the user with its flags and count; the list
    shown = nav_of(client.get("/objectives"))
    assert ">Progress</a>" in shown and ">Grading</a>" not in shown
    assert '<span class="notification-count">3<' in shown
    assert client.get("/progress").status_code == 200  # the Learner rule
    assert client.get("/grading").status_code == 403   # the Staff rule
    refused = client.post("/account", data={"profile-name": "  ", "profile-timezone": "UTC", "profile-submit": "Save"})
    assert refused.status_code == 200 and "This field is required" in refused.get_data(as_text=True)
    assert nav_of(refused) == nav_of(client.get("/account"))
    client.post("/logout")
    login(client, teacher)
    shown = nav_of(client.get("/objectives"))
    assert ">Grading</a>" in shown and ">Progress</a>" not in shown and "notification-count" not in shown
    assert client.get("/grading").status_code == 200
    assert client.get("/progress").status_code == 403

def test_the_kept_curriculum_is_not_shared_between_databases(app: Flask, loaded) -> None:
    """Keyed by the database URL and its token: a fresh token in an empty database never
    finds another database's curriculum."""
    with app.app_context():
        assert kept_title() == TITLE
        kept: Any = revision._kept
        where = db.engine.url.render_as_string(hide_password=True)
        assert kept[where][0] == current_token()


def test_a_curriculum_read_inside_a_large_write_is_read_on_its_own_connection(app: Flask, loaded) -> None:
    """What is kept per content revision is loaded on the transaction's own connection: a
    long write (the volume build, a rebuild) whose pages no longer fit SQLite's cache holds the
    database exclusively until it commits, so a second connection of the same process would
    wait on it and fail ("database is locked"), as ``flask lms demo --learners 5000`` did."""
    with app.app_context():
        revision.forget_kept()
        if db.engine.dialect.name == "sqlite":
            db.session.execute(sa.text("PRAGMA cache_size = 1"))  # the write spills at once: an exclusive lock
        db.session.execute(sa.text("CREATE TABLE spill (n integer, filler text)"))  # rolled back below
        db.session.execute(sa.text("INSERT INTO spill VALUES (:n, :filler)"),
                           [{"n": n, "filler": "x" * 2000} for n in range(200)])
        assert kept_title() == TITLE
        assert revision._kept[db.engine.url.render_as_string(hide_password=True)][0] == current_token()
        db.session.rollback()
        if db.engine.dialect.name == "sqlite":
            db.session.execute(sa.text("PRAGMA cache_size = -2000"))
