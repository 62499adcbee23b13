"""Cohort competency: the heat map of learners against the objectives, its distributions,
the level completion funnel and the learners at risk; the cohort's mastery month by month;
an organization's cohorts side by side.

Each at-risk reason is a ``Reason``: its kind, its text, the date it started and what it is
about (the overdue items, or the learner's profile on the objective). Staff record reviews
of at-risk learners (``record_review``, the one function here that writes: it flushes); the
list shows each learner's last review and what changed since.

Every function runs a fixed number of statements whatever the number of learners, evidence
rows or cohorts: one query for the mastery grid, one for the learners, the objectives with
their modules, the schedule state kept in ``lms.progress.state`` (days behind, the overdue
items of learners behind, the level funnel: set-based SQL, nothing worked out per learner
on a page view), one for the evidence of the objectives a learner is below the bar on, and
one for the reviews. The page shows ``PER_PAGE`` learners at a time, sorted and filtered
over the whole cohort; distributions, the funnel and the at-risk list cover the whole cohort."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import threading
from abc import ABC, abstractmethod
from array import array
from bisect import bisect_left, bisect_right, insort
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any, ClassVar, NamedTuple
from zoneinfo import ZoneInfo

from blinker import Namespace
from sqlalchemy import Date, Float, Integer, Numeric, Select, and_, bindparam, case, cast, func, literal, or_, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, joinedload
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from lms.accounts.models import User
from lms.catalog.models import KINDS, Level, Objective, ObjectiveKind
from lms.catalog.revision import cached
from lms.catalog.revision import token as content_token
from lms.catalog.services import kept_levels
from lms.cohorts.calendar import (
    CohortStage,
    in_own_month,
    own_month_cutoff,
    own_month_reached,
    program_closes_on,
    program_over,
    stage_at,
)
from lms.cohorts.enrolment import is_learner_of
from lms.cohorts.models import Cohort, Enrolment, Organization, Pace
from lms.competency.lines import HeatLines, KeptCohort
from lms.competency.models import MAX_REVIEW_NOTE, AtRiskReview, KeptTrend, MonthPoint, ReasonKind, ReasonSnapshot
from lms.database import DbSession, fold_name, folded_name
from lms.learning.services import (
    PROGRAM_MONTHS,
    Timeline,
    cohort_today,
    current_month,
    month_opens_on,
    opens_at,
)
from lms.progress import state
from lms.progress.completion import BEHIND_AFTER_DAYS
from lms.progress.methods import RULES_REVISION, Point, shown_level
from lms.progress.models import Evidence, ItemKind, Mastery, MasteryMark, ProgressLearner, ProgressObjective
from lms.progress.services import Policy, joined_months, needs_text, point_of, policy
from lms.web.page_cache import fingerprint
from lms.web.paging import Paging, paging

NO_EVIDENCE = "no evidence"
OVERDUE_SHOWN = 5  # overdue items listed under a "behind schedule" reason; the rest are counted
PER_PAGE = 100  # learners on one page of the heat map
AT_RISK_PER_PAGE = 15  # learners on one page of the at-risk list


class ReviewError(ValueError):
    """A review that cannot be recorded; the message says why, for the form field named ``field``."""

    def __init__(self, message: str, field: str = "note") -> None:
        super().__init__(message)
        self.field = field


# --------------------------------------------------------------------------- building blocks


@dataclass(frozen=True)
class Band:
    """One named level of the legend: its rank (0 = no evidence) and the mastery it spans."""

    rank: int
    name: str
    low: float | None
    high: float | None

    @property
    def span(self) -> str:
        if self.low is None:
            return "no evidence yet"
        return f"{self.low:g} and above" if self.high is None else f"{self.low:g} to under {self.high:g}"


def held_under(rules: Policy) -> str | None:
    """The name of the top level a level is held under on too little evidence (None: the
    program holds nothing, its ``mastery_min_weight`` being 0)."""
    method = rules.method
    if method.min_weight <= 0 or not rules.thresholds:
        return None
    return max(rules.thresholds, key=lambda name: rules.thresholds[name])


def bands(rules: Policy) -> list[Band]:
    ordered = sorted(rules.thresholds.items(), key=lambda kv: kv[1])
    result = [Band(0, NO_EVIDENCE, None, None)]
    for i, (name, low) in enumerate(ordered):
        result.append(Band(i + 1, name, low, ordered[i + 1][1] if i + 1 < len(ordered) else None))
    return result


@dataclass(frozen=True)
class Column:
    """An objective of the heat map, and when its modules closed for this cohort."""

    objective: Objective
    closes_on: date | None  # the day the last phase of its modules is due (None: no module serves it)
    closed: bool

    @property
    def code(self) -> str:
        return self.objective.key


class Cell(NamedTuple):
    """One learner's level on one objective, as a heat map cell shows it. A page has some
    1,100 of them: a tuple is made in a third of a frozen dataclass's time. ``held``: the
    level is held just under the top named level for want of evidence (``Mastery.held``),
    ``missing`` the staff-checked evidence weight it waits for (``Mastery.missing``)."""

    level: float | None
    name: str
    rank: int
    evidence: int
    held: bool = False
    missing: float = 0.0

    @property
    def label(self) -> str:
        return shown_level(self.level)

    @property
    def needs(self) -> str:
        """What a held cell waits for, as the learner's and staff pages say it
        ("needs one more piece of staff-checked evidence"); "needs more evidence" when the
        record does not say how much; "" when not held."""
        if not self.held:
            return ""
        return needs_text(self.missing) or "needs more evidence"


@dataclass(frozen=True)
class Link:
    """Where a page should link: an endpoint, its arguments and an anchor on the page."""

    endpoint: str
    values: tuple[tuple[str, Any], ...]
    anchor: str | None = None

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.values)


def _learner_page(cohort_id: int, user_id: int, anchor: str) -> Link:
    """The staff view of a learner's progress and competency profile."""
    return Link("progress.learner", (("cohort_id", cohort_id), ("user_id", user_id)), anchor)


ITEM_ENDPOINTS = {ItemKind.QUIZ: "assessment.quiz", ItemKind.EXAM: "assessment.quiz",
                  ItemKind.ASSIGNMENT: "coursework.assignment", ItemKind.PORTFOLIO: "coursework.assignment",
                  ItemKind.LESSON: "catalog.lesson"}


@dataclass(frozen=True)
class OverdueItem:
    """An unfinished assessed item past its due date, with the page it is on."""

    kind: ItemKind
    key: str
    title: str
    due_on: date

    @property
    def link(self) -> Link:
        return Link(ITEM_ENDPOINTS[self.kind], (("key", self.key),))


@dataclass(frozen=True)
class Reason:
    """One reason a learner is at risk: since when, and what it is about (``link``)."""

    kind: ReasonKind
    text: str
    since: date
    link: Link
    objective: str | None = None          # the objective's code (the objective kinds)
    days_behind: int = 0                  # BEHIND: days the oldest overdue item is late
    items: tuple[OverdueItem, ...] = ()   # BEHIND: the overdue assessed items, oldest first

    def __str__(self) -> str:
        return self.text

    @property
    def key(self) -> str:
        return self.snapshot().key

    @property
    def shown_items(self) -> tuple[OverdueItem, ...]:
        return self.items[:OVERDUE_SHOWN]

    @property
    def more_items(self) -> int:
        return max(len(self.items) - OVERDUE_SHOWN, 0)

    def snapshot(self) -> ReasonSnapshot:
        return ReasonSnapshot(kind=self.kind, text=self.text, since=self.since, objective=self.objective,
                              days_behind=self.days_behind)


# A learner's mastery on one objective as the heat map reads it: (level, evidence count, held,
# the evidence weight a held level still needs).
Mastered = tuple[float | None, int, bool, float]
NOTHING: Mastered = (None, 0, False, 0.0)


@dataclass(frozen=True)
class Row:
    """One learner of the heat map. ``levels`` holds (level, evidence count, held, missing) per column;
    the ``cells`` are made from them when read (a page renders a hundred rows, not all)."""

    user: User
    levels: tuple[Mastered, ...]
    mean: float | None
    days_behind: int
    reasons: list[Reason]
    rules: Policy = field(repr=False, compare=False)

    @property
    def at_risk(self) -> bool:
        return bool(self.reasons)

    @property
    def closed(self) -> bool:
        """The learner's account is closed (deactivated, or erased: ``User.deactivated_at``),
        as ``Summary.closed`` has it: at risk of nothing (the exports say so beside ``at_risk``)."""
        return self.user.deactivated_at is not None

    @cached_property
    def cells(self) -> list[Cell]:
        return cells_of(self.levels, self.rules)


@dataclass(frozen=True)
class MapLine:
    """One learner's line on the heat map page: their levels, mean and how many reasons they
    are at risk for, made from their ``Summary`` and mastery rows without building their
    ``Row`` (the map shows no reason's text or date; the at-risk list does)."""

    user_id: int
    name: str
    levels: tuple[Mastered, ...]
    mean: float | None
    reasons: int
    rules: Policy = field(repr=False, compare=False)
    closed: bool = False  # a closed account (``Summary.closed``): shown as such, never at risk

    @property
    def at_risk(self) -> bool:
        return self.reasons > 0

    @cached_property
    def cells(self) -> list[Cell]:
        return cells_of(self.levels, self.rules)


def cells_of(levels: Sequence[Mastered], rules: Policy) -> list[Cell]:
    """A cell per (level, evidence count, held, missing), named and ranked under the program's thresholds."""
    return cells_under(levels, tuple(rules.thresholds.items()))


def cells_under(levels: Sequence[Mastered], thresholds: tuple[tuple[str, float], ...]) -> list[Cell]:
    """``cells_of`` given the thresholds themselves (``Policy.thresholds``' items)."""
    named = _named(thresholds)
    return [Cell(level, *named(level), count, held, missing) for level, count, held, missing in levels]


@lru_cache(maxsize=8)
def _named(thresholds: tuple[tuple[str, float], ...]) -> Callable[[float | None], tuple[str, int]]:
    """A level's name and rank under ``thresholds`` (as ``Policy.name_of`` and ``rank_of``
    give them), the thresholds sorted once rather than for every cell."""
    ordered = sorted(thresholds, key=lambda kv: kv[1])
    bounds, names = [bound for _name, bound in ordered], [name for name, _bound in ordered]
    lowest = thresholds[0][0] if thresholds else NO_EVIDENCE

    def named(level: float | None) -> tuple[str, int]:
        if level is None:
            return NO_EVIDENCE, 0
        reached = bisect_right(bounds, level)
        return (names[reached - 1] if reached else lowest), reached or 1

    return named


@dataclass(frozen=True)
class Share:
    band: Band
    count: int
    share: float


@dataclass(frozen=True)
class Distribution:
    column: Column
    shares: list[Share]
    total: int


@dataclass(frozen=True)
class FunnelStep:
    """How far the cohort's learners got in one level."""

    level: Level
    opened: bool
    total: int
    started: int
    modules_done: int
    exam_passed: int
    complete: int

    STAGES: ClassVar[tuple[tuple[str, str], ...]] = (
        ("started", "Started"), ("modules_done", "Modules done"), ("exam_passed", "Exam passed"),
        ("complete", "Portfolio accepted (complete)"))

    @property
    def stages(self) -> list[tuple[str, str, int]]:
        return [(key, label, getattr(self, key)) for key, label in self.STAGES]


# --------------------------------------------------------------------------- sorting


@dataclass(frozen=True, slots=True)
class Summary:
    """One learner of a cohort in one line, read with SQL over the mastery rows and the kept
    schedule state (``learner_summaries``): what the heat map sorts, filters and counts the
    whole cohort by, without building the learner's row."""

    user_id: int
    name: str
    email: str
    mean: float | None
    weak: int                    # closed objectives with no evidence or below the at-risk bar
    days_behind: int
    level: float | None = None   # the level on the objective sorted by (``ByObjective``)
    # A closed account (deactivated, or erased: ``User.deactivated_at``): kept in the map
    # and the cohort's figures, but at risk of nothing and behind on nothing anyone can
    # act on, so on no list that asks someone to act (at risk, overdue, reminders).
    closed: bool = False
    # Their program is over (``lms.cohorts.calendar.program_over``): like a closed account,
    # behind on nothing and at risk of nothing; their levels and mean stay on the map.
    over: bool = False
    # Worked out once, when the line is made (sorting and counting a cohort read them
    # thousands of times a view):
    behind: bool = field(init=False, compare=False, repr=False)
    # how many reasons the learner is at risk for (as many as their row lists): none for a
    # closed account, nor once their program is over
    reasons: int = field(init=False, compare=False, repr=False)
    at_risk: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        behind = not self.closed and not self.over and self.days_behind > BEHIND_AFTER_DAYS
        reasons = 0 if self.closed or self.over else self.weak + int(behind)
        object.__setattr__(self, "behind", behind)
        object.__setattr__(self, "reasons", reasons)
        object.__setattr__(self, "at_risk", reasons > 0)


