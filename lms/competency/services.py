"""Cohort competency: the heat map of learners against the objectives, its distributions,
the level completion funnel and the learners at risk; the cohort's mastery month by month;
an organization's cohorts side by side.

Each at-risk reason is a ``Reason``: its kind, its text, the date it started and what it is
about (the overdue items, or the learner's profile on the objective). Staff record reviews
of at-risk learners (``record_review``, the one function here that writes: it flushes); the
list shows each learner's last review and what changed since.

Every function runs a fixed number of statements whatever the number of learners, evidence
rows or cohorts: one query for the mastery grid, one for the learners, the objectives with
their modules, ``cohorts_progress`` for the schedule, one for the evidence of the objectives
a learner is below the bar on, and one for the reviews."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
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
from lms.learning.services import PROGRAM_MONTHS, Timeline, cohort_today, current_month, month_opens_on, opens_at
from lms.progress.completion import Item, LearnerProgress, LevelStatus, cohorts_progress
from lms.progress.methods import Point
from lms.progress.models import Evidence, ItemKind, Mastery
from lms.progress.services import Policy, policy

NO_EVIDENCE = "no evidence"
OVERDUE_SHOWN = 5  # overdue items listed under a "behind schedule" reason; the rest are counted


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
    user: User
    cells: list[Cell]
    mean: float | None
    days_behind: int
    reasons: list[Reason]

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


def learner_columns(columns: Sequence[Column], learner: LearnerProgress | None) -> Sequence[Column]:
    """The columns as they close for one learner: on their own dates when they joined late."""
    if learner is None or not learner.timeline.late:
        return columns
    result = []
    for column in columns:
        day = closes_on(column.objective, learner.timeline)
        result.append(Column(objective=column.objective, closes_on=day, closed=day is not None and day <= learner.today))
    return result


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None


def _below_bar(users: Sequence[User], columns: Sequence[Column], grid: dict[tuple[int, int], tuple[float | None, int]],
               rules: Policy) -> set[tuple[int, int]]:
    """(user id, objective id) of each closed objective a learner has evidence on and is below the bar."""
    result = set()
    for user in users:
        for column in columns:
            level = grid.get((user.id, column.objective.id), (None, 0))[0]
            if column.closed and level is not None and level < rules.at_risk_below:
                result.add((user.id, column.objective.id))
    return result


def fell_below(session: DbSession, cohort: Cohort, pairs: set[tuple[int, int]], rules: Policy) -> dict[tuple[int, int], date]:
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


def _overdue(learner: LearnerProgress) -> list[Item]:
    """The unfinished assessed items past due, oldest first: what "days behind" counts."""
    return [i for i in learner.overdue if i.assessed]


def _reasons(cohort: Cohort, user: User, columns: Sequence[Column], cells: Sequence[Cell], learner: LearnerProgress | None,
             fell: dict[tuple[int, int], date], rules: Policy) -> list[Reason]:
    bar_name = rules.name_of(rules.at_risk_below)
    reasons = []
    columns = learner_columns(columns, learner)  # an objective counts once its modules closed for this learner
    if learner is not None and learner.behind:
        late = _overdue(learner)
        reasons.append(Reason(
            kind=ReasonKind.BEHIND, text=f"{learner.days_behind} days behind schedule", since=late[0].due_on,
            link=_learner_page(cohort.id, user.id, "overdue"), days_behind=learner.days_behind,
            items=tuple(OverdueItem(kind=i.kind, key=i.key, title=i.title, due_on=i.due_on) for i in late)))
    for column, cell in zip(columns, cells, strict=True):
        if not column.closed or column.closes_on is None:
            continue
        link = _learner_page(cohort.id, user.id, f"objective-{column.code}")
        if cell.level is None:
            reasons.append(Reason(kind=ReasonKind.NO_EVIDENCE, text=f"{column.code} has no evidence after its modules closed",
                                  since=column.closes_on, link=link, objective=column.code))
        elif cell.level < rules.at_risk_below:
            went = fell.get((user.id, column.objective.id))
            reasons.append(Reason(kind=ReasonKind.BELOW_BAR, text=f"{column.code} below {bar_name} after its modules closed",
                                  since=max(went, column.closes_on) if went else column.closes_on, link=link,
                                  objective=column.code))
    return reasons


def _rows(cohort: Cohort, users: Sequence[User], columns: Sequence[Column],
          grid: dict[tuple[int, int], tuple[float | None, int]], progress: dict[int, LearnerProgress], rules: Policy,
          fell: dict[tuple[int, int], date] | None = None) -> list[Row]:
    """One row per learner. ``fell`` (from ``fell_below``) dates the reasons "below the bar";
    without it they are dated from the objective's closing day."""
    rows = []
    for user in users:
        cells = []
        for column in columns:
            level, count = grid.get((user.id, column.objective.id), (None, 0))
            cells.append(Cell(level=level, name=rules.name_of(level), rank=rules.rank_of(level), evidence=count))
        learner = progress.get(user.id)
        days = learner.days_behind if learner is not None else 0
        reasons = _reasons(cohort, user, columns, cells, learner, fell or {}, rules)
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


