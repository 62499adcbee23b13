"""A Redis connection that steps aside when Redis fails: short timeouts, and after a failure
it is not tried again for ``retry_after`` seconds, so the requests meanwhile fall back at
once (jobs run in the process that queued them, kept pages are built where they are asked
for) instead of each waiting for a timeout."""

from __future__ import annotations

import logging
import time

from redis import Redis


class RedisLink:
    """One Redis URL's connection; ``usable`` until it ``failed``, then again ``retry_after``
    seconds later. A failure is logged on ``logger`` with what callers do meanwhile
    (``fallback``)."""

    def __init__(self, url: str, retry_after: float, fallback: str, logger: str,
                 connect_timeout: float = 1.0, timeout: float = 2.0) -> None:
        self.url = url
        self.retry_after = retry_after
        self.connection = Redis.from_url(url, socket_connect_timeout=connect_timeout, socket_timeout=timeout)
        self.down_until = 0.0
        self._fallback = fallback
        self._logger = logger

    def usable(self) -> bool:
        return time.monotonic() >= self.down_until

    def failed(self, exc: Exception) -> None:
        self.down_until = time.monotonic() + self.retry_after
        logging.getLogger(self._logger).warning("Redis at %s is unreachable (%s): %s", self.url, exc, self._fallback)