@dataclass(frozen=True)
class SummarySql:
    """The SQL of a learner's line in ``learner_summaries``' grouped statement, to order
    the cohort by (``SortOrder.order_by``) or keep those at risk (``at_risk``)."""

    user_id: ColumnElement[int]
    name: ColumnElement[str]          # folded as ``Summary``'s order compares it (``folded_name``)
    mean: ColumnElement[Any]          # rounded as ``Summary.mean`` is
    weak: ColumnElement[Any]
    oldest: ColumnElement[Any]        # the oldest day due of what is not done (None: nothing overdue)
    level: ColumnElement[Any] | None
    today: date
    closed: ColumnElement[bool]       # the account is closed, or the program over (``Summary.closed``, ``over``)

    @property
    def reasons(self) -> ColumnElement[int]:
        """``Summary.reasons``: the weak objectives, and one more when behind; none for a
        closed account."""
        behind = case((self.oldest < self.today - timedelta(days=BEHIND_AFTER_DAYS), 1), else_=0)
        return case((self.closed, 0), else_=func.coalesce(self.weak, 0) + behind)

    @property
    def at_risk(self) -> ColumnElement[bool]:
        return self.reasons > 0

    @property
    def behind_since(self) -> ColumnElement[date]:
        """The day ``Summary.days_behind`` counts from: the oldest day due when it is past,
        else today (none behind). The later the day, the fewer days behind."""
        return case((self.oldest < self.today, self.oldest), else_=literal(self.today, Date))

    def ties(self) -> list[ColumnElement[Any]]:
        return [self.name.asc(), self.user_id.asc()]


def _direction(expression: ColumnElement[Any], descending: bool) -> ColumnElement[Any]:
    return expression.desc() if descending else expression.asc()


class SortOrder(ABC):
    """How the heat map's learners can be ordered: a registry of small classes. The order
    is SQL's (``order_by``: the page and its exports read the cohort in it); ``key`` is the
    same order in Python, over the learners' lines (the at-risk list, and tests holding the
    two alike). Ties keep alphabetical order, both ways."""

    objective_id: int | None = None  # the objective whose level the summaries must carry

    @abstractmethod
    def key(self, learner: Summary) -> Any: ...

    @abstractmethod
    def order_by(self, line: SummarySql, descending: bool) -> list[ColumnElement[Any]]: ...


class ByName(SortOrder):
    def key(self, learner: Summary) -> Any:
        return (fold_name(learner.name), learner.user_id)

    def order_by(self, line: SummarySql, descending: bool) -> list[ColumnElement[Any]]:
        return [_direction(line.name, descending), _direction(line.user_id, descending)]


class ByMean(SortOrder):
    def key(self, learner: Summary) -> Any:
        return -1.0 if learner.mean is None else learner.mean

    def order_by(self, line: SummarySql, descending: bool) -> list[ColumnElement[Any]]:
        return [_direction(func.coalesce(line.mean, -1.0), descending), *line.ties()]


class ByRisk(SortOrder):
    def key(self, learner: Summary) -> Any:
        return (learner.at_risk, learner.reasons, learner.days_behind)

    def order_by(self, line: SummarySql, descending: bool) -> list[ColumnElement[Any]]:
        at_risk = case((line.at_risk, 1), else_=0)
        return [_direction(at_risk, descending), _direction(line.reasons, descending),
                _direction(line.behind_since, not descending), *line.ties()]


class ByObjective(SortOrder):
    def __init__(self, index: int, objective_id: int) -> None:
        self.index = index
        self.objective_id = objective_id

    def key(self, learner: Summary) -> Any:
        return self.level_key(learner.level)

    @staticmethod
    def level_key(level: float | None) -> float:
        """The order of a level on the objective (none: below every level, as SQL's ``coalesce(level, -1)``)."""
        return -1.0 if level is None else level

    def order_by(self, line: SummarySql, descending: bool) -> list[ColumnElement[Any]]:
        assert line.level is not None
        return [_direction(func.coalesce(line.level, -1.0), descending), *line.ties()]


SORTS: dict[str, SortOrder] = {"name": ByName(), "mean": ByMean(), "risk": ByRisk()}
DEFAULT_SORT = "name"


def sort_order(sort: str | None, columns: Sequence[Column]) -> tuple[str, SortOrder]:
    """The sort asked for, or by name when it is unknown. Objective codes sort by that column."""
    if sort is not None and sort in SORTS:
        return sort, SORTS[sort]
    index = next((i for i, c in enumerate(columns) if c.code == sort), None)
    if index is not None:
        return columns[index].code, ByObjective(index, columns[index].objective.id)
    return DEFAULT_SORT, SORTS[DEFAULT_SORT]


def sort_learners(learners: Iterable[Summary], order: SortOrder, descending: bool, named: bool = False) -> list[Summary]:
    """``order`` in Python: as ``learner_summaries`` orders them in SQL. Ties keep
    alphabetical order (the sort is stable), both ways. ``named``: ``learners`` come in
    that alphabetical order already (``ByName``'s, ascending)."""
    if named:
        learners = list(learners)
        if isinstance(order, ByName):
            return learners[::-1] if descending else learners
        return sorted(learners, key=order.key, reverse=descending)
    named_order = sorted(learners, key=ByName().key)
    if isinstance(order, ByName) and not descending:
        return named_order
    return sorted(named_order, key=order.key, reverse=descending)


# --------------------------------------------------------------------------- shared loading


def objectives_with_modules(session: DbSession) -> list[Objective]:
    """The active objectives in order, with their modules and the modules' phases: kept in
    this process for the content revision (``lms.catalog.revision``: detached, read only;
    3 statements when first read for a revision)."""
    return state.kept_objectives(session)


def learners_of(session: DbSession, cohort_ids: Sequence[int]) -> dict[int, list[User]]:
    """Each cohort's current learners by name (as the heat map orders them: ``folded_name``),
    in one statement."""
    result: dict[int, list[User]] = {cid: [] for cid in cohort_ids}
    if not cohort_ids:
        return result
    rows = session.execute(select(Enrolment.cohort_id, User).join(User, User.id == Enrolment.user_id)
                           .where(Enrolment.cohort_id.in_(list(cohort_ids)), Enrolment.active)
                           .order_by(folded_name(User.name), User.id))
    for cohort_id, user in rows:
        result[cohort_id].append(user)
    return result


def grid_query(cohort_ids: Sequence[int]) -> Any:
    """The one aggregate statement behind the heat map: every mastery row of the cohorts'
    current learners (user, objective, level, evidence count, held)."""
    return (select(Mastery.user_id, Mastery.objective_id, Mastery.level, Mastery.evidence_count, Mastery.held)
            .join(Enrolment, Enrolment.user_id == Mastery.user_id)
            .where(Enrolment.cohort_id.in_(list(cohort_ids)), Enrolment.active))


def mastery_grid(session: DbSession, cohort_ids: Sequence[int],
                 user_ids: Sequence[int] | None = None) -> dict[tuple[int, int], Mastered]:
    """(user id, objective id) -> (level, evidence count, held, missing), in one statement."""
    if not cohort_ids:
        return {}
    query = grid_query(cohort_ids).add_columns(Mastery.missing)
    if user_ids is not None:
        query = query.where(Mastery.user_id.in_(list(user_ids)))
    return _grid(session.execute(query))


def _grid(rows: Iterable[Any]) -> dict[tuple[int, int], Mastered]:
    """``mastery_grid`` from the rows of its statement."""
    return {(u, o): (level, count, bool(held), float(missing or 0.0)) for u, o, level, count, held, missing in rows}


def closes_on(objective: Objective, timeline: Timeline) -> date | None:
    """The day the last phase of the objective's active modules is due on ``timeline`` (the
    cohort's dates, or one learner's own)."""
    return state.objective_closings([objective], timeline)[objective.id]


def columns_for(session: DbSession, objectives: Sequence[Objective], cohort: Cohort, today: date) -> list[Column]:
    """The heat map's columns on the cohort's dates. When each objective closes is kept in
    this process for the content revision and the start date (``objectives`` are
    ``objectives_with_modules``' of this transaction: the same revision)."""
    start = cohort.start_date
    closing = cached(session, f"competency.closings:{start.isoformat()}",
                     lambda _session: state.objective_closings(objectives, Timeline(start)))
    return [Column(objective=o, closes_on=(day := closing[o.id]), closed=day is not None and day <= today) for o in objectives]


