"""Where each learner stands against their cohort's schedule: every scheduled item (lesson,
module quiz, assignment, level exam, level portfolio) with its dates and whether it is
done; each module's part in each level; each level's completion; how far behind.

Each learner's dates are their own (``lms.learning.services.Timeline``: the cohort's, or
from their joining when they joined late), with their extensions on top.

Computed for a whole cohort at once in a fixed number of statements, so the learner page,
the cohort pages and the heat map cost the same for 5 learners or 500. Read only.

Done means: a lesson marked read, a quiz or exam passed (best finished attempt at or above
its passing score), an assignment accepted (its grade released, not returned for revision).
A level is complete when every module's part in it is done, its exam passed and its
portfolio accepted."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import load_only, selectinload

from lms.assessment.models import Attempt, Quiz, QuizKind
from lms.catalog.models import Lesson, Level, Module
from lms.catalog.revision import cached, memo
from lms.catalog.services import ScheduledPhase, active_levels, kept_schedule
from lms.cohorts.models import Cohort, Enrolment
from lms.coursework.models import Assignment, AssignmentKind, SubmissionStatus
from lms.coursework.services import revision_days
from lms.coursework.sharing import WorkRow, work_rows_by_learner
from lms.database import DbSession
from lms.learning.models import OverrideKind, ScheduleOverride
from lms.learning.services import Timeline, catch_up_days, cohort_today, day_starts, deadline_that_applies, due_by, joined_timeline
from lms.progress.models import ItemKind, LessonRead

BEHIND_AFTER_DAYS = 14
SOON_DAYS = 14
STAGE_COMPLETE = 3  # ``LevelStatus.stage`` of a complete level (modules done, exam passed, portfolio accepted)


@dataclass(frozen=True)
class Item:
    """One thing on a learner's schedule."""

    kind: ItemKind
    key: str
    title: str
    module: Module | None
    level: Level | None
    opens_on: date
    due_on: date
    done: bool
    detail: str = ""  # e.g. "best 64% (pass 70%)", "returned for revision"
    handed_in: bool = False  # work handed in (by the learner or their team) and not returned: nothing to chase
    # A quiz or exam whose window closes (``Quiz.closes_after_days``): at the start of
    # ``due_on`` in the cohort's time zone (``quiz_window``), not at its end as work is due.
    closes: bool = False
    # Assessed work: the due date from the schedule and the learner's extension, before any
    # revision window (``due_on`` adds the current one): what a hand-in's lateness is judged by.
    scheduled_due_on: date | None = None

    def closed(self, today: date) -> bool:
        """A quiz or exam whose window has closed: from the start of its due day it can no
        longer be taken, so it is not due (today or soon) nor open (the rule of the To do
        list, ``lms.today.services.Kept.closed``)."""
        return self.closes and self.due_on <= today

    @property
    def owed(self) -> bool:
        """Still the learner's to do: not done, and not handed in waiting for its grade (a
        grader's delay never makes a learner late)."""
        return not self.done and not self.handed_in

    @property
    def assessed(self) -> bool:
        return self.kind != ItemKind.LESSON


@dataclass
class ModulePart:
    """A module's share of one level: the lessons, quizzes and assignments of its phases there."""

    module: Module
    level: Level
    items: list[Item] = field(default_factory=list)

    def count(self, kind: ItemKind) -> tuple[int, int]:
        mine = [i for i in self.items if i.kind == kind]
        return sum(i.done for i in mine), len(mine)

    @property
    def lessons(self) -> tuple[int, int]:
        return self.count(ItemKind.LESSON)

    @property
    def quizzes(self) -> tuple[int, int]:
        return self.count(ItemKind.QUIZ)

    @property
    def assignments(self) -> tuple[int, int]:
        return self.count(ItemKind.ASSIGNMENT)

    @property
    def done(self) -> bool:
        return all(i.done for i in self.items)

    @property
    def share(self) -> float:
        return sum(i.done for i in self.items) / len(self.items) if self.items else 1.0


