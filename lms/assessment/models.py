"""Quizzes, versioned questions, attempts and responses."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.assessment.kinds import QuestionKind
from lms.assessment.questions import AnyQuestion, QuestionSpec
from lms.catalog.models import ContentItem, Lesson, Level, Module, Phase
from lms.database import UTCDateTime, enum_type, typed_json, utcnow
from lms.extensions import Model


class QuizKind(StrEnum):
    QUIZ = "quiz"  # a module's, opening with its phase
    EXAM = "exam"  # a level's, in its last month
    CHECK = "check"  # a weekly unit's practice check, opening with its lesson


class GradingMethodName(StrEnum):
    """How attempts combine into the quiz grade; ``lms.assessment.methods`` holds each method."""

    HIGHEST = "highest"
    LATEST = "latest"
    AVERAGE = "average"
    FIRST = "first"


class ReviewPolicyName(StrEnum):
    """When learners see correct answers and feedback; ``lms.assessment.methods`` holds each policy."""

    IMMEDIATELY = "immediately"
    AFTER_LAST_ATTEMPT = "after_last_attempt"  # the learner's last attempt is used, or the quiz has closed
    AFTER_CLOSE = "after_close"
    NEVER = "never"


class AttemptClosedBy(StrEnum):
    """What ended an attempt (an attempt still open has none)."""

    LEARNER = "learner"          # submitted
    TIME_LIMIT = "time_limit"    # its time limit ran out
    QUIZ_CLOSED = "quiz_closed"  # the quiz closed before the time limit did


class Quiz(ContentItem, Model):
    __tablename__ = "quizzes"

    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[QuizKind] = mapped_column(enum_type(QuizKind, length=10, name="kind"))
    description: Mapped[str] = mapped_column(Text, default="")
    module_id: Mapped[int | None] = mapped_column(ForeignKey("modules.id"), default=None)
    phase_id: Mapped[int | None] = mapped_column(ForeignKey("phases.id"), default=None)
    level_id: Mapped[int | None] = mapped_column(ForeignKey("levels.id"), default=None)
    # A weekly check belongs to one lesson (its weekly unit) and opens with it.
    lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lessons.id"), index=True, default=None)
    passing_score: Mapped[float] = mapped_column(Float, default=70)
    time_limit_minutes: Mapped[int | None] = mapped_column(default=None)
    attempts_allowed: Mapped[int] = mapped_column(default=0)
    grading: Mapped[GradingMethodName] = mapped_column(enum_type(GradingMethodName, length=10, name="grading"),
                                                       default=GradingMethodName.HIGHEST)
    shuffle_questions: Mapped[bool] = mapped_column(default=False)
    shuffle_answers: Mapped[bool] = mapped_column(default=False)
    review: Mapped[ReviewPolicyName] = mapped_column(enum_type(ReviewPolicyName, length=20, name="review"),
                                                     default=ReviewPolicyName.IMMEDIATELY)
    opens_after_days: Mapped[int] = mapped_column(default=0)
    closes_after_days: Mapped[int | None] = mapped_column(default=None)
    pools: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # A practice quiz gives evidence from the practice source, at the weight the rules give it (default 0).
    practice: Mapped[bool] = mapped_column(default=False)
    # A module quiz may open when its phase's work is due instead of when the phase opens.
    opens_when_phase_ends: Mapped[bool] = mapped_column(default=False)

    @property
    def release_month(self) -> int:
        """The program month whose opening its days count from: its phase's (or the next
        one's, when it opens as the phase ends), or its level's last month for an exam."""
        if self.phase is not None:
            return self.phase.month + (1 if self.opens_when_phase_ends else 0)
        assert self.level is not None  # a quiz without a phase is its level's exam
        return self.level.last_month

    @property
    def covers_month(self) -> int:
        """The program month whose lessons it covers, as the learner's quiz list names it:
        its phase's (a weekly check's, its lesson's), even when it opens as that month ends
        (``release_month`` is then the next), or its level's last month for an exam. Every
        page that names a quiz's month (the learner's list, the gradebook) says this one."""
        if self.phase is not None:
            return self.phase.month
        if self.lesson is not None:
            return self.lesson.phase.month
        assert self.level is not None  # a quiz without a phase is its level's exam
        return self.level.last_month
    position: Mapped[int] = mapped_column(default=0)
    source_path: Mapped[str] = mapped_column(String(300), default="")
    module: Mapped[Module | None] = relationship()
    phase: Mapped[Phase | None] = relationship()
    level: Mapped[Level | None] = relationship()
    lesson: Mapped[Lesson | None] = relationship()
    questions: Mapped[list[Question]] = relationship(back_populates="quiz", order_by="Question.position")


class Question(ContentItem, Model):
    """A question's stable identity; what it says lives in its versions."""

    __tablename__ = "questions"

    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    pool: Mapped[str | None] = mapped_column(String(120), default=None)
    current_number: Mapped[int] = mapped_column(default=1)
    quiz: Mapped[Quiz] = relationship(back_populates="questions")
    versions: Mapped[list[QuestionVersion]] = relationship(back_populates="question", order_by="QuestionVersion.number")

    @property
    def current(self) -> QuestionVersion:
        return next(v for v in self.versions if v.number == self.current_number)


