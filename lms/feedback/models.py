"""Stakeholder feedback: a learner invites someone (a customer, a team member, an investor)
to rate how the learner implemented one framework, through a single-use link."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.catalog.models import Module
from lms.database import UTCDateTime, enum_type, utcnow
from lms.extensions import Model


class FeedbackRelation(StrEnum):
    """Who the person is to the learner's business (labels: ``lms.feedback.services.RELATIONS``)."""

    CUSTOMER = "customer"
    TEAM_MEMBER = "team_member"
    INVESTOR = "investor"
    PARTNER = "partner"
    OTHER = "other"


class InviteStatus(StrEnum):
    """Where a feedback link stands, worked out from its dates (never stored)."""

    WAITING = "waiting"
    ANSWERED = "answered"
    REVOKED = "revoked"
    EXPIRED = "expired"


class FeedbackInvite(Model):
    __tablename__ = "feedback_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("modules.id"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    relation: Mapped[FeedbackRelation] = mapped_column(enum_type(FeedbackRelation, length=40, name="relation"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # only the hash is kept
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    learner: Mapped[User] = relationship()
    module: Mapped[Module] = relationship()
    response: Mapped[FeedbackResponse | None] = relationship(back_populates="invite", uselist=False)


class FeedbackResponse(Model):
    __tablename__ = "feedback_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    invite_id: Mapped[int] = mapped_column(ForeignKey("feedback_invites.id"), unique=True)
    ratings: Mapped[dict[str, Any]] = mapped_column(JSON)  # question id -> 1..5
    comment: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    invite: Mapped[FeedbackInvite] = relationship(back_populates="response")
