"""Teams of learners working on one team assignment in one cohort, their ratings of each
other's contribution, and staff's per-member adjustments of the team's grade."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.coursework.models import Assignment, Submission
from lms.database import UTCDateTime, utcnow
from lms.extensions import Model


class Team(Model):
    """``revision`` goes up with every change of membership (the write that serialises
    joins, so a team never grows past its limit); ``draft_revision`` with every change of
    the team's work (a member's save is refused if another saved after they opened it)."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("assignment_id", "cohort_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), index=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"), unique=True, default=None)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    formed_by_learner: Mapped[bool] = mapped_column(default=False)
    revision: Mapped[int] = mapped_column(default=0)
    draft_revision: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    assignment: Mapped[Assignment] = relationship()
    submission: Mapped[Submission | None] = relationship()
    members: Mapped[list[TeamMember]] = relationship(back_populates="team", order_by="TeamMember.id",
                                                     cascade="all, delete-orphan")

    @property
    def submitted(self) -> bool:
        """Once the team has handed in a version its membership is fixed."""
        return self.submission is not None and bool(self.submission.versions)

    @property
    def member_ids(self) -> list[int]:
        return [m.user_id for m in self.members]


class TeamMember(Model):
    """A learner is in at most one team per assignment (the unique constraint decides races)."""

    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("assignment_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    team: Mapped[Team] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class ContributionRating(Model):
    """One member's rating (1-5) of a teammate's contribution; teammates never see who rated what."""

    __tablename__ = "team_ratings"
    __table_args__ = (UniqueConstraint("team_id", "rater_id", "ratee_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    ratee_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    score: Mapped[int]
    comment: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GradeAdjustment(Model):
    """Staff move one member's share of the team grade up or down, with a note the learner
    reads; that learner's evidence uses the adjusted grade. ``revision`` is the mapper's
    version counter: a save made on an older view is refused."""

    __tablename__ = "team_adjustments"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    points: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text)
    adjusted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revision: Mapped[int] = mapped_column(default=1)
    adjusted_by: Mapped[User] = relationship(foreign_keys=[adjusted_by_id])

    __mapper_args__ = {"version_id_col": revision}
