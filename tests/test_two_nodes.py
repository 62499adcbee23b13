"""Several app nodes (issue 14 point 8): bench/two_nodes.py with a short traffic phase. Two
gunicorn nodes behind HAProxy share a PostgreSQL database of their own and Redis (db 12): a
sign-in on one is valid on the other, an upload through one downloads through the other,
the login rate limit is shared, a queued job runs once, and mixed traffic gives no errors.

It needs PostgreSQL, so it runs in the PostgreSQL pass (TEST_DATABASE_URL, `make
test-postgres`, which CI runs); HAProxy is installed with apt-get when missing, and the test
is skipped only when that cannot be done."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis
import sqlalchemy as sa
from flask import Flask

from bench import two_nodes
from config import normalise_database_url
from lms.extensions import db
from tests.conftest import RUN

REDIS_URL = os.environ.get("TWO_NODES_REDIS_URL", "redis://127.0.0.1:6379/12")
SECONDS, CLIENTS = 8.0, 16  # the bench's 60 s at 32 clients, shortened for the suite


@pytest.fixture()
def nodes_database_url() -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("needs PostgreSQL, which the nodes share: runs in the PostgreSQL pass (TEST_DATABASE_URL, make test-postgres)")
    url = sa.engine.make_url(normalise_database_url(base))
    name = f"{url.database}_two_nodes_{RUN}".lower()
    yield url.set(database=name, query={}).render_as_string(hide_password=False)
    two_nodes.drop_database(url.set(database=name, query={}).render_as_string(hide_password=False))


def test_two_nodes_behind_haproxy_share_sessions_files_limits_and_jobs(nodes_database_url: str) -> None:
    try:
        two_nodes.ensure_haproxy()
    except two_nodes.Unavailable as exc:
        pytest.skip(f"HAProxy cannot be installed here: {exc}")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError:
        pytest.fail(f"Redis is unreachable at {REDIS_URL}; the nodes share it")
    lines: list[str] = []
    outcome = two_nodes.run(nodes_database_url, REDIS_URL, SECONDS, CLIENTS, out=lines.append)
    report = "\n".join(lines)
    assert [p.name for p in outcome.proofs] == ["sign-in", "upload", "job once", "rate limit"], report
    assert outcome.ok, report
    assert outcome.traffic is not None and outcome.traffic.requests > 0 and set(outcome.traffic.nodes) == {"node1", "node2"}, report


def test_behind_a_trusted_proxy_sign_in_limits_count_the_client_address(app: Flask, make_app) -> None:
    """TRUSTED_PROXIES=1 (one load balancer): X-Forwarded-For names the client, so one client's
    failures do not refuse everyone else behind the same balancer."""
    proxied = make_app(TRUSTED_PROXIES=1, LOGIN_LIMIT_PER_ADDRESS="2 per minute")
    client = proxied.test_client()
    emails = iter(f"nobody{n}@example.com" for n in range(10))  # a new account each time: only the address limit applies

    def fail(address: str) -> int:
        return client.post("/login", data={"email": next(emails), "password": "wrong"},
                           headers={"X-Forwarded-For": address}).status_code

    try:
        assert [fail("203.0.113.1") for _ in range(3)] == [200, 200, 429]
        assert fail("203.0.113.2") == 200
    finally:
        with proxied.app_context():
            db.engine.dispose()


def test_the_benchmarks_drop_only_databases_a_benchmark_made(nodes_database_url: str) -> None:
    """``everyday.py`` and ``two_nodes.py`` make their PostgreSQL database afresh and drop it at
    the end: a database of that name they did not make (the suite's own, say) is refused and
    left as it was, tables and all."""
    url = sa.engine.make_url(nodes_database_url)
    someone_elses = url.set(database=f"{url.database}_theirs").render_as_string(hide_password=False)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{url.database}_theirs"'))
        theirs = sa.create_engine(someone_elses)
        with theirs.begin() as conn:
            conn.execute(sa.text("CREATE TABLE kept (n integer)"))
            conn.execute(sa.text("INSERT INTO kept VALUES (7)"))
        theirs.dispose()
        with pytest.raises(two_nodes.NotABenchDatabase, match=f'"{url.database}_theirs" exists and no benchmark made it'):
            two_nodes.recreate_database(someone_elses)
        two_nodes.drop_database(someone_elses)
        theirs = sa.create_engine(someone_elses)
        with theirs.connect() as conn:
            assert conn.execute(sa.text("SELECT n FROM kept")).scalar() == 7
        theirs.dispose()

        # A database the benchmark makes is marked, made afresh on the next run, dropped at the end.
        two_nodes.recreate_database(nodes_database_url)
        ours = sa.create_engine(nodes_database_url)
        with ours.begin() as conn:
            conn.execute(sa.text("CREATE TABLE left_over (n integer)"))
        ours.dispose()
        two_nodes.recreate_database(nodes_database_url)
        ours = sa.create_engine(nodes_database_url)
        with ours.connect() as conn:
            assert conn.execute(sa.text("SELECT to_regclass('left_over')")).scalar() is None
        ours.dispose()
        two_nodes.drop_database(nodes_database_url)
        with admin.connect() as conn:
            assert conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}).first() is None
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}_theirs" WITH (FORCE)'))
        admin.dispose()
