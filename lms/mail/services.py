"""Queue mail in the outbox (flush only); deliver it outside the request, retried with backoff.

Delivery is lms/jobs/outbox's (claim with a lease, send with no transaction open, record
each result; ``failed`` after ``MAIL_MAX_ATTEMPTS``); mail adds its transports and records
which one sent a message.

A message carrying a one-time link (a password reset, an unlock, an invitation, a
stakeholder's or expert's rating link) names it when queued (``one_time``): the outbox keeps
a copy of the body with it blanked, which replaces the body once the message is sent. A
retry of an unsent message still sends the link; a sent one leaves no usable link behind,
and the site admin's outbox page only ever shows the blanked copy."""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, ClassVar, Protocol

import click
from sqlalchemy import ColumnElement, and_, case, func, insert, or_, select, update

from lms.audit import services as audit
from lms.audit.models import AuditAction
from lms.audit.services import Origin
from lms.database import DbSession, among
from lms.jobs import outbox
from lms.jobs.outbox import Backoff, Outbox, Outcome, deliver, note_pending
from lms.mail.models import REDACTED, MailStatus, OutboxMessage

log = logging.getLogger("lms.mail")


# session.info key: ids of the messages this unit of work queued, delivered once it committed
PENDING = "lms.mail.pending"

SECURITIES = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
AUDIT_ERROR_LENGTH = 300  # of each retried message's last error, in the audit entry


def _note_pending(session: DbSession, ids: Iterable[int]) -> None:
    note_pending(session, PENDING, ids)


def redacted(body: str, one_time: Sequence[str]) -> str | None:
    """``body`` with each of the ``one_time`` links blanked (None: it holds none of them)."""
    kept = body
    for link in sorted({link for link in one_time if link}, key=len, reverse=True):
        kept = kept.replace(link, REDACTED)
    return kept if kept != body else None


def queue_mail(session: DbSession, recipient: str, subject: str, body: str, *,
               one_time: Sequence[str] = ()) -> OutboxMessage:
    """Queue a message; ``one_time``: the single-use links in ``body``, blanked once it is sent."""
    message = OutboxMessage(recipient=recipient, subject=subject, body=body, redacted_body=redacted(body, one_time))
    session.add(message)
    session.flush()
    _note_pending(session, [message.id])
    return message


def queue_mails(session: DbSession, messages: Iterable[tuple[str, str, str]], *,
                recall_keys: Sequence[str | None] = ()) -> int:
    """Queue many (recipient, subject, body) messages in one statement; returns how many.
    ``recall_keys``, one a message when given: what each tells of, under which ``recall``
    cancels it while it is unsent (None: it is never recalled)."""
    rows: list[dict[str, Any]] = [{"recipient": recipient, "subject": subject, "body": body}
                                  for recipient, subject, body in messages]
    if recall_keys:
        if len(recall_keys) != len(rows):
            raise ValueError("queue_mails: one recall key a message.")
        for row, key in zip(rows, recall_keys, strict=True):
            row["recall_key"] = key
    if not rows:
        return 0
    ids = session.scalars(insert(OutboxMessage).returning(OutboxMessage.id), rows).all()
    _note_pending(session, ids)
    return len(rows)


def queue_keyed(session: DbSession, messages: Mapping[str, tuple[str, str, str]]) -> dict[str, int]:
    """Queue (recipient, subject, body) messages each under its own recall key (the
    mapping's keys: ``recall``), in one statement; answers each key's message id (to find
    the message again by what it tells of, as a digest is by its notices)."""
    rows = [{"recipient": recipient, "subject": subject, "body": body, "recall_key": key}
            for key, (recipient, subject, body) in messages.items()]
    if not rows:
        return {}
    made = {str(key): message_id for message_id, key in session.execute(
        insert(OutboxMessage).returning(OutboxMessage.id, OutboxMessage.recall_key), rows)}
    if len(made) != len(rows):
        raise ValueError("queue_keyed: each message under a key of its own.")
    _note_pending(session, sorted(made.values()))
    return made


def recall(session: DbSession, keys: Collection[str], now: datetime) -> int:
    """Cancel the unsent messages queued under ``keys`` (``queue_mails``' ``recall_keys``):
    what they told of was taken back. A cancelled message is never sent; its row stays, with
    when it was cancelled, and the site admin's outbox page lists it. A message sent stays
    sent. One conditional statement (``recallable``) that loses to a deliverer: one due,
    one waiting out its wait after a failed try and one given up on are cancelled; one a
    worker is sending at that moment goes out and is recorded sent, but it is marked
    recalled (``cancelled_at``, still pending): should that try fail, it is cancelled
    when it would be tried again (``MailOutbox.to_send``), never sent. Answers how many were
    cancelled. Flushes only."""
    wanted = sorted(set(keys))
    if not wanted:
        return 0
    return len(_cancel(session, OutboxMessage.recall_key.in_(wanted), now, mark_held=True))


