"""Sign-in that resists guessing without letting anyone lock an owner out (issue 17 point 2).

Failed sign-ins are counted per account (the lower-cased email, whether or not it has an
account, so the answers never tell which addresses exist) in the rate-limit storage:
Redis when ``REDIS_URL`` is set, so every worker shares the counts. Repeated failures
first slow down (``LOGIN_SLOWDOWN``: past each tier the next try waits until the oldest
failure leaves the window), then lock the account (``LOGIN_LOCK``): a locked account's
password is refused from every browser until its owner follows the one-time unlock link
mailed to the account's address (or resets the password, or the window passes).

A browser that signed in to an account, or followed its unlock link, carries a signed
device cookie for it; that browser's tries are counted on the device, not the account,
so a stranger's failures never stop the owner's right password there. A device that
fails too often (``LOGIN_LOCK`` on the device) loses that standing.

The per-address limit (``LOGIN_LIMIT_PER_ADDRESS``) stays a Flask-Limiter decorator."""

from __future__ import annotations

import enum
import logging
import os
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from limits import RateLimitItem, parse_many
from limits.strategies import RateLimiter

DEVICE_COOKIE = "lms_device"
DEVICE_COOKIE_DAYS = 365
_DEVICE_SALT = "lms.sign-in-device"

log = logging.getLogger(__name__)


class Verdict(enum.Enum):
    ALLOWED = "allowed"
    WAIT = "wait"
    LOCKED = "locked"


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    retry_after: int = 0  # seconds, for WAIT and LOCKED
    trusted_device: bool = False


@dataclass(frozen=True)
class Failure:
    just_locked: bool  # this failure locked the account: time to mail the unlock link


class SignInGuard:
    """Counts failures per account and per trusted device in a ``limits`` storage."""

    def __init__(self, limiter: RateLimiter, slowdown: str, lock: str, prefix: str = "") -> None:
        self._limiter = limiter
        self._slowdown: Sequence[RateLimitItem] = parse_many(slowdown) if slowdown.strip() else []
        self._lock: Sequence[RateLimitItem] = parse_many(lock)
        self._prefix = prefix or "lms"

    def _ids(self, kind: str, key: str) -> tuple[str, str, str]:
        return (self._prefix, f"sign-in-{kind}", key)

    def _state(self, kind: str, key: str) -> Check:
        ids = self._ids(kind, key)
        for tiers, verdict in ((self._lock, Verdict.LOCKED), (self._slowdown, Verdict.WAIT)):
            for item in tiers:
                if not self._limiter.test(item, *ids):
                    reset = self._limiter.get_window_stats(item, *ids).reset_time
                    return Check(verdict, max(1, int(reset - time.time()) + 1))
        return Check(Verdict.ALLOWED)

    def _device_usable(self, device: str | None) -> bool:
        return bool(device) and all(self._limiter.test(item, *self._ids("device", device or "")) for item in self._lock)

    def check(self, email: str, device: str | None = None) -> Check:
        """May this try go on to check the password? ``device`` is the nonce of a valid
        device cookie for this account, if the browser sent one."""
        if device and self._device_usable(device):
            state = self._state("device", device)
            return Check(state.verdict, state.retry_after, trusted_device=True)
        return self._state("account", email.strip().lower())

    def failed(self, email: str, device: str | None = None) -> Failure:
        """Count a wrong password."""
        if device and self._device_usable(device):
            for item in (*self._slowdown, *self._lock):
                self._limiter.hit(item, *self._ids("device", device))
            return Failure(just_locked=False)
        ids = self._ids("account", email.strip().lower())
        for item in self._slowdown:
            self._limiter.hit(item, *ids)
        before = all(self._limiter.test(item, *ids) for item in self._lock)
        for item in self._lock:
            self._limiter.hit(item, *ids)
        after = all(self._limiter.test(item, *ids) for item in self._lock)
        return Failure(just_locked=before and not after)

    def unlock(self, email: str) -> None:
        """Forget the account's failures (its unlock link was followed, or its password reset)."""
        ids = self._ids("account", email.strip().lower())
        for item in (*self._slowdown, *self._lock):
            self._limiter.clear(item, *ids)


# --------------------------------------------------------------------------- device cookie


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=_DEVICE_SALT)


def device_cookie_value(secret_key: str, user_id: int, nonce: str) -> str:
    return _serializer(secret_key).dumps([user_id, nonce])


def device_for(secret_key: str, cookie: str | None, user_id: int | None) -> str | None:
    """The device nonce when ``cookie`` is a valid device cookie for ``user_id``."""
    if not cookie or user_id is None:
        return None
    try:
        payload: Any = _serializer(secret_key).loads(cookie)
    except BadSignature:
        return None
    if (isinstance(payload, list) and len(payload) == 2 and payload[0] == user_id
            and isinstance(payload[1], str) and payload[1]):
        return payload[1]
    return None


# --------------------------------------------------------------------------- start-up check


class UnsharedLimits(RuntimeError):
    """Production with several workers keeping their own in-memory limits."""


def _workers_in(args: Sequence[str]) -> int | None:
    """The value of gunicorn's ``-w N``, ``-wN``, ``--workers N`` or ``--workers=N``."""
    for index, arg in enumerate(args):
        if arg in ("-w", "--workers"):
            value = args[index + 1] if index + 1 < len(args) else ""
        elif arg.startswith("--workers="):
            value = arg.partition("=")[2]
        elif arg.startswith("-w") and not arg.startswith("--"):
            value = arg[2:].lstrip("=")
        else:
            continue
        if value.strip().isdigit():
            return int(value)
    return None


def worker_count(environ: Mapping[str, str] | None = None, argv: Sequence[str] | None = None) -> int:
    """How many server processes will serve the app, as far as can be told: gunicorn's
    ``-w``/``--workers`` on its command line or in ``GUNICORN_CMD_ARGS``, else
    ``WEB_CONCURRENCY`` (gunicorn's default for ``--workers``), else 1."""
    environ = os.environ if environ is None else environ
    argv = sys.argv if argv is None else argv
    if argv and Path(argv[0]).name.startswith("gunicorn"):
        found = _workers_in(argv[1:])
        if found is not None:
            return found
    found = _workers_in(shlex.split(environ.get("GUNICORN_CMD_ARGS", "")))
    if found is not None:
        return found
    concurrency = environ.get("WEB_CONCURRENCY", "").strip()
    return int(concurrency) if concurrency.isdigit() else 1


def check_limit_storage(config: Mapping[str, Any], workers: int) -> None:
    """Refuse a production start with more than one worker on in-memory limits (each
    worker would count on its own: five tries per account become five per worker),
    unless ``ALLOW_IN_MEMORY_LIMITS`` says so; warn in production whenever limits are in
    memory."""
    storage = str(config.get("RATELIMIT_STORAGE_URI", "memory://"))
    if config.get("ENV_NAME") != "production" or not storage.startswith("memory://"):
        return
    if workers > 1 and not config.get("ALLOW_IN_MEMORY_LIMITS"):
        raise UnsharedLimits(
            f"{workers} workers would each keep their own sign-in limits in memory: set REDIS_URL so they "
            "share them, run one worker, or set ALLOW_IN_MEMORY_LIMITS=1 to accept per-worker limits")
    log.warning("Sign-in limits are kept in this process's memory (no REDIS_URL): %d worker(s), "
                "each counting on its own", workers)