def _rounded(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def _summary_query(cohort: Cohort, columns: Sequence[Column], today: date, rules: Policy,
                   sort_objective: int | None, user_ids: Sequence[int] | BindParameter[Any] | None,
                   ) -> tuple[Select[Any], SummarySql]:
    """``learner_summaries``' statement, unordered, and its line's SQL."""
    kept, bar, line = ProgressObjective, rules.at_risk_below, ProgressLearner
    weak = case((and_(kept.closes_on <= today, or_(Mastery.level.is_(None), Mastery.level < bar)), 1), else_=0)
    oldest, weak_count = func.max(line.oldest_due), func.sum(weak)
    # rounded in SQL, so that the order and the line read the same mean on every database
    mean = func.round(cast(func.avg(Mastery.level), Numeric), 4, type_=Float)
    # One flat join grouped by learner (no aggregate subquery a planner could run once per learner).
    closed = User.deactivated_at.is_not(None)
    over = program_over(cohort, today)  # their program is over (``Summary.over``)
    query = (select(Enrolment.user_id, User.name, User.email, oldest, mean, weak_count, closed, over)
             .join(User, User.id == Enrolment.user_id)
             .outerjoin(line, and_(line.user_id == Enrolment.user_id, line.cohort_id == Enrolment.cohort_id))
             .outerjoin(kept, and_(kept.user_id == Enrolment.user_id, kept.cohort_id == Enrolment.cohort_id,
                                   kept.objective_id.in_([c.objective.id for c in columns])))
             .outerjoin(Mastery, and_(Mastery.user_id == kept.user_id, Mastery.objective_id == kept.objective_id))
             .where(Enrolment.cohort_id == cohort.id, Enrolment.active)
             .group_by(Enrolment.user_id, User.name, User.email, User.deactivated_at, Enrolment.pace, Enrolment.started_at))
    if user_ids is not None:
        query = query.where(Enrolment.user_id.in_(user_ids))
    level: ColumnElement[Any] | None = None
    if sort_objective is not None:
        sorted_by = aliased(Mastery)
        level = func.max(sorted_by.level)
        query = query.add_columns(level).outerjoin(
            sorted_by, and_(sorted_by.user_id == Enrolment.user_id, sorted_by.objective_id == sort_objective))
    return query, SummarySql(user_id=Enrolment.user_id.expression, name=folded_name(User.name.expression), mean=mean,
                             weak=weak_count, oldest=oldest, level=level, today=today, closed=or_(closed, over))


def learner_summaries(session: DbSession, cohort: Cohort, columns: Sequence[Column], today: date, rules: Policy,
                      user_ids: Sequence[int] | None = None, order: SortOrder | None = None,
                      descending: bool = False) -> list[Summary]:
    """Every current learner of the cohort (or those of ``user_ids``) in one line
    (``Summary``), in one statement over the mastery rows and the kept state: their mean,
    how many closed objectives they have no evidence on or are below the bar on
    (``ProgressObjective``: when each closes on their dates), their days behind
    (``ProgressLearner``); in ``order`` when given (SQL's ORDER BY: ``SortOrder.order_by``),
    with the level on the objective it sorts by, if any. Nothing per learner but reading
    the line."""
    state.settle(session)
    sort_objective = order.objective_id if order is not None else None
    query, line = _summary_query(cohort, columns, today, rules, sort_objective, user_ids)
    if order is not None:
        query = query.order_by(*order.order_by(line, descending))
    return _summaries(session.execute(query), today, sort_objective is not None)


def _summaries(rows: Iterable[Any], today: date, sorted_level: bool = False) -> list[Summary]:
    """``learner_summaries``' lines from the rows of its statement."""
    result = []
    for row in rows:
        user_id, name, email, oldest, mean, weak_count, closed, over = row[:8]
        late = (today - oldest).days if oldest is not None else 0
        result.append(Summary(user_id=user_id, name=name, email=email, mean=_rounded(mean), weak=int(weak_count or 0),
                              days_behind=max(late, 0), level=row[8] if sorted_level else None,
                              closed=bool(closed), over=bool(over)))
    return result


def ordered_learner_ids(session: DbSession, cohort: Cohort, columns: Sequence[Column], today: date, rules: Policy,
                        order: SortOrder, descending: bool, at_risk_only: bool = False) -> array[int]:
    """The ids of the cohort's current learners (those at risk only, with ``at_risk_only``)
    in ``order``, as ``learner_summaries`` orders their lines: one statement, 8 bytes a
    learner held (an export then reads their lines and rows a chunk at a time)."""
    state.settle(session)
    query, line = _summary_query(cohort, columns, today, rules, order.objective_id, None)
    query = query.with_only_columns(Enrolment.user_id).order_by(*order.order_by(line, descending))
    if at_risk_only:
        query = query.having(line.at_risk)
    # through the connection, a row at a time off the cursor: the ORM would make every row
    # first. (Not yield_per: PostgreSQL's server-side cursors need a transaction, and a safe
    # request reads in autocommit.)
    return array("q", session.connection().execute(query).scalars())


@dataclass(frozen=True)
class Standing:
    """One learner's place on their schedule today, read from the kept state
    (``lms.progress.state``): days behind, when behind the overdue assessed items oldest
    first, and when each objective closes on their dates (None: the cohort's)."""

    today: date
    days_behind: int = 0
    overdue: tuple[state.OverdueRow, ...] = ()
    closes: tuple[tuple[int, date | None], ...] | None = None

    @property
    def behind(self) -> bool:
        return self.days_behind > BEHIND_AFTER_DAYS


def learner_columns(columns: Sequence[Column], learner: Standing | None,
                    cache: dict[tuple[tuple[int, date | None], ...], list[Column]] | None = None) -> Sequence[Column]:
    """The columns as they close for one learner (the kept closing days: their own dates
    when they joined late)."""
    if learner is None or learner.closes is None:
        return columns
    if cache is not None and learner.closes in cache:
        return cache[learner.closes]
    days = dict(learner.closes)
    result = [Column(objective=c.objective, closes_on=(day := days.get(c.objective.id)), closed=day is not None and day <= learner.today)
              for c in columns]
    if cache is not None:
        cache[learner.closes] = result
    return result


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None


def _below_bar(rows: Sequence[Row], columns: Sequence[Column], standings: dict[int, Standing],
               rules: Policy) -> set[tuple[int, int]]:
    """(user id, objective id) of each objective closed for the learner that they have
    evidence on and are below the bar on."""
    result = set()
    bar = rules.at_risk_below
    for row in rows:
        mine = learner_columns(columns, standings.get(row.user.id))
        for column, (level, _count, _held, _missing) in zip(mine, row.levels, strict=True):
            if column.closed and level is not None and level < bar:
                result.add((row.user.id, column.objective.id))
    return result


def fell_below(session: DbSession, cohort: Cohort, pairs: set[tuple[int, int]]) -> dict[tuple[int, int], date]:
    """For each (user id, objective id) in ``pairs``: the day (in the cohort's time zone) the
    learner's mastery last went below the at-risk bar, kept with the mastery record
    (``Mastery.below_since``). One statement whatever the pairs; none without pairs."""
    if not pairs:
        return {}
    users = sorted({u for u, _o in pairs})
    rows = session.execute(select(Mastery.user_id, Mastery.objective_id, Mastery.below_since)
                           .where(Mastery.user_id.in_(users), Mastery.below_since.is_not(None)))
    zone = ZoneInfo(cohort.timezone)
    return {(u, o): at.astimezone(zone).date() for u, o, at in rows if at is not None and (u, o) in pairs}


def _reasons(cohort: Cohort, user: User, columns: Sequence[Column], levels: Sequence[Mastered],
             learner: Standing | None, fell: dict[tuple[int, int], date], rules: Policy,
             cache: dict[tuple[tuple[int, date | None], ...], list[Column]] | None = None) -> list[Reason]:
    bar_name = rules.name_of(rules.at_risk_below)
    reasons = []
    columns = learner_columns(columns, learner, cache)  # an objective counts once its modules closed for this learner
    if learner is not None and learner.behind:
        late = learner.overdue
        reasons.append(Reason(
            kind=ReasonKind.BEHIND, text=f"{learner.days_behind} days behind schedule",
            since=late[0].due_on if late else learner.today - timedelta(days=learner.days_behind),
            link=_learner_page(cohort.id, user.id, "overdue"), days_behind=learner.days_behind,
            items=tuple(OverdueItem(kind=i.kind, key=i.key, title=i.title, due_on=i.due_on) for i in late)))
    for column, (level, _count, _held, _missing) in zip(columns, levels, strict=True):
        if not column.closed or column.closes_on is None or (level is not None and level >= rules.at_risk_below):
            continue
        link = _learner_page(cohort.id, user.id, f"objective-{column.code}")  # only for a reason made
        if level is None:
            reasons.append(Reason(kind=ReasonKind.NO_EVIDENCE, text=f"{column.code} has no evidence after its modules closed",
                                  since=column.closes_on, link=link, objective=column.code))
        else:
            went = fell.get((user.id, column.objective.id))
            reasons.append(Reason(kind=ReasonKind.BELOW_BAR, text=f"{column.code} below {bar_name} after its modules closed",
                                  since=max(went, column.closes_on) if went else column.closes_on, link=link,
                                  objective=column.code))
    return reasons


def _rows(cohort: Cohort, users: Sequence[User], columns: Sequence[Column],
          grid: dict[tuple[int, int], Mastered], progress: dict[int, Standing], rules: Policy,
          fell: dict[tuple[int, int], date] | None = None, over: Collection[int] = ()) -> list[Row]:
    """One row per learner. ``fell`` (from ``fell_below``) dates the reasons "below the bar";
    without it they are dated from the objective's closing day. ``over``: the learners whose
    program is over, at risk of nothing (``Summary.over``)."""
    rows = []
    nothing = NOTHING
    objective_ids = [column.objective.id for column in columns]
    cache: dict[tuple[tuple[int, date | None], ...], list[Column]] = {}
    for user in users:
        uid = user.id
        levels = tuple(grid.get((uid, oid), nothing) for oid in objective_ids)
        learner = progress.get(uid)
        days = learner.days_behind if learner is not None else 0
        # a closed account is at risk of nothing (``Summary.closed``), nor a learner whose program is over
        reasons = [] if user.deactivated_at is not None or uid in over else _reasons(cohort, user, columns, levels, learner, fell or {},
                                                                       rules, cache)
        rows.append(Row(user=user, levels=levels, mean=_mean(mastered[0] for mastered in levels), days_behind=days,
                        reasons=reasons, rules=rules))
    return rows


@dataclass(frozen=True)
class _ObjectiveFigures:
    """A cohort's figures on one objective, from one aggregate statement."""

    present: int                 # learners with a level
    mean: float | None
    reaching: tuple[int, ...]    # learners at or above each threshold, lowest first
    proficient: int              # learners at or above the at-risk bar
    # learners with an open account at or above the bar whose own dates have reached the
    # month the objective's teaching starts in (``own_month_reached``): what ``AtBar`` counts
    taught_proficient: int = 0


def teaching_months(objectives: Sequence[Objective]) -> dict[int, int]:
    """Objective id -> the program month its teaching starts in: the first active phase of
    its active modules (an objective no active module serves is left out). ``objectives``
    are ``objectives_with_modules``'."""
    months = {o.id: min((phase.month for module in o.modules if module.active for phase in module.phases if phase.active),
                        default=None) for o in objectives}
    return {oid: month for oid, month in months.items() if month is not None}


def _reached(cohorts: Sequence[Cohort], todays: dict[int, date], month: int) -> ColumnElement[bool]:
    """On ``Enrolment``: its learner is in ``month`` or later on their own dates (``own_month_reached``)."""
    return or_(*(and_(Enrolment.cohort_id == c.id, own_month_reached(c, todays[c.id], month)) for c in cohorts))


def objective_figures(session: DbSession, cohorts: Sequence[Cohort], todays: dict[int, date], columns: Sequence[Column],
                      rules: Policy, open_only: bool = False) -> dict[tuple[int, int], _ObjectiveFigures]:
    """(cohort id, objective id) -> how many current learners have a level, their mean, how
    many reach each threshold and the bar (with ``open_only``, of the learners whose account
    is open), and how many of those with an open account reach the bar on an objective
    taught on their own dates: one statement (GROUP BY), nothing per learner."""
    if not cohorts or not columns:
        return {}
    bounds = sorted(rules.thresholds.values())
    level = Mastery.level
    reach = [func.sum(case((level >= bound, 1), else_=0)) for bound in (*bounds, rules.at_risk_below)]
    by_month: dict[int, list[int]] = defaultdict(list)
    for oid, month in teaching_months([c.objective for c in columns]).items():
        by_month[month].append(oid)
    taught = or_(*(and_(Mastery.objective_id.in_(oids), _reached(cohorts, todays, month)) for month, oids in by_month.items()))
    at_bar_taught = func.sum(case((and_(level >= rules.at_risk_below, User.deactivated_at.is_(None), taught), 1), else_=0))
    query = (select(Enrolment.cohort_id, Mastery.objective_id, func.count(level), func.avg(level), at_bar_taught, *reach)
             .join(Enrolment, Enrolment.user_id == Mastery.user_id).join(User, User.id == Mastery.user_id)
             .where(Enrolment.cohort_id.in_([c.id for c in cohorts]), Enrolment.active,
                    Mastery.objective_id.in_([c.objective.id for c in columns]))
             .group_by(Enrolment.cohort_id, Mastery.objective_id))
    if open_only:
        query = query.where(User.deactivated_at.is_(None))
    result = {}
    for cohort_id, objective_id, present, mean, taught_count, *counts in session.execute(query):
        numbers = [int(n or 0) for n in counts]
        result[(cohort_id, objective_id)] = _ObjectiveFigures(present=int(present), mean=_rounded(mean),
                                                              reaching=tuple(numbers[:-1]), proficient=numbers[-1],
                                                              taught_proficient=int(taught_count or 0))
    return result


@dataclass(frozen=True)
class Headcount:
    """A cohort's current learners: how many have an open account, how many a closed one
    (deactivated, or erased: ``User.deactivated_at``), and of those with an open account
    how many are in each program month or later on their own dates (``own_month_reached``)."""

    open: int = 0
    closed: int = 0
    reached: dict[int, int] = field(default_factory=dict)


def headcounts(session: DbSession, cohorts: Sequence[Cohort], todays: dict[int, date],
               months: Collection[int]) -> dict[int, Headcount]:
    """Cohort id -> its ``Headcount``, with the learners in each of ``months`` or later: one
    statement, whatever the number of cohorts and learners."""
    if not cohorts:
        return {}
    shut = User.deactivated_at.is_not(None)
    wanted = sorted(set(months))
    query = (select(Enrolment.cohort_id, func.sum(case((shut, 0), else_=1)), func.sum(case((shut, 1), else_=0)),
                    *(func.sum(case((and_(~shut, _reached(cohorts, todays, month)), 1), else_=0)) for month in wanted))
             .join(User, User.id == Enrolment.user_id)
             .where(Enrolment.cohort_id.in_([c.id for c in cohorts]), Enrolment.active)
             .group_by(Enrolment.cohort_id))
    return {cohort_id: Headcount(open=int(open_ or 0), closed=int(closed or 0),
                                 reached={month: int(n or 0) for month, n in zip(wanted, counts, strict=True)})
            for cohort_id, open_, closed, *counts in session.execute(query)}


@dataclass(frozen=True)
class AtBar:
    """A cohort's learner-objective pairs at or above the at-risk bar (e.g. proficient),
    each learner with an open account judged on the objectives whose teaching has started
    on their own dates (``own_month_reached``: a late joiner at their own pace is in an
    earlier month than their cohort): objectives not yet taught to a learner would count as
    below the bar and make a younger cohort, or one with late joiners, look weaker. The one
    definition the heat map and the cohorts side by side both show (``share_at_bar``)."""

    reached: int      # pairs at or above the bar
    objectives: int   # objectives taught so far on the cohort's dates
    learners: int     # the cohort's current learners with an open account
    pairs: int        # learner-objective pairs taught so far, each learner on their own dates

    @property
    def share(self) -> float | None:
        """None: no learners, or nothing taught yet."""
        return self.reached / self.pairs if self.pairs else None

    @property
    def fewer_taught(self) -> bool:
        """Some learners have been taught fewer of the objectives than the cohort (they joined late at their own pace)."""
        return self.pairs < self.objectives * self.learners


def share_at_bar(cohort: Cohort, objectives: Sequence[Objective], today: date,
                 figures: dict[tuple[int, int], _ObjectiveFigures], heads: Headcount) -> AtBar:
    """``AtBar`` for ``cohort`` from ``objective_figures`` and ``headcounts`` (nothing read
    here); ``objectives`` are ``objectives_with_modules``' (their modules' phases say when
    teaching starts)."""
    months = teaching_months(objectives)
    month = current_month(cohort.start_date, today)
    taught = [oid for oid, first in months.items() if first <= month]
    reached = sum(found.taught_proficient for oid in taught if (found := figures.get((cohort.id, oid))) is not None)
    pairs = sum(heads.reached.get(months[oid], 0) for oid in taught)
    return AtBar(reached=reached, objectives=len(taught), learners=heads.open, pairs=pairs)


def _distributions(cohort: Cohort, columns: Sequence[Column], figures: dict[tuple[int, int], _ObjectiveFigures],
                   legend: Sequence[Band], total: int) -> list[Distribution]:
    """Each objective's learners by band: rank 0 no evidence, then each named level reached
    (the lowest band also holds those below its threshold, as ``Policy.rank_of`` ranks them)."""
    result = []
    for column in columns:
        found = figures.get((cohort.id, column.objective.id))
        present = found.present if found else 0
        reaching = found.reaching if found else ()
        counts = {0: max(total - present, 0)}
        for rank in range(1, len(legend)):
            above = reaching[rank] if rank < len(reaching) else 0  # at or above the next threshold
            counts[rank] = (present if rank == 1 else (reaching[rank - 1] if rank - 1 < len(reaching) else 0)) - above
        shares = [Share(band=b, count=counts.get(b.rank, 0), share=counts.get(b.rank, 0) / total if total else 0.0)
                  for b in legend]
        result.append(Distribution(column=column, shares=shares, total=total))
    return result


def _funnel(counts: dict[int, state.LevelCounts], total: int, levels: Sequence[Level], month: int) -> list[FunnelStep]:
    """The level funnel from the kept state's counts; a learner with nothing to do in a
    level (no row there) has its modules done."""
    steps = []
    for level in levels:
        mine = counts.get(level.id) or state.LevelCounts()
        empty = max(total - mine.seen, 0)
        steps.append(FunnelStep(
            level=level, opened=month >= level.first_month, total=total, started=mine.started + empty,
            modules_done=mine.modules_done + empty, exam_passed=mine.exam_passed, complete=mine.complete))
    return steps


# --------------------------------------------------------------------------- reviews of at-risk learners


@dataclass(frozen=True)
class SinceReview:
    """A learner's last review and what changed since: reasons that are new, reasons that
    are gone, and the change in days behind schedule."""

    review: AtRiskReview | None
    new: list[Reason]
    gone: list[ReasonSnapshot]
    days_change: int
    follow_up_due: bool

    @property
    def reviewed(self) -> bool:
        return self.review is not None

    @property
    def changed(self) -> bool:
        return bool(self.new or self.gone or self.days_change)


def since_review(row: Row, review: AtRiskReview | None, today: date) -> SinceReview:
    """Compare ``row``'s reasons with those ``review`` recorded (a reason is the same when its
    kind and objective are); the follow-up is due on its day and after."""
    if review is None:
        return SinceReview(review=None, new=[], gone=[], days_change=0, follow_up_due=False)
    before = {r.key for r in review.reasons}
    now = {r.key for r in row.reasons}
    return SinceReview(review=review, new=[r for r in row.reasons if r.key not in before],
                       gone=[r for r in review.reasons if r.key not in now], days_change=row.days_behind - review.days_behind,
                       follow_up_due=review.follow_up_on is not None and review.follow_up_on <= today)


def reviews_of(session: DbSession, cohort_id: int, user_ids: Sequence[int] | None = None) -> dict[int, list[AtRiskReview]]:
    """The cohort's reviews by learner, the last recorded first, with their reviewers: one statement."""
    query = (select(AtRiskReview).where(AtRiskReview.cohort_id == cohort_id).options(joinedload(AtRiskReview.reviewer))
             .order_by(AtRiskReview.id.desc()))
    if user_ids is not None:
        query = query.where(AtRiskReview.learner_id.in_(list(user_ids)))
    result: dict[int, list[AtRiskReview]] = defaultdict(list)
    for review in session.scalars(query):
        result[review.learner_id].append(review)
    return result


def latest_reviews(session: DbSession, cohort_id: int, user_ids: Sequence[int] | None = None) -> dict[int, AtRiskReview]:
    """Each reviewed learner's last review in the cohort (the last recorded), with its
    reviewer (of ``user_ids`` only, when given): one statement."""
    last = (select(func.max(AtRiskReview.id)).where(AtRiskReview.cohort_id == cohort_id)
            .group_by(AtRiskReview.learner_id))
    if user_ids is not None:
        if not user_ids:
            return {}
        last = last.where(AtRiskReview.learner_id.in_(list(user_ids)))
    query = select(AtRiskReview).where(AtRiskReview.id.in_(last)).options(joinedload(AtRiskReview.reviewer))
    return {review.learner_id: review for review in session.scalars(query)}


# --------------------------------------------------------------------------- the heat map


ROWS_CHUNK = 250  # learners whose rows are built at once when every row is read (exports)


@dataclass(frozen=True)
class _Context:
    """What a cohort's rows are made from, read once."""

    session: DbSession
    cohort: Cohort
    rules: Policy
    today: date
    columns: list[Column]


def _context(session: DbSession, cohort: Cohort, now: datetime) -> _Context:
    today = cohort_today(cohort, now)
    return _Context(session=session, cohort=cohort, rules=policy(session), today=today,
                    columns=columns_for(session, objectives_with_modules(session), cohort, today))


def _users(session: DbSession, user_ids: Iterable[int]) -> dict[int, User]:
    ids = sorted(set(user_ids))
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}


