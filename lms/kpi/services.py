"""Recording a learner's business figures against the program's metric targets, and
turning progress toward a target into application evidence. Flush only.

The evidence rule, for one figure (the entry for one metric and one month) compared with
the learner's previous recorded figure for that metric (the latest earlier month they
recorded, not necessarily the month just before):

* it **meets the target** (as its wording compares, ``MetricComparison``: a figure equal to
  an "at least" or "at most" target meets it, one equal to an "over" or "under" target does
  not), or it **moved toward the target** (higher than before for an "at least" or "over"
  target, lower for an "at most" or "under" one): it is KPI evidence, source ref
  ``kpi:<metric key>:<YYYY-MM>``, for every objective the metric serves, at the
  figure's *attainment*: when higher is better, ``(value - min) / (target - min)``; when
  lower is, ``(max - value) / (max - target)``; clamped to 0..1 (so 1 on target), and
  below 1 for a figure that misses (``MISSED_CEILING``: 4.0 against "under 4" hours);
* otherwise (a first figure below target, an unchanged one, or one that moved away and
  still misses) that month's evidence is withdrawn.

Recording a month again corrects it; the next recorded month is judged again too, as
the figure it is compared with has changed.

A figure for a month before the learner joined the program (``joined_months``: the later of
when they enrolled and their cohort's start) is kept and shown, marked as before joining, but
earns no evidence: it is still the figure the next month is compared with (a baseline), and
mastery leaves any such evidence already stored out (``lms.progress.services.point_of``)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.orm import contains_eager, selectinload

from lms.catalog.models import Metric, MetricUnit, Module
from lms.database import DbSession, insert_unless_there
from lms.kpi.models import KpiEntry
from lms.progress.models import EvidenceSourceName
from lms.progress.services import joined_months, replace_evidence
from lms.progress.sources import KpiSource

SOURCE = EvidenceSourceName.KPI
OLDEST_PERIOD_YEARS = 10  # figures older than this are refused as a likely typing slip
MISSED_CEILING = 0.999  # the most attainment a figure that misses its target earns


class KpiError(ValueError):
    """A figure the tracker refuses; nothing was recorded. ``field`` names the form field
    the message belongs to (metric, period or value)."""

    def __init__(self, message: str, field: str = "value") -> None:
        super().__init__(message)
        self.field = field


# --------------------------------------------------------------------------- variants


class Unit:
    """How a metric's figures are written and described."""

    name: ClassVar[MetricUnit]
    noun: ClassVar[str]

    def format(self, value: float) -> str:
        return f"{value:g}"

    def describe(self, metric: Metric) -> str:
        return f"{self.noun} between {metric.min_value:g} and {metric.max_value:g}"


class Percent(Unit):
    name, noun = MetricUnit.PERCENT, "a percentage"

    def format(self, value: float) -> str:
        return f"{value:g}%"


class Hours(Unit):
    name, noun = MetricUnit.HOURS, "a number of hours"

    def format(self, value: float) -> str:
        return f"{value:g} h"


class Score(Unit):
    name, noun = MetricUnit.SCORE, "a score"


UNITS: dict[MetricUnit, Unit] = {u.name: u for u in (Percent(), Hours(), Score())}


class Direction(ABC):
    """Which way is better for a metric, and how far along the way to its target a figure is.
    Whether a figure meets the target is the comparison's (``Metric.meets``)."""

    higher_is_better: ClassVar[bool]

    @abstractmethod
    def better(self, before: float, after: float) -> bool:
        """``after`` lies further toward the good side than ``before``."""

    @abstractmethod
    def attainment(self, metric: Metric, value: float) -> float:
        """How far ``value`` has come from the metric's worst end to its target, 0-1."""


class Higher(Direction):
    higher_is_better = True

    def better(self, before: float, after: float) -> bool:
        return after > before

    def attainment(self, metric: Metric, value: float) -> float:
        span = metric.target - metric.min_value
        return 1.0 if span <= 0 else _clamp((value - metric.min_value) / span)


class Lower(Direction):
    higher_is_better = False

    def better(self, before: float, after: float) -> bool:
        return after < before

    def attainment(self, metric: Metric, value: float) -> float:
        span = metric.max_value - metric.target
        return 1.0 if span <= 0 else _clamp((metric.max_value - value) / span)


DIRECTIONS: dict[bool, Direction] = {d.higher_is_better: d for d in (Higher(), Lower())}


def _clamp(fraction: float) -> float:
    return min(1.0, max(0.0, fraction))


def unit_of(metric: Metric) -> Unit:
    return UNITS[metric.unit]


