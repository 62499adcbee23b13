"""The xAPI outbox: every statement made for the Learning Record Store, kept until the LRS
has it. A statement is written in the unit of work of the event it reports (so it is
never lost) and sent after the commit."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lms.database import UTCDateTime, enum_type, utcnow
from lms.extensions import Model


class StatementStatus(StrEnum):
    PENDING = "pending"  # not stored by the LRS yet: due at next_attempt_at (now when empty)
    SENT = "sent"        # the LRS answered 2xx (or already had this id)
    FAILED = "failed"    # gave up after XAPI_MAX_ATTEMPTS; `flask lms send-xapi --retry-failed` tries again


class XapiStatement(Model):
    """One statement. ``statement_id`` is a uuid5 of the event's key, so the same event is
    queued once and a statement sent twice is the same statement to the LRS.

    ``event_base`` is the key of the event the statement is about: its own key, or for a
    corrected statement (``<base>:late:<value>:<time>``) the key of the first one, so that
    the statements of an event are found through an index (equality), never by a LIKE on
    ``event_key`` that reads the whole outbox."""

    __tablename__ = "xapi_statements"
    __table_args__ = (Index("ix_xapi_statements_status_next_attempt_at", "status", "next_attempt_at"),
                      Index("ix_xapi_statements_event_base", "event_base"))

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_key: Mapped[str] = mapped_column(String(200))
    event_base: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)  # the statement's JSON, exactly as sent
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[StatementStatus] = mapped_column(enum_type(StatementStatus, length=10, name="status"),
                                                    default=StatementStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    response_status: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str] = mapped_column(Text, default="")
