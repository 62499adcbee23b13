"""Cohort competency: the heat map of learners against the objectives, its distributions,
the level completion funnel and the learners at risk; the cohort's mastery month by month;
an organization's cohorts side by side.

Read only (never flushes). Every function runs a fixed number of statements whatever the
number of learners, evidence rows or cohorts: one query for the mastery grid, one for the
learners, the objectives with their modules, and ``cohorts_progress`` for the schedule."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lms.accounts.models import User
from lms.catalog.models import KINDS, Level, Module, Objective, ObjectiveKind
from lms.catalog.services import active_levels
from lms.cohorts.models import Cohort, Enrolment, Organization
from lms.database import DbSession
from lms.learning.services import PROGRAM_MONTHS, cohort_today, current_month, month_opens_on, opens_at
from lms.progress.completion import LearnerProgress, LevelStatus, cohorts_progress
from lms.progress.methods import Point
from lms.progress.models import Evidence, Mastery
from lms.progress.services import Policy, policy

NO_EVIDENCE = "no evidence"


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
class Row:
    user: User
    cells: list[Cell]
    mean: float | None
    days_behind: int
    reasons: list[str]

    @property
    def at_risk(self) -> bool:
        return bool(self.reasons)


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
        level = row.cells[self.index].level
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


def sort_rows(rows: Iterable[Row], order: SortOrder, descending: bool) -> list[Row]:
    """Ties keep alphabetical order (the sort is stable), both ways."""
    by_name = sorted(rows, key=ByName().key)
    return sorted(by_name, key=order.key, reverse=descending)


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


def mastery_grid(session: DbSession, cohort_ids: Sequence[int]) -> dict[tuple[int, int], tuple[float | None, int]]:
    """(user id, objective id) -> (level, evidence count), in one statement."""
    if not cohort_ids:
        return {}
    return {(u, o): (level, count) for u, o, level, count in session.execute(grid_query(cohort_ids))}


def closes_on(objective: Objective, start: date) -> date | None:
    """The day the last phase of the objective's active modules is due in a cohort that
    started on ``start`` (a phase is due when the next month opens)."""
    days = [month_opens_on(start, phase.month + 1)
            for module in objective.modules if module.active for phase in module.phases if phase.active]
    return max(days, default=None)


def columns_for(objectives: Sequence[Objective], cohort: Cohort, today: date) -> list[Column]:
    columns = []
    for objective in objectives:
        day = closes_on(objective, cohort.start_date)
        columns.append(Column(objective=objective, closes_on=day, closed=day is not None and day <= today))
    return columns


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None


def _rows(users: Sequence[User], columns: Sequence[Column], grid: dict[tuple[int, int], tuple[float | None, int]],
          progress: dict[int, LearnerProgress], rules: Policy) -> list[Row]:
    bar_name = rules.name_of(rules.at_risk_below)
    rows = []
    for user in users:
        cells = []
        for column in columns:
            level, count = grid.get((user.id, column.objective.id), (None, 0))
            cells.append(Cell(level=level, name=rules.name_of(level), rank=rules.rank_of(level), evidence=count))
        learner = progress.get(user.id)
        days = learner.days_behind if learner is not None else 0
        reasons = [f"{days} days behind schedule"] if learner is not None and learner.behind else []
        for column, cell in zip(columns, cells, strict=True):
            if not column.closed:
                continue
            if cell.level is None:
                reasons.append(f"{column.code} has no evidence after its modules closed")
            elif cell.level < rules.at_risk_below:
                reasons.append(f"{column.code} below {bar_name} after its modules closed")
        rows.append(Row(user=user, cells=cells, mean=_mean(c.level for c in cells), days_behind=days, reasons=reasons))
    return rows


def _distributions(columns: Sequence[Column], rows: Sequence[Row], legend: Sequence[Band]) -> list[Distribution]:
    result = []
    total = len(rows)
    for index, column in enumerate(columns):
        counts: dict[int, int] = defaultdict(int)
        for row in rows:
            counts[row.cells[index].rank] += 1
        shares = [Share(band=b, count=counts[b.rank], share=counts[b.rank] / total if total else 0.0) for b in legend]
        result.append(Distribution(column=column, shares=shares, total=total))
    return result


def _started(status: LevelStatus) -> bool:
    items = [i for p in status.parts for i in p.items] + [i for i in (status.exam, status.portfolio) if i is not None]
    return status.stage > 0 or any(i.done for i in items)


def _funnel(progress: Iterable[LearnerProgress], levels: Sequence[Level], month: int) -> list[FunnelStep]:
    statuses: dict[int, list[LevelStatus]] = defaultdict(list)
    total = 0
    for learner in progress:
        total += 1
        for status in learner.levels:
            statuses[status.level.id].append(status)
    steps = []
    for level in levels:
        mine = statuses[level.id]
        steps.append(FunnelStep(
            level=level, opened=month >= level.first_month, total=total,
            started=sum(1 for s in mine if _started(s)), modules_done=sum(1 for s in mine if s.stage >= 1),
            exam_passed=sum(1 for s in mine if s.stage >= 2), complete=sum(1 for s in mine if s.stage >= 3)))
    return steps


# --------------------------------------------------------------------------- the heat map


@dataclass(frozen=True)
class HeatMap:
    cohort: Cohort
    today: date
    month: int
    policy: Policy
    legend: list[Band]
    columns: list[Column]
    rows: list[Row]
    distributions: list[Distribution]
    funnel: list[FunnelStep]
    sort: str
    descending: bool

    @property
    def at_risk(self) -> list[Row]:
        """The learners at risk, the most reasons and days behind first."""
        return sort_rows((r for r in self.rows if r.at_risk), SORTS["risk"], descending=True)

    @property
    def bar_name(self) -> str:
        return self.policy.name_of(self.policy.at_risk_below)

    @property
    def stages(self) -> tuple[tuple[str, str], ...]:
        return FunnelStep.STAGES

    def direction_for(self, sort: str) -> str:
        """The direction a column header link asks for: reversed when already sorted by it."""
        return "desc" if sort == self.sort and not self.descending else "asc"


def heat_map(session: DbSession, cohort: Cohort, now: datetime, sort: str | None = None,
             descending: bool = False) -> HeatMap:
    """The cohort's learners against the active objectives, sorted server-side."""
    rules = policy(session)
    objectives = objectives_with_modules(session)
    users = learners_of(session, [cohort.id])[cohort.id]
    grid = mastery_grid(session, [cohort.id])
    progress = cohorts_progress(session, [(cohort, [u.id for u in users])], now)
    levels = active_levels(session)
    today = cohort_today(cohort, now)
    month = current_month(cohort.start_date, today)
    columns = columns_for(objectives, cohort, today)
    legend = bands(rules)
    rows = _rows(users, columns, grid, progress[cohort.id], rules)
    chosen, order = sort_order(sort, columns)
    return HeatMap(cohort=cohort, today=today, month=month, policy=rules, legend=legend, columns=columns,
                   rows=sort_rows(rows, order, descending), distributions=_distributions(columns, rows, legend),
                   funnel=_funnel(progress[cohort.id].values(), levels, month), sort=chosen, descending=descending)


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
    users = learners_of(session, ids)
    grid = mastery_grid(session, ids)
    progress = cohorts_progress(session, [(c, [u.id for u in users[c.id]]) for c in cohorts], now)
    result = []
    for cohort in cohorts:
        today = cohort_today(cohort, now)
        month = current_month(cohort.start_date, today)
        columns = columns_for(objectives, cohort, today)
        rows = _rows(users[cohort.id], columns, grid, progress[cohort.id], rules)
        means = []
        for index in range(len(columns)):
            values = [r.cells[index].level for r in rows]
            mean = _mean(values)
            means.append(Cell(level=mean, name=rules.name_of(mean), rank=rules.rank_of(mean),
                              evidence=sum(1 for v in values if v is not None)))
        cells = [c.level for r in rows for c in r.cells]
        proficient = (sum(1 for v in cells if v is not None and v >= rules.at_risk_below) / len(cells)) if cells else None
        result.append(CohortCompetency(cohort=cohort, month=month, learners=len(rows), means=means, proficient=proficient,
                                       at_risk=sum(1 for r in rows if r.at_risk),
                                       completion=_funnel(progress[cohort.id].values(), levels, month)))
    return Comparison(organization=organization, policy=rules, legend=bands(rules), objectives=objectives,
                      levels=levels, cohorts=result)
