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

from abc import ABC, abstractmethod
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from lms.accounts.models import User
from lms.catalog.models import KINDS, Level, Module, Objective, ObjectiveKind
from lms.catalog.services import active_levels
from lms.cohorts.enrolment import is_learner_of
from lms.cohorts.models import Cohort, Enrolment, Organization
from lms.competency.models import MAX_REVIEW_NOTE, AtRiskReview, ReasonKind, ReasonSnapshot
from lms.database import DbSession
from lms.learning.services import (
    PROGRAM_MONTHS,
    Timeline,
    catch_up_days,
    cohort_today,
    current_month,
    joined_timeline,
    month_opens_on,
    opens_at,
)
from lms.progress import state
from lms.progress.completion import BEHIND_AFTER_DAYS
from lms.progress.methods import Point
from lms.progress.models import Evidence, ItemKind, Mastery
from lms.progress.services import Policy, policy

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


@dataclass(frozen=True)
class Cell:
    level: float | None
    name: str
    rank: int
    evidence: int

    @property
    def label(self) -> str:
        return "–" if self.level is None else f"{self.level:.1f}"


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


@dataclass(frozen=True)
class Row:
    """One learner of the heat map. ``levels`` holds (level, evidence count) per column;
    the ``cells`` are made from them when read (a page renders a hundred rows, not all)."""

    user: User
    levels: tuple[tuple[float | None, int], ...]
    mean: float | None
    days_behind: int
    reasons: list[Reason]
    rules: Policy = field(repr=False, compare=False)

    @property
    def at_risk(self) -> bool:
        return bool(self.reasons)

    @cached_property
    def cells(self) -> list[Cell]:
        rules = self.rules
        return [Cell(level=level, name=rules.name_of(level), rank=rules.rank_of(level), evidence=count)
                for level, count in self.levels]


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


class SortOrder(ABC):
    """How the heat map's rows can be ordered: a registry of small classes."""

    @abstractmethod
    def key(self, row: Row) -> Any: ...


class ByName(SortOrder):
    def key(self, row: Row) -> Any:
        return (row.user.name.lower(), row.user.id)


class ByMean(SortOrder):
    def key(self, row: Row) -> Any:
        return -1.0 if row.mean is None else row.mean


class ByRisk(SortOrder):
    def key(self, row: Row) -> Any:
        return (row.at_risk, len(row.reasons), row.days_behind)


class ByObjective(SortOrder):
    def __init__(self, index: int) -> None:
        self.index = index

    def key(self, row: Row) -> Any:
        level = row.levels[self.index][0]
        return -1.0 if level is None else level


SORTS: dict[str, SortOrder] = {"name": ByName(), "mean": ByMean(), "risk": ByRisk()}
DEFAULT_SORT = "name"


def sort_order(sort: str | None, columns: Sequence[Column]) -> tuple[str, SortOrder]:
    """The sort asked for, or by name when it is unknown. Objective codes sort by that column."""
    if sort is not None and sort in SORTS:
        return sort, SORTS[sort]
    index = next((i for i, c in enumerate(columns) if c.code == sort), None)
    if index is not None:
        return columns[index].code, ByObjective(index)
    return DEFAULT_SORT, SORTS[DEFAULT_SORT]


def sort_rows(rows: Iterable[Row], order: SortOrder, descending: bool, by_name: bool = False) -> list[Row]:
    """Ties keep alphabetical order (the sort is stable), both ways. ``by_name``: the rows
    already come in name order (as ``learners_of`` gives them)."""
    named = list(rows) if by_name else sorted(rows, key=ByName().key)
    if isinstance(order, ByName) and not descending:
        return named
    return sorted(named, key=order.key, reverse=descending)


# --------------------------------------------------------------------------- shared loading


def objectives_with_modules(session: DbSession) -> list[Objective]:
    """The active objectives in order, with their modules and the modules' phases (3 statements)."""
    return list(session.scalars(
        select(Objective).where(Objective.retired_at.is_(None)).order_by(Objective.position)
        .options(selectinload(Objective.modules).selectinload(Module.phases))))


