"""Kept pages shared by every process through Redis (``lms.web.page_cache.SharedPages``,
``PAGE_CACHE_REDIS_URL``): two apps stand for two gunicorn workers or two nodes, each with
its own pages in memory, on the same database and the real Redis (127.0.0.1:6379, this
module's database 9). A page one built, the other serves with its stamp's statement alone,
with its own session's CSRF token; after a change it is built again, never served stale; a
release of other code or another secret key shares nothing; a Redis that does not answer
costs a warning, not a page."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask

from lms.extensions import db
from lms.web import page_cache
from lms.web.page_cache import SHARED_PREFIX, SharedPages, cache_of
from tests.redis_db import redis_database
from tests.test_page_cache import Learner, body, take_quiz

REDIS_URL = "redis://127.0.0.1:6379/9"  # this module's Redis database: emptied before and after
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture()
def redis_db() -> Iterator[str]:
    yield from redis_database(REDIS_URL)


@pytest.fixture()
def world(app: Flask, loaded, make_user, make_cohort, enrol_learner) -> Learner:
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(months_ago=5, instructors=[teacher])
    person = enrol_learner(cohort, name="Lea Learner")
    enrol_learner(cohort, name="Sam Second")
    db.session.commit()
    return Learner(app, cohort, person, teacher)


@pytest.fixture()
def processes(make_app: Callable[..., Flask], redis_db: str) -> Iterator[Callable[..., Flask]]:
    """Apps sharing their pages through ``redis_db`` (each one a process of its own), closed after the test."""
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        made.append(make_app(PAGE_CACHE_REDIS_URL=redis_db, **overrides))
        return made[-1]

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def shared_of(app: Flask) -> SharedPages:
    shared = cache_of(app).shared
    assert shared is not None
    return shared


def statements_of(app: Flask, client: Any, url: str) -> tuple[str, list[str]]:
    """The page at ``url`` (its CSRF tokens blanked) and the SQL statements it sent."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        page = body(client.get(url))
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return page, sent


def signed_in(app: Flask, login: Callable[..., Any], user: Any) -> Any:
    client = app.test_client()
    login(client, user)
    return client


@pytest.mark.parametrize("page", ["/home", "/progress"])
def test_a_learner_page_built_by_one_process_is_served_by_another(world: Learner, processes, login, page: str) -> None:
    first, second = processes(), processes()
    one, other = signed_in(first, login, world.learner), signed_in(second, login, world.learner)

    built, sent = statements_of(first, one, page)
    assert len(sent) > 1 and shared_of(first).misses == 1
    served, sent = statements_of(second, other, page)
    assert served == built
    assert len(sent) == 1, sent  # the signed-in user with the page's stamp: nothing built
    assert shared_of(second).hits == 1
    assert body(other.get(page)) == built and cache_of(second).hits == 1  # now kept in that process too

    # A change: the next view (in either process) builds the page again, then the other is served it.
    take_quiz(world)
    db.session.commit()
    changed, sent = statements_of(first, one, page)
    assert changed != built and len(sent) > 1
    again, sent = statements_of(second, other, page)
    assert again == changed and len(sent) == 1


def test_a_shared_page_carries_the_serving_sessions_own_csrf_token(world: Learner, processes, login) -> None:
    first, second = processes(), processes()
    one, other = signed_in(first, login, world.learner), signed_in(second, login, world.learner)
    first.config["WTF_CSRF_ENABLED"] = second.config["WTF_CSRF_ENABLED"] = True
    tokens = []
    for app, client in ((first, one), (second, other)):
        html = client.get("/home").get_data(as_text=True)
        assert cache_of(app).mark not in html
        found = TOKEN.search(html)
        assert found is not None
        tokens.append(found.group(1))
    assert shared_of(second).hits == 1
    assert tokens[0] != tokens[1]
    # the token in the page the second process was served is its session's: signing out with it works
    assert other.post("/logout", data={"csrf_token": tokens[1]}).status_code == 302
    assert other.get("/home").status_code in (302, 401)


