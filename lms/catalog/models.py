"""Curriculum tables. Every row carries the stable ``key`` from the files and is retired,
never deleted, when its file goes away."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Float, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.database import UTCDateTime, enum_type
from lms.extensions import Model, db


class ObjectiveKind(StrEnum):
    KNOWLEDGE = "knowledge"
    SKILL = "skill"
    APPLICATION = "application"


class MetricUnit(StrEnum):
    PERCENT = "percent"
    HOURS = "hours"
    SCORE = "score"


class MetricComparison(StrEnum):
    """How a figure is held against its metric's target, as the target's wording says:
    "at least" and "at most" count a figure equal to the target as met, "over" and "under"
    do not. The content files write it in words (``lms.catalog.content.read_target``)."""

    AT_LEAST = "at_least"
    OVER = "over"
    AT_MOST = "at_most"
    UNDER = "under"

    @property
    def higher_is_better(self) -> bool:
        return self in (MetricComparison.AT_LEAST, MetricComparison.OVER)

    @property
    def strict(self) -> bool:
        return self in (MetricComparison.OVER, MetricComparison.UNDER)

    @property
    def words(self) -> str:
        return self.value.replace("_", " ")

    def meets(self, value: float, target: float) -> bool:
        if self.higher_is_better:
            return value > target if self.strict else value >= target
        return value < target if self.strict else value <= target


KINDS = tuple(ObjectiveKind)
# How each kind of objective names its two lists, as the program's framework does.
KIND_LABELS: dict[ObjectiveKind, tuple[str, str]] = {
    ObjectiveKind.KNOWLEDGE: ("Learning outcomes", "Assessment criteria"),
    ObjectiveKind.SKILL: ("Skill areas", "Competency indicators"),
    ObjectiveKind.APPLICATION: ("Application areas", "Success indicators"),
}


class ContentItem:
    """Columns every loaded item has."""

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    @property
    def active(self) -> bool:
        return self.retired_at is None


module_objectives = Table(
    "module_objectives",
    db.metadata,
    Column("module_id", ForeignKey("modules.id"), primary_key=True),
    Column("objective_id", ForeignKey("objectives.id"), primary_key=True),
)
lesson_objectives = Table(
    "lesson_objectives",
    db.metadata,
    Column("lesson_id", ForeignKey("lessons.id"), primary_key=True),
    Column("objective_id", ForeignKey("objectives.id"), primary_key=True),
)
lesson_cases = Table(
    "lesson_cases",
    db.metadata,
    Column("lesson_id", ForeignKey("lessons.id"), primary_key=True),
    Column("case_id", ForeignKey("cases.id"), primary_key=True),
)
metric_objectives = Table(
    "metric_objectives",
    db.metadata,
    Column("metric_id", ForeignKey("metrics.id"), primary_key=True),
    Column("objective_id", ForeignKey("objectives.id"), primary_key=True),
)


class Program(ContentItem, Model):
    __tablename__ = "programs"

    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    levels: Mapped[list[Level]] = relationship(back_populates="program", order_by="Level.position")


class Level(ContentItem, Model):
    __tablename__ = "levels"

    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    title: Mapped[str] = mapped_column(String(200))
    position: Mapped[int]
    first_month: Mapped[int]
    last_month: Mapped[int]
    summary: Mapped[str] = mapped_column(Text)
    goals: Mapped[list[str]] = mapped_column(JSON)
    program: Mapped[Program] = relationship(back_populates="levels")

    def holds(self, month: int) -> bool:
        return self.first_month <= month <= self.last_month

    @property
    def span(self) -> int:
        return self.last_month - self.first_month + 1


class Objective(ContentItem, Model):
    __tablename__ = "objectives"

    # ``key`` is the objective's code (KO1 ... AO3).
    kind: Mapped[ObjectiveKind] = mapped_column(enum_type(ObjectiveKind, length=20, name="kind"))
    title: Mapped[str] = mapped_column(String(200))
    statement: Mapped[str] = mapped_column(Text)
    outcomes: Mapped[list[str]] = mapped_column(JSON)
    applications: Mapped[list[str]] = mapped_column(JSON)
    indicators: Mapped[list[str]] = mapped_column(JSON)
    position: Mapped[int]
    modules: Mapped[list[Module]] = relationship(
        secondary=module_objectives, back_populates="objectives", order_by="Module.position"
    )

    @property
    def code(self) -> str:
        return self.key

    @property
    def labels(self) -> tuple[str, str]:
        return KIND_LABELS[self.kind]


class Module(ContentItem, Model):
    __tablename__ = "modules"

    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    position: Mapped[int]
    metric_group: Mapped[str] = mapped_column(String(200), default="")
    # The module's further reading, as validated by the loader: [{title, author, year, url, why}].
    readings: Mapped[list[dict[str, str | int]]] = mapped_column(JSON, default=list)
    program: Mapped[Program] = relationship()
    objectives: Mapped[list[Objective]] = relationship(
        secondary=module_objectives, back_populates="modules", order_by="Objective.position"
    )
    phases: Mapped[list[Phase]] = relationship(back_populates="module", order_by="Phase.position")
    lessons: Mapped[list[Lesson]] = relationship(back_populates="module", order_by="Lesson.position")
    metrics: Mapped[list[Metric]] = relationship(back_populates="module", order_by="Metric.position")


class Phase(ContentItem, Model):
    """A part of a module that opens in one month of the cohort's schedule."""

    __tablename__ = "phases"

    # ``key`` is "<module key>.<phase id>".
    module_id: Mapped[int] = mapped_column(ForeignKey("modules.id"))
    title: Mapped[str] = mapped_column(String(200))
    month: Mapped[int]
    position: Mapped[int]
    summary: Mapped[str] = mapped_column(Text, default="")
    module: Mapped[Module] = relationship(back_populates="phases")
    lessons: Mapped[list[Lesson]] = relationship(back_populates="phase", order_by="Lesson.position")


