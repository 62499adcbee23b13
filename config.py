"""Settings for each environment. ``create_app`` picks one by name (``LMS_ENV``)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

BASE_DIR = Path(__file__).resolve().parent
DEFAULT_INSTANCE = BASE_DIR / "instance"


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgres://`` and ``postgresql://`` URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, "").strip().lower() or default
    if value not in choices:
        raise RuntimeError(f"{name}={value!r}: choose one of {', '.join(choices)}")
    return value


def _redis_url(name: str, default: str) -> str:
    """A Redis URL from the environment (empty: none), refused at start when it is not one."""
    value = os.environ.get(name, default).strip()
    if value and not value.startswith(("redis://", "rediss://", "unix://")):
        raise RuntimeError(f"{name}={value!r}: a Redis URL starts with redis://, rediss:// or unix://")
    return value


N = TypeVar("N", int, float)


def _number(name: str, default: N, kind: type[N], zero: bool = False) -> N:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise RuntimeError(f"{name}={raw!r} is not a number") from None
    if value < 0 or (value == 0 and not zero):
        raise RuntimeError(f"{name}={raw!r} must be {'0 or more' if zero else 'above 0'}")
    return value


class Config:
    ENV_NAME = "base"
    TESTING = False
    CONTENT_DIR = BASE_DIR / "content"
    QUIZZES_DIR = BASE_DIR / "quizzes"
    # No pool_pre_ping: a round trip before every request; PostgreSQL connections the
    # server closed are found without one (lms.database.watch_idle_connections).
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # A form's CSRF token lives as long as the session it is bound to, not Flask-WTF's
    # default hour: a learner writing a case study or answering an exam question with extra
    # time may send a page opened hours before, and was told it had expired (nothing saved).
    WTF_CSRF_TIME_LIMIT = None
    # Above every form-level limit, so oversized files get a message on their form.
    MAX_CONTENT_LENGTH = 32 * 1024 * 1024
    # A moving window: limits hold across clock-minute boundaries (a fixed window would let
    # a burst straddling a boundary through twice).
    RATELIMIT_STRATEGY = "moving-window"
    # Redis unreachable: limits are kept in memory meanwhile (Flask-Limiter logs a warning).
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    LOGIN_LIMIT_PER_ADDRESS = "30 per minute"
    # Failed sign-ins per account (lms/accounts/signin_guard.py): past each slow-down tier the
    # next try waits; past the lock the account needs the unlock link mailed to its owner.
    LOGIN_SLOWDOWN = "3 per minute;6 per 15 minutes"
    LOGIN_LOCK = "10 per day"
    # Wrong answers per person to the forms that check their own password or two-factor code
    # while signed in (lms/accounts/secret_checks.py); the next is refused until the window moves.
    SECRET_CHECKS_PER_USER = "5 per 15 minutes;20 per day"
    # "Forgot password" answers no sooner than this, whether or not the address has an
    # account (making and mailing a link took time an unknown address did not).
    FORGOT_PASSWORD_SECONDS = 0.25
    # Reset links "Forgot password" makes and mails one account in an hour, whichever
    # addresses ask (past it the answer is the same and nothing is sent): the per-address
    # limit alone let a few addresses fill a person's mailbox with live links.
    FORGOT_PASSWORD_LINKS_PER_HOUR = 3
    # A learner who joins after their cohort started and catches up: days of the catch-up
    # window per month already under way or gone (month 1's work due that many days after
    # joining, month 2's twice as many, ...).
    CATCH_UP_DAYS_PER_MONTH = 14
    # Work returned for revision is due again this many days after its return (or at its own
    # due date when that is later): it is not overdue, nor its learner behind, the moment it
    # comes back (lms/progress/completion.py).
    REVISION_DAYS = 7
    # load-content refuses quizzes that fail the item-bank lint (quizzes/README.md, "Item bank lint").
    ITEM_BANK_LINT = True
    # Generate a secret key into instance/ when none is configured.
    GENERATE_SECRET_KEY = True
    # `flask lms purge-uploads` deletes the uploads of cohorts archived longer than this (lms/privacy).
    UPLOAD_RETENTION_MONTHS = 24
    # Webhooks (lms/webhooks): seconds per delivery attempt; failed ones are tried again after 1
    # minute, doubling up to 6 hours, 8 tries in all. Endpoints must be https:// unless local
    # http (127.0.0.1) is allowed, which development and tests do.
    WEBHOOK_TIMEOUT = 10.0
    WEBHOOK_RETRY_FIRST = 60.0
    WEBHOOK_RETRY_LONGEST = 6 * 3600.0
    WEBHOOK_MAX_ATTEMPTS = 8
    # After "New secret", deliveries are signed with the previous secret too for this long.
    WEBHOOK_SECRET_OVERLAP_HOURS = 24
    # The API's removed lists keep this many days (`flask lms prune-removals`); a cursor or
    # updated_since older than that is answered 410 Gone: sync everything again.
    API_REMOVALS_KEPT_DAYS = 90
    WEBHOOK_ALLOW_LOCAL_HTTP = False
    # Single sign-on: calls to an organization's provider may reach local and private addresses
    # (development and tests, whose provider runs on 127.0.0.1); never in production (SSRF).
    SSO_ALLOW_LOCAL = False
    # xAPI (lms/xapi): statements go to the LRS at XAPI_LRS_ENDPOINT (e.g. https://lrs.example.org/xAPI/)
    # with HTTP Basic XAPI_LRS_USERNAME/XAPI_LRS_PASSWORD; empty: off. Actors are accounts on
    # XAPI_HOMEPAGE (the site's base URL; the request's when empty) named by an opaque id.
    XAPI_TIMEOUT = 10.0
    XAPI_RETRY_FIRST = 60.0
    XAPI_RETRY_LONGEST = 6 * 3600.0
    XAPI_MAX_ATTEMPTS = 20
    XAPI_BATCH = 50
    # Pages and JSON answers compressed for clients that accept it (Flask-Compress): zstd, else
    # brotli, else gzip, whichever the client offers first by that order, at each one's fastest
    # levels: a 500-learner cohort's gradebook page is 663 KiB of HTML, 27 KiB in zstd at level 1
    # (0.35 ms; level 3: the same size, 0.42 ms), 31 KiB in brotli at 1 (0.5 ms; Flask-Compress's
    # default 4: 26 KiB, 1.9 ms), 35 KiB in gzip at 3 (1.35 ms; its default 6: 29 KiB, 3.5 ms).
    # Streamed answers (downloads, exports, uploaded files) are sent as they are made, never held
    # back to compress them whole.
    COMPRESS_ALGORITHM = ["zstd", "br", "gzip"]
    COMPRESS_ZSTD_LEVEL = 1
    COMPRESS_BR_LEVEL = 1
    COMPRESS_LEVEL = 3  # gzip's
    COMPRESS_STREAMS = False
    COMPRESS_EVALUATE_CONDITIONAL_REQUEST = False  # no page carries an ETag: nothing to evaluate
    COMPRESS_MIMETYPES = ["text/html", "text/css", "text/javascript", "application/javascript", "text/plain",
                          "text/calendar", "application/json", "application/problem+json", "application/ld+json",
                          "image/svg+xml"]

    def __init__(self, instance_path: Path) -> None:
        self.INSTANCE_PATH = instance_path
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(
            os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'lms.sqlite3'}"
        )
        # Seconds to wait for a PostgreSQL connection before the request answers 503 (libpq's
        # connect_timeout; psycopg waits at least 2): an unreachable database must not hang requests.
        self.DATABASE_CONNECT_TIMEOUT = _number("DATABASE_CONNECT_TIMEOUT", 5, int)
        self.SECRET_KEY = self._secret_key(instance_path)
        # A signed-in session with no request for this many minutes is signed out at its next one
        # (lms/accounts/idle.py; 0: never). Two hours: longer than any timed exam at standard time
        # (90 minutes, one question a page, each page a request) and than reading a lesson or
        # writing a case study between saves, so someone at work is not sent to sign in; short
        # enough that a browser left open on a shared computer is signed out the same afternoon,
        # not days later. "Keep me signed in" keeps its own, longer rule (REMEMBER_COOKIE_DURATION).
        self.SESSION_IDLE_MINUTES = _number("SESSION_IDLE_MINUTES", 120, int, zero=True)
        # "Keep me signed in" lasts this many days (Flask-Login's REMEMBER_COOKIE_DURATION, its
        # default a year): the cookie and its device row (lms/accounts/devices.py) expire together.
        self.REMEMBER_COOKIE_DURATION = timedelta(days=_number("LMS_REMEMBER_DAYS", 30, int))
        # Sign-ins ended or expired are kept this many days, then `flask lms prune-sign-ins`
        # (the prune-sign-ins job kind, cron: daily) deletes them.
        self.SIGN_IN_DEVICES_KEPT_DAYS = _number("SIGN_IN_DEVICES_KEPT_DAYS", 30, int)
        # The site's origin (https://lms.example.org): every absolute URL the site builds (mailed
        # links, certificate ids, the API's Link headers) uses it, never a request's Host header, and
        # requests naming another host get 400 (lms/web/site_url.py). Production refuses to start
        # without it. Empty: the request's address (the API's links are then paths).
        self.BASE_URL = os.environ.get("LMS_BASE_URL", "").strip().rstrip("/")
        self.XAPI_LRS_ENDPOINT = os.environ.get("XAPI_LRS_ENDPOINT", "")
        self.XAPI_LRS_USERNAME = os.environ.get("XAPI_LRS_USERNAME", "")
        self.XAPI_LRS_PASSWORD = os.environ.get("XAPI_LRS_PASSWORD", "")
        self.XAPI_HOMEPAGE = os.environ.get("XAPI_HOMEPAGE", "")
        redis_url = _redis_url("REDIS_URL", "")
        self.RATELIMIT_STORAGE_URI = redis_url or "memory://"
        # Production refuses to start with several workers on in-memory limits unless this is set.
        self.ALLOW_IN_MEMORY_LIMITS = os.environ.get("ALLOW_IN_MEMORY_LIMITS", "").lower() in {"1", "true", "yes"}
        self.REDIS_URL = redis_url or ""  # RQ jobs (mail delivery); unset: after the response
        # Background jobs (lms/jobs): a cohort with more learners than this has its CSV/JSON exports
        # made by a job (progress, then a download); a failed try is retried after JOBS_RETRY_FIRST
        # seconds, doubling up to JOBS_RETRY_LONGEST; a running job's claim lasts JOBS_LEASE seconds.
        self.EXPORT_BACKGROUND_ABOVE = _number("EXPORT_BACKGROUND_ABOVE", 2000, int)
        self.EXPORT_KEEP_DAYS = _number("EXPORT_KEEP_DAYS", 7, int)  # then `expire-exports` deletes a job's file
        # Learners' home and progress pages and cohorts' heat maps kept per process (lms/web/page_cache.py), at most
        # PAGE_CACHE_SIZE of them (0: never kept), each for at most PAGE_CACHE_SECONDS.
        self.PAGE_CACHE_SIZE = _number("PAGE_CACHE_SIZE", 2048, int, zero=True)
        self.PAGE_CACHE_SECONDS = _number("PAGE_CACHE_SECONDS", 900.0, float)
        # ... and shared by every process of every node through this Redis (by default REDIS_URL's;
        # empty: each process keeps its own only): a page built by one is served by the others.
        self.PAGE_CACHE_REDIS_URL = _redis_url("PAGE_CACHE_REDIS_URL", self.REDIS_URL)
        # Each cohort's heat map lines kept per process, learner by learner (lms/competency/lines.py): at most
        # HEAT_LINES_LEARNERS learners' in all (0: the whole cohort read in SQL on every heat map built).
        self.HEAT_LINES_LEARNERS = _number("HEAT_LINES_LEARNERS", 10000, int, zero=True)
        # off: answers leave uncompressed (a proxy in front compresses them, or must not)
        self.COMPRESS_REGISTER = _choice("COMPRESS_RESPONSES", "on", ("on", "off")) == "on"
        # Answers of this many bytes and more are compressed. Compressing a page costs its process
        # 0.1-0.3 ms of CPU (the context zstd makes, cold, more than the work), a tenth of what
        # a kept learner page costs to serve: below 64 KiB (the learner's home, 15 KB; their
        # progress page, 46 KB) the site keeps that capacity (bench/everyday.py, issue 14's
        # point 4); where lines are slow, lower it (500 compresses everything worth a header).
        self.COMPRESS_MIN_SIZE = _number("COMPRESS_MIN_SIZE", 64 * 1024, int, zero=True)
        # Python's cyclic garbage collector runs each time this many more objects were made than
        # freed (its default, 700, made pages that read thousands of rows, a 500-learner cohort's
        # gradebook or trend, spend about half their time collecting: bench/README.md). 0: Python's.
        self.GC_FIRST_GENERATION = _number("GC_FIRST_GENERATION", 10_000, int, zero=True)
        self.JOBS_RETRY_FIRST = _number("JOBS_RETRY_FIRST", 30.0, float)
        self.JOBS_RETRY_LONGEST = _number("JOBS_RETRY_LONGEST", 3600.0, float)
        self.JOBS_LEASE = _number("JOBS_LEASE", 7200.0, float)
        self.JOBS_TIMEOUT = _number("JOBS_TIMEOUT", 3600, int)
        # Where uploads are kept (lms/storage): local (UPLOAD_DIR, else instance/uploads) or
        # database (every app node reads them); `flask lms move-files --to ...` moves them.
        self.FILE_STORAGE = _choice("FILE_STORAGE", "local", ("local", "database"))
        self.UPLOAD_DIR = os.environ.get("UPLOAD_DIR", "")
        # Proxies in front of the app whose X-Forwarded-For/-Proto/-Host are trusted (a load
        # balancer: 1), so sign-in limits count the client's address, not the proxy's. 0: none.
        proxies = os.environ.get("TRUSTED_PROXIES", "").strip()
        self.TRUSTED_PROXIES = _number("TRUSTED_PROXIES", 0, int) if proxies not in ("", "0") else 0
        self.MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
        # starttls (port 587), tls (implicit TLS, port 465) or none (a local relay, port 25)
        self.MAIL_SECURITY = _choice("MAIL_SECURITY", "starttls", ("starttls", "tls", "none"))
        self.MAIL_PORT = _number("MAIL_PORT", {"starttls": 587, "tls": 465, "none": 25}[self.MAIL_SECURITY], int)
        self.MAIL_CA_FILE = os.environ.get("MAIL_CA_FILE", "")  # certificate authorities (default: the system's)
        self.MAIL_TIMEOUT = _number("MAIL_TIMEOUT", 10.0, float)  # seconds per SMTP operation
        # Failed messages are tried again after 1 minute, doubling up to 6 hours, 8 tries in all.
        self.MAIL_RETRY_FIRST = _number("MAIL_RETRY_FIRST", 60.0, float)
        self.MAIL_RETRY_LONGEST = _number("MAIL_RETRY_LONGEST", 6 * 3600.0, float)
        self.MAIL_MAX_ATTEMPTS = _number("MAIL_MAX_ATTEMPTS", 8, int)
        self.MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
        self.MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
        self.MAIL_FROM = os.environ.get("MAIL_FROM", "lms@localhost")
        # Where people ask to have their account erased when no organization administrator of
        # theirs can be named (the "Your data" page); the address mail comes from by default.
        self.PRIVACY_CONTACT = os.environ.get("PRIVACY_CONTACT", "").strip() or self.MAIL_FROM
        # Two-factor sign-in (lms/twofactor) required of site admins, organization admins and the
        # instructors of organizations that ask for it. Always on in production; off by default in
        # development (the demo's admins sign in with their password) and in tests (tests turn it on).
        self.TWO_FACTOR_REQUIRED = self.ENV_NAME == "production" or os.environ.get(
            "TWO_FACTOR_REQUIRED", "").strip().lower() in {"1", "true", "yes"}

    def _secret_key(self, instance_path: Path) -> str:
        from_env = os.environ.get("SECRET_KEY")
        if from_env:
            return from_env
        key_file = instance_path / "secret_key"
        if key_file.exists():
            return key_file.read_text().strip()
        if not self.GENERATE_SECRET_KEY:
            raise RuntimeError(
                "No SECRET_KEY: set the SECRET_KEY environment variable "
                f"or write a key to {key_file}"
            )
        instance_path.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        key_file.write_text(key)
        key_file.chmod(0o600)
        return key


def engine_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """SQLALCHEMY_ENGINE_OPTIONS for the configured database: PostgreSQL connections get
    DATABASE_CONNECT_TIMEOUT as libpq's ``connect_timeout`` (unless the URL sets one)."""
    options: dict[str, Any] = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    url = make_url(str(config.get("SQLALCHEMY_DATABASE_URI") or "sqlite://"))
    timeout = config.get("DATABASE_CONNECT_TIMEOUT")
    if url.get_backend_name() == "postgresql" and timeout and "connect_timeout" not in url.query:
        options["connect_args"] = {"connect_timeout": int(timeout), **dict(options.get("connect_args") or {})}
    return options


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    WEBHOOK_ALLOW_LOCAL_HTTP = True
    SSO_ALLOW_LOCAL = True


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    WTF_CSRF_ENABLED = False
    # The suite's own small quizzes exercise other features and are not written to pass the
    # item-bank lint; tests/test_bank_lint.py turns it on, for its cases and the shipped bank.
    ITEM_BANK_LINT = False
    WEBHOOK_ALLOW_LOCAL_HTTP = True
    SSO_ALLOW_LOCAL = True

    def __init__(self, instance_path: Path) -> None:
        super().__init__(instance_path)
        # A testing app leaves the collector's thresholds as it finds them: the suite sets its
        # own (tests/conftest.py), and a test sets the configured one on an app of its own.
        self.GC_FIRST_GENERATION = 0
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(
            os.environ.get("TEST_DATABASE_URL")
            or os.environ.get("DATABASE_URL")
            or f"sqlite:///{instance_path / 'test.sqlite3'}"
        )


class ProductionConfig(Config):
    ENV_NAME = "production"
    GENERATE_SECRET_KEY = False
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