def direction_of(metric: Metric) -> Direction:
    return DIRECTIONS[metric.comparison.higher_is_better]


def format_value(metric: Metric, value: float) -> str:
    return unit_of(metric).format(value)


def trend_between(metric: Metric, before: float, after: float) -> str:
    """``toward``, ``away`` or ``flat``: how ``after`` moved relative to the target."""
    direction = direction_of(metric)
    if direction.better(before, after):
        return "toward"
    return "away" if direction.better(after, before) else "flat"


def evidence_fraction(metric: Metric, value: float, previous: float | None) -> float | None:
    """The module's evidence rule for one figure: its attainment (0-1) when it meets the
    target or moved toward it since ``previous``; None when it earns no evidence. Only a
    figure that meets the target attains 1."""
    moved_toward = previous is not None and trend_between(metric, previous, value) == "toward"
    if metric.meets(value):
        return direction_of(metric).attainment(metric, value)
    if moved_toward:
        return min(MISSED_CEILING, direction_of(metric).attainment(metric, value))
    return None


# --------------------------------------------------------------------------- recording


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def source_ref(metric: Metric, period: date) -> str:
    return KpiSource.ref(metric.key, period)


def joined_month(session: DbSession, user_id: int) -> date | None:
    """The first month of the learner's time in the program (None: never enrolled): figures
    for months before it are not evidence."""
    return joined_months(session, [user_id]).get(user_id)


def active_metric(session: DbSession, key: str) -> Metric:
    """The active metric with ``key``; a KpiError when there is none."""
    metric = session.scalar(select(Metric).where(Metric.key == key, Metric.retired_at.is_(None)))
    if metric is None:
        raise KpiError("Choose one of the metrics in the list.", field="metric")
    return metric


def _check(metric: Metric, period: date, value: float, now: datetime) -> None:
    if not metric.active:
        raise KpiError(f"{metric.name} is no longer part of the program; its figures can no longer be recorded.",
                       field="metric")
    if not math.isfinite(value):
        raise KpiError(f"Enter {metric.name} as an ordinary number.")
    if not metric.min_value <= value <= metric.max_value:
        raise KpiError(f"{metric.name} is {unit_of(metric).describe(metric)}; {value:g} is outside that range.")
    this_month = first_of_month(now.date())
    if period > this_month:
        raise KpiError(f"{period:%B %Y} has not happened yet; record figures for {this_month:%B %Y} or earlier.",
                       field="period")
    if period.year < this_month.year - OLDEST_PERIOD_YEARS:
        raise KpiError(f"{period:%B %Y} is more than {OLDEST_PERIOD_YEARS} years ago; check the month.", field="period")


def _note(metric: Metric, entry: KpiEntry, previous: KpiEntry | None) -> str:
    text = f"{metric.name}: {format_value(metric, entry.value)} in {entry.period:%B %Y}"
    if previous is not None:
        text += f", from {format_value(metric, previous.value)} in {previous.period:%B %Y}"
    return f"{text} (target {metric.target_label})."


def _judge(session: DbSession, user_id: int, metric: Metric, entry: KpiEntry, previous: KpiEntry | None,
           now: datetime, joined: date | None) -> None:
    fraction = evidence_fraction(metric, entry.value, previous.value if previous else None)
    if joined is not None and entry.period < joined:
        fraction = None  # before the learner joined: kept, shown, no evidence
    fractions = {} if fraction is None else {o.id: fraction for o in metric.objectives}
    replace_evidence(session, user_id, SOURCE, source_ref(metric, entry.period), fractions, now,
                     note=_note(metric, entry, previous))


def record_figure(session: DbSession, user_id: int, metric: Metric, period: date, value: float, now: datetime,
                  note: str = "") -> KpiEntry:
    """Record (or correct) the learner's figure for ``metric`` in ``period``'s month and
    recompute the KPI evidence it and the next recorded month give (see the module's
    docstring for the rule).

    Refused with a KpiError: a retired metric, a value that is not a finite number or
    lies outside the metric's range, a month after ``now``'s month (in ``now``'s own time
    zone: the view passes the learner's local time) or more than ten years back."""
    value = float(value)
    period = first_of_month(period)
    _check(metric, period, value, now)
    query = select(KpiEntry).where(KpiEntry.user_id == user_id, KpiEntry.metric_id == metric.id).order_by(KpiEntry.period)
    entries = list(session.scalars(query))
    entry = next((e for e in entries if e.period == period), None)
    if entry is None:  # the month's first figure: two requests sending it at once (a double click) share one row
        insert_unless_there(session, KpiEntry, {"user_id": user_id, "metric_id": metric.id, "period": period, "value": value,
                                                "note": note.strip(), "recorded_at": now}, ("user_id", "metric_id", "period"))
        entries = list(session.scalars(query))
        entry = next(e for e in entries if e.period == period)
    entry.value, entry.note, entry.recorded_at = value, note.strip(), now
    session.flush()
    index = entries.index(entry)
    joined = joined_month(session, user_id)
    for position in range(index, min(index + 2, len(entries))):
        _judge(session, user_id, metric, entries[position], entries[position - 1] if position else None, now, joined)
    return entry


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Row:
    """One recorded figure with what it is compared with and the evidence it earns."""

    entry: KpiEntry
    previous: KpiEntry | None
    meets: bool
    trend: str | None          # toward | away | flat; None for the first figure
    evidence: float | None     # attainment counted as evidence, None when it earns none
    before_joining: bool = False  # a month before the learner joined the program: never evidence


