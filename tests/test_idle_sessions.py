"""A signed-in session unused for longer than SESSION_IDLE_MINUTES is signed out at its next
request (lms/accounts/idle.py); "keep me signed in", API tokens and kept pages are not affected."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from lms.accounts import idle
from lms.accounts.models import User
from lms.api.models import Scope
from lms.api.tokens import create_token
from lms.extensions import db
from lms.web.page_cache import cache_of
from lms.web.unit_of_work import WROTE
from tests.conftest import PASSWORD, World
from tests.two_factor import Clock

# a kept page's key turns with the quarter hour (conftest.py)
pytestmark = pytest.mark.usefixtures("clear_of_a_quarter_boundary")

LIMIT = 120


@pytest.fixture(autouse=True)
def clock(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The idle rule's clock, moved on by the tests instead of waiting."""
    clock = Clock()
    monkeypatch.setattr(idle, "utcnow", clock)
    monkeypatch.setitem(app.config, "SESSION_IDLE_MINUTES", LIMIT)
    return clock


def bearer(owner: Any) -> dict[str, str]:
    secret = create_token(db.session, owner, "test", [s.value for s in Scope], None, None).secret
    db.session.commit()
    db.session.info.pop(WROTE, None)
    return {"Authorization": f"Bearer {secret}"}


def session_cookie_sent(response: Any) -> bool:
    return any(h.startswith("session=") for h in response.headers.getlist("Set-Cookie"))


def signed_in(client: Any) -> bool:
    return client.get("/account").status_code == 200


def test_the_default_is_two_hours(app: Flask) -> None:
    from config import Config  # noqa: PLC0415  (the class, not an app's settings)
    assert Config(app.config["INSTANCE_PATH"]).SESSION_IDLE_MINUTES == 120


def test_a_page_view_after_the_idle_limit_signs_out_and_comes_back_after_signing_in(
        client, world: World, login, clock: Clock) -> None:
    login(client, world.learner_a)
    assert client.get("/account").status_code == 200
    clock.advance(LIMIT * 60 + 2 * idle.MARK_EVERY)
    response = client.get("/account?tab=profile")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/account?tab%3Dprofile"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "You were signed out after 120 minutes without activity." in page
    assert not signed_in(client)
    back = client.post("/login?next=/account?tab%3Dprofile", data={"email": world.learner_a.email, "password": PASSWORD})
    assert back.headers["Location"] == "/account?tab=profile"


def test_activity_keeps_the_session_and_only_idleness_ends_it(client, world: World, login, clock: Clock) -> None:
    login(client, world.learner_a)
    for _ in range(4):  # eight hours of use, a request every 100 minutes
        clock.advance(100 * 60)
        assert signed_in(client)
    clock.advance(LIMIT * 60)  # exactly the limit (plus the mark's minute of slack) is not yet longer
    assert signed_in(client)


def test_the_mark_is_written_at_most_once_a_minute(client, world: World, login, clock: Clock) -> None:
    login(client, world.learner_a)
    client.get("/account")
    assert not session_cookie_sent(client.get("/account")), "a page view re-sent the session cookie"
    clock.advance(30)
    assert not session_cookie_sent(client.get("/account"))
    clock.advance(idle.MARK_EVERY)
    assert session_cookie_sent(client.get("/account"))
    assert not session_cookie_sent(client.get("/account"))


def test_a_form_sent_after_the_limit_is_answered_with_the_sign_in_page_and_nothing_saved(
        client, world: World, login, clock: Clock) -> None:
    login(client, world.learner_a)
    client.get("/account")
    clock.advance(LIMIT * 60 + 2 * idle.MARK_EVERY)
    response = client.post("/account", data={"profile-name": "Renamed", "profile-timezone": "UTC", "profile-submit": "1"},
                           headers={"Referer": "http://localhost/account"})
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "You were signed out after 120 minutes without activity. What you sent was not saved." in page
    assert 'action="/login?next=/account"' in page
    db.session.expire_all()
    assert db.session.get(User, world.learner_a.id).name != "Renamed"
    assert not signed_in(client)


def test_keep_me_signed_in_has_its_own_rule(client, world: World, clock: Clock) -> None:
    response = client.post("/login", data={"email": world.learner_a.email, "password": PASSWORD, "remember": "y"})
    assert response.status_code == 302
    assert signed_in(client)
    clock.advance(3 * 24 * 3600)
    assert signed_in(client)


def test_api_tokens_are_unaffected_and_leave_the_session_alone(client, world: World, login, clock: Clock) -> None:
    login(client, world.org_admin_a)
    client.get("/account")
    headers = bearer(world.org_admin_a)
    clock.advance(LIMIT * 60 + 2 * idle.MARK_EVERY)
    answer = client.get(f"/api/v1/cohorts/{world.cohort_a.id}", headers=headers)
    assert answer.status_code == 200
    assert not session_cookie_sent(answer)
    assert not signed_in(client), "an API call counted as the browser session's activity"


def test_no_limit_when_set_to_zero(app: Flask, client, world: World, login, clock: Clock) -> None:
    app.config["SESSION_IDLE_MINUTES"] = 0
    login(client, world.learner_a)
    clock.advance(7 * 24 * 3600)
    assert signed_in(client)


def test_a_kept_page_is_kept_across_marks_and_never_served_to_an_idle_session(
        app: Flask, loaded, client, make_cohort, enrol_learner, login, clock: Clock) -> None:
    person = enrol_learner(make_cohort(months_ago=2))
    login(client, person)
    cache = cache_of(app)
    assert client.get("/home").status_code == 200
    clock.advance(idle.MARK_EVERY + 1)
    hits = cache.hits
    response = client.get("/home")
    assert response.status_code == 200 and session_cookie_sent(response)
    assert cache.hits == hits + 1, "the mark's write kept the page from being served kept"
    clock.advance(LIMIT * 60 + 2 * idle.MARK_EVERY)
    response = client.get("/home")
    assert response.status_code == 302 and response.headers["Location"] == "/login?next=/home"
    assert cache.hits == hits + 1