def _make_rows(ctx: _Context, users: Sequence[User], behind: dict[int, int] | None = None,
               dated: set[int] | None = None, grid: dict[tuple[int, int], Mastered] | None = None,
               ) -> dict[int, Row]:
    """The rows of ``users`` by id, from their mastery rows (``grid`` when the caller read
    them) and the kept state (days behind from ``behind`` when the caller read them). The
    rows of ``dated`` (None: all) are complete: the overdue items of those behind listed,
    "below the bar" dated from the evidence that took them there. At most six statements
    whatever the number of users."""
    ids = [u.id for u in users]
    if not ids:
        return {}
    session, cohort, today = ctx.session, ctx.cohort, ctx.today
    if grid is None:
        grid = mastery_grid(session, [cohort.id], ids)
    if behind is None:
        behind = state.days_behind(session, [cohort.id], {cohort.id: today}, ids)
    closes = state.closings(session, cohort.id, ids)
    standings = {uid: Standing(today=today, days_behind=behind.get(uid, 0), closes=closes.get(uid)) for uid in ids}
    over = _programs_over(session, cohort, today, ids)
    rows = {r.user.id: r for r in _rows(cohort, users, ctx.columns, grid, standings, ctx.rules, over=over)}
    risky = [r for r in rows.values() if r.at_risk and (dated is None or r.user.id in dated)]
    if not risky:
        return rows
    items = state.overdue_items(session, cohort.id, today, [r.user.id for r in risky if standings[r.user.id].behind])
    fell = fell_below(session, cohort, _below_bar(risky, ctx.columns, standings, ctx.rules))
    complete = {r.user.id: replace(standings[r.user.id], overdue=tuple(items.get(r.user.id, ()))) for r in risky}
    rows.update({r.user.id: r for r in _rows(cohort, [r.user for r in risky], ctx.columns, grid, complete, ctx.rules, fell)})
    return rows


def _programs_over(session: DbSession, cohort: Cohort, today: date, user_ids: Sequence[int]) -> set[int]:
    """Which of the cohort's learners ``user_ids`` have their program over (``program_over``):
    no statement until the cohort's own program has closed, one after."""
    if today < program_closes_on(cohort.start_date):
        return set()
    return set(session.scalars(select(Enrolment.user_id).where(
        Enrolment.cohort_id == cohort.id, Enrolment.active, Enrolment.user_id.in_(list(user_ids)),
        program_over(cohort, today))))


class LazyRows(Sequence[Row]):
    """The complete rows of some learners in a given order, built ``ROWS_CHUNK`` at a time
    as they are read (an export streams every learner's row with constant memory). Its
    length is known without building any row. Not ``complete``: their reasons as the map's
    rows have them (no overdue item listed, "below the bar" dated from the objective's
    closing day), two statements fewer a chunk."""

    def __init__(self, ctx: _Context, learners: Sequence[Summary], complete: bool = True) -> None:
        self._ctx = ctx
        self._learners = learners
        self._dated: set[int] | None = None if complete else set()

    def __len__(self) -> int:
        return len(self._learners)

    def _build(self, learners: Sequence[Summary]) -> list[Row]:
        behind = {s.user_id: s.days_behind for s in learners}
        users = _users(self._ctx.session, behind)
        rows = _make_rows(self._ctx, [users[s.user_id] for s in learners], behind, self._dated)
        return [rows[s.user_id] for s in learners]

    def __iter__(self) -> Iterator[Row]:
        for first in range(0, len(self._learners), ROWS_CHUNK):
            yield from self._build(self._learners[first:first + ROWS_CHUNK])

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return self._build(self._learners[index])
        return self._build([self._learners[index]])[0]


class StreamedRows(Iterable[Row]):
    """Every learner's complete row (those at risk only, with ``at_risk_only``) in the
    heat map's order, for an export: the order read first as ids alone
    (``ordered_learner_ids``, 8 bytes a learner), then the lines and rows ``ROWS_CHUNK``
    learners at a time, so nothing else is held for the whole cohort. A learner who left
    between the two reads is skipped."""

    def __init__(self, ctx: _Context, order: SortOrder, descending: bool, at_risk_only: bool, complete: bool = True,
                 query: str = "") -> None:
        self._ctx = ctx
        self._order, self._descending, self._at_risk_only = order, descending, at_risk_only
        self._complete, self._query = complete, query.strip().lower()

    def __iter__(self) -> Iterator[Row]:
        ctx = self._ctx
        ids = ordered_learner_ids(ctx.session, ctx.cohort, ctx.columns, ctx.today, ctx.rules, self._order,
                                  self._descending, self._at_risk_only)
        for first in range(0, len(ids), ROWS_CHUNK):
            chunk = ids[first:first + ROWS_CHUNK]
            lines = {s.user_id: s for s in learner_summaries(ctx.session, ctx.cohort, ctx.columns, ctx.today, ctx.rules,
                                                             user_ids=list(chunk))}
            picked = [lines[uid] for uid in chunk if uid in lines and _matches(lines[uid], self._query, False)]
            yield from LazyRows(ctx, picked, self._complete)


@dataclass(frozen=True, slots=True)
class HeatLine:
    """One learner's line kept in a process (``lms.competency.lines``): their ``Summary`` (no
    sorted level), their mastery on each column, and what says which program months they are
    in on their own dates (their enrolment's pace and start)."""

    summary: Summary
    levels: tuple[Mastered, ...]
    pace: Pace
    started_at: datetime | None  # read for a learner at their own pace only (``in_own_month``)
    folded: str                  # their name as the map orders it (``fold_name``)