def test_a_cohorts_heat_map_built_by_one_process_is_served_by_another(world: Learner, processes, login) -> None:
    first, second = processes(), processes()
    one, other = signed_in(first, login, world.teacher), signed_in(second, login, world.teacher)
    url = f"/cohorts/{world.cohort.id}/competency?sort=name&dir=desc"
    built, sent_built = statements_of(first, one, url)
    served, sent = statements_of(second, other, url)
    assert served == built and "Sam Second" in served
    assert len(sent) < len(sent_built) and shared_of(second).hits == 1
    # another sort is another page: looked for, not found, built
    shared = shared_of(second)
    misses = shared.misses
    ascending, _sent = statements_of(second, other, url.replace("desc", "asc"))
    assert shared.misses == misses + 1 and shared.hits == 1 and ascending != served


def test_other_code_or_another_secret_key_shares_nothing(world: Learner, processes, login, monkeypatch) -> None:
    first = processes()
    built, _sent = statements_of(first, signed_in(first, login, world.learner), "/home")
    assert redis.Redis.from_url(REDIS_URL).keys(f"{SHARED_PREFIX}*")  # the page is in Redis

    other_secret = processes(SECRET_KEY="another deployment's secret key, on the same Redis")
    other_secret_client = signed_in(other_secret, login, world.learner)
    assert body(other_secret_client.get("/home")) == built
    assert shared_of(other_secret).hits == 0

    monkeypatch.setattr(page_cache, "code_version", lambda: "another release")
    other_code = processes()
    assert body(signed_in(other_code, login, world.learner).get("/home")) == built
    assert shared_of(other_code).hits == 0


def test_the_code_version_changes_with_any_file_of_the_package(tmp_path) -> None:
    (tmp_path / "web" / "templates").mkdir(parents=True)
    page = tmp_path / "web" / "templates" / "page.html"
    page.write_text("<p>one</p>")
    before = page_cache.code_version(tmp_path)
    assert page_cache.code_version(tmp_path) == before
    page.write_text("<p>two</p>")
    assert page_cache.code_version(tmp_path) != before
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.pyc").write_bytes(b"compiled")
    page.write_text("<p>one</p>")
    assert page_cache.code_version(tmp_path) == before  # compiled files are not the code


def test_a_redis_that_does_not_answer_costs_a_warning_not_a_page(world: Learner, make_app, login, caplog) -> None:
    app = make_app(PAGE_CACHE_REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        client = signed_in(app, login, world.learner)
        with caplog.at_level(logging.WARNING, logger="lms.page_cache"):
            first = body(client.get("/home"))
            assert body(client.get("/progress"))
            assert body(client.get("/home")) == first
        warnings = [r for r in caplog.records if r.name == "lms.page_cache"]
        assert len(warnings) == 1, warnings  # then not asked again for a while
        assert "pages are not shared" in warnings[0].getMessage()
        assert cache_of(app).hits == 1  # the process's own pages go on
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_redis_url_that_is_not_one_is_refused_at_start(make_app, monkeypatch) -> None:
    monkeypatch.setenv("PAGE_CACHE_REDIS_URL", "127.0.0.1:6379")
    with pytest.raises(RuntimeError, match="PAGE_CACHE_REDIS_URL='127.0.0.1:6379': a Redis URL starts with redis://"):
        make_app()
    monkeypatch.setenv("PAGE_CACHE_REDIS_URL", "")  # empty: each process keeps its own pages
    assert cache_of(make_app()).shared is None
    monkeypatch.delenv("PAGE_CACHE_REDIS_URL")
    monkeypatch.setenv("REDIS_URL", "localhost:6379")  # the one it defaults to: named as itself
    with pytest.raises(RuntimeError, match="REDIS_URL='localhost:6379': a Redis URL starts with redis://"):
        make_app()
