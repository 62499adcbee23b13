"""Queue mail in the outbox (flush only); deliver it outside the request, retried with backoff.

A message is delivered in three steps, so that no transaction is held open while a mail
server is talked to and two deliverers never send one message twice: ``claim`` takes due
messages with a conditional write that pushes their next attempt a lease ahead, the
transport sends them, and ``record`` writes each result (sent, or the error and when to
try again; ``failed`` after ``MAIL_MAX_ATTEMPTS``). ``deliver_pending`` runs the three,
each claim and each result committed in a unit of work of its own."""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, ClassVar, Protocol

import click
from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update

from lms.audit import services as audit
from lms.audit.models import AuditAction
from lms.audit.services import Origin
from lms.database import DbSession, unit_of_work, utcnow
from lms.mail.models import MailStatus, OutboxMessage

log = logging.getLogger("lms.mail")


# session.info key: ids of the messages this unit of work queued, delivered once it committed
PENDING = "lms.mail.pending"

SECURITIES = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
AUDIT_ERROR_LENGTH = 300  # of each retried message's last error, in the audit entry


def _note_pending(session: DbSession, ids: Iterable[int]) -> None:
    session.info.setdefault(PENDING, []).extend(ids)


def queue_mail(session: DbSession, recipient: str, subject: str, body: str) -> OutboxMessage:
    message = OutboxMessage(recipient=recipient, subject=subject, body=body)
    session.add(message)
    session.flush()
    _note_pending(session, [message.id])
    return message


def queue_mails(session: DbSession, messages: Iterable[tuple[str, str, str]]) -> int:
    """Queue many (recipient, subject, body) messages in one statement; returns how many."""
    rows = [{"recipient": recipient, "subject": subject, "body": body} for recipient, subject, body in messages]
    if not rows:
        return 0
    ids = session.scalars(insert(OutboxMessage).returning(OutboxMessage.id), rows).all()
    _note_pending(session, ids)
    return len(rows)


def take_pending(session: DbSession) -> list[int]:
    """The ids of the messages queued since the last call (the request's, after its commit)."""
    ids: list[int] = session.info.pop(PENDING, [])
    return ids


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


@dataclass(frozen=True)
class Backoff:
    """Try again after ``first``, doubling each time up to ``longest``; give up after ``attempts``."""

    first: timedelta = timedelta(minutes=1)
    longest: timedelta = timedelta(hours=6)
    attempts: int = 8
    # How long a claimed message is left to its deliverer before another may take it.
    lease: timedelta = timedelta(minutes=5)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Backoff:
        return cls(first=timedelta(seconds=float(config.get("MAIL_RETRY_FIRST", 60))),
                   longest=timedelta(seconds=float(config.get("MAIL_RETRY_LONGEST", 6 * 3600))),
                   attempts=int(config.get("MAIL_MAX_ATTEMPTS", 8)),
                   lease=timedelta(seconds=max(60.0, 3 * float(config.get("MAIL_TIMEOUT") or 10))))

    def after(self, attempts: int) -> timedelta:
        """The wait before the next try, once ``attempts`` tries have failed."""
        wait: timedelta = self.first * 2 ** min(30, max(0, attempts - 1))
        return min(self.longest, wait)


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(OutboxMessage.status == MailStatus.PENDING,
                or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now))


def claim(session: DbSession, now: datetime, lease: timedelta, *, ids: Sequence[int] | None = None,
          limit: int | None = None) -> list[Claimed]:
    """Take the due messages (of ``ids`` when given, oldest first, at most ``limit``) for one
    attempt: their next attempt moves a lease ahead, by a write conditional on their still
    being due, so a concurrent deliverer takes none of them. Flushes only."""
    query = select(OutboxMessage.id).where(_due(now)).order_by(OutboxMessage.id).limit(limit)
    if ids is not None:
        if not ids:
            return []
        query = query.where(OutboxMessage.id.in_(ids))
    candidates = list(session.scalars(query))
    if not candidates:
        return []
    taken = set(session.scalars(
        update(OutboxMessage).where(OutboxMessage.id.in_(candidates), _due(now))
        .values(next_attempt_at=now + lease).returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)))
    rows = session.execute(select(OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.subject, OutboxMessage.body,
                                  OutboxMessage.attempts).where(OutboxMessage.id.in_(taken)).order_by(OutboxMessage.id))
    return [Claimed(*row) for row in rows]