def learners_of(session: DbSession, cohort_ids: Sequence[int]) -> dict[int, list[User]]:
    """Each cohort's current learners by name, in one statement."""
    result: dict[int, list[User]] = {cid: [] for cid in cohort_ids}
    if not cohort_ids:
        return result
    rows = session.execute(select(Enrolment.cohort_id, User).join(User, User.id == Enrolment.user_id)
                           .where(Enrolment.cohort_id.in_(list(cohort_ids)), Enrolment.ended_at.is_(None))
                           .order_by(User.name, User.id))
    for cohort_id, user in rows:
        result[cohort_id].append(user)
    return result


def grid_query(cohort_ids: Sequence[int]) -> Any:
    """The one aggregate statement behind the heat map: every mastery row of the cohorts'
    current learners (user, objective, level, evidence count)."""
    return (select(Mastery.user_id, Mastery.objective_id, Mastery.level, Mastery.evidence_count)
            .join(Enrolment, Enrolment.user_id == Mastery.user_id)
            .where(Enrolment.cohort_id.in_(list(cohort_ids)), Enrolment.ended_at.is_(None)))


def mastery_grid(session: DbSession, cohort_ids: Sequence[int],
                 user_ids: Sequence[int] | None = None) -> dict[tuple[int, int], tuple[float | None, int]]:
    """(user id, objective id) -> (level, evidence count), in one statement."""
    if not cohort_ids:
        return {}
    query = grid_query(cohort_ids)
    if user_ids is not None:
        query = query.where(Mastery.user_id.in_(list(user_ids)))
    return {(u, o): (level, count) for u, o, level, count in session.execute(query)}


def closes_on(objective: Objective, timeline: Timeline) -> date | None:
    """The day the last phase of the objective's active modules is due on ``timeline`` (the
    cohort's dates, or one learner's own)."""
    days = [timeline.phase_dates(phase.month)[1]
            for module in objective.modules if module.active for phase in module.phases if phase.active]
    return max(days, default=None)


def columns_for(objectives: Sequence[Objective], cohort: Cohort, today: date) -> list[Column]:
    columns = []
    for objective in objectives:
        day = closes_on(objective, Timeline(cohort.start_date))
        columns.append(Column(objective=objective, closes_on=day, closed=day is not None and day <= today))
    return columns


@dataclass(frozen=True)
class Standing:
    """One learner's place on their schedule today, read from the kept state
    (``lms.progress.state``): their timeline, days behind and, when behind, the overdue
    assessed items oldest first."""

    timeline: Timeline
    today: date
    days_behind: int = 0
    overdue: tuple[state.OverdueRow, ...] = ()

    @property
    def behind(self) -> bool:
        return self.days_behind > BEHIND_AFTER_DAYS


@dataclass(frozen=True)
class Learner:
    """A current learner of a cohort with their enrolment's start and pace."""

    user: User
    started_at: datetime
    pace: Any


def enrolled(session: DbSession, cohort_ids: Sequence[int], user_ids: Sequence[int] | None = None) -> dict[int, list[Learner]]:
    """Each cohort's current learners by name with their enrolment's start and pace: one statement."""
    result: dict[int, list[Learner]] = {cid: [] for cid in cohort_ids}
    if not cohort_ids:
        return result
    query = (select(Enrolment.cohort_id, Enrolment.started_at, Enrolment.pace, User).join(User, User.id == Enrolment.user_id)
             .where(Enrolment.cohort_id.in_(list(cohort_ids)), Enrolment.ended_at.is_(None)).order_by(User.name, User.id))
    if user_ids is not None:
        query = query.where(Enrolment.user_id.in_(list(user_ids)))
    for cohort_id, started_at, pace, user in session.execute(query):
        result[cohort_id].append(Learner(user=user, started_at=started_at, pace=pace))
    return result


