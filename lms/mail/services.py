"""Queue mail in the outbox (flush only); deliver it after the request's commit."""

from __future__ import annotations

import logging
import re
import smtplib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from email.message import EmailMessage
from typing import Any, ClassVar

import click
from sqlalchemy import insert, select

from lms.database import DbSession, utcnow
from lms.mail.models import OutboxMessage

log = logging.getLogger("lms.mail")


PENDING = "lms.mail.pending"


def queue_mail(session: DbSession, recipient: str, subject: str, body: str) -> OutboxMessage:
    message = OutboxMessage(recipient=recipient, subject=subject, body=body)
    session.add(message)
    session.flush()
    session.info[PENDING] = True  # tells the request's end that there is mail to deliver
    return message


def queue_mails(session: DbSession, messages: Iterable[tuple[str, str, str]]) -> int:
    """Queue many (recipient, subject, body) messages in one statement; returns how many."""
    rows = [{"recipient": recipient, "subject": subject, "body": body} for recipient, subject, body in messages]
    if rows:
        session.execute(insert(OutboxMessage), rows)
        session.info[PENDING] = True
    return len(rows)


class Transport(ABC):
    name: ClassVar[str]

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config

    @abstractmethod
    def send(self, message: OutboxMessage) -> None: ...


LINK = re.compile(r"https?://\S+|(?<!\S)/[\w./?=&%#-]+")


def links_in(text: str) -> list[str]:
    """The URLs (and site paths) in a plain-text message, in order, each once."""
    return list(dict.fromkeys(match.rstrip(".,;:)") for match in LINK.findall(text)))


class LogTransport(Transport):
    """Development and tests: the message goes to the log and stays in the outbox. It is also
    printed to the console (recipient, subject, links), so under ``flask run`` a developer
    can follow a reset or notification link without a mail server."""

    name = "log"

    def send(self, message: OutboxMessage) -> None:
        log.info("mail to %s: %s\n%s", message.recipient, message.subject, message.body)
        lines = [f"[mail] to {message.recipient}: {message.subject}"]
        lines += [f"[mail]   {link}" for link in links_in(message.body)]
        click.echo("\n".join(lines), err=True)


class SmtpTransport(Transport):
    name = "smtp"

    def send(self, message: OutboxMessage) -> None:
        email = EmailMessage()
        email["From"] = self.config["MAIL_FROM"]
        email["To"] = message.recipient
        email["Subject"] = message.subject
        email.set_content(message.body)
        with smtplib.SMTP(self.config["MAIL_SERVER"], int(self.config.get("MAIL_PORT", 587)), timeout=20) as smtp:
            if self.config.get("MAIL_USE_TLS", True):
                smtp.starttls()
            if self.config.get("MAIL_USERNAME"):
                smtp.login(self.config["MAIL_USERNAME"], self.config.get("MAIL_PASSWORD", ""))
            smtp.send_message(email)


TRANSPORTS: dict[str, type[Transport]] = {t.name: t for t in (LogTransport, SmtpTransport)}


def transport_for(config: Mapping[str, Any]) -> Transport:
    name = config.get("MAIL_TRANSPORT") or ("smtp" if config.get("MAIL_SERVER") else "log")
    return TRANSPORTS[name](config)


def deliver_pending(session: DbSession, transport: Transport) -> int:
    """Send every unsent message; a failure is recorded on the message, not raised."""
    sent = 0
    for message in session.scalars(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)).order_by(OutboxMessage.id)):
        try:
            transport.send(message)
        except (OSError, smtplib.SMTPException) as exc:
            message.error = f"{exc.__class__.__name__}: {exc}"
            log.warning("mail to %s not sent: %s", message.recipient, message.error)
            continue
        message.sent_at = utcnow()
        message.transport = transport.name
        message.error = ""
        sent += 1
    session.flush()
    return sent