class Lesson(ContentItem, Model):
    __tablename__ = "lessons"

    module_id: Mapped[int] = mapped_column(ForeignKey("modules.id"))
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id"))
    title: Mapped[str] = mapped_column(String(200))
    position: Mapped[int]
    minutes: Mapped[int]
    body: Mapped[str] = mapped_column(Text)
    source_path: Mapped[str] = mapped_column(String(300), default="")
    # A weekly unit: the week of its month (1-4) and its practice activity (title, minutes,
    # produces, template, steps), as content/README.md describes.
    week: Mapped[int | None] = mapped_column(default=None)
    activity: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # The week's further reading, as a module's: [{title, author, year, url, why}].
    readings: Mapped[list[dict[str, str | int]]] = mapped_column(JSON, default=list)
    module: Mapped[Module] = relationship(back_populates="lessons")
    phase: Mapped[Phase] = relationship(back_populates="lessons")
    objectives: Mapped[list[Objective]] = relationship(
        secondary=lesson_objectives, order_by="Objective.position"
    )
    cases: Mapped[list[Case]] = relationship(secondary=lesson_cases, order_by="Case.name")


class Case(ContentItem, Model):
    """A running case: a fictional company that recurs through the year (content/cases.yml)."""

    __tablename__ = "cases"

    name: Mapped[str] = mapped_column(String(120))
    size: Mapped[str] = mapped_column(String(120))
    market: Mapped[str] = mapped_column(Text)
    product: Mapped[str] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(Text)
    countries: Mapped[list[str]] = mapped_column(JSON)
    profile: Mapped[str] = mapped_column(Text)


class Metric(ContentItem, Model):
    """A success-metric target a learner tracks for their own business."""

    __tablename__ = "metrics"

    module_id: Mapped[int] = mapped_column(ForeignKey("modules.id"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    target: Mapped[float] = mapped_column(Float)
    unit: Mapped[MetricUnit] = mapped_column(enum_type(MetricUnit, length=20, name="unit"))
    # The column keeps its first name: it held only "at least" / "at most" before strict targets.
    comparison: Mapped[MetricComparison] = mapped_column(
        "direction", enum_type(MetricComparison, length=20, name="direction"))
    min_value: Mapped[float] = mapped_column(Float)
    max_value: Mapped[float] = mapped_column(Float)
    position: Mapped[int]
    module: Mapped[Module] = relationship(back_populates="metrics")
    objectives: Mapped[list[Objective]] = relationship(
        secondary=metric_objectives, order_by="Objective.position"
    )

    @property
    def target_label(self) -> str:
        value = f"{self.target:g}"
        symbol = {MetricUnit.PERCENT: f"{value}%", MetricUnit.HOURS: f"{value} h", MetricUnit.SCORE: value}[self.unit]
        return f"{self.comparison.words} {symbol}"

    def meets(self, value: float) -> bool:
        return self.comparison.meets(value, self.target)


class ContentRevision(Model):
    """One row: a random token replaced whenever the curriculum changes (a content load, or
    any write to a content item), so that every process can tell whether what it keeps of
    the curriculum (``lms.catalog.revision``) is still the database's."""

    __tablename__ = "content_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
