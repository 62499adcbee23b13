"""One Redis database of the local server for a test module (each feature's tests have a
number of their own, so modules run at once do not empty each other's queues)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis


def redis_database(url: str) -> Iterator[str]:
    """The body of a module's ``redis_db`` fixture: ``url``'s database, emptied before and
    after; the test is skipped when no Redis answers."""
    connection = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        connection.ping()
    except redis.RedisError:
        connection.close()
        pytest.skip("no Redis at 127.0.0.1:6379")
    connection.flushdb()
    try:
        yield url
    finally:
        connection.flushdb()
        connection.close()