def standings_from(cohort: Cohort, learners: Sequence[Learner], today: date, behind: dict[int, int],
                   items: dict[int, list[state.OverdueRow]] | None = None) -> dict[int, Standing]:
    """Standings from what was read: days behind, and the overdue items (None: not read)."""
    items = items or {}
    days = catch_up_days()
    cohort_line = Timeline(cohort.start_date, days_per_month=days)
    start = opens_at(cohort, cohort.start_date)
    result = {}
    for learner in learners:
        uid = learner.user.id
        # Joined on or before the start: the cohort's own dates (no time zone work needed).
        timeline = cohort_line if learner.started_at < start else joined_timeline(cohort, learner.started_at, learner.pace, days)
        result[uid] = Standing(timeline=timeline, today=today, days_behind=behind.get(uid, 0), overdue=tuple(items.get(uid, ())))
    return result


def learner_columns(columns: Sequence[Column], learner: Standing | None,
                    cache: dict[Timeline, list[Column]] | None = None) -> Sequence[Column]:
    """The columns as they close for one learner: on their own dates when they joined late."""
    if learner is None or not learner.timeline.late:
        return columns
    if cache is not None and learner.timeline in cache:
        return cache[learner.timeline]
    result = []
    for column in columns:
        day = closes_on(column.objective, learner.timeline)
        result.append(Column(objective=column.objective, closes_on=day, closed=day is not None and day <= learner.today))
    if cache is not None:
        cache[learner.timeline] = result
    return result


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None


def _below_bar(users: Sequence[User], columns: Sequence[Column], grid: dict[tuple[int, int], tuple[float | None, int]],
               rules: Policy) -> set[tuple[int, int]]:
    """(user id, objective id) of each closed objective a learner has evidence on and is below the bar."""
    result = set()
    bar = rules.at_risk_below
    closed = [column.objective.id for column in columns if column.closed]
    for user in users:
        for oid in closed:
            found = grid.get((user.id, oid))
            if found is not None and found[0] is not None and found[0] < bar:
                result.add((user.id, oid))
    return result


def fell_below(session: DbSession, cohort: Cohort, pairs: set[tuple[int, int]], rules: Policy) -> dict[tuple[int, int], date]:
    if not pairs:
        return {}
    return _fell_below(session, cohort, pairs, rules)


def _fell_below(session: DbSession, cohort: Cohort, pairs: set[tuple[int, int]], rules: Policy) -> dict[tuple[int, int], date]:
    """For each (user id, objective id) in ``pairs``: the day (in the cohort's time zone) of
    the evidence that took the learner's mastery below the at-risk bar for the last time,
    replaying their evidence with the program's method. One statement whatever the pairs."""
    users = sorted({u for u, _o in pairs})
    objectives = sorted({o for _u, o in pairs})
    rows = session.execute(
        select(Evidence.user_id, Evidence.objective_id, Evidence.level, Evidence.weight, Evidence.recorded_at)
        .where(Evidence.user_id.in_(users), Evidence.objective_id.in_(objectives))
        .order_by(Evidence.recorded_at, Evidence.id))
    points: dict[tuple[int, int], list[Point]] = defaultdict(list)
    since: dict[tuple[int, int], datetime | None] = {}
    for user_id, objective_id, level, weight, recorded_at in rows:
        pair = (user_id, objective_id)
        if pair not in pairs:
            continue
        points[pair].append(Point(level=level, weight=weight))
        now_level = rules.method.level(points[pair])
        if now_level is None or now_level >= rules.at_risk_below:
            since[pair] = None
        elif since.get(pair) is None:
            since[pair] = recorded_at
    zone = ZoneInfo(cohort.timezone)
    return {pair: at.astimezone(zone).date() for pair, at in since.items() if at is not None}


def _reasons(cohort: Cohort, user: User, columns: Sequence[Column], levels: Sequence[tuple[float | None, int]],
             learner: Standing | None, fell: dict[tuple[int, int], date], rules: Policy,
             cache: dict[Timeline, list[Column]] | None = None) -> list[Reason]:
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
    for column, (level, _count) in zip(columns, levels, strict=True):
        if not column.closed or column.closes_on is None:
            continue
        link = _learner_page(cohort.id, user.id, f"objective-{column.code}")
        if level is None:
            reasons.append(Reason(kind=ReasonKind.NO_EVIDENCE, text=f"{column.code} has no evidence after its modules closed",
                                  since=column.closes_on, link=link, objective=column.code))
        elif level < rules.at_risk_below:
            went = fell.get((user.id, column.objective.id))
            reasons.append(Reason(kind=ReasonKind.BELOW_BAR, text=f"{column.code} below {bar_name} after its modules closed",
                                  since=max(went, column.closes_on) if went else column.closes_on, link=link,
                                  objective=column.code))
    return reasons


