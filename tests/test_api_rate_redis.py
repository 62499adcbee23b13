"""The per-token rate limit against a real Redis (issue 15 point 2, "shared store when Redis
is configured"): two separate processes, each its own app with REDIS_URL and the limiter's
storage on Redis database 6, share one token's budget. The test's own app and the worker's
shared limiter are not touched: the apps live in the child processes (bounded in time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from lms.api.tokens import create_token
from lms.extensions import db
from lms.web.unit_of_work import WROTE
from tests.conftest import BASE_DIR, World

REDIS_URL = "redis://127.0.0.1:6379/6"  # this test's own Redis database: flushed at the start
LIMIT = 5
# One process: its own app on the test's database, the limiter on Redis; sends one request
# per secret given and prints each answer's status, type, Retry-After and body.
CHILD = """
import json, sys
from lms import create_app
database_url, instance, redis_url, limit, *secrets = sys.argv[1:]
app = create_app("testing", instance_path=instance, overrides={
    "SQLALCHEMY_DATABASE_URI": database_url, "API_RATE_LIMIT": limit + "/minute",
    "RATELIMIT_STORAGE_URI": redis_url, "REDIS_URL": redis_url, "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": False})
assert app.config["RATELIMIT_STORAGE_URI"] == redis_url
client = app.test_client()
for secret in secrets:
    answer = client.get("/api/v1/curriculum/levels", headers={"Authorization": "Bearer " + secret})
    print(json.dumps({"status": answer.status_code, "mimetype": answer.mimetype,
                      "retry_after": answer.headers.get("Retry-After"), "body": answer.get_json(silent=True)}))
with app.app_context():
    from lms.extensions import db
    db.session.remove()
    db.engine.dispose()
"""


def _redis() -> redis.Redis:
    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError:
        connection.close()
        pytest.skip("no Redis on 127.0.0.1:6379")
    return connection


def _processes(database_url: str, instance: Path, *sequences: list[str]) -> list[list[dict[str, Any]]]:
    """One process per sequence of secrets, started together (each bounded to 60 s): what each answered."""
    env = {**os.environ, "REDIS_URL": REDIS_URL, "LMS_ENV": "testing", "PYTHONWARNINGS": "ignore"}
    started = [subprocess.Popen([sys.executable, "-c", CHILD, database_url, str(instance), REDIS_URL, str(LIMIT),
                                 *secrets],
                                cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for secrets in sequences]
    answers = []
    try:
        for process in started:
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err[-3000:]
            answers.append([json.loads(line) for line in out.splitlines() if line.startswith("{")])
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.communicate()
    return answers


def test_one_tokens_limit_is_shared_by_two_processes_through_redis(app: Flask, world: World, database_url: str,
                                                                    instance_dir: Path) -> None:
    store = _redis()
    try:
        store.flushdb()  # database 6 only
        made = create_token(db.session, world.learner_a, "two processes", ["read:curriculum"], None)
        other = create_token(db.session, world.learner_a, "another token", ["read:curriculum"], None)
        db.session.commit()
        db.session.info.pop(WROTE, None)

        # 3 + 3 requests with one token from two processes at once (limit 5), then another token
        first, second = _processes(database_url, instance_dir, [made.secret] * 3, [made.secret] * 3 + [other.secret])
        mine = first + second[:3]
        assert len(mine) == 6 and sorted(a["status"] for a in mine) == [200] * LIMIT + [429], mine
        refused = next(a for a in mine if a["status"] == 429)
        assert refused in (first[-1], second[2])  # the sixth: the last of its process
        assert refused["mimetype"] == "application/problem+json" and refused["body"]["status"] == 429
        assert f"{LIMIT}/minute" in refused["body"]["detail"] and 1 <= int(refused["retry_after"]) <= 61
        assert store.dbsize() >= 1  # the window lives in Redis database 6
        # another token of the same person has its own budget
        assert second[3]["status"] == 200
    finally:
        store.flushdb()
        store.close()