def cancel(session: DbSession, message_ids: Collection[int], now: datetime) -> dict[int, str | None]:
    """Cancel these messages if they are still unsent and nobody holds them (``recall``'s
    condition, by id: a digest whose notice was taken back); answers the ids cancelled,
    each with its recall key. One statement. Flushes only."""
    if not message_ids:
        return {}
    return _cancel(session, among(OutboxMessage.id, message_ids), now)


def recallable(now: datetime) -> ColumnElement[bool]:
    """A message a recall may cancel at ``now``: due and unclaimed (``MailOutbox.due``, the
    claim's own condition), waiting out the wait after a failed try (``MailOutbox.waiting``)
    or given up on. Not one a deliverer holds (claimed, its next attempt a lease ahead: not
    due, and moved off its ``retry_at``), nor one sent or cancelled."""
    return or_(MailOutbox.due(now), MailOutbox.waiting(), OutboxMessage.status == MailStatus.FAILED)


def _cancel(session: DbSession, which: ColumnElement[bool], now: datetime, *,
            mark_held: bool = False) -> dict[int, str | None]:
    """Cancel the messages ``which`` that are ``recallable``; with ``mark_held``, in the same
    statement, mark those a deliverer holds recalled (``cancelled_at``, left pending: the
    claim of their next try cancels them). The ids cancelled, with their recall keys."""
    if mark_held:  # every unsent one: the recallable cancelled, the held marked
        can = recallable(now)
        statement = (update(OutboxMessage).where(which, OutboxMessage.status.in_(RETRIABLE))
                     .values(status=case((can, MailStatus.CANCELLED), else_=OutboxMessage.status),
                             next_attempt_at=case((can, None), else_=OutboxMessage.next_attempt_at),
                             retry_at=case((can, None), else_=OutboxMessage.retry_at), cancelled_at=now))
    else:
        statement = (update(OutboxMessage).where(which, recallable(now))
                     .values(status=MailStatus.CANCELLED, cancelled_at=now, next_attempt_at=None, retry_at=None))
    cancelled = {message_id: key for message_id, key, status in session.execute(
        statement.returning(OutboxMessage.id, OutboxMessage.recall_key, OutboxMessage.status)
        .execution_options(synchronize_session=False)) if status == MailStatus.CANCELLED}
    session.flush()
    return dict(sorted(cancelled.items()))


def take_pending(session: DbSession) -> list[int]:
    """The ids of the messages queued since the last call (the request's, after its commit)."""
    return outbox.take_pending(session, PENDING)


# --------------------------------------------------------------------------- transports


class Letter(Protocol):
    """What a transport sends: an outbox message, or its values claimed for an attempt."""

    @property
    def recipient(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def body(self) -> str: ...


@dataclass(frozen=True)
class Claimed:
    """A message taken for one delivery attempt (plain values: no session is held meanwhile)."""

    id: int
    recipient: str
    subject: str
    body: str
    attempts: int
    recalled: bool = False  # recalled while a worker held it for an earlier try (``recall``)


class Transport(ABC):
    name: ClassVar[str]
    # A transport that talks to another machine may be slow or hang: requests never wait
    # for it (lms.mail.views hands its messages to a worker or sends them after the response).
    remote: ClassVar[bool] = True

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config

    @abstractmethod
    def send(self, message: Letter) -> None: ...


LINK = re.compile(r"https?://\S+|(?<!\S)/[\w./?=&%#-]+")


def links_in(text: str) -> list[str]:
    """The URLs (and site paths) in a plain-text message, in order, each once."""
    return list(dict.fromkeys(match.rstrip(".,;:)") for match in LINK.findall(text)))


class LogTransport(Transport):
    """Development and tests: the message goes to the log and stays in the outbox. It is also
    printed to the console (recipient, subject, links), so under ``flask run`` a developer
    can follow a reset or notification link without a mail server."""

    name = "log"
    remote = False

    def send(self, message: Letter) -> None:
        log.info("mail to %s: %s\n%s", message.recipient, message.subject, message.body)
        lines = [f"[mail] to {message.recipient}: {message.subject}"]
        lines += [f"[mail]   {link}" for link in links_in(message.body)]
        click.echo("\n".join(lines), err=True)


class SmtpTransport(Transport):
    """SMTP with the security of ``MAIL_SECURITY``: ``starttls`` (upgrade a plain connection,
    port 587), ``tls`` (TLS from the first byte, port 465) or ``none`` (a local relay, port
    25). Certificates are verified against the system's authorities, or ``MAIL_CA_FILE``.
    Every network operation gives up after ``MAIL_TIMEOUT`` seconds."""

    name = "smtp"

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.get("MAIL_CA_FILE") or None)

    def send(self, message: Letter) -> None:
        email = EmailMessage()
        email["From"] = self.config["MAIL_FROM"]
        email["To"] = message.recipient
        email["Subject"] = message.subject
        email.set_content(message.body)
        security = self.config.get("MAIL_SECURITY") or "starttls"
        host = self.config["MAIL_SERVER"]
        port = int(self.config.get("MAIL_PORT") or DEFAULT_PORTS[security])
        timeout = float(self.config.get("MAIL_TIMEOUT") or 10)
        smtp = (smtplib.SMTP_SSL(host, port, timeout=timeout, context=self._tls()) if security == "tls"
                else smtplib.SMTP(host, port, timeout=timeout))
        with smtp:
            if security == "starttls":
                smtp.starttls(context=self._tls())
            if self.config.get("MAIL_USERNAME"):
                smtp.login(self.config["MAIL_USERNAME"], self.config.get("MAIL_PASSWORD", ""))
            smtp.send_message(email)