def _rows(cohort: Cohort, users: Sequence[User], columns: Sequence[Column],
          grid: dict[tuple[int, int], tuple[float | None, int]], progress: dict[int, Standing], rules: Policy,
          fell: dict[tuple[int, int], date] | None = None) -> list[Row]:
    """One row per learner. ``fell`` (from ``fell_below``) dates the reasons "below the bar";
    without it they are dated from the objective's closing day."""
    rows = []
    nothing = (None, 0)
    objective_ids = [column.objective.id for column in columns]
    cache: dict[Timeline, list[Column]] = {}
    for user in users:
        uid = user.id
        levels = tuple(grid.get((uid, oid), nothing) for oid in objective_ids)
        learner = progress.get(uid)
        days = learner.days_behind if learner is not None else 0
        reasons = _reasons(cohort, user, columns, levels, learner, fell or {}, rules, cache)
        rows.append(Row(user=user, levels=levels, mean=_mean(level for level, _count in levels), days_behind=days,
                        reasons=reasons, rules=rules))
    return rows


def _distributions(columns: Sequence[Column], rows: Sequence[Row], legend: Sequence[Band], rules: Policy) -> list[Distribution]:
    result = []
    total = len(rows)
    bounds = sorted(rules.thresholds.values())
    for index, column in enumerate(columns):
        counts: dict[int, int] = defaultdict(int)
        for row in rows:
            level = row.levels[index][0]
            # rank_of: 0 for no evidence, else how many named levels it reaches (at least 1)
            counts[0 if level is None else (bisect_right(bounds, level) or 1)] += 1
        shares = [Share(band=b, count=counts[b.rank], share=counts[b.rank] / total if total else 0.0) for b in legend]
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


@dataclass(frozen=True)
class _Loaded:
    """What a cohort's rows are computed from."""

    rules: Policy
    objectives: list[Objective]
    today: date
    columns: list[Column]
    rows: list[Row]
    progress: dict[int, Standing]
    grid: dict[tuple[int, int], tuple[float | None, int]]


def _load_rows(session: DbSession, cohort: Cohort, learners: list[Learner], now: datetime,
               only: Sequence[int] | None = None) -> _Loaded:
    """The rows of ``learners`` (``only``: their ids, to read one learner's state alone),
    their reasons not yet dated (``_dated``)."""
    rules = policy(session)
    objectives = objectives_with_modules(session)
    grid = mastery_grid(session, [cohort.id], only)
    today = cohort_today(cohort, now)
    progress = standings_from(cohort, learners, today, state.days_behind(session, [cohort.id], {cohort.id: today}, only))
    columns = columns_for(objectives, cohort, today)
    rows = _rows(cohort, [learner.user for learner in learners], columns, grid, progress, rules)
    return _Loaded(rules=rules, objectives=objectives, today=today, columns=columns, rows=rows, progress=progress, grid=grid)


def _dated(session: DbSession, cohort: Cohort, loaded: _Loaded, rows: Iterable[Row]) -> dict[int, Row]:
    """``rows`` at risk again, their reasons complete: the overdue items of those behind
    listed, "below the bar" dated from the evidence that took them there (two statements
    whatever the number of rows; a page dates the rows it shows, an export all of them)."""
    risky = [r for r in rows if r.at_risk]
    if not risky:
        return {}
    behind = [r.user.id for r in risky if loaded.progress[r.user.id].behind]
    items = state.overdue_items(session, cohort.id, loaded.today, behind)
    users = [r.user for r in risky]
    fell = fell_below(session, cohort, _below_bar(users, loaded.columns, loaded.grid, loaded.rules), loaded.rules)
    progress = {uid: replace(loaded.progress[uid], overdue=tuple(items.get(uid, ()))) for uid in (u.id for u in users)}
    return {r.user.id: r for r in _rows(cohort, users, loaded.columns, loaded.grid, progress, loaded.rules, fell)}