def record(session: DbSession, message: Claimed, now: datetime, transport: str, error: str | None,
           backoff: Backoff) -> MailStatus:
    """Write one attempt's result: sent, or the error and the next try (failed once the
    attempts are used up). Flushes only."""
    attempts = message.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "last_attempt_at": now}
    if error is None:
        status = MailStatus.SENT
        values |= {"status": status, "sent_at": now, "transport": transport, "error": "", "next_attempt_at": None}
    else:
        status = MailStatus.FAILED if attempts >= backoff.attempts else MailStatus.PENDING
        values |= {"status": status, "error": error[:2000],
                   "next_attempt_at": None if status is MailStatus.FAILED else now + backoff.after(attempts)}
    session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id).values(**values)
                    .execution_options(synchronize_session=False))
    session.flush()
    return status


def describe(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}"


def deliver_pending(session: DbSession, transport: Transport, *, ids: Sequence[int] | None = None,
                    limit: int | None = None, now: datetime | None = None,
                    backoff: Backoff | None = None, stop_on_failure: bool = False) -> int:
    """Send the due messages (of ``ids`` when given, at most ``limit``); returns how many were
    sent. A failure is recorded on its message with its next try, never raised. A job, not
    a service: each claim and each result is committed in a unit of work of its own, so
    no transaction stays open while the mail server is talked to. ``stop_on_failure``
    leaves the rest for later after a failure (a server that hangs costs one timeout)."""
    backoff = backoff or Backoff.from_config(transport.config)
    with unit_of_work(session):
        claimed = claim(session, now or utcnow(), backoff.lease, ids=ids, limit=limit)
    sent = 0
    for index, message in enumerate(claimed):
        try:
            transport.send(message)
            error = None
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            error = describe(exc)
            log.warning("mail to %s not sent (attempt %d): %s", message.recipient, message.attempts + 1, error)
        with unit_of_work(session):
            record(session, message, now or utcnow(), transport.name, error, backoff)
        sent += error is None
        if error is not None and stop_on_failure:
            rest = [m.id for m in claimed[index + 1:]]
            with unit_of_work(session):
                release(session, rest)
            break
    return sent


def release(session: DbSession, ids: Sequence[int]) -> None:
    """Give claimed messages back, due at once (their deliverer stopped before them). Flushes only."""
    if ids:
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.status == MailStatus.PENDING)
                        .values(next_attempt_at=None).execution_options(synchronize_session=False))
        session.flush()


# --------------------------------------------------------------------------- site admin


@dataclass(frozen=True)
class Trouble:
    """The outbox's troubled messages for the site admin: given up, and still being retried."""

    failed: list[OutboxMessage]
    retrying: list[OutboxMessage]
    pending: int


def troubled(session: DbSession, limit: int = 200) -> Trouble:
    failed = list(session.scalars(select(OutboxMessage).where(OutboxMessage.status == MailStatus.FAILED)
                                  .order_by(OutboxMessage.last_attempt_at.desc(), OutboxMessage.id.desc()).limit(limit)))
    retrying = list(session.scalars(select(OutboxMessage).where(OutboxMessage.status == MailStatus.PENDING,
                                                                OutboxMessage.attempts > 0)
                                    .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)))
    pending = session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == MailStatus.PENDING))
    return Trouble(failed, retrying, pending or 0)


def retry(session: DbSession, message_ids: Sequence[int], *, by: Origin | None = None, target: str = "") -> int:
    """Make unsent messages due now (a failed one gets a fresh set of attempts); they are
    delivered once the caller's work commits. Returns how many; sent ones are left alone.
    ``by`` (a site admin's retry) writes one audit entry naming the messages, their state
    before and ``target`` (default ``mail:<id>`` of the first)."""
    if not message_ids:
        return 0
    before = list(session.execute(
        select(OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.status, OutboxMessage.attempts,
               OutboxMessage.error)
        .where(OutboxMessage.id.in_(message_ids), OutboxMessage.status != MailStatus.SENT)
        .order_by(OutboxMessage.id))) if by is not None else []
    ids = list(session.scalars(
        update(OutboxMessage).where(OutboxMessage.id.in_(message_ids), OutboxMessage.status != MailStatus.SENT)
        .values(status=MailStatus.PENDING, next_attempt_at=None, attempts=0)
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
