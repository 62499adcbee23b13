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
    CANCELLED = "cancelled"  # recalled before it was sent (its notice withdrawn): never sent, kept as a record


REDACTED = "[one-time link removed]"


class OutboxMessage(Model):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    # What the transport sends. Once sent it is replaced by ``redacted_body`` (when there is
    # one): a reset, unlock or invitation link must not stay usable in the table.
    body: Mapped[str] = mapped_column(Text)
    # The body with its one-time links blanked (``REDACTED``), what the outbox page shows;
    # None when the body has none (or once the message is sent and its body is this).
    redacted_body: Mapped[str | None] = mapped_column(Text, default=None)
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
    # The next try a failed try set (``next_attempt_at`` then). While ``next_attempt_at``
    # still says the same, the message waits out that wait and nobody holds it; a claim
    # moves ``next_attempt_at`` a lease ahead (always past this), so the two never look
    # alike (``MailOutbox.waiting``, ``recall``).
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # What the message tells of, when it may be recalled: a notice's key (``lms.notifications``).
    # While unsent, ``recall`` under that key cancels it; a message sent stays sent.
    recall_key: Mapped[str | None] = mapped_column(String(200), default=None, index=True)
    # When it was recalled: cancelled then, or, when a worker was sending it at that moment
    # (still pending), marked so that a next try is cancelled instead (cleared once sent).
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    @property
    def shown_body(self) -> str:
        """The body as a site admin may read it: never a usable one-time link."""
        return self.redacted_body if self.redacted_body is not None else self.body