TRANSPORTS: dict[str, type[Transport]] = {t.name: t for t in (LogTransport, SmtpTransport)}


def transport_for(config: Mapping[str, Any]) -> Transport:
    name = config.get("MAIL_TRANSPORT") or ("smtp" if config.get("MAIL_SERVER") else "log")
    return TRANSPORTS[name](config)


# --------------------------------------------------------------------------- delivery


class MailOutbox(Outbox[Claimed]):
    """The outbox table of lms/jobs/outbox: sent through a transport (``MAIL_*`` backoff)."""

    model, pending, done, failed, done_at = OutboxMessage, MailStatus.PENDING, MailStatus.SENT, MailStatus.FAILED, "sent_at"
    retry_at = "retry_at"

    def __init__(self, transport: Transport, backoff: Backoff | None = None) -> None:
        super().__init__(backoff or Backoff.from_config(transport.config, "MAIL"))
        self.transport = transport

    @classmethod
    def waiting(cls) -> ColumnElement[bool]:
        """Unsent, waiting out the wait a failed try set: its next attempt is still the one
        that try set (``retry_at``). A claim moves it a lease ahead of the claim's moment, and
        a claim comes only once that wait is over, so a message held is never waiting."""
        return and_(OutboxMessage.status == MailStatus.PENDING, OutboxMessage.next_attempt_at == OutboxMessage.retry_at)

    @classmethod
    def load(cls, session: DbSession, ids: Iterable[int]) -> list[Claimed]:
        rows = session.execute(select(OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.subject, OutboxMessage.body,
                                      OutboxMessage.attempts, OutboxMessage.cancelled_at.is_not(None))
                               .where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id))
        return [Claimed(*row) for row in rows]

    @classmethod
    def to_send(cls, session: DbSession, claimed: list[Claimed]) -> list[Claimed]:
        """A claim's messages but those recalled while a worker held them for an earlier try
        (that failed, or whose worker stopped): these are cancelled here instead of tried
        again, as what they told of was taken back. Flushes only."""
        recalled = [item.id for item in claimed if item.recalled]
        if recalled:  # held by this claim: nobody else writes them now
            session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(recalled))
                            .values(status=MailStatus.CANCELLED, next_attempt_at=None, retry_at=None)
                            .execution_options(synchronize_session=False))
            session.flush()
        return [item for item in claimed if not item.recalled]

    def send(self, group: Sequence[Claimed], now: datetime) -> list[tuple[Sequence[Claimed], Outcome]]:
        [message] = group
        try:
            self.transport.send(message)
            return [(group, Outcome())]
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            error = describe(exc)
            log.warning("mail to %s not sent (attempt %d): %s", message.recipient, message.attempts + 1, error)
            return [(group, Outcome(error, halt=True))]

    def columns(self, outcome: Outcome) -> dict[str, Any]:
        # Sent: the blanked copy (if any) becomes the body, so no one-time link is kept; a
        # recall while it was being sent came too late (it is no longer marked).
        return {"transport": self.transport.name, "body": func.coalesce(OutboxMessage.redacted_body, OutboxMessage.body),
                "redacted_body": None, "cancelled_at": None} if outcome.done else {}


def claim(session: DbSession, now: datetime, lease: timedelta, *, ids: Sequence[int] | None = None,
          limit: int | None = None) -> list[Claimed]:
    """Take due messages for one attempt (``Outbox.claim``), those recalled cancelled
    (``MailOutbox.to_send``). Flushes only."""
    return MailOutbox.to_send(session, MailOutbox.claim(session, now, lease, ids=ids, limit=limit))


def describe(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}"


