"""What the course holds, counted: every section states facts about its parsed files (a
lesson of so many words in month 3 of the MLOps module, a quiz of 24 items, ...), and
``flask lms content-stats`` adds them up per month and per module. Sections know their
own files; this module only counts, so it depends on no feature."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

# A row of the stats has this key when a fact has no month (a template) or no module (an exam).
NONE = "—"


class Measure(StrEnum):
    """What a fact counts; ``WORDS`` is a distribution (one fact per lesson), the rest add up."""

    LESSONS = "lessons"
    WORDS = "words"
    MINUTES = "minutes"       # estimated learner time (reading, activities)
    ACTIVITIES = "activities"
    TEMPLATES = "templates"
    READINGS = "readings"
    METRICS = "metrics"       # success metrics learners track in the KPI tracker
    QUIZZES = "quizzes"       # module quizzes and level exams
    CHECKS = "checks"         # weekly units' practice checks
    ITEMS = "items"           # questions of quizzes, exams and checks
    ASSIGNMENTS = "assignments"


@dataclass(frozen=True)
class Fact:
    """One countable thing in the content, where it sits in the year and in the course."""

    measure: Measure
    value: float
    month: int | None = None
    module: str | None = None


def word_count(markdown: str) -> int:
    """Words a learner reads: whitespace-separated tokens that hold a letter or a digit."""
    return sum(1 for token in markdown.split() if any(ch.isalnum() for ch in token))


@dataclass
class Row:
    """The counts of one month or one module."""

    totals: dict[Measure, float] = field(default_factory=lambda: defaultdict(float))
    words: list[int] = field(default_factory=list)

    def add(self, fact: Fact) -> None:
        if fact.measure == Measure.WORDS:
            self.words.append(int(fact.value))
        else:
            self.totals[fact.measure] += fact.value

    def count(self, measure: Measure) -> int:
        return int(self.totals.get(measure, 0))

    @property
    def hours(self) -> float:
        return round(self.totals.get(Measure.MINUTES, 0) / 60, 1)

    @property
    def word_range(self) -> tuple[int, int, int] | None:
        """Lesson length: min, median, max words (None without lessons)."""
        if not self.words:
            return None
        return min(self.words), int(statistics.median(self.words)), max(self.words)


@dataclass
class Stats:
    by_month: dict[str, Row]
    by_module: dict[str, Row]
    total: Row


def gather(facts: Iterable[Fact], months: int = 12) -> Stats:
    """Add the facts up per month (1..``months``, then facts without a month) and per module."""
    by_month: dict[str, Row] = {str(m): Row() for m in range(1, months + 1)}
    by_module: dict[str, Row] = {}
    total = Row()
    for fact in facts:
        by_month.setdefault(str(fact.month) if fact.month is not None else NONE, Row()).add(fact)
        by_module.setdefault(fact.module or NONE, Row()).add(fact)
        total.add(fact)
    return Stats(by_month=by_month, by_module=by_module, total=total)


COLUMNS = ("lessons", "words min/median/max", "hours", "activities", "templates", "readings", "metrics", "quizzes",
           "checks", "items", "assignments")


def cells(row: Row) -> list[str]:
    words = row.word_range
    return [str(row.count(Measure.LESSONS)), "/".join(map(str, words)) if words else NONE, f"{row.hours:g}",
            str(row.count(Measure.ACTIVITIES)), str(row.count(Measure.TEMPLATES)), str(row.count(Measure.READINGS)),
            str(row.count(Measure.METRICS)), str(row.count(Measure.QUIZZES)), str(row.count(Measure.CHECKS)),
            str(row.count(Measure.ITEMS)), str(row.count(Measure.ASSIGNMENTS))]


def table(title: str, rows: dict[str, Row], total: Row) -> list[str]:
    """A Markdown table: one line per row, then the total."""
    body = [[name, *cells(row)] for name, row in rows.items()] + [["total", *cells(total)]]
    return grid([title, *COLUMNS], body)


@dataclass(frozen=True)
class Block:
    """Figures a section prints as a table of its own, after the counts (e.g. per quiz)."""

    title: str
    header: tuple[str, ...]
    rows: list[list[str]]

    def lines(self) -> list[str]:
        return [f"## {self.title}", "", *grid(list(self.header), self.rows)]


def grid(header: list[str], body: list[list[str]]) -> list[str]:
    """A Markdown table, the first column left-aligned and the others right-aligned."""
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))) + " |"

    rule = "|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|"
    return [line(header), rule, *(line(values) for values in body)]
