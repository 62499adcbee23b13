from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lms.database import UTCDateTime, enum_type, utcnow
from lms.extensions import Model


class MailStatus(StrEnum):
    PENDING = "pending"  # not sent yet: due at next_attempt_at (now when empty)
    SENT = "sent"
    FAILED = "failed"  # gave up after MAIL_MAX_ATTEMPTS tries; a site admin may retry it


class OutboxMessage(Model):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    transport: Mapped[str] = mapped_column(String(20), default="")
    # The last attempt's error ("" once sent).
    error: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[MailStatus] = mapped_column(enum_type(MailStatus, length=10, name="status"), default=MailStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)  # since it was queued, or last retried by a site admin
    # The tries made before a site admin last retried it (a retry starts a fresh set of
    # MAIL_MAX_ATTEMPTS; the outbox page still counts every try).
    earlier_attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