def deliver_pending(session: DbSession, transport: Transport, *, ids: Sequence[int] | None = None,
                    limit: int | None = None, now: datetime | None = None,
                    backoff: Backoff | None = None, stop_on_failure: bool = False) -> int:
    """Send the due messages (of ``ids`` when given, at most ``limit``); returns how many were
    sent (``lms.jobs.outbox.deliver``: failures recorded with their next try, never raised)."""
    return deliver(session, MailOutbox(transport, backoff), ids=ids, limit=limit, now=now, stop_on_failure=stop_on_failure)


# --------------------------------------------------------------------------- site admin


@dataclass(frozen=True)
class Trouble:
    """The outbox's troubled messages for the site admin: given up, and still being retried."""

    failed: list[OutboxMessage]
    retrying: list[OutboxMessage]
    pending: int
    sent: list[OutboxMessage]  # the latest sent, newest first (their one-time links blanked)
    cancelled: list[OutboxMessage]  # the latest recalled before they were sent, newest first


SENT_SHOWN = 20


def troubled(session: DbSession, limit: int = 200) -> Trouble:
    failed = list(session.scalars(select(OutboxMessage).where(OutboxMessage.status == MailStatus.FAILED)
                                  .order_by(OutboxMessage.last_attempt_at.desc(), OutboxMessage.id.desc()).limit(limit)))
    retrying = list(session.scalars(select(OutboxMessage).where(OutboxMessage.status == MailStatus.PENDING,
                                                                OutboxMessage.attempts > 0)
                                    .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)))
    sent = list(session.scalars(select(OutboxMessage).where(OutboxMessage.status == MailStatus.SENT)
                                .order_by(OutboxMessage.id.desc()).limit(SENT_SHOWN)))
    cancelled = list(session.scalars(select(OutboxMessage).where(OutboxMessage.status == MailStatus.CANCELLED)
                                     .order_by(OutboxMessage.cancelled_at.desc(), OutboxMessage.id.desc())
                                     .limit(SENT_SHOWN)))
    return Trouble(failed, retrying, unsent(session)[MailStatus.PENDING], sent, cancelled)


def unsent(session: DbSession) -> dict[MailStatus, int]:
    """How many messages wait to be sent (pending) and were given up on (failed): one
    statement, on the status index (the sent ones are not counted)."""
    found = {MailStatus.PENDING: 0, MailStatus.FAILED: 0}
    return found | {MailStatus(s): n for s, n in session.execute(
        select(OutboxMessage.status, func.count()).where(OutboxMessage.status.in_(list(found)))
        .group_by(OutboxMessage.status))}


RETRIABLE = (MailStatus.PENDING, MailStatus.FAILED)


def retry(session: DbSession, message_ids: Sequence[int], *, by: Origin | None = None, target: str = "") -> int:
    """Make unsent messages due now (a failed one gets a fresh set of attempts, those made so
    far kept in ``earlier_attempts``: the outbox page counts every try); they are
    delivered once the caller's work commits. Returns how many; sent ones are left alone,
    and so are cancelled ones (what they told of was taken back).
    ``by`` (a site admin's retry) writes one audit entry naming the messages, their state
    before and ``target`` (default ``mail:<id>`` of the first)."""
    if not message_ids:
        return 0
    before = list(session.execute(
        select(OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.status, OutboxMessage.attempts,
               OutboxMessage.error)
        .where(OutboxMessage.id.in_(message_ids), OutboxMessage.status.in_(RETRIABLE))
        .order_by(OutboxMessage.id))) if by is not None else []
    ids = list(session.scalars(
        update(OutboxMessage).where(OutboxMessage.id.in_(message_ids), OutboxMessage.status.in_(RETRIABLE))
        .values(status=MailStatus.PENDING, next_attempt_at=None, retry_at=None, attempts=0,
                earlier_attempts=OutboxMessage.earlier_attempts + OutboxMessage.attempts)
        .returning(OutboxMessage.id).execution_options(synchronize_session=False)))
    session.flush()
    _note_pending(session, ids)
    if by is not None and ids:
        retried = set(ids)
        states = [{"id": row.id, "recipient": row.recipient, "status": row.status, "attempts": row.attempts,
                   "error": row.error[:AUDIT_ERROR_LENGTH]} for row in before if row.id in retried]
        audit.record(session, actor_id=by.actor_id, action=AuditAction.MAIL_RETRIED, organization_id=None,
                     target=target or f"mail:{min(ids)}", before={"messages": states},
                     after={"retried": sorted(ids), "status": MailStatus.PENDING, "attempts": 0}, ip=by.ip)
    return len(ids)


def failed_ids(session: DbSession) -> list[int]:
    return list(session.scalars(select(OutboxMessage.id).where(OutboxMessage.status == MailStatus.FAILED)))
