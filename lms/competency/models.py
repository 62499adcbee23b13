"""Competency reads evidence and mastery from lms.progress; its one table is the audit trail
of at-risk reviews: a member of staff looked at an at-risk learner, wrote a support note and
perhaps a follow-up date. Reviews are only ever added, never edited or deleted."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.database import UTCDateTime, typed_json, utcnow
from lms.extensions import Model

MAX_REVIEW_NOTE = 2000


class ReasonKind(StrEnum):
    """Why a learner is at risk."""

    BEHIND = "behind"            # assessed work overdue by more than the allowance
    NO_EVIDENCE = "no_evidence"  # nothing recorded on an objective whose modules have closed
    BELOW_BAR = "below_bar"      # mastery below the at-risk bar on an objective whose modules have closed


class ReasonSnapshot(BaseModel):
    """One at-risk reason as it stood when a review was recorded."""

    model_config = ConfigDict(frozen=True)

    kind: ReasonKind
    text: str
    since: date
    objective: str | None = None  # the objective's code, for the objective kinds
    days_behind: int = 0          # for BEHIND

    @property
    def key(self) -> str:
        """What makes two reasons "the same" across reviews: the kind and its objective."""
        return self.kind.value if self.objective is None else f"{self.kind.value}:{self.objective}"


class AtRiskReview(Model):
    """Staff reviewed an at-risk learner of a cohort: their note, an optional follow-up date
    and the reasons the learner was at risk at that moment."""

    __tablename__ = "at_risk_reviews"
    __table_args__ = (Index("ix_at_risk_reviews_cohort_learner", "cohort_id", "learner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text)
    follow_up_on: Mapped[date | None] = mapped_column(default=None)
    reasons: Mapped[list[ReasonSnapshot]] = mapped_column(typed_json(list[ReasonSnapshot], "ReasonSnapshots"))
    days_behind: Mapped[int] = mapped_column(default=0)  # how far behind schedule the learner was, at risk or not
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reviewer: Mapped[User] = relationship(foreign_keys=[reviewer_id])
