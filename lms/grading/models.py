from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.coursework.models import RubricVersion, Submission, SubmissionVersion
from lms.database import UTCDateTime, enum_type, utcnow
from lms.extensions import Model


class GradeStatus(StrEnum):
    DRAFT = "draft"        # the learner sees nothing yet
    RELEASED = "released"


class GradeAction(StrEnum):
    """What a grader's save does, as the audit trail records it."""

    DRAFT = "draft"        # save without showing the learner
    RELEASE = "release"    # show the grade to the learner
    RETURN = "return"      # return the work for revision


class PeerReviewStatus(StrEnum):
    ASSIGNED = "assigned"
    DONE = "done"
    CANCELLED = "cancelled"  # reassigned to another learner, or left unfinished by a move to another cohort


class PeerReviewKind(StrEnum):
    """Whether a review is asked of its reviewer or one they offered."""

    REQUIRED = "required"  # one of the k each learner who hands in reviews, or one their instructor gave them
    EXTRA = "extra"        # asked for once their k were done, for work short of reviewers: optional


class QueueFilter(StrEnum):
    """The grading queue's tabs (never stored)."""

    TO_GRADE = "to_grade"
    RETURNED = "returned"
    RELEASED = "released"
    ALL = "all"


class Grade(Model):
    """The instructor's grade of a submission, on the rubric version it was given with.
    ``revision`` goes up with every save, so a save made on an older view is refused: it is
    the mapper's version counter, so every UPDATE of a grade is ``... WHERE id = :id AND
    revision = :loaded`` and a row changed meanwhile raises ``StaleDataError`` at the flush."""

    __tablename__ = "grades"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), unique=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("submission_versions.id"))
    rubric_version_id: Mapped[int] = mapped_column(ForeignKey("rubric_versions.id"))
    grader_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # {criterion id: {"level": level id or None, "comment": text}}
    selections: Mapped[dict[str, Any]] = mapped_column(JSON)
    feedback: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float | None] = mapped_column(Float, default=None)
    max_score: Mapped[float] = mapped_column(Float)
    status: Mapped[GradeStatus] = mapped_column(enum_type(GradeStatus, length=20, name="status"), default=GradeStatus.DRAFT)
    revision: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    submission: Mapped[Submission] = relationship()
    version: Mapped[SubmissionVersion] = relationship()
    rubric_version: Mapped[RubricVersion] = relationship()
    grader: Mapped[User] = relationship()

    __mapper_args__ = {"version_id_col": revision}


class GradeEvent(Model):
    """The audit trail: who changed a grade, when, and what it was before and after."""

    __tablename__ = "grade_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    grade_id: Mapped[int] = mapped_column(ForeignKey("grades.id"), index=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[GradeAction] = mapped_column(enum_type(GradeAction, length=20, name="action"))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor: Mapped[User] = relationship()


# A review that is not cancelled: a reviewer holds at most one of each piece of work.
LIVE_REVIEW = "status <> 'cancelled'"


class PeerReview(Model):
    """One learner's review of another's submission with the assignment's rubric.
    Neither side sees the other's name. A reviewer has at most one live (not cancelled)
    review of a submission: a unique index over the live ones, so two asks at once never
    give them the same work twice."""

    __tablename__ = "peer_reviews"
    __table_args__ = (Index("uq_peer_reviews_live_reviewer", "submission_id", "reviewer_id", unique=True,
                            sqlite_where=text(LIVE_REVIEW), postgresql_where=text(LIVE_REVIEW)),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("submission_versions.id"))
    rubric_version_id: Mapped[int] = mapped_column(ForeignKey("rubric_versions.id"))
    status: Mapped[PeerReviewStatus] = mapped_column(enum_type(PeerReviewStatus, length=20, name="status"),
                                                     default=PeerReviewStatus.ASSIGNED)
    kind: Mapped[PeerReviewKind] = mapped_column(enum_type(PeerReviewKind, length=20, name="kind"),
                                                 default=PeerReviewKind.REQUIRED, server_default=PeerReviewKind.REQUIRED.value)
    selections: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    comment: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float | None] = mapped_column(Float, default=None)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    submission: Mapped[Submission] = relationship()
    version: Mapped[SubmissionVersion] = relationship()
    rubric_version: Mapped[RubricVersion] = relationship()