class QuestionVersion(Model):
    """One wording of a question. Attempts point at the version they answered, so
    editing the file never changes a past attempt's questions or score."""

    __tablename__ = "question_versions"
    __table_args__ = (UniqueConstraint("question_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"), index=True)
    number: Mapped[int]
    type: Mapped[QuestionKind] = mapped_column(enum_type(QuestionKind, length=20, name="type"))
    points: Mapped[float] = mapped_column(Float)
    objectives: Mapped[list[str]] = mapped_column(JSON)
    spec: Mapped[QuestionSpec] = mapped_column(typed_json(AnyQuestion, "QuestionSpec"))
    checksum: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    question: Mapped[Question] = relationship(back_populates="versions")


OPEN = "submitted_at IS NULL"  # an attempt still running, which ``close_expired_attempts`` looks at


class Attempt(Model):
    __tablename__ = "quiz_attempts"
    # The attempts still running, by deadline: the few among every attempt ever made that
    # ``close_expired_attempts`` (cron, every few minutes) looks for.
    __table_args__ = (UniqueConstraint("quiz_id", "user_id", "number"),
                      Index("ix_quiz_attempts_open_deadline", "deadline_at", sqlite_where=text(OPEN),
                            postgresql_where=text(OPEN)))

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohorts.id"), index=True, default=None)
    number: Mapped[int]
    # Pages in the order this attempt shows them: [{"version": id, "options": {part: [ids]}}]
    layout: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The minutes this attempt was given: the quiz's limit times the learner's time allowance
    # when it started (lms.cohorts.models.TimeAllowance); None: no limit.
    minutes_allowed: Mapped[int | None] = mapped_column(default=None)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # When it was submitted or its score last changed (a written answer graded, a question
    # withdrawn and the attempt rescored): the API's ``updated_since`` reads it. None while open.
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    closed_by: Mapped[AttemptClosedBy | None] = mapped_column(enum_type(AttemptClosedBy, length=20, name="closed_by"),
                                                              default=None)
    score: Mapped[float | None] = mapped_column(Float, default=None)
    max_score: Mapped[float] = mapped_column(Float, default=0)
    pending_manual: Mapped[bool] = mapped_column(default=False)
    quiz: Mapped[Quiz] = relationship()
    user: Mapped[User] = relationship()
    responses: Mapped[list[Response]] = relationship(back_populates="attempt")

    @property
    def finished(self) -> bool:
        return self.submitted_at is not None

    @property
    def percent(self) -> float | None:
        return percent_of(self.score, self.max_score)


def percent_of(score: float | None, max_score: float) -> float | None:
    """An attempt's score as a percentage of its maximum (None when unscored or out of nothing)."""
    if score is None or not max_score:
        return None
    return round(100 * score / max_score, 2)


UNGRADED = "score IS NULL AND answer IS NOT NULL"  # a response ``pending_essays`` may list


class Response(Model):
    """The answer to one part of one question in one attempt, saved as it is given."""

    __tablename__ = "quiz_responses"
    # The written answers nobody has graded yet, by attempt (``pending_essays``): a few among
    # every answer given, which the instructor's home counts on every view.
    __table_args__ = (UniqueConstraint("attempt_id", "version_id", "part"),
                      Index("ix_quiz_responses_ungraded", "attempt_id", sqlite_where=text(UNGRADED),
                            postgresql_where=text(UNGRADED)))

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("quiz_attempts.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("question_versions.id"), index=True)
    part: Mapped[str] = mapped_column(String(120), default="")
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    score: Mapped[float | None] = mapped_column(Float, default=None)  # points
    graded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    graded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    grader_comment: Mapped[str] = mapped_column(Text, default="")
    attempt: Mapped[Attempt] = relationship(back_populates="responses")
    version: Mapped[QuestionVersion] = relationship()


class ItemWithdrawal(Model):
    """A question withdrawn from its quiz, program-wide: new attempts no longer draw it
    (item analysis, issue 12 point 3). Who withdrew it, when, why, and from which cohort's
    statistics; attempts already scored keep its points unless that cohort was regraded,
    which took the question out of its finished attempts (``regraded_attempts`` of them)."""

    __tablename__ = "item_withdrawals"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"), unique=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"))
    withdrawn_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    withdrawn_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    regraded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    regraded_attempts: Mapped[int] = mapped_column(default=0)
    question: Mapped[Question] = relationship()
    withdrawn_by: Mapped[User] = relationship()