@dataclass
class LevelStatus:
    level: Level
    parts: list[ModulePart]
    exam: Item | None
    portfolio: Item | None

    @property
    def modules_done(self) -> bool:
        return all(p.done for p in self.parts)

    @property
    def exam_passed(self) -> bool:
        return self.exam is not None and self.exam.done

    @property
    def portfolio_accepted(self) -> bool:
        return self.portfolio is not None and self.portfolio.done

    @property
    def complete(self) -> bool:
        return self.modules_done and self.exam_passed and self.portfolio_accepted

    @property
    def stage(self) -> int:
        """How far along the funnel: 0 started, 1 modules done, 2 and exam passed, 3 complete."""
        if not self.modules_done:
            return 0
        if not self.exam_passed:
            return 1
        return STAGE_COMPLETE if self.portfolio_accepted else 2


@dataclass
class LearnerProgress:
    user_id: int
    today: date
    month: int  # the learner's own program month
    level: Level | None
    levels: list[LevelStatus]
    items: list[Item]
    timeline: Timeline
    zone: str = "UTC"  # the cohort's time zone, where the learner's days begin and end

    def due_at(self, item: Item) -> datetime:
        """When ``item`` is due: the end of its due day in the cohort's zone, or the start of
        it for a quiz or exam whose window closes then (as the To do list and the calendar feed
        say it; a learner elsewhere reads it at another hour: ``localdeadline``)."""
        return due_by(self.zone, item.due_on, item.closes)

    def opens_at(self, item: Item) -> datetime:
        """When ``item`` opens: the start of its opening day in the cohort's zone."""
        return day_starts(self.zone, item.opens_on)

    @property
    def overdue(self) -> list[Item]:
        return sorted((i for i in self.items if i.owed and i.due_on < self.today), key=lambda i: i.due_on)

    @property
    def due_soon(self) -> list[Item]:
        horizon = self.today + timedelta(days=SOON_DAYS)
        return sorted((i for i in self.items if i.owed and i.opens_on <= self.today <= i.due_on <= horizon
                       and not i.closed(self.today)), key=lambda i: i.due_on)

    @property
    def open_now(self) -> list[Item]:
        return sorted((i for i in self.items if not i.done and i.opens_on <= self.today <= i.due_on and not i.closed(self.today)),
                      key=lambda i: i.due_on)

    @property
    def opens_next(self) -> list[Item]:
        later = [i for i in self.items if i.opens_on > self.today]
        if not later:
            return []
        first = min(i.opens_on for i in later)
        return [i for i in later if i.opens_on == first]

    @property
    def days_behind(self) -> int:
        """Days the oldest assessed item still owed (``Item.owed``) is past due (0 when on schedule)."""
        late = [(self.today - i.due_on).days for i in self.items if i.assessed and i.owed and i.due_on < self.today]
        return max(late, default=0)

    @property
    def behind(self) -> bool:
        return self.days_behind > BEHIND_AFTER_DAYS

    def level_status(self, level_key: str) -> LevelStatus | None:
        return next((s for s in self.levels if s.level.key == level_key), None)

    @property
    def modules(self) -> list[tuple[Module, list[ModulePart]]]:
        """Each module with its parts across the levels, in program order."""
        grouped: dict[int, list[ModulePart]] = defaultdict(list)
        order: dict[int, Module] = {}
        for status in self.levels:
            for part in status.parts:
                grouped[part.module.id].append(part)
                order[part.module.id] = part.module
        return [(order[mid], grouped[mid]) for mid in sorted(order, key=lambda m: order[m].position)]


def _best_percent(attempts: Iterable[Attempt]) -> dict[tuple[int, int], float]:
    best: dict[tuple[int, int], float] = {}
    for a in attempts:
        if a.percent is not None and not a.pending_manual:
            key = (a.user_id, a.quiz_id)
            best[key] = max(best.get(key, 0.0), a.percent)
    return best


@dataclass(frozen=True)
class _Loaded:
    """What progress is computed from: the catalog's schedule and the learners' records."""

    levels: list[Level]
    phases: list[ScheduledPhase]
    quizzes: list[Quiz]
    assignments: list[Assignment]
    read: set[tuple[int, int]]
    best: dict[tuple[int, int], float]
    work: dict[tuple[int, int], WorkRow]
    extended: dict[tuple[int, int], date]
    joined: dict[int, Enrolment]  # user id -> their current enrolment
    early: dict[tuple[int, int], date] = field(default_factory=dict)  # (user, phase) -> early access opening
    modules: dict[int, Module] = field(default_factory=dict)  # the session's own, by id (what items refer to)