class LineTotals:
    """The cohort's figures over its kept lines (``objective_figures``, ``headcounts``), kept
    with them and brought up to date learner by learner: each column's levels in order, how
    many with an open account reach the bar on it in a month taught on their own dates, the
    open and closed accounts and those in each teaching month."""

    def __init__(self, cohort: Cohort, today: date, columns: Sequence[Column], rules: Policy) -> None:
        months = teaching_months([column.objective for column in columns])
        self.wanted = sorted(set(months.values()))
        self.cutoffs = {month: own_month_cutoff(cohort, today, month) for month in self.wanted}
        self.month_of = [months.get(column.objective.id) for column in columns]
        self.bar = rules.at_risk_below
        self.limits = (*sorted(rules.thresholds.values()), rules.at_risk_below)
        self.levels: list[list[float]] = [[] for _ in columns]
        self.taught = [0] * len(columns)
        self.open = self.closed = 0
        self.reached = dict.fromkeys(self.wanted, 0)

    def copy(self) -> LineTotals:
        other = copy.copy(self)
        other.levels, other.taught, other.reached = [list(v) for v in self.levels], list(self.taught), dict(self.reached)
        return other

    def count_all(self, lines: Iterable[HeatLine]) -> None:
        """Every one of ``lines`` counted in (each column's levels put in order once, at the end)."""
        for line in lines:
            self.count(line, 1, ordered=False)
        for levels in self.levels:
            levels.sort()

    def count(self, line: HeatLine, sign: int, ordered: bool = True) -> None:
        """``line`` counted in (``sign`` 1) or out (-1); not ``ordered``: its levels appended
        to their columns (``count_all`` orders them)."""
        mine: dict[int, bool] = {}
        if line.summary.closed:
            self.closed += sign
        else:
            self.open += sign
            mine = {month: in_own_month(line.pace, line.started_at, cutoff) for month, cutoff in self.cutoffs.items()}
            for month, yes in mine.items():
                self.reached[month] += sign * yes
        for index, (level, _count, _held, _missing) in enumerate(line.levels):
            if level is None:
                continue
            column = self.levels[index]
            if not ordered:
                column.append(level)
            elif sign > 0:
                insort(column, level)
            else:
                del column[bisect_left(column, level)]
            taught_in = self.month_of[index]
            if mine and level >= self.bar and taught_in is not None and mine[taught_in]:
                self.taught[index] += sign

    def figures(self, cohort_id: int, columns: Sequence[Column]) -> dict[tuple[int, int], _ObjectiveFigures]:
        result = {}
        for index, column in enumerate(columns):
            levels = self.levels[index]
            if not levels:
                continue
            present = len(levels)
            reach = [present - bisect_left(levels, limit) for limit in self.limits]
            result[(cohort_id, column.objective.id)] = _ObjectiveFigures(
                present=present, mean=_rounded(math.fsum(levels) / present), reaching=tuple(reach[:-1]),
                proficient=reach[-1], taught_proficient=self.taught[index])
        return result

    def headcount(self) -> Headcount:
        return Headcount(open=self.open, closed=self.closed, reached=dict(self.reached))


@dataclass(frozen=True, slots=True)
class CompleteRow:
    """What an at-risk learner's complete row holds but the account (``Row`` without its user)."""

    levels: tuple[Mastered, ...]
    mean: float | None
    days_behind: int
    reasons: list[Reason]


def learner_keys(session: DbSession, cohort: Cohort) -> dict[int, tuple[Any, ...]]:
    """Each current learner of the cohort -> what their heat map line is made from, as it
    stands: their enrolment and account as the map lists them, the number their kept
    schedule state is folded into (``ProgressLearner.cohort_revision``: their days behind,
    closing days and overdue items), their mastery mark (drawn again by the database on
    every write to their mastery rows) and their last review in the cohort with its
    reviewer's name (what their item in the at-risk list says of it). One statement, one row
    a learner, each the driver's own tuple of the values as the database gave them: compared
    with the one kept as one comparison, and nothing turned into Python's types for the many
    learners whose line holds (``key_values`` decodes what a line made again needs). Made
    into SQLAlchemy rows and compared row by row, the keys of 500 learners cost 1.5 ms on
    PostgreSQL, 0.9 ms as they are."""
    result = session.connection().execute(_keys_statement(), {"keys_cohort": cohort.id})
    try:
        return {row[0]: row for row in result.cursor.fetchall()}
    finally:
        result.close()


def key_values(key: tuple[Any, ...], dialect: Dialect) -> tuple[Pace, datetime | None]:
    """What a learner's line needs of their key (``learner_keys``), in Python's types: the
    enrolment's pace and (at their own pace) its start, decoded by the columns' own types."""
    started, pace = _key_decoders(dialect)
    return (pace(key[3]) if pace else key[3]), (started(key[2]) if started else key[2])


@lru_cache(maxsize=4)
def _key_decoders(dialect: Dialect) -> tuple[Callable[[Any], Any] | None, Callable[[Any], Any] | None]:
    columns = _keys_statement().selected_columns
    return tuple(columns[i].type.dialect_impl(dialect).result_processor(dialect, None) for i in (2, 3))  # type: ignore[return-value]


@lru_cache(maxsize=1)
def _keys_statement() -> Select[Any]:
    """``learner_keys``' statement, made once a process (the cohort a bound parameter)."""
    cohort_id = bindparam("keys_cohort", type_=Integer)
    own = case((Enrolment.pace == Pace.OWN_START, Enrolment.started_at))  # the start matters at one's own pace only
    # each reviewed learner's last review in the cohort: one aggregate over the cohort's reviews
    last = (select(AtRiskReview.learner_id, func.max(AtRiskReview.id).label("id"))
            .where(AtRiskReview.cohort_id == cohort_id).group_by(AtRiskReview.learner_id).subquery())
    review, reviewer = aliased(AtRiskReview), aliased(User)
    return (select(Enrolment.user_id, Enrolment.id, own, Enrolment.pace, User.name, User.email,
                   User.deactivated_at.is_not(None), ProgressLearner.cohort_revision, MasteryMark.revision,
                   last.c.id, reviewer.name)
            .join(User, User.id == Enrolment.user_id)
            .outerjoin(ProgressLearner, and_(ProgressLearner.user_id == Enrolment.user_id,
                                             ProgressLearner.cohort_id == Enrolment.cohort_id))
            .outerjoin(MasteryMark, MasteryMark.user_id == Enrolment.user_id)
            .outerjoin(last, last.c.learner_id == Enrolment.user_id)
            .outerjoin(review, review.id == last.c.id).outerjoin(reviewer, reviewer.id == review.reviewer_id)
            .where(Enrolment.cohort_id == cohort_id, Enrolment.active))


def kept_lines(session: DbSession, ctx: _Context, store: HeatLines) -> KeptCohort | None:
    """Every current learner's ``HeatLine`` in the cohort, from ``store``: the learners whose
    key (``learner_keys``) is as it was when their line was made are read from it, the others
    made again (two statements, for them alone); the whole cohort's made when the cohort-wide
    key moved (a new day on the cohort's calendar, a content load, the cohort's dates). None
    when the store is off. Three statements at most, whatever the cohort's size."""
    if not store.enabled:
        return None
    state.settle(session)
    cohort, columns = ctx.cohort, ctx.columns
    key = (ctx.today, tuple((c.objective.id, c.closes_on, c.closed) for c in columns), content_token(session),
           cohort.start_date, cohort.timezone)
    before = store.get(cohort.id, key)
    memo: dict[str, Any] = dict(before.memo) if before is not None else {}
    keys = learner_keys(session, cohort)
    held = before.learners if before is not None else {}
    learners = {uid: line for uid, line in held.items() if keys.get(uid) == line[0]}  # in held's order (by name)
    stale = [uid for uid in keys if uid not in learners]
    if stale:
        wanted = None if len(stale) == len(keys) else stale
        if wanted is None:
            summaries = learner_summaries(session, cohort, columns, ctx.today, ctx.rules)
        else:  # the statement made once for the cohort's key, the learners bound
            statement = memo.get("stale")
            if statement is None:
                statement = memo["stale"] = _summary_query(cohort, columns, ctx.today, ctx.rules, None,
                                                           bindparam("stale_ids", expanding=True))[0]
            summaries = _summaries(session.execute(statement, {"stale_ids": wanted}), ctx.today)
        if wanted is None:
            grid = mastery_grid(session, [cohort.id])
        else:
            found = memo.get("stale grid")
            if found is None:
                found = memo["stale grid"] = (grid_query([cohort.id]).add_columns(Mastery.missing)
                                              .where(Mastery.user_id.in_(bindparam("stale_ids", expanding=True))))
            grid = _grid(session.execute(found, {"stale_ids": wanted}))
        objective_ids = [column.objective.id for column in columns]
        dialect = session.get_bind().dialect
        fresh: dict[int, tuple[tuple[Any, ...], HeatLine]] = {}
        for line in summaries:
            mine = keys.get(line.user_id)
            if mine is None:  # joined between the two reads: their key is read on the next view
                continue
            levels = tuple(grid.get((line.user_id, oid), NOTHING) for oid in objective_ids)
            pace, started_at = key_values(mine, dialect)
            fresh[line.user_id] = (mine, HeatLine(summary=line, levels=levels, pace=pace, started_at=started_at,
                                                  folded=fold_name(line.name)))
        if all(uid in held and held[uid][1].folded == made[1].folded for uid, made in fresh.items()):
            # each made again in the place their name holds in the map's order already
            learners = {uid: fresh.get(uid, entry) for uid, entry in held.items() if uid in learners or uid in fresh}
        else:  # a newcomer, or a name changed: in the map's order by name again, so that each sort is one pass
            learners.update(fresh)
            learners = dict(sorted(learners.items(), key=lambda item: (item[1][1].folded, item[0])))
    if before is not None and before.totals is not None:  # brought up to date: the learners gone or made again
        totals = before.totals.copy()
        for uid, (mine, line) in held.items():
            if uid not in learners or learners[uid][0] is not mine:
                totals.count(line, -1)
        for uid in stale:
            if uid in learners:
                totals.count(learners[uid][1], 1)
    else:
        totals = LineTotals(cohort, ctx.today, columns, ctx.rules)
        totals.count_all(line for _mine, line in learners.values())
    complete = {uid: made for uid, made in (before.complete.items() if before is not None else ())
                if uid in learners and made[0] == learners[uid][0]}
    kept = KeptCohort(key=key, learners=learners, complete=complete, totals=totals, memo=memo)
    store.put(cohort.id, kept, len(stale))
    return kept


def line_figures(cohort: Cohort, columns: Sequence[Column],
                 kept: KeptCohort) -> tuple[dict[tuple[int, int], _ObjectiveFigures], Headcount]:
    """``objective_figures`` and ``headcounts`` of the cohort, from its kept lines' totals
    (``LineTotals``): the same figures, without reading every mastery row again."""
    totals: LineTotals = kept.totals
    return totals.figures(cohort.id, columns), totals.headcount()


