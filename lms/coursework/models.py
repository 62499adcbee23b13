from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, ColumnElement, Float, ForeignKey, String, Table, Text, UniqueConstraint, func, select
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.catalog.models import ContentItem, Level, Module, Objective, Phase
from lms.coursework.specs import CriterionSpec
from lms.database import UTCDateTime, enum_type, typed_json, utcnow
from lms.extensions import Model, db


class AssignmentKind(StrEnum):
    CASE_STUDY = "case_study"
    HANDS_ON = "hands_on"
    CAPSTONE = "capstone"
    PORTFOLIO = "portfolio"  # a level's portfolio review
    CRITIQUE = "critique"    # the learner assesses a provided artifact (a template) against best practice


class SubmissionStatus(StrEnum):
    """draft -> submitted -> (returned -> submitted ...) -> released"""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"    # for revision: the learner may edit and resubmit
    RELEASED = "released"    # graded, the grade released to the learner


class DiffKind(StrEnum):
    """How a line of text changed between two submitted versions (never stored)."""

    SAME = "same"
    ADDED = "added"
    REMOVED = "removed"


assignment_objectives = Table(
    "assignment_objectives",
    db.metadata,
    Column("assignment_id", ForeignKey("assignments.id"), primary_key=True),
    Column("objective_id", ForeignKey("objectives.id"), primary_key=True),
)


class Rubric(ContentItem, Model):
    """A rubric's stable identity; its criteria live in versions."""

    __tablename__ = "rubrics"

    title: Mapped[str] = mapped_column(String(200))
    level_id: Mapped[int | None] = mapped_column(ForeignKey("levels.id"), default=None)  # a level's portfolio rubric
    current_number: Mapped[int] = mapped_column(default=1)
    level: Mapped[Level | None] = relationship()
    versions: Mapped[list[RubricVersion]] = relationship(back_populates="rubric", order_by="RubricVersion.number")

    @property
    def current(self) -> RubricVersion:
        return next(v for v in self.versions if v.number == self.current_number)


class RubricVersion(Model):
    __tablename__ = "rubric_versions"
    __table_args__ = (UniqueConstraint("rubric_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rubric_id: Mapped[int] = mapped_column(ForeignKey("rubrics.id"), index=True)
    number: Mapped[int]
    criteria: Mapped[list[CriterionSpec]] = mapped_column(typed_json(list[CriterionSpec], "Criteria"))
    max_points: Mapped[float] = mapped_column(Float)
    checksum: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rubric: Mapped[Rubric] = relationship(back_populates="versions")


class Assignment(ContentItem, Model):
    __tablename__ = "assignments"

    kind: Mapped[AssignmentKind] = mapped_column(enum_type(AssignmentKind, length=20, name="kind"))
    title: Mapped[str] = mapped_column(String(200))
    module_id: Mapped[int] = mapped_column(ForeignKey("modules.id"))
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id"))
    rubric_id: Mapped[int] = mapped_column(ForeignKey("rubrics.id"))
    due_after_days: Mapped[int]
    peer_reviews: Mapped[int] = mapped_column(default=0)
    deliverables: Mapped[list[str]] = mapped_column(JSON)
    body: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)
    source_path: Mapped[str] = mapped_column(String(300), default="")
    artifact: Mapped[str | None] = mapped_column(String(100), default=None)  # a critique's template key
    # A team assignment (lms.teams): the team size limits, and whether learners form teams themselves.
    team_min: Mapped[int | None] = mapped_column(default=None)
    team_max: Mapped[int | None] = mapped_column(default=None)
    team_self_formed: Mapped[bool] = mapped_column(default=False)
    module: Mapped[Module] = relationship()
    phase: Mapped[Phase] = relationship()
    rubric: Mapped[Rubric] = relationship()
    objectives: Mapped[list[Objective]] = relationship(secondary=assignment_objectives, order_by="Objective.position")

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind]

    @property
    def is_team(self) -> bool:
        """One submission per team, graded once (lms.teams)."""
        return self.team_max is not None


KINDS = {AssignmentKind.CASE_STUDY: "Case study", AssignmentKind.HANDS_ON: "Hands-on assignment",
         AssignmentKind.CAPSTONE: "Capstone project", AssignmentKind.PORTFOLIO: "Level portfolio review",
         AssignmentKind.CRITIQUE: "Critique"}


# The statuses in which a submission is the learner's to change: not handed in yet, or returned.
EDITABLE = (SubmissionStatus.DRAFT, SubmissionStatus.RETURNED)


class Submission(Model):
    """One learner's work on one assignment: a working draft plus every submitted version."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("assignment_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohorts.id"), index=True, default=None)
    status: Mapped[SubmissionStatus] = mapped_column(enum_type(SubmissionStatus, length=20, name="status"),
                                                     default=SubmissionStatus.DRAFT)
    draft_body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # when it was last returned for revision: the schedule gives it REVISION_DAYS from then
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    assignment: Mapped[Assignment] = relationship()
    versions: Mapped[list[SubmissionVersion]] = relationship(back_populates="submission", order_by="SubmissionVersion.number")
    attachments: Mapped[list[Attachment]] = relationship(back_populates="submission", order_by="Attachment.id")

    @property
    def editable(self) -> bool:
        return self.status in EDITABLE

    @property
    def latest(self) -> SubmissionVersion | None:
        return self.versions[-1] if self.versions else None

    @hybrid_property
    def handed_in_late(self) -> bool:
        """The latest version was handed in after its due date. In SQL
        (``Submission.handed_in_late``) the same rule, so the grading queue's "late only"
        filter and its rows' tag say it one way."""
        return bool(self.latest and self.latest.late)

    @handed_in_late.inplace.expression
    @classmethod
    def _handed_in_late_in_sql(cls) -> ColumnElement[bool]:
        latest = (select(func.max(SubmissionVersion.number)).where(SubmissionVersion.submission_id == cls.id)
                  .correlate(cls).scalar_subquery())
        return select(SubmissionVersion.id).where(SubmissionVersion.submission_id == cls.id,
                                                  SubmissionVersion.number == latest,
                                                  SubmissionVersion.late.is_(True)).exists()

    @property
    def current_attachments(self) -> list[Attachment]:
        return [a for a in self.attachments if a.removed_at is None]


class SubmissionVersion(Model):
    """What was handed in, exactly as it was: kept for ever, compared between rounds."""

    __tablename__ = "submission_versions"
    __table_args__ = (UniqueConstraint("submission_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    number: Mapped[int]
    body: Mapped[str] = mapped_column(Text)
    attachment_ids: Mapped[list[int]] = mapped_column(JSON)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_on: Mapped[date | None] = mapped_column(default=None)
    late: Mapped[bool] = mapped_column(default=False)
    submission: Mapped[Submission] = relationship(back_populates="versions")


class Attachment(Model):
    """A file kept under instance/uploads, served only to people allowed to see it."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(300), unique=True)
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int]
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)  # kept for earlier versions
    submission: Mapped[Submission] = relationship(back_populates="attachments")