def _quizzes(session: DbSession) -> list[Quiz]:
    # Weekly checks are practice: on no one's schedule, never overdue.
    return list(session.scalars(select(Quiz).where(Quiz.retired_at.is_(None), Quiz.kind != QuizKind.CHECK)
                                .order_by(Quiz.position)))


def _assignments(session: DbSession) -> list[Assignment]:
    return list(session.scalars(select(Assignment).where(Assignment.retired_at.is_(None))
                                .options(selectinload(Assignment.rubric)).order_by(Assignment.position)))


def _active_modules(session: DbSession) -> dict[int, Module]:
    return {m.id: m for m in session.scalars(select(Module).where(Module.retired_at.is_(None)))}


def _load(session: DbSession, user_ids: list[int]) -> _Loaded:
    # The phases, lessons, quizzes and assignments as this process keeps them for the
    # database's content revision (``lms.catalog.revision``): read here, never handed out.
    # What the results refer to (levels, modules) is the session's own: callers may write
    # them into new rows (a certificate's level).
    levels = active_levels(session)
    modules = memo(session, "progress.modules", _active_modules)
    phases = kept_schedule(session)
    quizzes = cached(session, "progress.quizzes", _quizzes)
    assignments = cached(session, "progress.assignments", _assignments)
    ids = list(user_ids)
    read: set[tuple[int, int]] = set()
    best: dict[tuple[int, int], float] = {}
    work: dict[tuple[int, int], WorkRow] = {}
    extended: dict[tuple[int, int], date] = {}
    early: dict[tuple[int, int], date] = {}
    joined: dict[int, Enrolment] = {}
    if ids:
        read = {(u, les) for u, les in session.execute(select(LessonRead.user_id, LessonRead.lesson_id).where(LessonRead.user_id.in_(ids)))}
        # Only the columns a score needs: an attempt's layout is large and not needed here.
        best = _best_percent(session.scalars(select(Attempt).where(Attempt.user_id.in_(ids), Attempt.submitted_at.is_not(None))
                                             .options(load_only(Attempt.user_id, Attempt.quiz_id, Attempt.score,
                                                                Attempt.max_score, Attempt.pending_manual))))
        work = work_rows_by_learner(session, ids)  # a team's submission is every member's work
        for o in session.scalars(select(ScheduleOverride).where(ScheduleOverride.user_id.in_(ids),
                                                                ScheduleOverride.removed_at.is_(None))
                                 .order_by(ScheduleOverride.created_at, ScheduleOverride.id)):
            # the latest of each kind counts, as in the learner's schedule (lms.learning.services.build_schedule)
            (extended if o.kind == OverrideKind.EXTENSION else early)[(o.user_id, o.phase_id)] = o.on_date
        joined = {e.user_id: e for e in session.scalars(
            select(Enrolment).where(Enrolment.user_id.in_(ids), Enrolment.active)
            .options(load_only(Enrolment.user_id, Enrolment.cohort_id, Enrolment.started_at, Enrolment.pace)))}
    return _Loaded(levels, phases, quizzes, assignments, read, best, work, extended, joined, early, modules)


def cohort_progress(session: DbSession, cohort: Cohort, user_ids: list[int], now: datetime) -> dict[int, LearnerProgress]:
    """Progress of each of ``user_ids`` in ``cohort``, in a fixed number of statements."""
    return _progress(cohort, list(user_ids), now, _load(session, list(user_ids)))


def cohorts_progress(session: DbSession, groups: Sequence[tuple[Cohort, list[int]]],
                     now: datetime) -> dict[int, dict[int, LearnerProgress]]:
    """``cohort_progress`` for several cohorts at once (cohort id -> learner id -> progress),
    in the same fixed number of statements whatever the number of cohorts."""
    loaded = _load(session, [uid for _cohort, ids in groups for uid in ids])
    return {cohort.id: _progress(cohort, list(ids), now, loaded) for cohort, ids in groups}


