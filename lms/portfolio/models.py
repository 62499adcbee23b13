from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.catalog.models import Level
from lms.coursework.models import SubmissionVersion
from lms.database import UTCDateTime, utcnow
from lms.extensions import Model


class Portfolio(Model):
    """The learner's portfolio of a level as it is now: what they are choosing. What each
    hand-in for its review held is kept apart (``PortfolioHandIn``)."""

    __tablename__ = "portfolios"
    __table_args__ = (UniqueConstraint("user_id", "level_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    level_id: Mapped[int] = mapped_column(ForeignKey("levels.id"))
    artifact_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # submission ids, in the learner's order
    reflections: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # objective code -> text
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    share_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    shared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    level: Mapped[Level] = relationship()


class PortfolioHandIn(Model):
    """One hand-in of a portfolio for its review, as it was handed in: the review's version
    it made (``version_id``, one hand-in a version), the pieces of work chosen, each at the
    version it pointed at then, and the reflections as written. The portfolio itself goes on
    changing (a return lets the learner change it); this does not."""

    __tablename__ = "portfolio_hand_ins"

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolios.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("submission_versions.id"), unique=True)
    reflections: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # objective code -> text, as handed in
    version: Mapped[SubmissionVersion] = relationship()
    pieces: Mapped[list[PortfolioHandInPiece]] = relationship(order_by="PortfolioHandInPiece.position",
                                                              cascade="all, delete-orphan")


class PortfolioHandInPiece(Model):
    """A piece of work in a hand-in, at its place in the learner's order: the version of the
    work that was its newest when the portfolio was handed in (its submission is the version's)."""

    __tablename__ = "portfolio_hand_in_pieces"

    hand_in_id: Mapped[int] = mapped_column(ForeignKey("portfolio_hand_ins.id"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("submission_versions.id"), index=True)
    version: Mapped[SubmissionVersion] = relationship()
