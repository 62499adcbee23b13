"""Outbox delivery, one way for every feature that sends rows of an outbox table to another
machine (lms/mail's messages, lms/webhooks' deliveries, lms/xapi's statements). A feature
keeps only what is its own: how its rows are read and sent, and what it records beside the
shared columns. Features depend on this module, never the reverse.

A row is delivered in three steps, so that no transaction is held open while another
machine is talked to and two deliverers never send one row twice: ``Outbox.claim`` takes
due rows with a write conditional on their still being due that pushes their next attempt
a lease ahead, ``Outbox.send`` sends them, and ``Outbox.record`` writes each result (done,
or the error and when to try again under the ``Backoff``; failed once the attempts are used
up). ``deliver`` runs the three, each claim and each result committed in a unit of work of
its own. A run claims ``claim_size`` rows at a time, never all that are due: a deliverer
holds only what it can send within its lease, and renews the lease on what it still holds
when half of it has gone, so a slow run (a thousand messages to a slow relay) is never
overtaken by the next run taking its rows again once their lease ran out.

Where delivery runs (``Courier``): never in the request whose work queued the rows. With
``REDIS_URL`` set their ids go to the feature's RQ queue as one job; otherwise (or when
Redis does not answer) they are sent by the process that served the request once its
response has gone out (``response.call_on_close``), stopping at the first failure. Whatever
is not delivered there stays due, and the feature's cron command retries it."""

from __future__ import annotations

import bisect
import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

import requests
from flask import Flask, Response, current_app, g
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from sqlalchemy import ColumnElement, Select, and_, or_, select, update

from lms.database import DbSession, unit_of_work, utcnow
from lms.extensions import db
from lms.redis_link import RedisLink

ERROR_LENGTH = 2000  # of the last error kept on a row
CLAIM_SIZE = 50  # rows a deliverer claims (and holds leased) at a time
JOB_SIZE = 500  # rows' ids handed to one RQ job, so that each job ends well within its timeout
REDIS_KEY = "lms.mail.redis"


# --------------------------------------------------------------------------- Redis


def redis_link(app: Flask) -> RedisLink | None:
    """One link per app (``REDIS_URL``), shared by the job runner and every outbox."""
    url = app.config.get("REDIS_URL") or ""
    if not url:
        return None
    link: RedisLink | None = app.extensions.get(REDIS_KEY)
    if link is None or link.url != url:
        link = app.extensions[REDIS_KEY] = RedisLink(url, float(app.config.get("REDIS_RETRY_AFTER", 30)),
                                                     "jobs run in this process instead", "lms.mail")
    return link