@dataclass(frozen=True)
class HeatMap:
    cohort: Cohort
    today: date
    month: int
    policy: Policy
    legend: list[Band]
    columns: list[Column]
    count: int                        # the cohort's current learners
    learners_in_order: list[Summary]  # every learner of the cohort in one line, sorted (none when ``streamed``)
    risky: list[Summary]              # the learners at risk, the most reasons and days behind first (ditto)
    sort: str
    descending: bool
    reviews: dict[int, SinceReview]  # at-risk learners' last review and what changed since (those read)
    on_page: list[Summary] = field(default_factory=list)       # this page's learners, sorted and filtered over the cohort
    risk_on_page: list[Summary] = field(default_factory=list)  # this page of the at-risk list
    date_all: bool = True  # the map's rows complete too (else the at-risk list's only)
    paging: Paging = field(default_factory=lambda: Paging(1, PER_PAGE, 0))
    risk_paging: Paging = field(default_factory=lambda: Paging(1, AT_RISK_PER_PAGE, 0))
    query: str = ""        # the name or email filter
    risk_only: bool = False  # only the learners at risk
    streamed: bool = False   # for an export: no learner held, ``rows`` and ``at_risk`` read in SQL's order
    worked_out_at: datetime | None = None  # when these figures were read (a kept page shows when it was built)
    context: _Context | None = field(default=None, repr=False, compare=False)
    kept: KeptCohort | None = field(default=None, repr=False, compare=False)  # the cohort's lines kept (``kept_lines``)

    @cached_property
    def distributions(self) -> list[Distribution]:
        """Each objective's learners by band, over the whole cohort: one statement, when first read."""
        if self.context is None:
            return []
        return _distributions(self.cohort, self.columns, self._figures, self.legend, self.count)

    @cached_property
    def at_bar(self) -> AtBar | None:
        """The cohort's pairs at or above the bar, as the cohorts side by side count them."""
        if self.context is None:
            return None
        objectives = [c.objective for c in self.columns]
        if self._line_figures is not None:
            return share_at_bar(self.cohort, objectives, self.today, self._figures, self._line_figures[1])
        heads = headcounts(self.context.session, [self.cohort], {self.cohort.id: self.today},
                           set(teaching_months(objectives).values()))
        return share_at_bar(self.cohort, objectives, self.today, self._figures, heads.get(self.cohort.id, Headcount()))

    @cached_property
    def _line_figures(self) -> tuple[dict[tuple[int, int], _ObjectiveFigures], Headcount] | None:
        """The whole cohort's figures counted over its kept lines, when it has them."""
        if self.kept is None:
            return None
        return line_figures(self.cohort, self.columns, self.kept)

    @cached_property
    def _figures(self) -> dict[tuple[int, int], _ObjectiveFigures]:
        """Each objective's aggregates over the whole cohort: one statement, when first read."""
        if self.context is None:
            return {}
        if self._line_figures is not None:
            return self._line_figures[0]
        return objective_figures(self.context.session, [self.cohort], {self.cohort.id: self.today}, self.columns, self.policy)

    @cached_property
    def funnel(self) -> list[FunnelStep]:
        """The level funnel over the whole cohort: from the kept state, when first read."""
        if self.context is None:
            return []
        session = self.context.session
        if self.kept is None:
            counts = state.funnel_counts(session, [self.cohort.id]).get(self.cohort.id, {})
        else:  # read again only when a learner's kept state moved (each one's ``cohort_revision`` folds in their levels)
            revisions = tuple((uid, mine[7]) for uid, (mine, _line) in self.kept.learners.items())
            found = self.kept.memo.get("funnel")
            if found is not None and found[0] == revisions:
                counts = found[1]
            else:
                counts = state.funnel_counts(session, [self.cohort.id]).get(self.cohort.id, {})
                self.kept.memo["funnel"] = (revisions, counts)
        return _funnel(counts, self.count, kept_levels(session), self.month)

    @cached_property
    def _page_grid(self) -> dict[tuple[int, int], Mastered]:
        """The mastery rows of this page's learners, of the map and of the at-risk list: one statement."""
        ids = sorted({s.user_id for s in (*self.on_page, *self.risk_on_page)})
        if self.kept is not None:  # every learner's mastery is in their kept line
            objective_ids = [column.objective.id for column in self.columns]
            lines = self.kept.learners
            return {(uid, oid): mastered for uid in ids if uid in lines
                    for oid, mastered in zip(objective_ids, lines[uid][1].levels, strict=True) if mastered != NOTHING}
        return mastery_grid(self.context.session, [self.cohort.id], ids) if self.context is not None and ids else {}

    def _build(self, learners: Sequence[Summary], dated: set[int] | None) -> dict[int, Row]:
        ctx = self.context
        if ctx is None or not learners:
            return {}
        behind = {s.user_id: s.days_behind for s in learners}
        users = _users(ctx.session, behind)
        kept = self.kept if dated is None else None  # complete rows are kept with the lines
        made: dict[int, Row] = {}
        if kept is not None:
            for uid in behind:
                found = kept.complete.get(uid)
                if found is not None and uid in users:
                    row = found[1]
                    made[uid] = Row(user=users[uid], levels=row.levels, mean=row.mean, days_behind=row.days_behind,
                                    reasons=row.reasons, rules=ctx.rules)
        missing = [users[uid] for uid in behind if uid not in made and uid in users]
        if missing:
            new = _make_rows(ctx, missing, behind, dated, self._page_grid)
            made.update(new)
            if kept is not None:
                for uid, row in new.items():
                    if uid in kept.learners:
                        kept.complete[uid] = (kept.learners[uid][0], CompleteRow(levels=row.levels, mean=row.mean,
                                                                                 days_behind=row.days_behind, reasons=row.reasons))
        return made

    @cached_property
    def _page_rows(self) -> dict[int, Row]:
        """The complete rows of this page of the at-risk list (and of the map's with
        ``date_all``), built when first read (callers that want every row or the at-risk
        list only never build them), with the last review of those at risk: a fixed number
        of statements."""
        learners = [*self.risk_on_page, *(self.on_page if self.date_all else ())]
        built = self._build(learners, None)
        if self.context is not None and self.risk_on_page:
            wanted = sorted(s.user_id for s in self.risk_on_page)  # the list shows them; others are read when asked
            reviews = latest_reviews(self.context.session, self.cohort.id, wanted)
            self.reviews.update({uid: since_review(built[uid], reviews.get(uid), self.today) for uid in wanted})
        return built

    @cached_property
    def _map_rows(self) -> dict[int, Row]:
        """This page of the map's rows not built complete (without ``date_all``): their
        reasons dated from the objectives' closing days."""
        return self._build([s for s in self.on_page if s.user_id not in self._page_rows], set())

    @property
    def shown(self) -> list[Row]:
        """This page's rows, sorted and filtered over the whole cohort."""
        built = self._page_rows
        return [built.get(s.user_id) or self._map_rows[s.user_id] for s in self.on_page]

    @cached_property
    def map_lines(self) -> list[MapLine]:
        """This page of the map as the page shows it (``MapLine``): from the learners'
        summaries and mastery rows, no row built."""
        kept = self.kept.learners if self.kept is not None else None
        grid, nothing = (self._page_grid if kept is None else {}), NOTHING
        objective_ids = [column.objective.id for column in self.columns]
        lines = []
        for learner in self.on_page:
            levels = (kept[learner.user_id][1].levels if kept is not None
                      else tuple(grid.get((learner.user_id, oid), nothing) for oid in objective_ids))
            lines.append(MapLine(user_id=learner.user_id, name=learner.name, levels=levels,
                                 mean=_mean(mastered[0] for mastered in levels), reasons=learner.reasons, rules=self.policy,
                                 closed=learner.closed))
        return lines

    @property
    def at_risk_shown(self) -> list[Row]:
        """This page of the at-risk list, its rows complete."""
        return [self._page_rows[s.user_id] for s in self.risk_on_page]

    def at_risk_of(self, learners: Sequence[Summary]) -> list[tuple[Row, SinceReview]]:
        """Some of this page's at-risk learners' complete rows, each with their last review
        and what changed since: two statements at most (their accounts, their reviews),
        whatever their number (the page's item of a learner whose line and review are
        unchanged is kept made: ``lms.competency.render.risk_items``)."""
        if self.context is None or not learners:
            return []
        built = self._build(learners, None)
        reviews = latest_reviews(self.context.session, self.cohort.id, sorted(built))
        pairs = []
        for learner in learners:
            row = built[learner.user_id]
            since = self.reviews[learner.user_id] = since_review(row, reviews.get(learner.user_id), self.today)
            pairs.append((row, since))
        return pairs

    def _every_row(self, at_risk_only: bool, complete: bool) -> Iterable[Row]:
        assert self.context is not None
        if self.streamed:
            order = SORTS["risk"] if at_risk_only else sort_order(self.sort, self.columns)[1]
            return StreamedRows(self.context, order, at_risk_only or self.descending, at_risk_only, complete)
        return LazyRows(self.context, self.risky if at_risk_only else self.learners_in_order, complete)

    @property
    def rows(self) -> Iterable[Row]:
        """Every learner's complete row in the map's order, built in chunks as read."""
        return self._every_row(at_risk_only=False, complete=True)

    @property
    def mapped_rows(self) -> Iterable[Row]:
        """``rows`` of the learners the map's filters pick (by name or email, at risk only:
        ``query``, ``risk_only``), each with its reasons as the map has them: what the
        exports' rows show (the reasons' texts; no overdue item, no date from the evidence:
        two statements fewer a chunk of learners)."""
        assert self.context is not None
        if self.streamed:  # in the map's order, the filters in SQL (at risk) and on each chunk's lines (name)
            return StreamedRows(self.context, sort_order(self.sort, self.columns)[1], self.descending, self.risk_only,
                                complete=False, query=self.query)
        wanted = self.query.lower()
        return LazyRows(self.context, [s for s in self.learners_in_order if _matches(s, wanted, self.risk_only)], complete=False)

    @property
    def at_risk(self) -> Iterable[Row]:
        """The learners at risk, complete, the most reasons and days behind first."""
        return self._every_row(at_risk_only=True, complete=True)

    @property
    def mapped_at_risk(self) -> Iterable[Row]:
        """``at_risk``, each row with its reasons as the map has them: what a list of the
        reasons' texts and kinds needs (no overdue item, no date from the evidence)."""
        return self._every_row(at_risk_only=True, complete=False)

    def review_of(self, row: Row) -> SinceReview:
        uid = row.user.id
        if uid not in self.reviews and any(s.user_id == uid for s in (*self.on_page, *self.risk_on_page)):
            _ = self._page_rows  # reads this page's reviews (not when read already: ``reviews_of``)
        if uid not in self.reviews and self.context is not None and any(s.user_id == uid for s in self.risky):
            found = latest_reviews(self.context.session, self.cohort.id, [uid]).get(uid)
            self.reviews[uid] = since_review(row, found, self.today)
        return self.reviews.get(uid) or since_review(row, None, self.today)

    def reviews_of(self, rows: Sequence[Row]) -> list[SinceReview]:
        """``review_of`` for many rows, the reviews not read yet read in one statement
        (a panel listing every learner at risk sends no statement per learner)."""
        if self.context is not None:
            risky = {s.user_id for s in self.risky}
            by_id = {r.user.id: r for r in rows}
            missing = sorted((by_id.keys() & risky) - self.reviews.keys())
            if missing:
                found = latest_reviews(self.context.session, self.cohort.id, missing)
                self.reviews.update({uid: since_review(by_id[uid], found.get(uid), self.today) for uid in missing})
        return [self.review_of(row) for row in rows]

    @property
    def learners(self) -> int:
        return self.count

    @property
    def closed_accounts(self) -> int:
        """How many of the rows are closed accounts (kept in the map, marked "account closed")."""
        return sum(1 for s in self.learners_in_order if s.closed)

    @property
    def current_learners(self) -> int:
        """The learners whose account is open: what the page's header counts."""
        return self.count - self.closed_accounts

    @property
    def filtered(self) -> bool:
        return bool(self.query) or self.risk_only

    @property
    def file_kind(self) -> str:
        """What an export of this map is named as: a list cut down to the learners at risk, or
        to a name or email, says so, not passing for the whole cohort's (the file names
        were the same: a second download was "(1)" and nothing in it said it was cut down)."""
        return "competency" + ("-at-risk" if self.risk_only else "") + ("-matching" if self.query else "")

    @property
    def bar_name(self) -> str:
        return self.policy.name_of(self.policy.at_risk_below)

    @property
    def behind_after(self) -> int:
        """Days behind schedule past which a learner is at risk (the at-risk card says it)."""
        return BEHIND_AFTER_DAYS

    @property
    def held_under(self) -> str | None:
        """The top named level a cell may be held under for want of evidence (None: the
        program's ``mastery_min_weight`` is 0, nothing is held): the legend explains the mark."""
        return held_under(self.policy)

    @property
    def stages(self) -> tuple[tuple[str, str], ...]:
        return FunnelStep.STAGES

    def direction_for(self, sort: str) -> str:
        """The direction a column header link asks for: reversed when already sorted by it."""
        return "desc" if sort == self.sort and not self.descending else "asc"


def at_risk_rows(session: DbSession, cohort: Cohort, now: datetime) -> Iterable[Row]:
    """The cohort's learners at risk, their rows complete, in the heat map's at-risk order
    (the most reasons and days behind first), read a chunk at a time as they are iterated
    (``StreamedRows``): what reminders and webhooks announce, without the heat map's
    figures or a line for every learner."""
    return StreamedRows(_context(session, cohort, now), SORTS["risk"], descending=True, at_risk_only=True)


def at_risk_ids(session: DbSession, cohort: Cohort, now: datetime) -> set[int]:
    """The ids of the cohort's learners at risk, as the heat map judges them, from one line
    per learner (``learner_summaries``): none of its distributions, funnel or rows."""
    return at_risk_judge(session, cohort, now)(None)


def at_risk_judge(session: DbSession, cohort: Cohort, now: datetime) -> Callable[[Sequence[int] | None], set[int]]:
    """Who of some of the cohort's learners (their ids; None: all of them) is at risk, as
    ``at_risk_ids`` judges them: what the judgement needs read once, then one statement
    each time. Each learner is judged on their own records, so an export asking a chunk of
    learners at a time holds nothing for the whole cohort and gets the same answers."""
    ctx = _context(session, cohort, now)

    def judge(user_ids: Sequence[int] | None) -> set[int]:
        return {s.user_id for s in learner_summaries(session, cohort, ctx.columns, ctx.today, ctx.rules, user_ids=user_ids)
                if s.at_risk}

    return judge