def latest_reviews(session: DbSession, cohort_id: int) -> dict[int, AtRiskReview]:
    """Each reviewed learner's last review in the cohort (the last recorded), with its
    reviewer: one statement."""
    last = (select(func.max(AtRiskReview.id)).where(AtRiskReview.cohort_id == cohort_id)
            .group_by(AtRiskReview.learner_id))
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
    progress: dict[int, LearnerProgress]


def _load_rows(session: DbSession, cohort: Cohort, users: list[User], now: datetime) -> _Loaded:
    rules = policy(session)
    objectives = objectives_with_modules(session)
    grid = mastery_grid(session, [cohort.id])
    progress = cohorts_progress(session, [(cohort, [u.id for u in users])], now)[cohort.id]
    today = cohort_today(cohort, now)
    columns = columns_for(objectives, cohort, today)
    fell = fell_below(session, cohort, _below_bar(users, columns, grid, rules), rules)
    rows = _rows(cohort, users, columns, grid, progress, rules, fell)
    return _Loaded(rules=rules, objectives=objectives, today=today, columns=columns, rows=rows, progress=progress)


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
    reviews: dict[int, SinceReview]  # each at-risk learner's last review and what changed since

    def review_of(self, row: Row) -> SinceReview:
        return self.reviews.get(row.user.id) or since_review(row, None, self.today)

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
    """The cohort's learners against the active objectives, sorted server-side; the at-risk
    learners with their last review."""
    users = learners_of(session, [cohort.id])[cohort.id]
    loaded = _load_rows(session, cohort, users, now)
    rules, today, columns, rows = loaded.rules, loaded.today, loaded.columns, loaded.rows
    levels = active_levels(session)
    month = current_month(cohort.start_date, today)
    legend = bands(rules)
    reviews = latest_reviews(session, cohort.id)
    chosen, order = sort_order(sort, columns)
    return HeatMap(cohort=cohort, today=today, month=month, policy=rules, legend=legend, columns=columns,
                   rows=sort_rows(rows, order, descending), distributions=_distributions(columns, rows, legend),
                   funnel=_funnel(loaded.progress.values(), levels, month), sort=chosen, descending=descending,
                   reviews={r.user.id: since_review(r, reviews.get(r.user.id), today) for r in rows if r.at_risk})


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
    loaded = _load_rows(session, cohort, [learner], now)
    row = loaded.rows[0]
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
    users = learners_of(session, ids)
    grid = mastery_grid(session, ids)
    progress = cohorts_progress(session, [(c, [u.id for u in users[c.id]]) for c in cohorts], now)
    result = []
    for cohort in cohorts:
        today = cohort_today(cohort, now)
        month = current_month(cohort.start_date, today)
        columns = columns_for(objectives, cohort, today)
        rows = _rows(cohort, users[cohort.id], columns, grid, progress[cohort.id], rules)
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