@dataclass(frozen=True)
class Paging:
    """One page of a longer list: which page, how many pages, how many items in all."""

    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page

    def slice(self, items: Sequence[Any]) -> list[Any]:
        return list(items[self.first:self.first + self.per_page])

    @property
    def shown_from(self) -> int:
        return min(self.first + 1, self.total)

    @property
    def shown_to(self) -> int:
        return min(self.first + self.per_page, self.total)


def paging(page: int | None, per_page: int, total: int) -> Paging:
    """Page ``page`` (1-based; out of range: the nearest page there is)."""
    pages = max((total + per_page - 1) // per_page, 1)
    return Paging(page=min(max(page or 1, 1), pages), per_page=per_page, total=total)


@dataclass(frozen=True)
class HeatMap:
    cohort: Cohort
    today: date
    month: int
    policy: Policy
    legend: list[Band]
    columns: list[Column]
    rows: list[Row]  # every learner of the cohort, sorted (the exports)
    distributions: list[Distribution]
    funnel: list[FunnelStep]
    sort: str
    descending: bool
    reviews: dict[int, SinceReview]  # each at-risk learner's last review and what changed since
    shown: list[Row] = field(default_factory=list)  # this page's rows, sorted and filtered over the cohort
    paging: Paging = field(default_factory=lambda: Paging(1, PER_PAGE, 0))
    risk_paging: Paging = field(default_factory=lambda: Paging(1, AT_RISK_PER_PAGE, 0))
    query: str = ""        # the name or email filter
    risk_only: bool = False  # only the learners at risk

    def review_of(self, row: Row) -> SinceReview:
        return self.reviews.get(row.user.id) or since_review(row, None, self.today)

    @cached_property
    def at_risk(self) -> list[Row]:
        """The learners at risk, the most reasons and days behind first."""
        return sort_rows((r for r in self.rows if r.at_risk), SORTS["risk"], descending=True)

    @property
    def at_risk_shown(self) -> list[Row]:
        """This page of the at-risk list."""
        return self.risk_paging.slice(self.at_risk)

    @property
    def learners(self) -> int:
        return len(self.rows)

    @property
    def filtered(self) -> bool:
        return bool(self.query) or self.risk_only

    @property
    def bar_name(self) -> str:
        return self.policy.name_of(self.policy.at_risk_below)

    @property
    def stages(self) -> tuple[tuple[str, str], ...]:
        return FunnelStep.STAGES

    def direction_for(self, sort: str) -> str:
        """The direction a column header link asks for: reversed when already sorted by it."""
        return "desc" if sort == self.sort and not self.descending else "asc"


def _matches(row: Row, query: str, risk_only: bool) -> bool:
    if risk_only and not row.at_risk:
        return False
    return not query or query in row.user.name.lower() or query in row.user.email.lower()


def heat_map(session: DbSession, cohort: Cohort, now: datetime, sort: str | None = None,
             descending: bool = False, page: int | None = 1, query: str = "", risk_only: bool = False,
             risk_page: int | None = 1, date_all: bool = True) -> HeatMap:
    """The cohort's learners against the active objectives, sorted server-side over the
    whole cohort, filtered by name or email (``query``) or to those at risk, ``PER_PAGE``
    at a time; distributions, the funnel and the at-risk learners (with their last review,
    ``AT_RISK_PER_PAGE`` at a time) over the whole cohort. Every at-risk row's reasons are
    complete (overdue items, dates from the evidence) with ``date_all`` (exports), else
    those of the at-risk list's page (the map's rows show the reasons' texts only)."""
    learners = enrolled(session, [cohort.id])[cohort.id]
    loaded = _load_rows(session, cohort, learners, now)
    rules, today, columns, rows = loaded.rules, loaded.today, loaded.columns, loaded.rows
    levels = active_levels(session)
    month = current_month(cohort.start_date, today)
    legend = bands(rules)
    chosen, order = sort_order(sort, columns)
    ordered = sort_rows(rows, order, descending)
    wanted = query.strip().lower()
    picked = [r for r in ordered if _matches(r, wanted, risk_only)] if wanted or risk_only else ordered
    pages = paging(page, PER_PAGE, len(picked))
    risky = sum(1 for r in rows if r.at_risk)
    risk_pages = paging(risk_page, AT_RISK_PER_PAGE, risky)
    risk_rows = sort_rows((r for r in rows if r.at_risk), SORTS["risk"], descending=True)
    # The map's rows show reasons' texts only; the at-risk list shows their dates and overdue items.
    dated = _dated(session, cohort, loaded, ordered if date_all else risk_pages.slice(risk_rows))
    if dated:
        ordered = [dated.get(r.user.id, r) for r in ordered]
        picked = [dated.get(r.user.id, r) for r in picked]
    heat = HeatMap(cohort=cohort, today=today, month=month, policy=rules, legend=legend, columns=columns,
                   rows=ordered, distributions=_distributions(columns, rows, legend, rules),
                   funnel=_funnel(state.funnel_counts(session, [cohort.id]).get(cohort.id, {}), len(rows), levels, month),
                   sort=chosen, descending=descending, reviews={}, shown=pages.slice(picked), paging=pages,
                   risk_paging=risk_pages, query=query.strip(), risk_only=risk_only)
    # Reviews: of the learners at risk on this page of the list and in the map's page (a page), or all.
    if date_all:  # every at-risk learner's (callers look at them all)
        wanted_reviews = {r.user.id for r in heat.at_risk}
    else:
        wanted_reviews = {r.user.id for r in heat.at_risk_shown} | {r.user.id for r in heat.shown if r.at_risk}
    reviews = latest_reviews(session, cohort.id, sorted(wanted_reviews))
    heat.reviews.update({r.user.id: since_review(r, reviews.get(r.user.id), today)
                         for r in heat.rows if r.user.id in wanted_reviews})
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
    loaded = _load_rows(session, cohort, enrolled(session, [cohort.id], [learner.id])[cohort.id], now, [learner.id])
    row = _dated(session, cohort, loaded, loaded.rows).get(learner.id, loaded.rows[0])
    reviews = reviews_of(session, cohort.id, [learner.id]).get(learner.id, [])
    return LearnerRisk(cohort=cohort, learner=learner, today=loaded.today, policy=loaded.rules, row=row, reviews=reviews,
                       since=since_review(row, reviews[0] if reviews else None, loaded.today))


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
    return review


# --------------------------------------------------------------------------- the trend


@dataclass(frozen=True)
class MonthPoint:
    """The cohort's mastery as of the end of one program month."""

    month: int
    ends_on: date                      # the day the next month opens
    partial: bool                      # the month is still running: figures as of now
    means: dict[str, float | None]     # objective code -> mean over learners with evidence
    learners: dict[str, int]           # objective code -> learners with evidence by then
    kinds: dict[ObjectiveKind, float | None]  # objective kind -> mean over its learner-objective levels


def _objectives(session: DbSession) -> list[Objective]:
    return list(session.scalars(select(Objective).where(Objective.retired_at.is_(None)).order_by(Objective.position)))


def trend(session: DbSession, cohort: Cohort, now: datetime) -> list[MonthPoint]:
    """For each program month so far, replay the evidence recorded before the month ended
    with the program's mastery method. Three statements whatever the evidence."""
    return _replay(session, cohort, now, policy(session), _objectives(session))


def _replay(session: DbSession, cohort: Cohort, now: datetime, rules: Policy, objectives: list[Objective]) -> list[MonthPoint]:
    method = rules.method
    active = {o.id: o for o in objectives}
    evidence = session.execute(
        select(Evidence.user_id, Evidence.objective_id, Evidence.level, Evidence.weight, Evidence.recorded_at)
        .join(Enrolment, Enrolment.user_id == Evidence.user_id)
        .where(Enrolment.cohort_id == cohort.id, Enrolment.ended_at.is_(None))
        .order_by(Evidence.recorded_at, Evidence.id)).all()
    today = cohort_today(cohort, now)
    last = min(current_month(cohort.start_date, today), PROGRAM_MONTHS)
    points: dict[tuple[int, int], list[Point]] = defaultdict(list)
    levels: dict[int, dict[int, float | None]] = defaultdict(dict)  # objective id -> user id -> level
    result: list[MonthPoint] = []
    position = 0
    for month in range(1, last + 1):
        ends_on = month_opens_on(cohort.start_date, month + 1)
        end = opens_at(cohort, ends_on)
        changed: set[tuple[int, int]] = set()
        while position < len(evidence) and evidence[position].recorded_at < end:
            user_id, objective_id, level, weight, _at = evidence[position]
            position += 1
            if objective_id in active:
                points[(user_id, objective_id)].append(Point(level=level, weight=weight))
                changed.add((user_id, objective_id))
        for user_id, objective_id in changed:
            levels[objective_id][user_id] = method.level(points[(user_id, objective_id)])
        by_kind: dict[ObjectiveKind, list[float | None]] = defaultdict(list)
        for o in objectives:
            by_kind[o.kind].extend(levels[o.id].values())
        result.append(MonthPoint(
            month=month, ends_on=ends_on, partial=ends_on > today,
            means={o.key: _mean(levels[o.id].values()) for o in objectives},
            learners={o.key: sum(1 for v in levels[o.id].values() if v is not None) for o in objectives},
            kinds={kind: _mean(by_kind[kind]) for kind in KINDS}))
    return result


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
                     objectives=objectives, points=_replay(session, cohort, now, rules, objectives))