def at_risk_learners(session: DbSession, cohort: Cohort, now: datetime, query: str = "") -> list[User]:
    """The cohort's learners at risk as the heat map judges them, those whose name or email
    holds ``query`` when given (the map's filter), in its at-risk order (the most reasons and
    days behind first): whom staff message from the map's at-risk list. Two statements: one
    line per learner (``learner_summaries``), then the accounts of those at risk."""
    ctx = _context(session, cohort, now)
    wanted = query.strip().lower()
    ids = [s.user_id for s in learner_summaries(session, cohort, ctx.columns, ctx.today, ctx.rules, order=SORTS["risk"],
                                                descending=True) if _matches(s, wanted, risk_only=True)]
    users = _users(session, ids)
    return [users[uid] for uid in ids]


def _matches(learner: Summary, query: str, risk_only: bool) -> bool:
    if risk_only and not learner.at_risk:
        return False
    return not query or query in learner.name.lower() or query in learner.email.lower()


def heat_map(session: DbSession, cohort: Cohort, now: datetime, sort: str | None = None,
             descending: bool = False, page: int | None = 1, query: str = "", risk_only: bool = False,
             risk_page: int | None = 1, date_all: bool = True, streamed: bool = False,
             lines: HeatLines | None = None) -> HeatMap:
    """The cohort's learners against the active objectives, sorted server-side over the
    whole cohort, filtered by name or email (``query``) or to those at risk, ``PER_PAGE``
    at a time; distributions, the funnel and the at-risk learners (with their last review,
    ``AT_RISK_PER_PAGE`` at a time) over the whole cohort. The whole cohort is read as one
    line per learner (``learner_summaries``) and aggregates (``objective_figures``), the
    aggregates when first read (``distributions``, ``funnel``: a caller that lists learners
    only never reads them); only the rows shown are built, when first read (``shown``,
    ``at_risk_shown``). The at-risk list's rows are complete (overdue items, dates from the
    evidence), the map's too with ``date_all`` (the map's rows show the reasons' texts
    only). The order is SQL's
    (``SortOrder.order_by``). ``rows`` and ``at_risk`` build every (at-risk) learner's
    complete row as they are read; with ``streamed`` (an export) no learner's line is held
    at all: the order is read as ids, then lines and rows a chunk at a time
    (``StreamedRows``), and the page's lists are empty. With ``lines`` (a process's
    ``HeatLines``), the learners' lines are read from it, made again only for those whose
    records changed (``kept_lines``), and sorted, counted and aggregated in Python from them:
    the same page, a fixed three statements for the whole cohort."""
    ctx = _context(session, cohort, now)
    rules, today, columns = ctx.rules, ctx.today, ctx.columns
    chosen, order = sort_order(sort, columns)
    kept = kept_lines(session, ctx, lines) if lines is not None and not streamed else None
    if streamed:
        learners: list[Summary] = []
        count = learner_counts(session, [cohort.id]).get(cohort.id, 0)
    elif kept is not None:
        if isinstance(order, ByObjective):  # by the level each line holds on it (no line copied to carry it)
            index = order.index
            ordered = sorted(kept.learners.values(), key=lambda entry: ByObjective.level_key(entry[1].levels[index][0]),
                             reverse=descending)
            learners = [line.summary for _key, line in ordered]
        else:
            learners = sort_learners([line.summary for _key, line in kept.learners.values()], order, descending, named=True)
        count = len(learners)
    else:
        learners = learner_summaries(session, cohort, columns, today, rules, order=order, descending=descending)
        count = len(learners)
    wanted = query.strip().lower()
    picked = [s for s in learners if _matches(s, wanted, risk_only)] if wanted or risk_only else learners
    pages = paging(page, PER_PAGE, len(picked))
    if kept is not None:  # the kept lines come in the order by name already
        risky = sort_learners([line.summary for _key, line in kept.learners.values() if line.summary.at_risk], SORTS["risk"],
                              descending=True, named=True)
    else:
        risky = sort_learners((s for s in learners if s.at_risk), SORTS["risk"], descending=True)
    risk_pages = paging(risk_page, AT_RISK_PER_PAGE, len(risky))
    heat = HeatMap(cohort=cohort, today=today, month=current_month(cohort.start_date, today), policy=rules,
                   legend=bands(rules), columns=columns, count=count, learners_in_order=learners, risky=risky, sort=chosen,
                   descending=descending, reviews={}, on_page=pages.slice(picked),
                   risk_on_page=risk_pages.slice(risky), date_all=date_all, paging=pages, risk_paging=risk_pages,
                   query=query.strip(), risk_only=risk_only, streamed=streamed, worked_out_at=now, context=ctx,
                   kept=kept)
    return heat


# --------------------------------------------------------------------------- one learner's risk and reviews


@dataclass(frozen=True)
class LearnerRisk:
    """One learner of a cohort: why they are at risk (if they are), their reviews newest
    first, and what changed since the last."""

    cohort: Cohort
    learner: User
    today: date
    policy: Policy
    row: Row
    reviews: list[AtRiskReview]
    since: SinceReview

    @property
    def bar_name(self) -> str:
        return self.policy.name_of(self.policy.at_risk_below)


def learner_risk(session: DbSession, cohort: Cohort, learner: User, now: datetime) -> LearnerRisk:
    if not is_learner_of(session, cohort.id, learner.id):
        raise ReviewError(f"{learner.name} is not a learner of {cohort.name}.")
    ctx = _context(session, cohort, now)
    row = _make_rows(ctx, [learner])[learner.id]
    reviews = reviews_of(session, cohort.id, [learner.id]).get(learner.id, [])
    return LearnerRisk(cohort=cohort, learner=learner, today=ctx.today, policy=ctx.rules, row=row, reviews=reviews,
                       since=since_review(row, reviews[0] if reviews else None, ctx.today))


events = Namespace()
# Sent with ``session=``, ``cohort=``, ``learner=`` and ``now=`` after a review is recorded:
# the notifications feature marks the reviewer's notices of the learner's risk read.
review_recorded = events.signal("at-risk-review-recorded")


def record_review(session: DbSession, cohort: Cohort, learner: User, reviewer: User, note: str, follow_up_on: date | None,
                  now: datetime) -> AtRiskReview:
    """Record that ``reviewer`` reviewed ``learner``: the note (required), an optional
    follow-up date (today or later in the cohort's calendar) and the reasons the learner is
    at risk right now. Reviews are kept as they are: there is no edit or delete."""
    text = note.strip()
    if not text:
        raise ReviewError("Write a support note: what you saw and what was agreed.")
    if len(text) > MAX_REVIEW_NOTE:
        raise ReviewError(f"The note is {len(text)} characters long; keep it to {MAX_REVIEW_NOTE}.")
    risk = learner_risk(session, cohort, learner, now)
    if follow_up_on is not None and follow_up_on < risk.today:
        raise ReviewError(f"The follow-up date {follow_up_on:%d %b %Y} is in the past; choose today or a later day.",
                          field="follow_up_on")
    review = AtRiskReview(learner_id=learner.id, cohort_id=cohort.id, reviewer_id=reviewer.id, note=text,
                          follow_up_on=follow_up_on, reasons=[r.snapshot() for r in risk.row.reasons],
                          days_behind=risk.row.days_behind, created_at=now)
    session.add(review)
    session.flush()
    review_recorded.send(reviewer, session=session, cohort=cohort, learner=learner, now=now)
    return review


# --------------------------------------------------------------------------- the trend


def _objectives(session: DbSession) -> list[Objective]:
    return list(session.scalars(select(Objective).where(Objective.retired_at.is_(None)).order_by(Objective.position)))


def trend(session: DbSession, cohort: Cohort, now: datetime) -> list[MonthPoint]:
    """For each program month so far, the cohort's mastery at its end: the months gone by
    replayed from the evidence recorded before each ended with the program's mastery method
    (kept while that evidence is the same), the running month as its mastery stands now."""
    return _months(session, cohort, now, policy(session), _objectives(session))


def _month_ends(cohort: Cohort, today: date) -> tuple[list[date], list[date]]:
    """The ends of the cohort's program months so far (the day each next month opens), and
    those of them gone by (on or before ``today``)."""
    last = min(current_month(cohort.start_date, today), PROGRAM_MONTHS)
    ends = [month_opens_on(cohort.start_date, month + 1) for month in range(1, last + 1)]
    return ends, [day for day in ends if day <= today]


def _months(session: DbSession, cohort: Cohort, now: datetime, rules: Policy, objectives: list[Objective]) -> list[MonthPoint]:
    today = cohort_today(cohort, now)
    ends, finished = _month_ends(cohort, today)
    points = _finished_months(session, cohort, rules, objectives, finished) if finished else []
    if len(finished) < len(ends):  # the running month: each learner's mastery now
        now_levels: dict[int, list[float | None]] = defaultdict(list)
        for objective_id, level in session.execute(
                select(Mastery.objective_id, Mastery.level).join(Enrolment, Enrolment.user_id == Mastery.user_id)
                .where(Enrolment.cohort_id == cohort.id, Enrolment.active,
                       Mastery.objective_id.in_([o.id for o in objectives]))):
            now_levels[objective_id].append(level)
        points.append(_month_point(len(ends), ends[-1], today, now_levels, objectives))
    return points


# The months gone by, kept in this process: (database, their key) -> their points. New
# evidence is recorded now, in the running month, and leaves them be; withdrawn or
# regraded evidence (deleted, then recorded anew now), evidence recorded late, a learner
# joining or leaving with evidence, a new policy or curriculum, new dates or a content load
# each change the key (``_finished_key``). A process that has not kept them reads them from
# ``KeptTrend`` when the ``keep-trends`` job stored them under the same key.
FINISHED_KEPT = 64
_finished: OrderedDict[tuple[str, int, str], list[MonthPoint]] = OrderedDict()
_finished_lock = threading.Lock()


def _finished_key(session: DbSession, cohort: Cohort, rules: Policy, objectives: list[Objective], ends: list[date]) -> str:
    """What the months ending on ``ends`` are replayed from, digested: the curriculum's
    revision, the cohort, the months' ends and time zone, the policy and the revision of
    the rules that apply it (``RULES_REVISION``: months kept under an earlier rule are
    replayed), the objectives, and which evidence was recorded before the last month's end
    (``_recorded_before``). The same in every process on the same database."""
    sums = session.execute(_recorded_before(cohort, objectives, ends[-1])).one()
    parts = [content_token(session), cohort.id, [day.isoformat() for day in ends], cohort.timezone, rules.settings,
             rules.weights, RULES_REVISION, [(o.id, o.key, o.kind) for o in objectives], [str(n) for n in sums]]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _finished_months(session: DbSession, cohort: Cohort, rules: Policy, objectives: list[Objective],
                     ends: list[date]) -> list[MonthPoint]:
    digest = _finished_key(session, cohort, rules, objectives, ends)
    key = (session.get_bind().engine.url.render_as_string(hide_password=True), cohort.id, digest)
    with _finished_lock:
        found = _finished.get(key)
        if found is not None:
            _finished.move_to_end(key)
            return list(found)
    stored = session.scalar(select(KeptTrend.points).where(KeptTrend.cohort_id == cohort.id, KeptTrend.key == digest))
    points = list(stored) if stored is not None else _replay(session, cohort, rules, objectives, ends)
    with _finished_lock:
        _finished[key] = points
        while len(_finished) > FINISHED_KEPT:
            _finished.popitem(last=False)
    return list(points)


def keep_trend(session: DbSession, cohort: Cohort, now: datetime) -> bool:
    """Store the cohort's months gone by (``KeptTrend``) unless they are stored already for
    the same evidence: the ``keep-trends`` job, so that a process started since shows them
    without replaying the evidence. True when they were replayed and written. The cohort's
    row is locked while it is written; two jobs storing a cohort's first row at once: the
    second finds it (the unique key) and replaces it. Flushes only."""
    rules, objectives = policy(session), _objectives(session)
    _ends, finished = _month_ends(cohort, cohort_today(cohort, now))
    if not finished:
        return False
    digest = _finished_key(session, cohort, rules, objectives, finished)
    row = session.get(KeptTrend, cohort.id, with_for_update=True, populate_existing=True)
    if row is not None and row.key == digest:
        return False
    points = _replay(session, cohort, rules, objectives, finished)
    if row is None:
        try:
            with session.begin_nested():
                session.add(KeptTrend(cohort_id=cohort.id, key=digest, points=points, made_at=now))
            return True
        except IntegrityError:  # stored meanwhile by another job: replaced below
            row = session.get_one(KeptTrend, cohort.id, with_for_update=True, populate_existing=True)
    row.key, row.points, row.made_at = digest, points, now
    session.flush()
    return True


