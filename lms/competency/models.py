"""Competency reads evidence and mastery from lms.progress. Its tables: the audit trail of
at-risk reviews (a member of staff looked at an at-risk learner, wrote a support note and
perhaps a follow-up date; reviews are only ever added, never edited or deleted), and each
cohort's trend by month for the months gone by, worked out by a background job and kept
while the evidence it was worked out from is the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.catalog.models import ObjectiveKind
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


@dataclass(frozen=True)
class MonthPoint:
    """The cohort's mastery as of the end of one program month."""

    month: int
    ends_on: date                      # the day the next month opens
    partial: bool                      # the month is still running: figures as of now
    means: dict[str, float | None]     # objective code -> mean over learners with evidence
    learners: dict[str, int]           # objective code -> learners with evidence by then
    kinds: dict[ObjectiveKind, float | None]  # objective kind -> mean over its learner-objective levels


class KeptTrend(Model):
    """A cohort's trend for its months gone by (``points``), replayed from the evidence by
    the ``keep-trends`` job, and what it was replayed from, digested (``key``: the
    curriculum's revision, the months' ends, the policy and the revision of the rules that
    apply it (``lms.progress.methods.RULES_REVISION``), the objectives, and how many of the
    cohort's evidence rows were recorded before the last month's end and the sum of their
    ids). Any process shows these points while the key it works out is the same, instead of
    replaying the evidence after a restart; a different key is never read."""

    __tablename__ = "kept_trends"

    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    points: Mapped[list[MonthPoint]] = mapped_column(typed_json(list[MonthPoint], "MonthPoints"))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
