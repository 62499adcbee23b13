from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, ColumnElement, ForeignKey, String, Table, UniqueConstraint
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.database import UTCDateTime, enum_type, utcnow
from lms.extensions import Model, db

organization_admins = Table(
    "organization_admins",
    db.metadata,
    Column("organization_id", ForeignKey("organizations.id"), primary_key=True),
    Column("user_id", ForeignKey("users.id"), primary_key=True),
    # When the person became an administrator of it (None: before this was recorded).
    Column("added_at", UTCDateTime, nullable=True, default=utcnow),
)
cohort_instructors = Table(
    "cohort_instructors",
    db.metadata,
    Column("cohort_id", ForeignKey("cohorts.id"), primary_key=True),
    Column("user_id", ForeignKey("users.id"), primary_key=True),
)


class Organization(Model):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    admins: Mapped[list[User]] = relationship(secondary=organization_admins, order_by=User.name)
    cohorts: Mapped[list[Cohort]] = relationship(back_populates="organization", order_by="Cohort.start_date")


class Cohort(Model):
    __tablename__ = "cohorts"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    start_date: Mapped[date]
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The version of its settings (name, start, time zone, instructors) an edit form was
    # shown: an edit is written only where it is still the same (``update_cohort``). The
    # database's default, so that an INSERT written for an older schema still runs.
    revision: Mapped[int] = mapped_column(server_default="0")
    organization: Mapped[Organization] = relationship(back_populates="cohorts")
    instructors: Mapped[list[User]] = relationship(secondary=cohort_instructors, order_by=User.name)

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


class Pace(StrEnum):
    """How a learner who joins after their cohort started gets their dates (chosen by the
    manager at enrolment: invitation, CSV import or move). A learner who joins on or before
    the cohort's start simply follows the cohort's dates, whatever is stored here."""

    CATCH_UP = "catch_up"    # the months already gone are compressed into a catch-up window, then the cohort's dates
    OWN_START = "own_start"  # the program's pace from the joining day, as a cohort starting that day would have


class TimeAllowance(StrEnum):
    """The time a learner has on a timed quiz or exam against its limit: an accommodation
    staff grant (WCAG 2.2.1 "timing adjustable"; a learner with a documented need has the
    limit lengthened or lifted). Kept with the enrolment, carried over when the learner moves
    to another cohort; an attempt keeps the minutes it was started with."""

    STANDARD = "standard"
    EXTRA_25 = "extra_25"
    EXTRA_50 = "extra_50"
    DOUBLE = "double"
    UNTIMED = "untimed"

    @property
    def factor(self) -> float | None:
        """How many times the quiz's limit the learner has; None: no limit."""
        return _ALLOWANCE_FACTORS[self]

    @property
    def label(self) -> str:
        return _ALLOWANCE_LABELS[self]


_ALLOWANCE_FACTORS: dict[TimeAllowance, float | None] = {
    TimeAllowance.STANDARD: 1.0, TimeAllowance.EXTRA_25: 1.25, TimeAllowance.EXTRA_50: 1.5, TimeAllowance.DOUBLE: 2.0,
    TimeAllowance.UNTIMED: None}
_ALLOWANCE_LABELS = {TimeAllowance.STANDARD: "standard time", TimeAllowance.EXTRA_25: "25% extra time",
                     TimeAllowance.EXTRA_50: "50% extra time", TimeAllowance.DOUBLE: "double time",
                     TimeAllowance.UNTIMED: "no time limit"}


class Enrolment(Model):
    """A learner's membership of a cohort. Moving ends one and starts another; the
    learner's work belongs to the person, so nothing is lost."""

    __tablename__ = "enrolments"

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    ended_reason: Mapped[str] = mapped_column(String(40), default="")
    pace: Mapped[Pace] = mapped_column(enum_type(Pace, length=20, name="pace"), default=Pace.CATCH_UP)
    time_allowance: Mapped[TimeAllowance] = mapped_column(enum_type(TimeAllowance, length=10, name="time_allowance"),
                                                          default=TimeAllowance.STANDARD)
    cohort: Mapped[Cohort] = relationship()
    user: Mapped[User] = relationship()

    @hybrid_property
    def active(self) -> bool:
        """A current membership: not ended. In SQL (``Enrolment.active``) the same condition,
        so every query for a cohort's current learners says it one way."""
        return self.ended_at is None

    @active.inplace.expression
    @classmethod
    def _active_in_sql(cls) -> ColumnElement[bool]:
        return cls.ended_at.is_(None)


class MemberMark(Model):
    """A number drawn afresh whenever the cohort's members as listed change, written by the
    database's triggers (migration ``zzt2c3d4e5f614``) whatever writes it: any of its
    enrolments inserted, updated or deleted, and a member's account renamed, given another
    email, closed or reopened. A cohort's kept pages (``lms.web.page_cache``) read it, one
    row by its key, instead of every enrolment and account of the cohort turned into text
    on each view. No foreign key, as ``MasteryMark``."""

    __tablename__ = "member_marks"

    cohort_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(BigInteger)


class InvitationRole(StrEnum):
    """What an invitation makes its owner when they accept it: nobody is made a learner,
    an instructor or an organization's administrator without their consent."""

    LEARNER = "learner"                        # a learner of the invitation's cohort
    INSTRUCTOR = "instructor"                  # an instructor of the invitation's cohort
    ORGANIZATION_ADMIN = "organization_admin"  # an administrator of the invitation's organization (no cohort)

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class Invitation(Model):
    """A single-use, expiring link to accept a place: a learner's or an instructor's in a
    cohort, or an administrator's of an organization (``role``; only the latter has no
    cohort)."""

    __tablename__ = "invitations"
    __table_args__ = (
        CheckConstraint("(role = 'organization_admin' AND cohort_id IS NULL) OR "
                        "(role <> 'organization_admin' AND cohort_id IS NOT NULL)", name="cohort_for_role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohorts.id"), index=True)
    role: Mapped[InvitationRole] = mapped_column(enum_type(InvitationRole, length=20, name="role"),
                                                 default=InvitationRole.LEARNER, server_default=InvitationRole.LEARNER.value)
    email: Mapped[str] = mapped_column(String(254), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)  # the last new link sent
    # The pace the learner will follow if they accept after the cohort started.
    pace: Mapped[Pace] = mapped_column(enum_type(Pace, length=20, name="pace"), default=Pace.CATCH_UP)
    organization: Mapped[Organization] = relationship()
    cohort: Mapped[Cohort | None] = relationship()


class EnrolmentImport(Model):
    """A CSV upload awaiting confirmation: its rows as read, with each row's problem."""

    __tablename__ = "enrolment_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255), default="")
    rows: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    cohort: Mapped[Cohort] = relationship()
