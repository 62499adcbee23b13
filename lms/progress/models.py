from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lms.database import UTCDateTime, utcnow
from lms.extensions import db


class Evidence(db.Model):
    """One judgement of a learner against one objective, from any source."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    objective_id: Mapped[int] = mapped_column(ForeignKey("objectives.id"), index=True)
    source: Mapped[str] = mapped_column(String(20))      # quiz | rubric | peer | rating | stakeholder | kpi
    source_ref: Mapped[str] = mapped_column(String(120))  # what produced it, e.g. "response:42"
    level: Mapped[float] = mapped_column(Float)          # 0-4
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Mastery(db.Model):
    """A learner's current level on one objective, kept up to date as evidence arrives."""

    __tablename__ = "mastery"
    __table_args__ = (UniqueConstraint("user_id", "objective_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    objective_id: Mapped[int] = mapped_column(ForeignKey("objectives.id"))
    level: Mapped[float | None] = mapped_column(Float, default=None)
    evidence_count: Mapped[int] = mapped_column(default=0)
    method: Mapped[str] = mapped_column(String(30))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
