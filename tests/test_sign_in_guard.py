"""Sign-in that resists guessing without locking owners out (issue 17 point 2).

Failures per account slow down, then lock the account's password sign-in until the owner
follows a one-time link mailed to the account; a browser that signed in or unlocked is
counted on its own, so a stranger's failures never stop its owner. Counts live in Redis
when it is configured (shared by every worker); production refuses several workers on
in-memory limits unless told otherwise."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import select

from lms import create_app
from lms.accounts import services
from lms.accounts.models import LoginUnlockToken
from lms.accounts.signin_guard import (
    DEVICE_COOKIE,
    SignInGuard,
    UnsharedLimits,
    Verdict,
    check_limit_storage,
    device_cookie_value,
    device_for,
    worker_count,
)
from lms.database import utcnow
from lms.extensions import db
from lms.mail.models import OutboxMessage
from tests.conftest import PASSWORD, sent_body

UNLOCK_LINK = re.compile(r"/login/unlock/([A-Za-z0-9_-]+)")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# No slow-down, a lock after three failures: the lock is what these tests look at.
LOCK_AFTER_3 = {"LOGIN_SLOWDOWN": "", "LOGIN_LOCK": "3 per day"}


@pytest.fixture()
def fresh_app(app: Flask, make_app: Callable[..., Flask]) -> Iterator[Callable[..., Flask]]:
    built: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        built.append(make_app(**overrides))
        return built[-1]

    yield build
    for new in built:
        with new.app_context():
            db.session.remove()
            db.engine.dispose()


def post_login(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/login", data={"email": email, "password": password})


def signed_in(client: FlaskClient) -> bool:
    return client.get("/account").status_code == 200


def outbox() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def guard(slowdown: str = "2 per minute", lock: str = "4 per day") -> SignInGuard:
    return SignInGuard(MovingWindowRateLimiter(MemoryStorage()), slowdown, lock, prefix="t")


# --------------------------------------------------------------------------- the guard alone


def test_failures_slow_down_then_lock_and_unlock_clears_them() -> None:
    g = guard()
    assert g.check("ada@example.com").verdict is Verdict.ALLOWED
    assert not g.failed("Ada@Example.com").just_locked
    assert g.check("ada@example.com").verdict is Verdict.ALLOWED
    assert not g.failed("ada@example.com").just_locked
    waiting = g.check("ADA@example.com")
    assert waiting.verdict is Verdict.WAIT and 1 <= waiting.retry_after <= 61
    # Past the slow-down (tries while waiting are refused before counting), the lock.
    assert not g.failed("ada@example.com").just_locked
    assert g.failed("ada@example.com").just_locked
    locked = g.check("ada@example.com")
    assert locked.verdict is Verdict.LOCKED and locked.retry_after > 3600
    assert g.check("bob@example.com").verdict is Verdict.ALLOWED  # per account
    g.unlock("ada@example.com")
    assert g.check("ada@example.com").verdict is Verdict.ALLOWED


def test_the_slow_down_passes_with_time() -> None:
    g = guard(slowdown="2 per 1 second", lock="100 per day")
    g.failed("ada@example.com")
    g.failed("ada@example.com")
    assert g.check("ada@example.com").verdict is Verdict.WAIT
    time.sleep(1.1)
    assert g.check("ada@example.com").verdict is Verdict.ALLOWED


def test_a_trusted_device_is_counted_apart_from_the_account_until_it_fails_too_often() -> None:
    g = guard(slowdown="", lock="3 per day")
    for _ in range(3):
        g.failed("ada@example.com")
    assert g.check("ada@example.com").verdict is Verdict.LOCKED
    device = g.check("ada@example.com", device="nonce-1")
    assert device.verdict is Verdict.ALLOWED and device.trusted_device
    for _ in range(3):
        assert not g.failed("ada@example.com", device="nonce-1").just_locked
    # A device cookie that keeps failing (stolen?) is no longer trusted: the account's lock applies.
    assert g.check("ada@example.com", device="nonce-1") == g.check("ada@example.com")


def test_device_cookie_is_signed_and_names_one_account() -> None:
    value = device_cookie_value("k" * 32, 7, "nonce")
    assert device_for("k" * 32, value, 7) == "nonce"
    assert device_for("k" * 32, value, 8) is None
    assert device_for("other" * 8, value, 7) is None
    assert device_for("k" * 32, value[:-2] + "xx", 7) is None
    assert device_for("k" * 32, None, 7) is None and device_for("k" * 32, value, None) is None


# --------------------------------------------------------------------------- workers and storage


@pytest.mark.parametrize(("environ", "argv", "workers"), [
    ({}, ["pytest"], 1),
    ({"WEB_CONCURRENCY": "3"}, ["pytest"], 3),
    ({"GUNICORN_CMD_ARGS": "--bind 0.0.0.0:8000 --workers=4"}, ["x"], 4),
    ({"GUNICORN_CMD_ARGS": "-w 2"}, ["x"], 2),
    ({"WEB_CONCURRENCY": "3"}, ["/usr/bin/gunicorn", "-w", "1", "wsgi:app"], 1),
    ({}, ["/srv/.venv/bin/gunicorn", "-w5", "wsgi:app"], 5),
    ({}, ["gunicorn", "--workers", "2", "wsgi:app"], 2),
    ({"WEB_CONCURRENCY": "many"}, ["gunicorn", "wsgi:app"], 1),
])
def test_worker_count(environ: dict[str, str], argv: list[str], workers: int) -> None:
    assert worker_count(environ, argv) == workers


def test_production_refuses_several_workers_on_in_memory_limits(caplog: pytest.LogCaptureFixture) -> None:
    production = {"ENV_NAME": "production", "RATELIMIT_STORAGE_URI": "memory://"}
    with pytest.raises(UnsharedLimits, match="REDIS_URL"):
        check_limit_storage(production, workers=2)
    check_limit_storage({**production, "ALLOW_IN_MEMORY_LIMITS": True}, workers=2)
    check_limit_storage({**production, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0"}, workers=8)
    check_limit_storage({**production, "ENV_NAME": "development"}, workers=8)
    caplog.clear()
    check_limit_storage(production, workers=1)
    assert "memory" in caplog.text  # one worker is allowed, with a warning


def test_create_app_in_production_refuses_to_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("LMS_BASE_URL", "http://localhost")  # production needs the site's address
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("ALLOW_IN_MEMORY_LIMITS", raising=False)
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    with pytest.raises(UnsharedLimits):
        create_app("production", instance_path=tmp_path)
    monkeypatch.setenv("ALLOW_IN_MEMORY_LIMITS", "1")
    assert create_app("production", instance_path=tmp_path).config["ALLOW_IN_MEMORY_LIMITS"] is True
    monkeypatch.delenv("ALLOW_IN_MEMORY_LIMITS")
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    create_app("production", instance_path=tmp_path)


# --------------------------------------------------------------------------- through the pages


def test_lock_mail_unlock_and_the_owner_signs_in_despite_the_attacker(fresh_app, make_user) -> None:
    site = fresh_app(**LOCK_AFTER_3)
    attacker, owner = site.test_client(), site.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    owner.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    make_user(email="ada@example.com", name="Ada Lovelace")
    db.session.commit()
    for _ in range(2):
        assert post_login(attacker, "ada@example.com", "guess-guess-guess").status_code == 200
    assert outbox() == []
    locking = post_login(attacker, "ada@example.com", "guess-guess-guess")
    assert locking.status_code == 200 and "locked" in locking.get_data(as_text=True)
    [mail] = outbox()
    assert mail.recipient == "ada@example.com" and "locked" in mail.subject
    token = UNLOCK_LINK.search(sent_body(mail))
    assert token is not None
    # Locked: even the right password is refused, from any browser, without a second mail.
    refused = post_login(owner, "ada@example.com")
    assert refused.status_code == 429 and "locked" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 0
    assert not signed_in(owner) and len(outbox()) == 1
    # The owner follows the link: a GET only shows the button, the POST unlocks.
    assert owner.get(f"/login/unlock/{token.group(1)}").status_code == 200
    assert db.session.scalars(select(LoginUnlockToken)).one().used_at is None
    unlocked = owner.post(f"/login/unlock/{token.group(1)}")
    assert unlocked.status_code == 302 and DEVICE_COOKIE in unlocked.headers.get("Set-Cookie", "")
    assert owner.post(f"/login/unlock/{token.group(1)}").status_code == 400  # single use
    # The attacker locks the account again; the owner's browser still signs in.
    for _ in range(3):
        post_login(attacker, "ada@example.com", "guess-guess-guess")
    assert post_login(attacker, "ada@example.com").status_code == 429
    assert post_login(owner, "ada@example.com").status_code == 302
    assert signed_in(owner)
    assert not signed_in(attacker)


def test_a_browser_that_signed_in_before_is_not_locked_out(fresh_app, make_user) -> None:
    site = fresh_app(**LOCK_AFTER_3)
    owner, attacker = site.test_client(), site.test_client()
    make_user(email="ada@example.com")
    db.session.commit()
    assert post_login(owner, "ada@example.com").status_code == 302
    owner.post("/logout")
    for _ in range(3):
        post_login(attacker, "ada@example.com", "guess-guess-guess")
    assert post_login(attacker, "ada@example.com").status_code == 429
    assert post_login(owner, "ada@example.com").status_code == 302


def test_an_unknown_address_locks_alike_and_sends_nothing(fresh_app) -> None:
    client = fresh_app(**LOCK_AFTER_3).test_client()
    answers = [post_login(client, "nobody@example.com", "guess-guess-guess") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert "locked" in answers[2].get_data(as_text=True) and "locked" in answers[3].get_data(as_text=True)
    assert outbox() == []


def test_slow_down_refuses_before_checking_the_password(fresh_app, make_user) -> None:
    client = fresh_app(LOGIN_SLOWDOWN="2 per minute", LOGIN_LOCK="10 per day").test_client()
    make_user(email="ada@example.com")
    db.session.commit()
    for _ in range(2):
        assert post_login(client, "ada@example.com", "guess-guess-guess").status_code == 200
    waiting = post_login(client, "ada@example.com")
    assert waiting.status_code == 429 and "wait" in waiting.get_data(as_text=True)
    assert 0 < int(waiting.headers["Retry-After"]) <= 61
    assert outbox() == []


def test_a_password_reset_lifts_the_lock(fresh_app, make_user) -> None:
    client = fresh_app(**LOCK_AFTER_3).test_client()
    user = make_user(email="ada@example.com")
    db.session.commit()
    for _ in range(3):
        post_login(client, "ada@example.com", "guess-guess-guess")
    assert post_login(client, "ada@example.com").status_code == 429
    token = services.issue_reset_token(db.session, user)
    db.session.commit()
    new_password = "a-brand-new-passphrase"
    assert client.post(f"/password/reset/{token}", data={"password": new_password, "confirm": new_password}).status_code == 302
    assert post_login(client, "ada@example.com", new_password).status_code == 302


def test_bad_and_expired_unlock_links_get_a_page(fresh_app, make_user) -> None:
    client = fresh_app().test_client()
    user = make_user(email="ada@example.com")
    expired = services.issue_unlock_token(db.session, user, now=utcnow() - services.UNLOCK_TOKEN_LIFETIME * 2)
    db.session.commit()
    for token in ("not-a-token", expired):
        for response in (client.get(f"/login/unlock/{token}"), client.post(f"/login/unlock/{token}")):
            assert response.status_code == 400
    assert "expired" in client.get(f"/login/unlock/{expired}").get_data(as_text=True)


# --------------------------------------------------------------------------- shared in Redis


@pytest.fixture()
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is unreachable at {REDIS_URL}")
        pytest.skip(f"Redis is unreachable at {REDIS_URL}")
    return REDIS_URL


def test_the_account_lock_is_shared_between_workers_through_redis(fresh_app, make_user, redis_url: str) -> None:
    prefix = f"lms-test-{uuid.uuid4().hex}"
    make_user(email="ada@example.com")
    db.session.commit()
    settings = {"RATELIMIT_STORAGE_URI": redis_url, "RATELIMIT_KEY_PREFIX": prefix, **LOCK_AFTER_3}
    # Two app instances stand for two workers; each takes some of the attacker's tries.
    first, second = fresh_app(**settings), fresh_app(**settings)
    post_login(first.test_client(), "ada@example.com", "guess-guess-guess")
    post_login(second.test_client(), "ada@example.com", "guess-guess-guess")
    post_login(first.test_client(), "ada@example.com", "guess-guess-guess")
    assert post_login(second.test_client(), "ada@example.com").status_code == 429
    server = redis.Redis.from_url(redis_url)
    keys = server.keys(f"*{prefix}*sign-in-account*")
    assert keys, "the account's failures are counted in Redis"
    server.delete(*keys)
    assert post_login(second.test_client(), "ada@example.com").status_code == 302
    leftover = server.keys(f"*{prefix}*")
    if leftover:
        server.delete(*leftover)
