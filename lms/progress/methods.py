"""Mastery methods: a registry of small classes. Each turns a learner's evidence on one
objective, oldest first, into a mastery level on the 0-4 scale."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, NamedTuple

from lms.progress.models import MasteryMethodName

SCALE = 4.0
DEFAULT_THRESHOLDS = {"not yet": 0.0, "developing": 1.5, "proficient": 2.5, "mastered": 3.5}
# The counted evidence's weights must add up to this before a level may reach the top named
# level ("mastered"): two full judgements (a quiz and a graded piece of work, an instructor's
# rating and a rubric grade), or one full judgement and lesser evidence worth another (two
# peer reviews at 0.5, or a simulation and a peer review). Lesser sources alone need
# three pieces or more. The learner's own KPI figures, and the stakeholders' and experts' ratings
# (the learner picks them), do not count toward it at all (``Point.vouched``), and one
# instructor's ratings count as one judgement (``Point.rater``). One piece of evidence,
# however strong and whatever its source, does not say the learner can do the job. Nor does
# evidence no one on the staff checked: with none of that, the level stays under
# "proficient" too (``MasteryMethod.hold``).
DEFAULT_MIN_WEIGHT = 2.0
# How far under the top threshold a level is held while the evidence is too light for it
# (and under the one below it, "proficient", while no staff-checked evidence is there at all:
# only the learner's own KPI figures and ratings from people they chose).
HOLD_MARGIN = 0.1
# The revision of how this module combines evidence, raised with every change to a rule
# (2: the learner's own KPI figures alone held under "proficient", as chosen raters' ratings
# are). What a kept trend was replayed from includes it (``lms.competency``'s ``KeptTrend``),
# so months gone by kept under an earlier rule are replayed under this one.
RULES_REVISION = 2
# Weights are shares such as 0.75 or 0.1, added one point at a time: a sum a float leaves
# a hair under the minimum (ten points at 0.2) still reaches it.
WEIGHT_SLACK = 1e-9


class Point(NamedTuple):
    """One piece of evidence: a level on the 0-4 scale and how much it counts (peer
    reviews count less than an instructor's judgement). A named tuple: a cohort's trend
    makes one per piece of evidence, hundreds of thousands, and a tuple is made in under
    half a frozen dataclass's time."""

    level: float
    weight: float = 1.0
    # Whether it counts toward ``mastery_min_weight``: False for what the learner reports of
    # themselves with no one judging it (their own KPI figures) and for the ratings of people
    # the learner chose (stakeholders, outside experts: ``EvidenceSource.vouched``). It still
    # moves the level; it cannot make the evidence weigh enough for the top level, and with
    # no vouched evidence beside it it cannot make the level "proficient" (``MasteryMethod.hold``).
    vouched: bool = True
    # Who judged it, when the same person may judge the same work again (an instructor's
    # rating: their user id); None otherwise. A rater's later ratings of one learner on one
    # objective still move the level (the newest counts most, as any newer evidence does),
    # but only their first counts toward ``mastery_min_weight``: one person rating twice is
    # one judgement, so one instructor alone cannot make an objective mastered.
    rater: int | None = None
    # Who judged it, when their later judgement of the learner on the objective replaces
    # their earlier ones (a stakeholder or an outside expert, by their address: ``judge`` of
    # ``lms.progress.sources``): only the latest point of each judge counts, toward the level
    # and toward ``mastery_min_weight``; the earlier stay on the record, superseded. One
    # friendly stakeholder rating again and again is one person's opinion, not more evidence.
    judge: str | None = None


def standing(points: Sequence[Point]) -> Sequence[Point]:
    """``points`` without those a later point of the same judge supersedes (``Point.judge``),
    in order; ``points`` itself when no judge rated twice (the common case, cheaply)."""
    last: dict[str, int] = {}
    for index, point in enumerate(points):
        if point.judge is not None:
            last[point.judge] = index
    if len(last) == sum(1 for p in points if p.judge is not None):
        return points
    return [p for index, p in enumerate(points) if p.judge is None or last[p.judge] == index]


def rejudged(points: Sequence[Point]) -> bool:
    """Whether some judge has more than one point among ``points`` (so an earlier one is superseded)."""
    seen: set[str] = set()
    for point in points:
        if point.judge is not None:
            if point.judge in seen:
                return True
            seen.add(point.judge)
    return False


def counted(points: Sequence[Point]) -> int:
    """How many of ``points`` count now: of weight above 0 and not superseded by their judge's later one."""
    return sum(1 for p in standing(points) if p.weight > 0)


def _adds(point: Point, raters: set[int]) -> bool:
    """Whether ``point`` adds its weight toward ``mastery_min_weight``: vouched, and not a
    rater's second judgement (``raters``, the raters counted so far, is updated)."""
    if not point.vouched:
        return False
    if point.rater is None:
        return True
    if point.rater in raters:
        return False
    raters.add(point.rater)
    return True


def _total(points: Sequence[Point]) -> float:
    """The weights that count toward the minimum (``_adds``) added one at a time, oldest
    first, as ``running`` adds them (not ``sum``, which on Python 3.12+ compensates and may
    differ in the last bit)."""
    total = 0.0
    raters: set[int] = set()
    for point in points:
        if _adds(point, raters):
            total += point.weight
    return total


class MasteryMethod(ABC):
    """One way of combining evidence into a level, with the one rule every method keeps:
    until the counted evidence's weights add up to ``mastery_min_weight`` (a setting,
    ``DEFAULT_MIN_WEIGHT`` by default; 0 turns the rule off), a level that reaches the top
    threshold (``thresholds``' highest bound, "mastered") is held just under it
    (``held_at``), so one piece of evidence never makes an objective mastered. Only vouched
    evidence counts toward the minimum (``Point.vouched``): a learner's own KPI figures and
    the judgements of people the learner chose move the level but never make it enough; and
    a rater's repeat ratings count once (``Point.rater``). While the rule is on, a level
    that reaches the threshold below the top (``checked_bar``, "proficient") with no vouched
    evidence counted at all (only the learner's own KPI figures and ratings from people the
    learner chose: stakeholders they invited, outside experts) is held just under that one
    too (``unchecked_at``): what no one on the staff checked never makes an objective
    proficient alone. Subclasses implement ``combine``; those that optimise ``running`` or
    ``levels_at`` apply ``hold`` as ``level`` does."""

    name: ClassVar[MasteryMethodName]
    label: ClassVar[str]

    def __init__(self, settings: Mapping[str, Any], thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS) -> None:
        self.settings = settings
        self.min_weight = float(settings.get("mastery_min_weight", DEFAULT_MIN_WEIGHT))
        bounds = sorted(thresholds.values())
        self.top = bounds[-1]
        # Just under the top: HOLD_MARGIN under it, or the band below's own bound when that
        # is nearer (the level still reads as that band, never lower).
        self.held_at = round(max(self.top - HOLD_MARGIN, bounds[-2] if len(bounds) > 1 else 0.0), 4)
        # The threshold below the top ("proficient"), which needs some vouched evidence; None
        # when the scale has no band between its lowest and its top.
        self.checked_bar: float | None = bounds[-2] if len(bounds) > 2 else None
        self.unchecked_at: float | None = (None if self.checked_bar is None
                                           else round(max(self.checked_bar - HOLD_MARGIN, bounds[-3]), 4))
        self.thresholds = dict(thresholds)

    def level(self, points: Sequence[Point]) -> float | None:
        """The mastery level from every point so far, oldest first (None: no evidence).
        Points of weight 0 are on the record but do not count (the rules give some
        sources no weight on some kinds of objective)."""
        return self.assess(points)[0]

    def assess(self, points: Sequence[Point]) -> tuple[float | None, bool]:
        """``level`` of ``points`` and whether it is held under the top threshold for want of
        evidence (``held_back``), from one combination of the points: what a mastery row keeps."""
        counting = [p for p in standing(points) if p.weight > 0]
        combined, weight = self.combine(counting), _total(counting)
        level = self.hold(combined, weight)
        return level, level != combined

    def missing(self, points: Sequence[Point]) -> float:
        """How much more counted, vouched evidence the objective needs before its level may
        reach the level it is held under (0: enough): the pages say what a held level waits
        for. With none at all, one piece lifts the hold under ``checked_bar``."""
        counting = [p for p in standing(points) if p.weight > 0]
        total = _total(counting)
        if total <= 0 and self.checked_bar is not None and self.min_weight > 0 and counting:
            return 1.0
        return max(0.0, round(self.min_weight - total, 4))

    def hold(self, level: float | None, weight: float) -> float | None:
        """``level`` as the method combined it from counted evidence of which the vouched
        weighs ``weight`` in all (``_total``): held at ``unchecked_at`` when it reaches
        ``checked_bar`` ("proficient") with no vouched evidence at all (``weight`` 0: every
        counted point weighs above 0, so the level comes from the learner's own KPI figures
        and ratings from people they chose alone), at ``held_at`` when it reaches the top
        threshold on too little evidence; unchanged otherwise (and always when the rule is off)."""
        if level is None or self.min_weight <= 0:
            return level
        if (weight <= 0 and self.unchecked_at is not None and self.checked_bar is not None
                and level >= self.checked_bar):
            return self.unchecked_at
        if level < self.top or self.enough(weight):
            return level
        return self.held_at

    def held_under(self, level: float | None) -> str | None:
        """The name of the level a held ``level`` is held under: the lowest named level above
        it ("proficient" for a level held for want of any staff-checked evidence, "mastered"
        for one held for want of enough); None when none is above it."""
        if level is None:
            return None
        above = [(bound, name) for name, bound in self.thresholds.items() if bound > level]
        return min(above)[1] if above else None

    def enough(self, weight: float) -> bool:
        """Whether counted, vouched evidence weighing ``weight`` in all may make an objective mastered."""
        return weight + WEIGHT_SLACK >= self.min_weight

    def held_back(self, points: Sequence[Point]) -> bool:
        """Whether the level of ``points`` is held under the top threshold for want of
        evidence (the learner's page and the heat map say so)."""
        return self.assess(points)[1]

    @abstractmethod
    def combine(self, points: Sequence[Point]) -> float | None:
        """The level from the counted points (each of weight above 0), oldest first."""

    def running(self, points: Sequence[Point]) -> Iterator[float | None]:
        """The level after each of ``points`` in turn (as ``level`` of each prefix gives it);
        methods that can carry the level from one point to the next do it in one pass."""
        for end in range(1, len(points) + 1):
            yield self.level(points[:end])

    def levels_at(self, points: Sequence[Point], cuts: Sequence[int]) -> list[float | None]:
        """The level after the first ``cut`` points for each of ``cuts`` (a cohort's trend:
        the points recorded by the end of each month); methods that carry the level from one
        point to the next read the points once."""
        return [self.level(points[:cut]) for cut in cuts]

    def below_since(self, points: Sequence[Point], moments: Sequence[datetime], bar: float) -> datetime | None:
        """When the level last went below ``bar`` and has stayed there since: the moment
        (``moments``, one a point) of the point that took it there; None when the level is at
        or above the bar now, or there is none. Kept with each mastery record, so the heat
        map dates a "below the bar" reason without replaying anyone's evidence."""
        since: datetime | None = None
        for level, moment in zip(self.running(points), moments, strict=True):
            if level is None or level >= bar:
                since = None
            elif since is None:
                since = moment
        return since


class DecayingAverage(MasteryMethod):
    """Each new point moves the level toward itself by ``latest_weight`` (scaled by the
    point's own weight): recent work counts most, older work still counts."""

    name, label = MasteryMethodName.DECAYING_AVERAGE, "Decaying average"

    def combine(self, points: Sequence[Point]) -> float | None:
        share = float(self.settings.get("latest_weight", 0.65))
        value: float | None = None
        for point in points:
            if value is None:
                value = point.level
            else:
                w = share * point.weight
                value = w * point.level + (1 - w) * value
        return None if value is None else round(value, 4)

    def running(self, points: Sequence[Point]) -> Iterator[float | None]:
        if rejudged(points):  # a judge's later point takes their earlier one out: replayed prefix by prefix
            yield from super().running(points)
            return
        share = float(self.settings.get("latest_weight", 0.65))
        value: float | None = None
        total = 0.0
        raters: set[int] = set()
        for point in points:
            if point.weight > 0:
                if _adds(point, raters):
                    total += point.weight
                if value is None:
                    value = point.level
                else:
                    w = share * point.weight
                    value = w * point.level + (1 - w) * value
            yield None if value is None else self.hold(round(value, 4), total)

    def levels_at(self, points: Sequence[Point], cuts: Sequence[int]) -> list[float | None]:
        """One pass over the points, rounding only at the cuts (ascending: a trend's months;
        otherwise every running level is worked out and looked up)."""
        if rejudged(points):
            return super().levels_at(points, cuts)
        if any(later < earlier for earlier, later in zip(cuts, cuts[1:], strict=False)):
            running = list(self.running(points))
            return [running[cut - 1] if cut else None for cut in cuts]
        share = float(self.settings.get("latest_weight", 0.65))
        value: float | None = None
        total = 0.0
        raters: set[int] = set()
        found: list[float | None] = []
        done = 0
        for cut in cuts:
            for point in points[done:cut]:
                if point.weight > 0:
                    if _adds(point, raters):
                        total += point.weight
                    if value is None:
                        value = point.level
                    else:
                        w = share * point.weight
                        value = w * point.level + (1 - w) * value
            done = max(done, cut)
            found.append(None if value is None or not cut else self.hold(round(value, 4), total))
        return found


class NTimes(MasteryMethod):
    """Mastery must be shown ``n`` times: then the level is the mean of the points at
    mastery. Before that it stays below mastery: the best point below it, or half a
    level under it when every point so far reached it. A rater's ratings count once, as
    their latest: one instructor rating three times has not shown it three times."""

    name, label = MasteryMethodName.N_TIMES, "n times at mastery"

    def combine(self, points: Sequence[Point]) -> float | None:
        if not points:
            return None
        latest = {p.rater: index for index, p in enumerate(points) if p.rater is not None}
        points = [p for index, p in enumerate(points) if p.rater is None or latest[p.rater] == index]
        n = int(self.settings.get("n", 3))
        bar = float(self.settings.get("mastery_level", 3))
        at = [p.level for p in points if p.level >= bar]
        if len(at) >= n:
            return round(sum(at) / len(at), 4)
        below = [p.level for p in points if p.level < bar]
        return round(max(below), 4) if below else round(bar - 0.5, 4)


class Highest(MasteryMethod):
    name, label = MasteryMethodName.HIGHEST, "Highest"

    def combine(self, points: Sequence[Point]) -> float | None:
        return max((p.level for p in points), default=None)


class Latest(MasteryMethod):
    name, label = MasteryMethodName.LATEST, "Latest"

    def combine(self, points: Sequence[Point]) -> float | None:
        return points[-1].level if points else None


MASTERY_METHODS: dict[MasteryMethodName, type[MasteryMethod]] = {m.name: m for m in (DecayingAverage, NTimes, Highest, Latest)}


def shown_level(level: float | None, decimals: int = 1) -> str:
    """A level as pages show it: rounded down to ``decimals``, so that it never reads as a band
    it has not reached (3.46 is proficient under a bar of 3.5 for mastered: shown 3.4, not
    3.5). The millionth added first keeps a level the float holds just under its decimal
    (2.3 * 10 is 22.999...) from dropping a tenth."""
    if level is None:
        return "–"
    scale = 10 ** decimals
    return f"{math.floor(level * scale + 1e-6) / scale:.{decimals}f}"


def named_level(level: float | None, thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS) -> str:
    """The name of the highest threshold the level reaches."""
    if level is None:
        return "no evidence"
    reached = [name for name, bound in sorted(thresholds.items(), key=lambda kv: kv[1]) if level >= bound]
    return reached[-1] if reached else next(iter(thresholds))
