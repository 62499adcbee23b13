"""Sign-in limits kept in Redis when REDIS_URL is set, so every process shares them."""

from __future__ import annotations

import os
import uuid

import pytest
import redis

from lms import create_app
from lms.extensions import db
from tests.conftest import PASSWORD

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture()
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is unreachable at {REDIS_URL}; CI runs this test against the real server")
        pytest.skip(f"Redis is unreachable at {REDIS_URL}")
    return REDIS_URL


def test_redis_url_selects_redis_storage(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/15")
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    assert create_app("development", instance_path=tmp_path).config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/15"
    monkeypatch.delenv("REDIS_URL")
    assert create_app("development", instance_path=tmp_path).config["RATELIMIT_STORAGE_URI"] == "memory://"


def test_failed_logins_are_counted_in_redis_across_app_instances(app, make_app, make_user, redis_url: str) -> None:
    prefix = f"lms-test-{uuid.uuid4().hex}"
    user = make_user()
    overrides = {"RATELIMIT_STORAGE_URI": redis_url, "RATELIMIT_KEY_PREFIX": prefix,
                 "LOGIN_SLOWDOWN": "3 per minute"}
    # Two app instances stand for two server processes sharing one Redis.
    first, second = make_app(**overrides), make_app(**overrides)
    for _ in range(3):
        assert first.test_client().post("/login", data={"email": user.email, "password": "wrong"}).status_code == 200
    refused = second.test_client().post("/login", data={"email": user.email, "password": PASSWORD})
    assert refused.status_code == 429
    keys = redis.Redis.from_url(redis_url).keys(f"*{prefix}*")
    assert keys, "the counters live in Redis"
    redis.Redis.from_url(redis_url).delete(*keys)
    for each in (first, second):  # close their pools (PostgreSQL connections otherwise linger)
        with each.app_context():
            db.session.remove()
            db.engine.dispose()
