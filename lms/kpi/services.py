"""Recording a learner's business figures against the program's metric targets, and
turning measured progress toward a target into application evidence. Flush only.

The evidence rule. A learner's figures for one metric are readings, one a month. Their
**baseline** is the figure for the earliest month they recorded: where they started from,
which earns no evidence itself (one number, typed once, shows nothing the program taught).
A later month's figure is KPI evidence, source ref ``kpi:<metric key>:<YYYY-MM>``, for
every objective the metric serves, only when it was recorded at least ``READINGS_APART``
(four weeks) after the baseline was first recorded: progress measured over time, not a
history typed in one sitting. Such a figure counts at how far it has **moved from the
baseline toward the target**:

* it **meets the target** (as its wording compares, ``MetricComparison``: a figure equal to
  an "at least" or "at most" target meets it, one equal to an "over" or "under" target does
  not): 1 (on target, or kept on target);
* otherwise, when higher is better, ``(value - baseline) / (target - baseline)``; when lower
  is, ``(baseline - value) / (baseline - target)``; at most ``MISSED_CEILING`` (just under 1);
* no movement toward the target from the baseline (the same, or worse): no evidence.

So one figure, or two typed on the same day, earn nothing; a figure a little under target
counts for little unless the learner started far from it.

Recording a month again corrects it (the correction is judged by when it was typed; the
baseline keeps the moment it was first recorded, ``KpiEntry.first_recorded_at``). A month
recorded before the baseline's becomes the new baseline, first recorded now: every later
figure is judged again from it, and counts once recorded four weeks after it.

A figure for a month before the learner joined the program (``joined_months``: the later of
when they enrolled and their cohort's start) is kept and shown, marked as before joining, but
earns no evidence: it may still be the baseline, and mastery leaves any such evidence
already stored out (``lms.progress.services.point_of``)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.orm import contains_eager, selectinload

from lms.catalog.models import Metric, MetricUnit, Module
from lms.database import DbSession, insert_unless_there
from lms.kpi.models import KpiEntry
from lms.learning.services import closed_to as learner_closed_to
from lms.progress.models import EvidenceSourceName
from lms.progress.services import joined_months, replace_evidence
from lms.progress.sources import KpiSource

SOURCE = EvidenceSourceName.KPI
OLDEST_PERIOD_YEARS = 10  # figures older than this are refused as a likely typing slip
MISSED_CEILING = 0.999  # the most a figure that misses its target earns
# How long after the baseline was first recorded a later figure must be recorded to count.
READINGS_APART = timedelta(weeks=4)


class KpiError(ValueError):
    """A figure the tracker refuses; nothing was recorded. ``field`` names the form field
    the message belongs to (metric, period or value)."""

    def __init__(self, message: str, field: str = "value") -> None:
        super().__init__(message)
        self.field = field


class ProgramClosed(KpiError):
    """Refused because the learner's program has closed (``closed_to``); the message says so."""


def closed_to(session: DbSession, user_id: int, now: datetime) -> str | None:
    """Why the learner can record no figure at ``now``: their program has closed and none of
    their extensions runs to today (``lms.learning.services.closed_to``). None: they may."""
    return learner_closed_to(session, user_id, now, "KPI figures", "recorded")


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
    def progress(self, metric: Metric, baseline: float, value: float) -> float:
        """How far ``value`` has come from ``baseline`` to the metric's target, 0-1 (0: no
        nearer, or no way nearer: the baseline is at or past the target already)."""


class Higher(Direction):
    higher_is_better = True

    def better(self, before: float, after: float) -> bool:
        return after > before

    def progress(self, metric: Metric, baseline: float, value: float) -> float:
        span = metric.target - baseline
        return 0.0 if span <= 0 else _clamp((value - baseline) / span)


class Lower(Direction):
    higher_is_better = False

    def better(self, before: float, after: float) -> bool:
        return after < before

    def progress(self, metric: Metric, baseline: float, value: float) -> float:
        span = baseline - metric.target
        return 0.0 if span <= 0 else _clamp((baseline - value) / span)


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


def evidence_fraction(metric: Metric, value: float, baseline: float | None) -> float | None:
    """The module's evidence rule for a figure of ``value`` measured against the learner's
    ``baseline`` (None: this figure is the baseline, or too soon after it to count): 1 when it
    meets the target, else how far it has moved from the baseline toward the target, under 1;
    None when it earns no evidence (no baseline, or no nearer the target than it)."""
    if baseline is None:
        return None
    if metric.meets(value):
        return 1.0
    moved = direction_of(metric).progress(metric, baseline, value)
    return min(MISSED_CEILING, moved) if moved > 0 else None


def measured_after(baseline_first_recorded: datetime, recorded: datetime) -> bool:
    """Whether a figure recorded at ``recorded`` is a later reading of the baseline first
    recorded at ``baseline_first_recorded``: at least ``READINGS_APART`` after it."""
    return recorded >= baseline_first_recorded + READINGS_APART


def baseline_for(entry: KpiEntry, baseline: KpiEntry | None) -> float | None:
    """The baseline figure ``entry`` is measured against (``evidence_fraction``): None when
    ``entry`` is the baseline, or was recorded too soon after it."""
    if baseline is None or entry.period <= baseline.period:
        return None
    return baseline.value if measured_after(baseline.first_recorded_at, entry.recorded_at) else None


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


