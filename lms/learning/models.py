from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.catalog.models import Phase
from lms.database import UTCDateTime, enum_type, utcnow
from lms.extensions import Model


class OverrideKind(StrEnum):
    EARLY_ACCESS = "early_access"  # the phase opens sooner for this learner
    EXTENSION = "extension"        # the phase's work is due later


class ScheduleOverride(Model):
    """Early access (a module's phase opens sooner) or an extension (its work is due
    later) for one learner; the newest of each kind per phase wins. A removed one
    (``removed_at``: staff took the extension away) stays listed and no longer applies."""

    __tablename__ = "schedule_overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id"))
    kind: Mapped[OverrideKind] = mapped_column(enum_type(OverrideKind, length=20, name="kind"))
    on_date: Mapped[date]
    note: Mapped[str] = mapped_column(Text, default="")
    granted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    phase: Mapped[Phase] = relationship()
    granted_by: Mapped[User] = relationship(foreign_keys=[granted_by_id])
    removed_by: Mapped[User | None] = relationship(foreign_keys=[removed_by_id])


class FeedKind(StrEnum):
    """What a calendar feed serves: a person may hold one live link of each kind."""

    SCHEDULE = "schedule"  # a learner's own schedule (lms.learning)
    TEACHING = "teaching"  # the deadlines of the cohorts a person teaches (lms.today)


class CalendarFeed(Model):
    """A private, revocable token URL serving a calendar as ICS: a learner's schedule, or
    the deadlines of the cohorts an instructor teaches (``kind``)."""

    __tablename__ = "calendar_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[FeedKind] = mapped_column(enum_type(FeedKind, length=20, name="kind"), default=FeedKind.SCHEDULE,
                                           server_default=FeedKind.SCHEDULE.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    user: Mapped[User] = relationship()