def cohorts_assessed_dates(session: DbSession, cohorts: Sequence[Cohort]) -> dict[int, list[Item]]:
    """Each cohort's assessed items (quizzes, exams, assessed work, portfolios) on its own
    dates, as a learner who follows them with no extension has them (cohort id -> items in
    date order; ``done`` means nothing here): what an instructor's calendar shows. The
    curriculum as this process keeps it, in a fixed number of statements whatever the
    number of cohorts (their learners are not read)."""
    loaded = _load(session, [])
    days, none = catch_up_days(), timedelta(0)
    dates = {}
    for cohort in cohorts:
        _slots, entries = _entries(Timeline(cohort.start_date, days_per_month=days), loaded)
        zone = ZoneInfo(cohort.timezone)
        items = [_item(entry, 0, loaded, zone, none) for entry in entries if entry.kind != ItemKind.LESSON]
        dates[cohort.id] = sorted(items, key=lambda i: (i.due_on, i.opens_on))
    return dates


@dataclass(frozen=True)
class _Slot:
    """A phase placed on one learner's calendar: when it opens and when its work is due."""

    phase: ScheduledPhase
    module: Module  # the session's (the kept phase's module is detached)
    level: Level | None
    opens: date
    closes: date


@dataclass(frozen=True)
class _Entry:
    """A scheduled item as it stands on one timeline (shared by the learners on it), before
    any learner's record.

    ``extended_by`` is the phase whose extensions move the due date (None: not extendable).
    ``early`` says how the item opens when the learner has early access to its phase
    (None: it does not move): ``early.opens_after`` days after the early opening. Early
    access moves no due date."""

    kind: ItemKind
    source: Lesson | Quiz | Assignment
    module: Module | None
    level: Level | None
    opens_on: date
    due_on: date
    extended_by: int | None
    early: _Early | None = None


@dataclass(frozen=True)
class _Early:
    """An item's opening counted from its phase's, for a learner with early access to it
    (the same rule as the quiz window and the assessed work's dates: it opens sooner and
    is due when it regularly is)."""

    phase_id: int
    phase_opens: date      # the phase's regular opening on this timeline
    opens_after: int = 0


WORK_DETAIL = {SubmissionStatus.DRAFT: "draft", SubmissionStatus.SUBMITTED: "waiting for a grade",
               SubmissionStatus.RETURNED: "returned for revision", SubmissionStatus.RELEASED: "accepted"}


def _level_of(levels: list[Level], month: int) -> Level | None:
    return next((lv for lv in levels if lv.holds(month)), None)


def _level_by_id(levels: list[Level], level_id: int | None) -> Level | None:
    return next((lv for lv in levels if lv.id == level_id), None)


def _slots(timeline: Timeline, loaded: _Loaded) -> dict[int, _Slot]:
    """Each active phase (by id) on the timeline's calendar."""
    slots = {}
    for p in loaded.phases:
        opens, closes = timeline.phase_dates(p.phase.month)
        slots[p.phase.id] = _Slot(phase=p, module=loaded.modules.get(p.module.id) or p.module,
                                  level=_level_of(loaded.levels, p.phase.month), opens=opens, closes=closes)
    return slots


def _lesson_entries(slots: dict[int, _Slot]) -> list[_Entry]:
    return [_Entry(kind=ItemKind.LESSON, source=lesson, module=slot.module, level=slot.level,
                   opens_on=slot.opens, due_on=slot.closes, extended_by=slot.phase.phase.id,
                   early=_Early(slot.phase.phase.id, slot.opens))
            for slot in slots.values() for lesson in slot.phase.lessons]