def _note(metric: Metric, entry: KpiEntry, baseline: KpiEntry | None) -> str:
    text = f"{metric.name}: {format_value(metric, entry.value)} in {entry.period:%B %Y}"
    if baseline is not None and baseline is not entry:
        text += f", from a baseline of {format_value(metric, baseline.value)} in {baseline.period:%B %Y}"
    return f"{text} (target {metric.target_label})."


def _judge(session: DbSession, user_id: int, metric: Metric, entry: KpiEntry, baseline: KpiEntry,
           now: datetime, joined: date | None, at: datetime | None = None) -> None:
    fraction = evidence_fraction(metric, entry.value, baseline_for(entry, baseline))
    if joined is not None and entry.period < joined:
        fraction = None  # before the learner joined: kept, shown, no evidence
    fractions = {} if fraction is None else {o.id: fraction for o in metric.objectives}
    replace_evidence(session, user_id, SOURCE, source_ref(metric, entry.period), fractions, now,
                     note=_note(metric, entry, baseline), at=at)


def record_figure(session: DbSession, user_id: int, metric: Metric, period: date, value: float, now: datetime,
                  note: str = "") -> KpiEntry:
    """Record (or correct) the learner's figure for ``metric`` in ``period``'s month and
    recompute the KPI evidence it gives, and every later month's when it is the baseline
    (see the module's docstring for the rule).

    Refused with a KpiError: a retired metric, a value that is not a finite number or
    lies outside the metric's range, a month after ``now``'s month (in ``now``'s own time
    zone: the view passes the learner's local time) or more than ten years back; and, said
    first (``ProgramClosed``), any figure once the learner's program has closed unless an
    extension of theirs runs to today (``closed_to``)."""
    if (closed := closed_to(session, user_id, now)) is not None:
        raise ProgramClosed(closed, field="metric")
    value = float(value)
    period = first_of_month(period)
    _check(metric, period, value, now)
    query = select(KpiEntry).where(KpiEntry.user_id == user_id, KpiEntry.metric_id == metric.id).order_by(KpiEntry.period)
    entries = list(session.scalars(query))
    entry = next((e for e in entries if e.period == period), None)
    if entry is None:  # the month's first figure: two requests sending it at once (a double click) share one row
        insert_unless_there(session, KpiEntry, {"user_id": user_id, "metric_id": metric.id, "period": period, "value": value,
                                                "note": note.strip(), "recorded_at": now,
                                                "first_recorded_at": now}, ("user_id", "metric_id", "period"))
        entries = list(session.scalars(query))
        entry = next(e for e in entries if e.period == period)
    entry.value, entry.note, entry.recorded_at = value, note.strip(), now
    session.flush()
    joined = joined_month(session, user_id)
    # A figure is measured against the baseline alone: a new or corrected baseline
    # changes what every later month earns; any other figure changes only its own.
    for judged in entries if entry is entries[0] else [entry]:
        _judge(session, user_id, metric, judged, entries[0], now, joined)
    return entry


def rejudge_all(session: DbSession, now: datetime) -> int:
    """Judge every stored figure again under the evidence rule above, and mastery with it
    (``flask lms rejudge-kpi``, once after upgrading from before migration ``zzd2c3d4e5f614``):
    evidence an earlier rule stored (one figure held on its own, scored from the metric's
    worst end) is withdrawn or re-scored. Each figure's evidence is dated when the figure was
    last typed, so running it again changes nothing. Returns how many figures were judged."""
    rows = list(session.scalars(select(KpiEntry).options(selectinload(KpiEntry.metric).selectinload(Metric.objectives))
                                .order_by(KpiEntry.user_id, KpiEntry.metric_id, KpiEntry.period)))
    series: dict[tuple[int, int], list[KpiEntry]] = defaultdict(list)
    for entry in rows:
        series[(entry.user_id, entry.metric_id)].append(entry)
    joined = joined_months(session, sorted({user_id for user_id, _ in series}))
    for (user_id, _), figures in series.items():
        for entry in figures:
            _judge(session, user_id, entry.metric, entry, figures[0], now, joined.get(user_id), at=entry.recorded_at)
    return len(rows)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Row:
    """One recorded figure with what it is compared with and the evidence it earns."""

    entry: KpiEntry
    previous: KpiEntry | None
    meets: bool
    trend: str | None          # toward | away | flat; None for the first figure
    evidence: float | None     # progress from the baseline counted as evidence, None when it earns none
    before_joining: bool = False  # a month before the learner joined the program: never evidence
    baseline: bool = False     # the learner's first month for the metric: what later months are measured from
    too_soon: bool = False     # recorded less than ``READINGS_APART`` after the baseline was: not yet a reading


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
        first = self.entries[0] if self.entries else None
        for entry in self.entries:
            before = previous.value if previous else None
            early = self.joined is not None and entry.period < self.joined
            measured = baseline_for(entry, first)
            out.append(Row(entry=entry, previous=previous, meets=self.metric.meets(entry.value),
                           trend=None if before is None else trend_between(self.metric, before, entry.value),
                           evidence=None if early else evidence_fraction(self.metric, entry.value, measured),
                           before_joining=early, baseline=entry is first,
                           too_soon=entry is not first and measured is None))
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