def forget_finished_months() -> None:
    """Drop the months this process keeps (a test starts with none kept)."""
    with _finished_lock:
        _finished.clear()


def _recorded_before(cohort: Cohort, objectives: list[Objective], day: date) -> Select[int, int]:
    """Which of the evidence the months ending before ``day`` are replayed from
    (``_evidence_before``) there is, in two numbers: how many rows, and the sum of their
    ids. Evidence is never changed in place: withdrawn or regraded, it is deleted and
    recorded anew now, with a new id (its weight changes only with the policy's weights,
    which the key holds). So a row deleted lowers the count and one recorded late raises
    it, whatever else happens at once. The statement reads the index
    ``ix_evidence_user_time`` alone, a range of it per learner (on PostgreSQL, once
    autovacuum has marked the pages visible), never the table; each aggregate more costs a
    third again on SQLite."""
    return _evidence_before(cohort, objectives, day).with_only_columns(func.count(), func.sum(Evidence.id))


def _evidence_before(cohort: Cohort, objectives: list[Objective], day: date) -> Select[Any]:
    """The cohort's current learners' evidence on ``objectives`` recorded before ``day``
    opens in the cohort's time zone."""
    return (select(Evidence.id).join(Enrolment, Enrolment.user_id == Evidence.user_id)
            .where(Enrolment.cohort_id == cohort.id, Enrolment.active,
                   Evidence.objective_id.in_([o.id for o in objectives]), Evidence.recorded_at < opens_at(cohort, day)))


def _replay(session: DbSession, cohort: Cohort, rules: Policy, objectives: list[Objective], ends: list[date]) -> list[MonthPoint]:
    """The months ending on ``ends`` (gone by): each learner's points on each objective are
    read once, in the order recorded, with the program month each falls in (worked out in
    SQL from the months' ends: no time is read per row); the method gives their level at
    the end of every month in one pass (``MasteryMethod.levels_at``)."""
    method = rules.method
    month_of = case(*((Evidence.recorded_at < opens_at(cohort, day), month) for month, day in enumerate(ends, start=1)),
                    else_=None)
    history: dict[tuple[int, int], list[Point]] = defaultdict(list)
    months: dict[tuple[int, int], list[int]] = defaultdict(list)  # the month of each point, in order
    # Core, fetched at once: plain tuples, none of the ORM's work (or a fetch call) per row (200,000s of rows)
    rows = session.connection().execute(
        _evidence_before(cohort, objectives, ends[-1])
        .with_only_columns(Evidence.user_id, Evidence.objective_id, Evidence.level, Evidence.weight, Evidence.source,
                           Evidence.source_ref, Evidence.recorded_by_id, Evidence.judge, month_of.label("month"))
        # a learner's rows together, each objective's in the order recorded: the order in
        # which SQLite reads them (its enrolments by id, then ``ix_evidence_user_time``), so
        # it sorts nothing (a quarter of the statement at 237,000 rows)
        .order_by(Enrolment.id, Evidence.recorded_at, Evidence.objective_id, Evidence.id)).all()
    joined = joined_months(session, cohort_id=cohort.id)
    for row in rows:
        pair = (row.user_id, row.objective_id)
        history[pair].append(point_of(row, joined.get(row.user_id)))
        months[pair].append(row.month)
    # month index -> objective id -> the level of each learner with evidence on it by then
    levels: list[dict[int, list[float | None]]] = [defaultdict(list) for _ in ends]
    for pair, points in history.items():
        marks = months[pair]
        cuts = [bisect_right(marks, month) for month in range(1, len(ends) + 1)]
        for index, (cut, level) in enumerate(zip(cuts, method.levels_at(points, cuts), strict=True)):
            if cut:
                levels[index][pair[1]].append(level)
    return [_month_point(index + 1, ends_on, ends_on, levels[index], objectives) for index, ends_on in enumerate(ends)]


def _month_point(month: int, ends_on: date, today: date, found: dict[int, list[float | None]],
                 objectives: list[Objective]) -> MonthPoint:
    by_kind: dict[ObjectiveKind, list[float | None]] = defaultdict(list)
    for o in objectives:
        by_kind[o.kind].extend(found.get(o.id, ()))
    return MonthPoint(month=month, ends_on=ends_on, partial=ends_on > today,
                      means={o.key: _mean(found.get(o.id, ())) for o in objectives},
                      learners={o.key: sum(1 for v in found.get(o.id, ()) if v is not None) for o in objectives},
                      kinds={kind: _mean(by_kind[kind]) for kind in KINDS})


@dataclass(frozen=True)
class TrendPage:
    cohort: Cohort
    month: int
    policy: Policy
    objectives: list[Objective]
    points: list[MonthPoint]


def trend_page(session: DbSession, cohort: Cohort, now: datetime) -> TrendPage:
    rules, objectives = policy(session), _objectives(session)
    return TrendPage(cohort=cohort, month=current_month(cohort.start_date, cohort_today(cohort, now)), policy=rules,
                     objectives=objectives, points=_months(session, cohort, now, rules, objectives))


# --------------------------------------------------------------------------- cohorts side by side


@dataclass(frozen=True)
class CohortCompetency:
    cohort: Cohort
    month: int
    learners: int                     # current learners with an open account: every figure is theirs
    means: list[Cell]                 # per objective: the cohort's mean (evidence = learners with evidence)
    # per objective: how many of the current learners are at the at-risk bar (proficient) or
    # above: a mean coloured proficient may hide learners below it
    at_bar: list[int]
    # share of learner-objective cells at or above the at-risk bar, each learner over the
    # objectives whose teaching has started on their own dates (``AtBar``; None: no learners,
    # or none started)
    proficient: float | None
    at_risk: int
    completion: list[FunnelStep]
    closed: int = 0             # current learners with a closed account, left out of every figure
    fewer_taught: bool = False  # some learners joined late at their own pace: the share counts fewer objectives for them

    @property
    def stage(self) -> CohortStage:
        """Not started, under way or finished: as the cohort lists say (``lms.cohorts.calendar``)."""
        return stage_at(self.month)


@dataclass(frozen=True)
class Comparison:
    organization: Organization
    policy: Policy
    legend: list[Band]
    objectives: list[Objective]
    levels: list[Level]
    cohorts: list[CohortCompetency]

    @property
    def bar_name(self) -> str:
        return self.policy.name_of(self.policy.at_risk_below)

    @property
    def closed_accounts(self) -> int:
        """Current learners with a closed account across the cohorts, left out of the figures."""
        return sum(c.closed for c in self.cohorts)


def risk_counts(session: DbSession, cohorts: Sequence[Cohort], todays: dict[int, date], columns: Sequence[Column],
                rules: Policy) -> dict[int, int]:
    """Cohort id -> how many of its current learners are at risk today (more than
    ``BEHIND_AFTER_DAYS`` days behind, or a closed objective with no evidence or below the
    bar, as their rows' reasons count): one statement over the kept state, whatever the
    number of cohorts and learners."""
    if not cohorts:
        return {}
    state.settle(session)
    ids = [c.id for c in cohorts]
    kept, line = ProgressObjective, ProgressLearner
    # Cohorts grouped by their today (usually one day for all): a condition per distinct
    # day, not a CASE over every cohort evaluated on every kept row (a third of the time).
    by_day: dict[date, list[int]] = defaultdict(list)
    for cohort_id in ids:
        by_day[todays[cohort_id]].append(cohort_id)
    closed = or_(*(and_(kept.cohort_id.in_(group), kept.closes_on <= day) for day, group in by_day.items()))
    behind = or_(*(and_(Enrolment.cohort_id.in_(group), line.oldest_due < day - timedelta(days=BEHIND_AFTER_DAYS))
                   for day, group in by_day.items()))
    weak = (select(kept.user_id).outerjoin(Mastery, and_(Mastery.user_id == kept.user_id, Mastery.objective_id == kept.objective_id))
            .where(kept.cohort_id.in_(ids), kept.objective_id.in_([c.objective.id for c in columns]), closed,
                   or_(Mastery.level.is_(None), Mastery.level < rules.at_risk_below)))
    closed = select(User.id).where(User.id == Enrolment.user_id, User.deactivated_at.is_not(None)).exists()
    # learners whose program is over (``program_over``) are at risk of nothing, as on the heat map
    over = or_(*(and_(Enrolment.cohort_id == c.id, program_over(c, todays[c.id])) for c in cohorts))
    query = (select(Enrolment.cohort_id, func.count())
             .outerjoin(line, and_(line.user_id == Enrolment.user_id, line.cohort_id == Enrolment.cohort_id))
             .where(Enrolment.cohort_id.in_(ids), Enrolment.active, or_(behind, Enrolment.user_id.in_(weak)), ~closed, ~over)
             .group_by(Enrolment.cohort_id))
    return {cohort_id: int(count) for cohort_id, count in session.execute(query)}


def learner_counts(session: DbSession, cohort_ids: Sequence[int]) -> dict[int, int]:
    """Cohort id -> how many current learners: one statement."""
    if not cohort_ids:
        return {}
    query = (select(Enrolment.cohort_id, func.count()).where(Enrolment.cohort_id.in_(list(cohort_ids)), Enrolment.active)
             .group_by(Enrolment.cohort_id))
    return {cohort_id: int(count) for cohort_id, count in session.execute(query)}


def compare(session: DbSession, organization: Organization, now: datetime) -> Comparison:
    """The organization's cohorts side by side, in a fixed number of statements whatever the
    number of cohorts and learners: every figure is an aggregate in SQL (GROUP BY cohort),
    nothing is read or worked out per learner."""
    rules = policy(session)
    objectives = objectives_with_modules(session)
    levels = kept_levels(session)
    # Newest first, as the organization's page lists them.
    cohorts = list(session.scalars(select(Cohort).where(Cohort.organization_id == organization.id)
                                   .order_by(Cohort.start_date.desc(), Cohort.name)))
    ids = [c.id for c in cohorts]
    todays = {c.id: cohort_today(c, now) for c in cohorts}
    oldest = cohorts[-1] if cohorts else None
    columns = columns_for(session, objectives, oldest, todays[oldest.id]) if oldest else []
    # Learners with a closed account are left out of every figure (counted apart, as the heat map's header does).
    heads = headcounts(session, cohorts, todays, set(teaching_months(objectives).values()))
    figures = objective_figures(session, cohorts, todays, columns, rules, open_only=True)
    risky = risk_counts(session, cohorts, todays, columns, rules)
    funnels = state.funnel_counts(session, ids, open_only=True)
    result = []
    for cohort in cohorts:
        month = current_month(cohort.start_date, todays[cohort.id])
        head = heads.get(cohort.id, Headcount())
        means, reached = [], []
        for column in columns:
            found = figures.get((cohort.id, column.objective.id))
            mean = found.mean if found else None
            means.append(Cell(level=mean, name=rules.name_of(mean), rank=rules.rank_of(mean), evidence=found.present if found else 0))
            reached.append(found.proficient if found else 0)
        at_bar = share_at_bar(cohort, objectives, todays[cohort.id], figures, head)
        result.append(CohortCompetency(cohort=cohort, month=month, learners=head.open, closed=head.closed, means=means,
                                       at_bar=reached, proficient=at_bar.share, fewer_taught=at_bar.fewer_taught,
                                       at_risk=risky.get(cohort.id, 0),
                                       completion=_funnel(funnels.get(cohort.id, {}), head.open, levels, month)))
    return Comparison(organization=organization, policy=rules, legend=bands(rules), objectives=objectives,
                      levels=levels, cohorts=result)


def cohort_stamp(cohort_id: ColumnElement[int], now: ColumnElement[datetime]) -> list[ColumnElement[Any]]:
    """What a cohort's kept heat map (``lms.web.page_cache``) shows from this feature: the
    at-risk reviews recorded (they are never edited) with their reviewers' names (the
    curriculum's revision, the objectives, levels and mastery policy, is the catalog's input)."""
    return [select(fingerprint(AtRiskReview.id, User.name)).select_from(AtRiskReview)
            .join(User, User.id == AtRiskReview.reviewer_id).where(AtRiskReview.cohort_id == cohort_id).scalar_subquery()]