# --------------------------------------------------------------------------- cohorts side by side


@dataclass(frozen=True)
class CohortCompetency:
    cohort: Cohort
    month: int
    learners: int
    means: list[Cell]                 # per objective: the cohort's mean (evidence = learners with evidence)
    proficient: float | None          # share of learner-objective cells at or above the at-risk bar
    at_risk: int
    completion: list[FunnelStep]


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


def compare(session: DbSession, organization: Organization, now: datetime) -> Comparison:
    """The organization's cohorts side by side, in a fixed number of statements whatever the
    number of cohorts and learners."""
    rules = policy(session)
    objectives = objectives_with_modules(session)
    levels = active_levels(session)
    cohorts = list(session.scalars(select(Cohort).where(Cohort.organization_id == organization.id)
                                   .order_by(Cohort.start_date, Cohort.name)))
    ids = [c.id for c in cohorts]
    learners = enrolled(session, ids)
    grid = mastery_grid(session, ids)
    todays = {c.id: cohort_today(c, now) for c in cohorts}
    behind = state.days_behind(session, ids, todays)
    funnels = state.funnel_counts(session, ids)
    result = []
    for cohort in cohorts:
        today = todays[cohort.id]
        month = current_month(cohort.start_date, today)
        columns = columns_for(objectives, cohort, today)
        mine = learners[cohort.id]
        progress = standings_from(cohort, mine, today, behind)
        rows = _rows(cohort, [learner.user for learner in mine], columns, grid, progress, rules)
        means = []
        for index in range(len(columns)):
            values = [r.levels[index][0] for r in rows]
            mean = _mean(values)
            means.append(Cell(level=mean, name=rules.name_of(mean), rank=rules.rank_of(mean),
                              evidence=sum(1 for v in values if v is not None)))
        cells = [level for r in rows for level, _count in r.levels]
        proficient = (sum(1 for v in cells if v is not None and v >= rules.at_risk_below) / len(cells)) if cells else None
        result.append(CohortCompetency(cohort=cohort, month=month, learners=len(rows), means=means, proficient=proficient,
                                       at_risk=sum(1 for r in rows if r.at_risk),
                                       completion=_funnel(funnels.get(cohort.id, {}), len(rows), levels, month)))
    return Comparison(organization=organization, policy=rules, legend=bands(rules), objectives=objectives,
                      levels=levels, cohorts=result)
