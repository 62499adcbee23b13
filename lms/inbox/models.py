"""Conversations between a learner and their cohort's staff, their messages, and how far
each person has read each conversation.

One conversation per message sent to a learner (the gradebook's "Message learners" makes one
for each learner it reaches): the subject names what the exchange is about, so a reply about
one case study is not lost in a single long thread with everything staff ever sent, and each
learner's replies stay between them and the staff (a bulk message to twelve learners is
twelve private conversations, never a group thread)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.cohorts.models import Cohort
from lms.database import UTCDateTime, utcnow
from lms.extensions import Model

SUBJECT_LENGTH = 200
BODY_LENGTH = 20_000
TOKEN_LENGTH = 64


class Conversation(Model):
    """One learner, the staff of one cohort, one subject. ``started_by`` is the staff member
    whose message opened it; every instructor and administrator of the cohort reads and
    answers it too. ``source_key`` is the notices' key of the message that opened it (one
    conversation per learner and message, however often the opening is retried)."""

    __tablename__ = "inbox_conversations"
    __table_args__ = (UniqueConstraint("source_key", "learner_id", name="uq_inbox_conversations_source_key_learner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    started_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    subject: Mapped[str] = mapped_column(String(SUBJECT_LENGTH))
    source_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Moved forward (never back) by each message, in a conditional UPDATE: orders the inbox.
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cohort: Mapped[Cohort] = relationship()
    learner: Mapped[User] = relationship(foreign_keys=[learner_id])
    started_by: Mapped[User] = relationship(foreign_keys=[started_by_id])


class Message(Model):
    """One message of a conversation, in Markdown. Never updated (but by erasure): two
    replies sent at once are two rows. ``token`` is the reply form's one-time value: the same
    form sent twice (a double click) finds the message it made instead of making another."""

    __tablename__ = "inbox_messages"
    __table_args__ = (
        UniqueConstraint("author_id", "token", name="uq_inbox_messages_author_id_token"),
        Index("ix_inbox_messages_conversation_id_id", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("inbox_conversations.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    token: Mapped[str | None] = mapped_column(String(TOKEN_LENGTH), default=None)
    author: Mapped[User] = relationship()


class ConversationRead(Model):
    """How far ``user`` has read a conversation: every message up to ``read_up_to`` (a
    message id). Moved only forward (an upsert that keeps the larger id)."""

    __tablename__ = "inbox_reads"
    __table_args__ = (UniqueConstraint("conversation_id", "user_id", name="uq_inbox_reads_conversation_id_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("inbox_conversations.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    read_up_to: Mapped[int] = mapped_column(default=0)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def notice_key(message_id: int) -> str:
    """The key of the notices a reply made (``lms.notifications``)."""
    return f"inbox-message:{message_id}"
