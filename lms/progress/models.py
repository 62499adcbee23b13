from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ColumnElement, Date, Float, ForeignKey, Index, String, Text, UniqueConstraint, and_, false
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.catalog.models import ContentItem, Lesson, Objective, Program
from lms.database import UTCDateTime, enum_type, utcnow
from lms.extensions import Model


class EvidenceSourceName(StrEnum):
    """Where evidence comes from; ``lms.progress.sources`` holds each source's weight and label."""

    QUIZ = "quiz"            # a graded quiz or exam, from the attempt(s) its grading method counts
    PRACTICE = "practice"    # a quiz marked as practice
    RUBRIC = "rubric"        # a rubric grade of applied work: hands-on work, the capstone, the portfolio
    CASE_STUDY = "case_study"  # a rubric grade of a case study (someone else's business)
    PEER = "peer"
    RATING = "rating"
    STAKEHOLDER = "stakeholder"
    KPI = "kpi"
    EXPERT = "expert"        # an outside expert's rubric rating of a submission, through a single-use link
    SIMULATION = "simulation"  # a branching simulation's path, scored per objective (lms.simulations)


class ItemKind(StrEnum):
    """What an item on a learner's schedule is (``lms.progress.completion``; never stored)."""

    LESSON = "lesson"
    QUIZ = "quiz"
    ASSIGNMENT = "assignment"
    EXAM = "exam"
    PORTFOLIO = "portfolio"


class MasteryMethodName(StrEnum):
    """How evidence becomes mastery; ``lms.progress.methods`` holds each method."""

    DECAYING_AVERAGE = "decaying_average"
    N_TIMES = "n_times"
    HIGHEST = "highest"
    LATEST = "latest"