def _quiz_entry(quiz: Quiz, timeline: Timeline, slots: dict[int, _Slot], levels: list[Level]) -> _Entry | None:
    """A module quiz opens and closes with its phase; a level exam with its level's last month."""
    if quiz.phase_id is not None and quiz.phase_id in slots:
        slot = slots[quiz.phase_id]
        month = slot.phase.phase.month + (1 if quiz.opens_when_phase_ends else 0)  # a quiz on the phase: when it ends
        opens, end = timeline.item_dates(month, quiz.opens_after_days, quiz.closes_after_days or None)
        # a quiz opening as its phase ends does not move with early access (lms.assessment.services.quiz_window)
        early = (None if quiz.opens_when_phase_ends
                 else _Early(slot.phase.phase.id, slot.opens, quiz.opens_after_days))
        return _Entry(kind=ItemKind.QUIZ, source=quiz, module=slot.module, level=slot.level,
                      opens_on=opens, due_on=end, extended_by=quiz.phase_id, early=early)
    if quiz.level_id is None:
        return None
    level = _level_by_id(levels, quiz.level_id)
    if level is None:
        return None
    opens, end = timeline.item_dates(level.last_month, quiz.opens_after_days, quiz.closes_after_days or None)
    return _Entry(kind=ItemKind.EXAM, source=quiz, module=None, level=level, opens_on=opens, due_on=end, extended_by=None)


def _assignment_entry(assignment: Assignment, timeline: Timeline, slots: dict[int, _Slot], levels: list[Level]) -> _Entry | None:
    """An assignment opens with its phase; a portfolio belongs to its rubric's level."""
    slot = slots.get(assignment.phase_id) if assignment.phase_id is not None else None
    if slot is None:
        return None
    if assignment.kind == AssignmentKind.PORTFOLIO:
        kind, level = ItemKind.PORTFOLIO, _level_by_id(levels, assignment.rubric.level_id) or slot.level
    else:
        kind, level = ItemKind.ASSIGNMENT, slot.level
    opens, due = timeline.item_dates(slot.phase.phase.month, 0, assignment.due_after_days)
    return _Entry(kind=kind, source=assignment, module=slot.module, level=level, opens_on=opens,
                  due_on=due, extended_by=assignment.phase_id,
                  early=_Early(slot.phase.phase.id, slot.opens))


def _entries(timeline: Timeline, loaded: _Loaded) -> tuple[dict[int, _Slot], list[_Entry]]:
    """The timeline's calendar and every item on it: lessons, then quizzes and exams, then assignments."""
    slots = _slots(timeline, loaded)
    quizzes = (_quiz_entry(q, timeline, slots, loaded.levels) for q in loaded.quizzes)
    assignments = (_assignment_entry(a, timeline, slots, loaded.levels) for a in loaded.assignments)
    return slots, _lesson_entries(slots) + [e for e in (*quizzes, *assignments) if e is not None]


def _timeline(cohort: Cohort, uid: int, loaded: _Loaded, days_per_month: int) -> Timeline:
    """The learner's timeline in ``cohort``: from their enrolment there, else the cohort's dates."""
    enrolment = loaded.joined.get(uid)
    if enrolment is None or enrolment.cohort_id != cohort.id:
        return Timeline(cohort.start_date, days_per_month=days_per_month)
    return joined_timeline(cohort, enrolment.started_at, enrolment.pace, days_per_month)


def _state(entry: _Entry, uid: int, loaded: _Loaded) -> tuple[bool, str]:
    """Whether ``uid`` has done ``entry``, and a word on where they stand."""
    if entry.kind == ItemKind.LESSON:
        return (uid, entry.source.id) in loaded.read, ""
    if isinstance(entry.source, Quiz):  # a quiz or an exam
        quiz = entry.source
        score = loaded.best.get((uid, quiz.id))
        if score is None:
            return False, ""
        return score >= quiz.passing_score, f"best {score:g}% (pass {quiz.passing_score:g}%)"
    submission = loaded.work.get((uid, entry.source.id))
    if submission is None:
        return False, ""
    return submission.status == SubmissionStatus.RELEASED, WORK_DETAIL.get(submission.status, "")


