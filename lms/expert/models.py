"""Expert evaluation: a learner (for their own handed-in work) or the cohort's staff invite
an outside expert, by a single-use link, to rate a submission against its rubric."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.coursework.models import RubricVersion, Submission, SubmissionVersion
from lms.database import UTCDateTime, utcnow
from lms.extensions import Model


class ExpertInviteStatus(StrEnum):
    """Where an expert's link stands, worked out from its dates (never stored)."""

    WAITING = "waiting"
    RATED = "rated"
    REVOKED = "revoked"
    EXPIRED = "expired"


class ExpertInvite(Model):
    """One invitation: the version of the work and the rubric version the expert rates are
    fixed when it is sent, so the rating says exactly what it judged."""

    __tablename__ = "expert_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("submission_versions.id"))
    rubric_version_id: Mapped[int] = mapped_column(ForeignKey("rubric_versions.id"))
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    note: Mapped[str] = mapped_column(Text, default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # only the hash is kept
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    submission: Mapped[Submission] = relationship()
    version: Mapped[SubmissionVersion] = relationship()
    rubric_version: Mapped[RubricVersion] = relationship()
    invited_by: Mapped[User] = relationship()
    evaluation: Mapped[ExpertEvaluation | None] = relationship(back_populates="invite", uselist=False)


class ExpertEvaluation(Model):
    """The expert's rating, with the credentials they stated."""

    __tablename__ = "expert_evaluations"

    id: Mapped[int] = mapped_column(primary_key=True)
    invite_id: Mapped[int] = mapped_column(ForeignKey("expert_invites.id"), unique=True)
    role: Mapped[str] = mapped_column(String(200))
    organization: Mapped[str] = mapped_column(String(200))
    years: Mapped[int] = mapped_column(Integer)
    qualification: Mapped[str] = mapped_column(Text)
    # {criterion id: {"level": level id, "comment": text}}
    selections: Mapped[dict[str, Any]] = mapped_column(JSON)
    comment: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    invite: Mapped[ExpertInvite] = relationship(back_populates="evaluation")