class Evidence(Model):
    """One judgement of a learner against one objective, from any source."""

    __tablename__ = "evidence"
    # (user_id, recorded_at, objective_id, id): a learner's evidence by objective, and a
    # cohort's evidence recorded before a day counted from this index alone (the trend's
    # check that the months gone by are unchanged: ``competency.services._finished_months``)
    # (user_id, written_at, id): the API's evidence lists, by when each row was written
    __table_args__ = (Index("ix_evidence_user_time", "user_id", "recorded_at", "objective_id", "id"),
                      Index("ix_evidence_source_ref", "user_id", "source", "source_ref"),
                      Index("ix_evidence_user_written", "user_id", "written_at", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))  # looked up through ix_evidence_user_time (user_id first)
    objective_id: Mapped[int] = mapped_column(ForeignKey("objectives.id"), index=True)
    source: Mapped[EvidenceSourceName] = mapped_column(enum_type(EvidenceSourceName, length=20, name="source"))
    source_ref: Mapped[str] = mapped_column(String(120))  # what produced it, e.g. "response:42"
    level: Mapped[float] = mapped_column(Float)          # 0-4
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the row was written: ``recorded_at`` is when the result it says was made (a quiz
    # attempt's submission, for evidence written when its essay is graded days later) and
    # orders mastery; the API's ``updated_since`` reads this (migration ``zx6c3d4e5f613``).
    written_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who judged, when a person did (an instructor's rating, a peer); None for automatic sources.
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    # Who judged, when a person without an account did and their later rating of the learner
    # replaces their earlier ones (a stakeholder, an outside expert: a digest of their address,
    # ``lms.progress.sources.judge``; ``methods.Point.judge``); None otherwise (migration ``zx9c3d4e5f613``).
    judge: Mapped[str | None] = mapped_column(String(60), default=None)
    objective: Mapped[Objective] = relationship()
    recorded_by: Mapped[User | None] = relationship(foreign_keys=[recorded_by_id])


class Mastery(Model):
    """A learner's current level on one objective, kept up to date as evidence arrives."""

    __tablename__ = "mastery"
    __table_args__ = (UniqueConstraint("user_id", "objective_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))  # looked up through its unique (user_id, objective_id)
    objective_id: Mapped[int] = mapped_column(ForeignKey("objectives.id"))
    level: Mapped[float | None] = mapped_column(Float, default=None)
    evidence_count: Mapped[int] = mapped_column(default=0)
    method: Mapped[MasteryMethodName] = mapped_column(enum_type(MasteryMethodName, length=30, name="method"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the level last went below the program's at-risk bar and has stayed below since (the
    # moment of the evidence that took it there); None when it is at or above the bar. Written
    # with the level (``MasteryMethod.below_since``), so the heat map dates its "below the bar"
    # reasons from this row instead of replaying the learner's evidence.
    below_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Whether the level is held just under the top named level ("mastered") for want of
    # evidence: the evidence reaches it but weighs less than ``mastery_min_weight``
    # (``MasteryMethod.assess``). Written with the level, so the heat map marks a held cell
    # from this row; it cannot be told from ``level`` alone (a held 3.4 and a 3.4 the
    # evidence gives read the same).
    held: Mapped[bool] = mapped_column(default=False, server_default=false())
    # While held: how much more staff-checked evidence weight the top level needs
    # (``MasteryMethod.missing``; 0 when not held). Written with the level, so the heat map
    # says what a held cell waits for ("needs one more piece of staff-checked evidence")
    # from this row, as the learner's page does from the evidence.
    missing: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    objective: Mapped[Objective] = relationship()


class MasteryMark(Model):
    """A number drawn afresh whenever any of a learner's mastery rows is inserted, updated
    or deleted, written by the database's triggers on ``mastery`` (migration
    ``u1c3d4e5f613``) whatever writes it: the services, a rebuild, a restore, plain SQL. A
    cohort's kept pages (``lms.web.page_cache``: the heat map, the trend) sum their
    learners' marks, one row each read by its key, to know whether any mastery changed,
    instead of reading every mastery row of the cohort (eleven a learner) on each view. No
    foreign key: the triggers write it in whatever order a transaction removes a
    learner's rows."""

    __tablename__ = "mastery_marks"

    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(BigInteger)


class MasteryPolicy(ContentItem, Model):
    """How a program turns evidence into mastery (content/mastery.yml); ``key`` is the program's id."""

    __tablename__ = "mastery_policies"

    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    method: Mapped[MasteryMethodName] = mapped_column(enum_type(MasteryMethodName, length=30, name="method"))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Level names and the lowest mastery (0-4) that reaches each, e.g. {"proficient": 2.5}.
    thresholds: Mapped[dict[str, float]] = mapped_column(JSON)
    # Below this level on an objective whose modules have closed, a learner is at risk.
    at_risk_below: Mapped[float] = mapped_column(Float, default=2.5)
    # Per objective kind, the weight of each evidence source (0: recorded, not counted).
    evidence_weights: Mapped[dict[str, dict[str, float]]] = mapped_column(JSON, default=dict)
    program: Mapped[Program] = relationship()


class LessonRead(Model):
    """A learner marked a lesson as read (counts toward module completion)."""

    __tablename__ = "lesson_reads"
    __table_args__ = (UniqueConstraint("user_id", "lesson_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))  # looked up through its unique (user_id, lesson_id)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lesson: Mapped[Lesson] = relationship()


class ItemRole(StrEnum):
    """What a scheduled item counts toward in its level (``lms.progress.completion``): a
    module's part, the level's exam (its first), the level's portfolio (its first), nothing."""

    PART = "part"
    EXAM = "exam"
    PORTFOLIO = "portfolio"
    NONE = "none"


class ProgressItem(Model):
    """One item of one learner's schedule as it stands (``lms.progress.state``): its dates in
    the learner's current cohort (with their extensions), whether it is done and what it
    counts toward. Kept up to date as their records change, never computed on a page view;
    whether it is open, due or overdue follows from the dates and today, in SQL."""

    __tablename__ = "progress_items"
    __table_args__ = (Index("ix_progress_items_cohort_done_due", "cohort_id", "done", "due_on"),
                      Index("ix_progress_items_user_position", "user_id", "position"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"))
    position: Mapped[int] = mapped_column()  # the item's place in the learner's schedule (opens, due, lessons first)
    kind: Mapped[ItemKind] = mapped_column(enum_type(ItemKind, length=20, name="kind"))
    key: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(200))
    module_id: Mapped[int | None] = mapped_column(ForeignKey("modules.id"), default=None)
    level_id: Mapped[int | None] = mapped_column(ForeignKey("levels.id"), default=None)
    role: Mapped[ItemRole] = mapped_column(enum_type(ItemRole, length=20, name="role"))
    opens_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    done: Mapped[bool] = mapped_column(default=False)
    handed_in: Mapped[bool] = mapped_column(default=False)
    detail: Mapped[str] = mapped_column(String(120), default="")

    @hybrid_property
    def owed(self) -> bool:
        """Still the learner's to do: not done, and no work handed in waiting for its grade
        (``lms.progress.completion.Item.owed``). In SQL (``ProgressItem.owed``) the same."""
        return not self.done and not self.handed_in

    @owed.inplace.expression
    @classmethod
    def _owed_in_sql(cls) -> ColumnElement[bool]:
        return and_(cls.done.is_(False), cls.handed_in.is_(False))


class ProgressLevel(Model):
    """How far one learner got in one level (``LevelStatus``), kept with their items: the
    stage (0 started, 1 modules done, 2 and exam passed, 3 complete) and whether they started."""

    __tablename__ = "progress_levels"
    __table_args__ = (Index("ix_progress_levels_cohort_level", "cohort_id", "level_id"),
                      Index("ix_progress_levels_user", "user_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"))
    level_id: Mapped[int] = mapped_column(ForeignKey("levels.id"))
    stage: Mapped[int] = mapped_column()
    started: Mapped[bool] = mapped_column()


class ProgressLearner(Model):
    """One learner's schedule in one line, kept with their items: the due date of their
    oldest unfinished assessed item (None: nothing left), from which days behind follow;
    ``revision``, a random number drawn each time their rows are written (the learner's own
    kept pages, ``lms.web.page_cache``, read it to know whether their schedule state
    changed); and ``cohort_revision``, what the cohort's pages show of those rows folded
    into a number (``lms.progress.state.cohort_revision``): a cohort's kept heat map reads
    the sum of its learners' to know whether anything it shows of their state changed,
    and stays kept through changes it does not show (a lesson read)."""

    __tablename__ = "progress_learners"
    __table_args__ = (Index("ix_progress_learners_cohort", "cohort_id"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"))
    oldest_due: Mapped[date | None] = mapped_column(Date, default=None)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    cohort_revision: Mapped[int] = mapped_column(BigInteger, default=0)


class ProgressObjective(Model):
    """When one objective closes for one learner, kept with their items: the day the last
    phase of its active modules is due on the learner's dates (the cohort's, or their own
    when they joined late; None: no module serves it). An objective counts toward being at
    risk once it has closed, so the heat map counts the learners at risk in SQL."""

    __tablename__ = "progress_objectives"
    __table_args__ = (Index("ix_progress_objectives_cohort_user", "cohort_id", "user_id"),
                      Index("ix_progress_objectives_user", "user_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"))
    objective_id: Mapped[int] = mapped_column(ForeignKey("objectives.id"))
    closes_on: Mapped[date | None] = mapped_column(Date, default=None)