class Worker(SimpleWorker):
    """The RQ worker of every ``flask lms ... worker`` command: jobs run in this process,
    inside its app context (``SimpleWorker``), and stopping takes about a second.

    RQ listens for commands sent to a worker (stop the job, shut down) on a thread that waits
    up to 60 s for a message at a time. To stop, it unsubscribes, then stops that thread and
    joins it. When the thread reads the unsubscribe's reply before it is told to stop, it goes
    back to waiting, and redis-py 8's ``PubSubWorkerThread.stop()`` joins it without a limit:
    a warm shutdown (SIGTERM) or the end of a ``--burst`` run hung for up to a minute. Here the
    thread waits ``LISTEN_WAIT`` seconds at a time, so it sees the stop within that."""

    LISTEN_WAIT = 1.0  # seconds

    def subscribe(self) -> None:
        """RQ's ``subscribe`` with the thread's wait bounded (RQ has no setting for it)."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        # rq's __init__ sets the attribute to None without a type, so mypy takes it for None
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=self.LISTEN_WAIT, daemon=True, exception_handler=self._pubsub_exception_handler)


# --------------------------------------------------------------------------- the policy


@dataclass(frozen=True)
class Backoff:
    """Try again after ``first``, doubling each time up to ``longest``; give up after ``attempts``."""

    first: timedelta = timedelta(minutes=1)
    longest: timedelta = timedelta(hours=6)
    attempts: int = 8
    # How long a claimed row is left to its deliverer before another may take it.
    lease: timedelta = timedelta(minutes=5)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], prefix: str, attempts: int = 8) -> Backoff:
        """``{prefix}_RETRY_FIRST``, ``_RETRY_LONGEST`` (seconds), ``_MAX_ATTEMPTS``; the lease
        three times ``{prefix}_TIMEOUT``, at least a minute."""
        return cls(first=timedelta(seconds=float(config.get(f"{prefix}_RETRY_FIRST", 60))),
                   longest=timedelta(seconds=float(config.get(f"{prefix}_RETRY_LONGEST", 6 * 3600))),
                   attempts=int(config.get(f"{prefix}_MAX_ATTEMPTS", attempts)),
                   lease=timedelta(seconds=max(60.0, 3 * float(config.get(f"{prefix}_TIMEOUT") or 10))))

    def after(self, attempts: int) -> timedelta:
        """The wait before the next try, once ``attempts`` tries have failed."""
        wait: timedelta = self.first * 2 ** min(30, max(0, attempts - 1))
        return min(self.longest, wait)


# --------------------------------------------------------------------------- rows and results


class Claim(Protocol):
    """A row taken for one attempt (plain values: no session is held meanwhile)."""

    @property
    def id(self) -> int: ...
    @property
    def attempts(self) -> int: ...


C = TypeVar("C", bound=Claim)


@dataclass(frozen=True)
class Outcome:
    """One attempt's result: ``error`` None when delivered; ``status`` the HTTP status when
    there was an answer; ``halt``: a deliverer told to stop at the first failure leaves the
    rest for later (a server that hangs costs one timeout)."""

    error: str | None = None
    status: int | None = None
    halt: bool = False
    answer: str = ""  # a delivery's: the start of the receiver's answer (a failure's is in ``error``)

    @property
    def done(self) -> bool:
        return self.error is None


def note_pending(session: DbSession, key: str, ids: Iterable[int]) -> None:
    """Remember rows this unit of work queued (under ``key`` in ``session.info``)."""
    session.info.setdefault(key, []).extend(ids)


def take_pending(session: DbSession, key: str) -> list[int]:
    """The ids noted since the last call (the request's, after its commit)."""
    ids: list[int] = session.info.pop(key, [])
    return ids


class Outbox(ABC, Generic[C]):
    """One feature's outbox: its table (``model``, with ``id``, ``status``, ``attempts``,
    ``last_attempt_at``, ``next_attempt_at``, ``error`` and the ``done_at`` column), its
    statuses, how a claimed row is read (``load``) and sent (``send``)."""

    model: ClassVar[type[Any]]
    pending: ClassVar[StrEnum]
    done: ClassVar[StrEnum]
    failed: ClassVar[StrEnum]
    done_at: ClassVar[str]  # the column stamped when a row is delivered
    # A column stamped with the next try a failed try sets (None when done), telling a row
    # waiting out its retry from one a deliverer holds: both are pending with their next
    # attempt ahead, but a claim moves it off this value (None: the feature has no need).
    retry_at: ClassVar[str | None] = None

    def __init__(self, backoff: Backoff, claim_size: int = CLAIM_SIZE) -> None:
        self.backoff = backoff
        self.claim_size = max(1, claim_size)

    # ---- claiming (class-level: the same for any configuration)

    @classmethod
    def due(cls, now: datetime) -> ColumnElement[bool]:
        return and_(cls.model.status == cls.pending,
                    or_(cls.model.next_attempt_at.is_(None), cls.model.next_attempt_at <= now))

    @classmethod
    def candidates(cls, now: datetime) -> Select[tuple[int]]:
        """The due rows' ids, oldest first (a feature may narrow it)."""
        return select(cls.model.id).where(cls.due(now)).order_by(cls.model.id)

    @classmethod
    @abstractmethod
    def load(cls, session: DbSession, ids: Iterable[int]) -> list[C]:
        """The claimed rows' values, by id."""

    @classmethod
    def claim(cls, session: DbSession, now: datetime, lease: timedelta, *, ids: Sequence[int] | None = None,
              limit: int | None = None, after: int | None = None) -> list[C]:
        """Take the due rows (of ``ids`` when given, past the id ``after`` when given, oldest
        first, at most ``limit``) for one attempt: their next attempt moves a lease ahead, by
        a write conditional on their still being due, so a concurrent deliverer takes none of
        them. Flushes only."""
        query = cls.candidates(now).limit(limit)
        if ids is not None:
            if not ids:
                return []
            query = query.where(cls.model.id.in_(ids))
        if after is not None:
            query = query.where(cls.model.id > after)
        candidates = list(session.scalars(query))
        if not candidates:
            return []
        taken = set(session.scalars(
            update(cls.model).where(cls.model.id.in_(candidates), cls.due(now))
            .values(next_attempt_at=now + lease).returning(cls.model.id)
            .execution_options(synchronize_session=False)))
        return cls.load(session, taken)

    @classmethod
    def to_send(cls, session: DbSession, claimed: list[C]) -> list[C]:
        """Which of a claim's rows to send: all of them, unless an outbox settles some
        otherwise as it takes them (the mail's recalled messages are cancelled). In the
        claim's unit of work; flushes only."""
        return claimed

    @classmethod
    def renew(cls, session: DbSession, ids: Sequence[int], held_until: datetime, until: datetime) -> set[int]:
        """Move the lease of claimed rows still held (pending, leased until ``held_until``) to
        ``until``; the ids renewed (a row whose lease ran out and another deliverer took is
        no longer this one's). Flushes only."""
        if not ids:
            return set()
        return set(session.scalars(
            update(cls.model).where(cls.model.id.in_(ids), cls.model.status == cls.pending,
                                    cls.model.next_attempt_at == held_until)
            .values(next_attempt_at=until).returning(cls.model.id).execution_options(synchronize_session=False)))

    @classmethod
    def release(cls, session: DbSession, ids: Sequence[int], held_until: datetime | None = None) -> None:
        """Give claimed rows back, due at once (their deliverer stopped before them); with
        ``held_until``, only those still leased until then (not another deliverer's since).
        Flushes only."""
        if ids:
            held = [] if held_until is None else [cls.model.next_attempt_at == held_until]
            session.execute(update(cls.model).where(cls.model.id.in_(ids), cls.model.status == cls.pending, *held)
                            .values(next_attempt_at=None).execution_options(synchronize_session=False))
            session.flush()

    # ---- sending and recording

    def groups(self, claimed: Sequence[C]) -> Iterator[Sequence[C]]:
        """What goes out in one send: a row at a time unless the feature batches."""
        for item in claimed:
            yield [item]

    @contextmanager
    def sending(self) -> Iterator[None]:
        """Held open while a run sends (e.g. one HTTP session)."""
        yield

    @abstractmethod
    def send(self, group: Sequence[C], now: datetime) -> list[tuple[Sequence[C], Outcome]]:
        """Send one group (at ``now``); the result of each part of it. Never raises for a
        failed send."""

    def columns(self, outcome: Outcome) -> dict[str, Any]:
        """The feature's own columns recorded with an attempt."""
        return {}

    def record(self, session: DbSession, items: Sequence[C], now: datetime, outcome: Outcome) -> None:
        """Write one attempt's result for these rows: done, or the error and the next try
        (failed once the attempts are used up). Flushes only."""
        for item in items:
            attempts = item.attempts + 1
            values: dict[str, Any] = {"attempts": attempts, "last_attempt_at": now, **self.columns(outcome)}
            if outcome.error is None:
                values |= {"status": self.done, self.done_at: now, "error": "", "next_attempt_at": None}
            else:
                failed = attempts >= self.backoff.attempts
                values |= {"status": self.failed if failed else self.pending, "error": outcome.error[:ERROR_LENGTH],
                           "next_attempt_at": None if failed else now + self.backoff.after(attempts)}
            if self.retry_at is not None:
                values[self.retry_at] = values["next_attempt_at"]
            session.execute(update(self.model).where(self.model.id == item.id).values(**values)
                            .execution_options(synchronize_session=False))
        session.flush()


def deliver(session: DbSession, outbox: Outbox[C], *, ids: Sequence[int] | None = None, limit: int | None = None,
            now: datetime | None = None, stop_on_failure: bool = False,
            clock: Callable[[], float] = time.monotonic) -> int:
    """Send the due rows (of ``ids`` when given, at most ``limit``); returns how many were
    delivered. A failure is recorded on its row with its next try, never raised. A job, not
    a service: each claim and each result is committed in a unit of work of its own, so no
    transaction stays open while the other machine is talked to. The rows are claimed
    ``outbox.claim_size`` at a time in the order of their ids, so a run tries each due row
    once; when half a claim's lease has gone (by ``clock``, in seconds) the rows it still
    holds are leased again. ``stop_on_failure`` leaves the rest for later after a halting
    failure."""
    wanted = sorted(set(ids)) if ids is not None else None
    delivered = taken = 0
    after = 0  # the highest id this run has gone past
    with outbox.sending():
        while limit is None or taken < limit:
            size = outbox.claim_size if limit is None else min(outbox.claim_size, limit - taken)
            among: list[int] | None = None
            if wanted is not None:
                start = bisect.bisect_right(wanted, after)
                among = wanted[start:start + size]
                if not among:
                    break
            claimed_at = now or utcnow()
            with unit_of_work(session):
                claimed = outbox.claim(session, claimed_at, outbox.backoff.lease, ids=among, limit=size, after=after)
                sending = outbox.to_send(session, claimed)
            # past every row claimed, those settled otherwise too: a claim made only of such
            # rows (recalled mail) is no reason to stop before the rest
            after = max([after, *(among or []), *(item.id for item in claimed)])
            if not claimed and among is None:
                break
            taken += len(claimed)
            sent, halted = _send_claimed(session, outbox, sending, claimed_at, now, clock, stop_on_failure)
            delivered += sent
            if halted:
                break
    return delivered


def _send_claimed(session: DbSession, outbox: Outbox[C], claimed: Sequence[C], claimed_at: datetime,
                  now: datetime | None, clock: Callable[[], float], stop_on_failure: bool) -> tuple[int, bool]:
    """Send one claim's rows, leasing those not sent yet again when half the lease has gone
    (a row another deliverer took meanwhile is left to it); with ``stop_on_failure``, a
    halting failure gives the rest back. How many were delivered, and whether it stopped."""
    lease = outbox.backoff.lease
    held_until, since = claimed_at + lease, clock()
    unsent = {item.id for item in claimed}
    delivered = 0
    for number, group in enumerate(outbox.groups(claimed)):
        if number and clock() - since >= lease.total_seconds() / 2:
            at = now or utcnow()
            with unit_of_work(session):
                unsent = outbox.renew(session, sorted(unsent), held_until, at + lease)
            held_until, since = at + lease, clock()
        group = [item for item in group if item.id in unsent]
        if not group:
            continue
        results = outbox.send(group, now or utcnow())
        for items, outcome in results:
            with unit_of_work(session):
                outbox.record(session, items, now or utcnow(), outcome)
            delivered += len(items) if outcome.done else 0
        unsent -= {item.id for item in group}
        if stop_on_failure and any(outcome.halt for _, outcome in results):
            with unit_of_work(session):
                outbox.release(session, sorted(unsent), held_until)
            return delivered, True
    return delivered, False


# --------------------------------------------------------------------------- over HTTP


class HttpOutbox(Outbox[C]):
    """An outbox POSTing to web servers: one HTTP session a run; the status recorded."""

    http: requests.Session

    @contextmanager
    def sending(self) -> Iterator[None]:
        with requests.Session() as self.http:
            yield

    def columns(self, outcome: Outcome) -> dict[str, Any]:
        return {"response_status": outcome.status}


ANSWER_BYTES = 300  # of a receiver's answer, kept with the attempt's result


def post(http: requests.Session, url: str, body: str, headers: Mapping[str, str], timeout: float,
         auth: tuple[str, str] | None = None) -> Outcome:
    """POST ``body``; 2xx is delivered, anything else an error. Either way the start of the
    answer (``ANSWER_BYTES``) is kept: a success's in ``Outcome.answer``, a failure's in its
    error. No redirects are followed. Never raises."""
    try:
        with http.post(url, data=body.encode(), headers=dict(headers), auth=auth, timeout=timeout,
                       allow_redirects=False, stream=True) as response:
            excerpt = next(response.iter_content(ANSWER_BYTES, decode_unicode=False), b"")[:ANSWER_BYTES]
            answer = excerpt.decode("utf-8", "replace").strip()
            if 200 <= response.status_code < 300:
                return Outcome(None, response.status_code, answer=answer)
            return Outcome(f"HTTP {response.status_code}" + (f": {answer}" if answer else ""), response.status_code)
    except requests.RequestException as exc:
        return Outcome(_described(exc, url))


def _described(exc: requests.RequestException, url: str) -> str:
    """The error as an admin reads it on a delivery log: a refused or failed connection
    says where and why ("could not connect to host:9: Connection refused"), not the nested
    retries requests reports; anything else as it was raised."""
    reason = _ERRNO.search(str(exc))
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout) and reason:
        where = urlsplit(url)
        return f"ConnectionError: could not connect to {where.hostname}:{where.port or _PORTS.get(where.scheme, '')}: {reason.group(1)}"
    return f"{exc.__class__.__name__}: {exc}"


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")  # the system's own words: "[Errno 111] Connection refused"
_PORTS = {"http": 80, "https": 443}


