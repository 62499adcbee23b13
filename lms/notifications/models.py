"""Notifications, the kinds of event that make them, and who wants them how.

Each event kind is a small class in ``EVENTS`` carrying its defaults: its label, the
channel a user gets it on until they choose another, and who may receive it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from lms.database import UTCDateTime, enum_type, utcnow
from lms.extensions import Model


class NotificationEvent(StrEnum):
    GRADE_RELEASED = "grade_released"
    RETURNED_FOR_REVISION = "returned_for_revision"
    ESSAY_GRADED = "essay_graded"
    PEER_REVIEW_RECEIVED = "peer_review_received"
    FEEDBACK_RECEIVED = "feedback_received"
    DUE_SOON = "due_soon"
    DUE_TOMORROW = "due_tomorrow"
    MONTH_OPENS = "month_opens"
    CERTIFICATE_ISSUED = "certificate_issued"
    AWAITING_GRADING = "awaiting_grading"
    LEARNER_AT_RISK = "learner_at_risk"
    FEEDBACK_LINK_ANSWERED = "feedback_link_answered"
    ANNOUNCEMENT = "announcement"
    DISCUSSION_REPLY = "discussion_reply"
    DISCUSSION_THREAD = "discussion_thread"
    MESSAGE = "message"
    MESSAGE_REPLY = "message_reply"


class Channel(StrEnum):
    """How a user gets one kind of notification."""

    IN_APP = "in_app"   # in the notification centre only
    EMAIL = "email"     # in the centre, and an email at once
    DIGEST = "digest"   # in the centre, and in one email a day
    OFF = "off"         # not at all


class Audience(StrEnum):
    LEARNER = "learner"
    STAFF = "staff"
    ANYONE = "anyone"


@dataclass(frozen=True)
class EventKind:
    event: NotificationEvent
    label: str
    default: Channel
    audience: Audience


EVENTS: dict[NotificationEvent, EventKind] = {kind.event: kind for kind in (
    EventKind(NotificationEvent.GRADE_RELEASED, "A grade is released", Channel.EMAIL, Audience.LEARNER),
    EventKind(NotificationEvent.RETURNED_FOR_REVISION, "Work is returned for revision", Channel.EMAIL, Audience.LEARNER),
    EventKind(NotificationEvent.ESSAY_GRADED, "An essay is graded", Channel.EMAIL, Audience.LEARNER),
    EventKind(NotificationEvent.PEER_REVIEW_RECEIVED, "A peer review is received", Channel.IN_APP, Audience.LEARNER),
    EventKind(NotificationEvent.FEEDBACK_RECEIVED, "Stakeholder or expert feedback is received", Channel.EMAIL,
              Audience.LEARNER),
    EventKind(NotificationEvent.DUE_SOON, "Work is due in 3 days", Channel.IN_APP, Audience.LEARNER),
    EventKind(NotificationEvent.DUE_TOMORROW, "Work is due in 24 hours", Channel.EMAIL, Audience.LEARNER),
    EventKind(NotificationEvent.MONTH_OPENS, "A new month opens", Channel.EMAIL, Audience.LEARNER),
    EventKind(NotificationEvent.CERTIFICATE_ISSUED, "A certificate is issued", Channel.EMAIL, Audience.LEARNER),
    EventKind(NotificationEvent.AWAITING_GRADING, "Work is awaiting grading", Channel.DIGEST, Audience.STAFF),
    EventKind(NotificationEvent.LEARNER_AT_RISK, "A learner is newly at risk", Channel.EMAIL, Audience.STAFF),
    EventKind(NotificationEvent.FEEDBACK_LINK_ANSWERED, "A feedback link is answered", Channel.IN_APP, Audience.STAFF),
    EventKind(NotificationEvent.ANNOUNCEMENT, "An announcement is posted", Channel.EMAIL, Audience.ANYONE),
    EventKind(NotificationEvent.DISCUSSION_REPLY, "A discussion gets a reply", Channel.IN_APP, Audience.ANYONE),
    EventKind(NotificationEvent.DISCUSSION_THREAD, "A thread is started in your cohort's discussions", Channel.EMAIL,
              Audience.STAFF),
    EventKind(NotificationEvent.MESSAGE, "A message from staff", Channel.EMAIL, Audience.ANYONE),
    EventKind(NotificationEvent.MESSAGE_REPLY, "A learner writes to you or replies to a message", Channel.EMAIL, Audience.STAFF),
)}


DIGEST_WAITING = "channel = 'digest' AND mailed_at IS NULL"  # a notice ``send_digests`` will mail


class Notification(Model):
    """One notice to one user. ``key`` names the occurrence (e.g. ``grade:12:released``):
    unique per recipient, so the same notice is never made twice."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "key", name="uq_notifications_user_id_key"),
        Index("ix_notifications_user_id_read_at", "user_id", "read_at"),
        # Every user's notice of one occurrence, to take it back or revise it when what it
        # tells of is deleted, hidden or edited (``services.withdraw``, ``services.revise``).
        Index("ix_notifications_key", "key"),
        # The notices waiting for a digest, by user: the few among every notice ever made
        # that each run of ``send-reminders`` looks for (``reminders.digests_due``).
        Index("ix_notifications_digest_waiting", "user_id", sqlite_where=text(DIGEST_WAITING),
              postgresql_where=text(DIGEST_WAITING)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    event: Mapped[NotificationEvent] = mapped_column(enum_type(NotificationEvent, length=40, name="event"))
    key: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(500), default=None)
    # The channel the user's preference gave when it was made.
    channel: Mapped[Channel] = mapped_column(enum_type(Channel, length=20, name="channel"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # When it was queued as an email of its own or in a digest.
    mailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The digest email that lists it (``reminders.send_digests``): while that email is
    # unsent, taking the notice back cancels it and queues a digest of the rest in its place
    # (``services.withdraw``). None: never in a digest (or the email was since deleted).
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_messages.id", ondelete="SET NULL"), default=None,
                                                  index=True)
    # What the notice told as numbers, for a revision to compare with what it tells now
    # (the day's work awaiting grading: ``{"work": 4, "essays": 1}``); None for the others.
    counts: Mapped[dict[str, int] | None] = mapped_column(JSON, default=None)


class NotificationPreference(Model):
    """A user's choice of channel for one kind of event; no row means the kind's default."""

    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("user_id", "event", name="uq_notification_preferences_user_id_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    event: Mapped[NotificationEvent] = mapped_column(enum_type(NotificationEvent, length=40, name="event"))
    channel: Mapped[Channel] = mapped_column(enum_type(Channel, length=20, name="channel"))


class DigestSent(Model):
    """A daily digest sent to a user for one day of their time zone: at most one a day."""

    __tablename__ = "notification_digests"
    __table_args__ = (UniqueConstraint("user_id", "day", name="uq_notification_digests_user_id_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    day: Mapped[date] = mapped_column(Date)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