@dataclass(frozen=True)
class MetricTrend:
    """A metric with the learner's figures for it, oldest first."""

    metric: Metric
    entries: list[KpiEntry]
    joined: date | None = None  # the learner's first month in the program (``joined_month``)

    @property
    def rows(self) -> list[Row]:
        out: list[Row] = []
        previous: KpiEntry | None = None
        for entry in self.entries:
            before = previous.value if previous else None
            early = self.joined is not None and entry.period < self.joined
            out.append(Row(entry=entry, previous=previous, meets=self.metric.meets(entry.value),
                           trend=None if before is None else trend_between(self.metric, before, entry.value),
                           evidence=None if early else evidence_fraction(self.metric, entry.value, before),
                           before_joining=early))
            previous = entry
        return out

    def before_joining(self, entry: KpiEntry) -> bool:
        return self.joined is not None and entry.period < self.joined

    @property
    def latest(self) -> KpiEntry | None:
        return self.entries[-1] if self.entries else None

    @property
    def previous(self) -> KpiEntry | None:
        return self.entries[-2] if len(self.entries) > 1 else None

    @property
    def latest_value(self) -> float | None:
        return self.latest.value if self.latest else None

    @property
    def meets(self) -> bool:
        return self.latest is not None and self.metric.meets(self.latest.value)

    @property
    def trend(self) -> str | None:
        """``toward``, ``away`` or ``flat`` against the previous figure; None with fewer than two."""
        if self.latest is None or self.previous is None:
            return None
        return trend_between(self.metric, self.previous.value, self.latest.value)

    def format(self, value: float) -> str:
        return format_value(self.metric, value)


def _active_metrics(session: DbSession, key: str | None = None) -> list[Metric]:
    query = (select(Metric).join(Metric.module)
             .where(Metric.retired_at.is_(None), Module.retired_at.is_(None))
             .order_by(Module.position, Metric.position)
             .options(contains_eager(Metric.module), selectinload(Metric.objectives)))
    if key is not None:
        query = query.where(Metric.key == key)
    return list(session.scalars(query))


def _entries(session: DbSession, user_id: int, metric_ids: Sequence[int]) -> dict[int, list[KpiEntry]]:
    grouped: dict[int, list[KpiEntry]] = defaultdict(list)
    if metric_ids:
        for entry in session.scalars(select(KpiEntry).where(
                KpiEntry.user_id == user_id, KpiEntry.metric_id.in_(metric_ids)).order_by(KpiEntry.period)):
            grouped[entry.metric_id].append(entry)
    return grouped


def tracker(session: DbSession, user_id: int) -> list[MetricTrend]:
    """Every active metric, in content order (module, then metric), with the learner's
    figures; four statements whatever the number of figures."""
    metrics = _active_metrics(session)
    entries = _entries(session, user_id, [m.id for m in metrics])
    joined = joined_month(session, user_id)
    return [MetricTrend(metric=m, entries=entries.get(m.id, []), joined=joined) for m in metrics]


def metric_trend(session: DbSession, user_id: int, key: str) -> MetricTrend | None:
    """One active metric with the learner's figures, or None when there is no such metric."""
    metrics = _active_metrics(session, key)
    if not metrics:
        return None
    return MetricTrend(metric=metrics[0], entries=_entries(session, user_id, [metrics[0].id]).get(metrics[0].id, []),
                       joined=joined_month(session, user_id))


def by_module(trends: Sequence[MetricTrend]) -> list[tuple[Module, list[MetricTrend]]]:
    """The trends grouped by module, keeping content order."""
    groups: list[tuple[Module, list[MetricTrend]]] = []
    for trend in trends:
        if not groups or groups[-1][0].id != trend.metric.module_id:
            groups.append((trend.metric.module, []))
        groups[-1][1].append(trend)
    return groups