# --------------------------------------------------------------------------- where it runs


class Deliver(Protocol):
    """A feature's delivery run with the app's configuration (e.g. its ``deliver_pending``)."""

    def __call__(self, session: DbSession, config: Mapping[str, Any], *, ids: Sequence[int] | None = None,
                 limit: int | None = None, stop_on_failure: bool = False) -> int: ...


def never(config: Mapping[str, Any]) -> bool:
    return False


def always(config: Mapping[str, Any]) -> bool:
    return True


@dataclass(frozen=True)
class Courier:
    """Where one outbox's rows are delivered after the work that queued them committed: the
    RQ ``queue`` (the job ``job``, a module-level function's dotted name, calling
    ``run_job``); else after the response (at most ``limit_setting`` of them); else here."""

    queue: str
    job: str
    pending_key: str  # in ``session.info``: the ids the unit of work queued (``note_pending``)
    after_response_key: str  # on ``g``: the ids a response's close sends
    deliver: Deliver
    what: str  # for the log: "mail delivery"
    log: logging.Logger
    limit_setting: str | None = None
    # Deliver in the request itself (a local transport that cannot hang).
    inline: Callable[[Mapping[str, Any]], bool] = never
    # Whether a response should wait to send anything (the feature is on).
    armed: Callable[[Mapping[str, Any]], bool] = always

    def run_job(self, ids: list[int]) -> int:
        """The RQ job's work: deliver these rows (those still due)."""
        try:
            return self.deliver(db.session, current_app.config, ids=ids)
        finally:
            db.session.remove()

    def enqueue(self, app: Flask, ids: Sequence[int]) -> bool:
        """Hand the rows to the RQ queue, ``JOB_SIZE`` a job; False when there is no
        (reachable) Redis."""
        link = redis_link(app)
        if link is None or not link.usable():
            return False
        try:
            queue = Queue(self.queue, connection=link.connection)
            ordered = sorted(ids)
            queue.enqueue_many([Queue.prepare_data(self.job, (ordered[start:start + JOB_SIZE],), timeout=600)
                                for start in range(0, len(ordered), JOB_SIZE)])
        except RedisError as exc:
            link.failed(exc)
            return False
        return True

    def after_response(self, app: Flask, ids: list[int]) -> None:
        """Send a request's rows once its response has gone; never raises."""
        if not ids:
            return
        with app.app_context():
            try:
                limit = int(app.config.get(self.limit_setting, 20)) if self.limit_setting else None
                self.deliver(db.session, app.config, ids=ids, limit=limit, stop_on_failure=True)
            except Exception:  # the response is gone: log it, the cron command retries
                self.log.exception("%s after the response failed", self.what)
            finally:
                db.session.remove()

    def arm(self, response: Response) -> Response:
        """Before the request's commit: a place for its rows, sent when the server closes
        the response (after sending it)."""
        if not self.armed(current_app.config):
            return response
        ids: list[int] = []
        setattr(g, self.after_response_key, ids)
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # Flask types the proxy as the app itself
        response.call_on_close(lambda: self.after_response(app, ids))
        return response

    def after_commit(self, session: DbSession) -> None:
        """The request's work has committed: its rows go out, away from the request."""
        ids = take_pending(session, self.pending_key)
        if not ids:
            return
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # Flask types the proxy as the app itself
        if self.inline(app.config):
            self.deliver(session, app.config, ids=ids)
        elif not self.enqueue(app, ids):
            after_response: list[int] | None = g.get(self.after_response_key)
            if after_response is None:  # no response to wait for
                self.after_response(app, ids)
            else:
                after_response.extend(ids)