def _item(entry: _Entry, uid: int, loaded: _Loaded, zone: ZoneInfo, revision: timedelta) -> Item:
    """``entry`` for one learner: their early access, if earlier than the phase's opening,
    opens it (its days counted from then) and leaves its due date as it is: the learner
    may hand in early but is not due early; their extension, if later, moves its due date;
    and work returned for revision is due ``revision`` after its return (in the cohort's
    time zone ``zone``) when that is later still: it comes back to be revised, not overdue."""
    extra = loaded.extended.get((uid, entry.extended_by)) if entry.extended_by is not None else None
    opens_on, due_on = entry.opens_on, entry.due_on
    early = loaded.early.get((uid, entry.early.phase_id)) if entry.early is not None else None
    if entry.early is not None and early is not None and early < entry.early.phase_opens:
        opens_on = min(opens_on, early + timedelta(days=entry.early.opens_after))
    done, detail = _state(entry, uid, loaded)
    work = loaded.work.get((uid, entry.source.id)) if isinstance(entry.source, Assignment) else None
    due_on = scheduled = deadline_that_applies(due_on, extra)
    if work is not None and work.status == SubmissionStatus.RETURNED and work.returned_at is not None:
        due_on = max(due_on, work.returned_at.astimezone(zone).date() + revision)
    return Item(kind=entry.kind, key=entry.source.key, title=entry.source.title, module=entry.module,
                level=entry.level, opens_on=opens_on, due_on=due_on,
                done=done, detail=detail,
                handed_in=work is not None and work.status in (SubmissionStatus.SUBMITTED, SubmissionStatus.RELEASED),
                closes=isinstance(entry.source, Quiz) and entry.source.closes_after_days is not None,
                scheduled_due_on=scheduled if isinstance(entry.source, Assignment) else None)


def _module_parts(slots: dict[int, _Slot], items: list[Item]) -> list[ModulePart]:
    """A part for each module in each level it has phases in, holding its lessons, quizzes and
    assignments (a phase with nothing in it still makes a part, done)."""
    parts: dict[tuple[int, int], ModulePart] = {}
    for slot in slots.values():
        if slot.level is not None:
            parts.setdefault((slot.module.id, slot.level.id), ModulePart(module=slot.module, level=slot.level))
    for item in items:
        if item.kind in (ItemKind.LESSON, ItemKind.QUIZ, ItemKind.ASSIGNMENT) and item.module is not None and item.level is not None:
            parts[(item.module.id, item.level.id)].items.append(item)
    return list(parts.values())


def _first(items: list[Item], kind: ItemKind, level: Level) -> Item | None:
    return next((i for i in items if i.kind == kind and i.level is not None and i.level.id == level.id), None)


def _level_statuses(levels: list[Level], parts: list[ModulePart], items: list[Item]) -> list[LevelStatus]:
    """Each level's module parts (in module order), its first exam and its first portfolio."""
    return [LevelStatus(level=level,
                        parts=sorted((p for p in parts if p.level.id == level.id), key=lambda p: p.module.position),
                        exam=_first(items, ItemKind.EXAM, level), portfolio=_first(items, ItemKind.PORTFOLIO, level))
            for level in levels]


def _progress(cohort: Cohort, ids: list[int], now: datetime, loaded: _Loaded) -> dict[int, LearnerProgress]:
    today = cohort_today(cohort, now)
    days = catch_up_days()
    zone, revision = ZoneInfo(cohort.timezone), timedelta(days=revision_days())
    calendars: dict[Timeline, tuple[dict[int, _Slot], list[_Entry]]] = {}  # one per distinct timeline
    result: dict[int, LearnerProgress] = {}
    for uid in ids:
        timeline = _timeline(cohort, uid, loaded, days)
        if timeline not in calendars:
            calendars[timeline] = _entries(timeline, loaded)
        slots, entries = calendars[timeline]
        month = timeline.month(today)
        current = _level_of(loaded.levels, month) if 1 <= month <= 12 else None
        items = [_item(entry, uid, loaded, zone, revision) for entry in entries]
        statuses = _level_statuses(loaded.levels, _module_parts(slots, items), items)
        items.sort(key=lambda i: (i.opens_on, i.due_on, i.kind != ItemKind.LESSON))
        result[uid] = LearnerProgress(user_id=uid, today=today, month=month, level=current, levels=statuses,
                                      items=items, timeline=timeline, zone=cohort.timezone)
    return result


def learner_progress(session: DbSession, cohort: Cohort, user_id: int, now: datetime) -> LearnerProgress:
    return cohort_progress(session, cohort, [user_id], now)[user_id]
