"""Where each learner stands against their cohort's schedule: every scheduled item (lesson,
module quiz, assignment, level exam, level portfolio) with its dates and whether it is
done; each module's part in each level; each level's completion; how far behind.

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

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only, selectinload

from lms.assessment.models import Attempt, Quiz
from lms.catalog.models import Level, Module
from lms.catalog.services import ScheduledPhase, active_levels, schedule
from lms.cohorts.models import Cohort
from lms.coursework.models import Assignment, Submission
from lms.learning.models import EXTENSION, ScheduleOverride
from lms.learning.services import cohort_today, current_month, month_opens_on
from lms.progress.models import LessonRead

BEHIND_AFTER_DAYS = 14
SOON_DAYS = 14


@dataclass(frozen=True)
class Item:
    """One thing on a learner's schedule."""

    kind: str  # lesson | quiz | assignment | exam | portfolio
    key: str
    title: str
    module: Module | None
    level: Level | None
    opens_on: date
    due_on: date
    done: bool
    detail: str = ""  # e.g. "best 64% (pass 70%)", "returned for revision"

    @property
    def assessed(self) -> bool:
        return self.kind != "lesson"


@dataclass
class ModulePart:
    """A module's share of one level: the lessons, quizzes and assignments of its phases there."""

    module: Module
    level: Level
    items: list[Item] = field(default_factory=list)

    def count(self, kind: str) -> tuple[int, int]:
        mine = [i for i in self.items if i.kind == kind]
        return sum(i.done for i in mine), len(mine)

    @property
    def lessons(self) -> tuple[int, int]:
        return self.count("lesson")

    @property
    def quizzes(self) -> tuple[int, int]:
        return self.count("quiz")

    @property
    def assignments(self) -> tuple[int, int]:
        return self.count("assignment")

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
        return 3 if self.portfolio_accepted else 2


@dataclass
class LearnerProgress:
    user_id: int
    today: date
    month: int
    level: Level | None
    levels: list[LevelStatus]
    items: list[Item]

    @property
    def overdue(self) -> list[Item]:
        return sorted((i for i in self.items if not i.done and i.due_on < self.today), key=lambda i: i.due_on)

    @property
    def due_soon(self) -> list[Item]:
        horizon = self.today + timedelta(days=SOON_DAYS)
        return sorted((i for i in self.items if not i.done and i.opens_on <= self.today <= i.due_on <= horizon),
                      key=lambda i: i.due_on)

    @property
    def open_now(self) -> list[Item]:
        return sorted((i for i in self.items if not i.done and i.opens_on <= self.today <= i.due_on), key=lambda i: i.due_on)

    @property
    def opens_next(self) -> list[Item]:
        later = [i for i in self.items if i.opens_on > self.today]
        if not later:
            return []
        first = min(i.opens_on for i in later)
        return [i for i in later if i.opens_on == first]

    @property
    def days_behind(self) -> int:
        """Days the oldest unfinished assessed item is past due (0 when on schedule)."""
        late = [(self.today - i.due_on).days for i in self.items if i.assessed and not i.done and i.due_on < self.today]
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
    work: dict[tuple[int, int], Submission]
    extended: dict[tuple[int, int], date]


def _load(session: Session, user_ids: list[int]) -> _Loaded:
    levels = active_levels(session)
    phases = schedule(session)
    quizzes = list(session.scalars(select(Quiz).where(Quiz.retired_at.is_(None)).order_by(Quiz.position)))
    assignments = list(session.scalars(select(Assignment).where(Assignment.retired_at.is_(None))
                                       .options(selectinload(Assignment.rubric)).order_by(Assignment.position)))
    ids = list(user_ids)
    read: set[tuple[int, int]] = set()
    best: dict[tuple[int, int], float] = {}
    work: dict[tuple[int, int], Submission] = {}
    extended: dict[tuple[int, int], date] = {}
    if ids:
        read = {(u, les) for u, les in session.execute(select(LessonRead.user_id, LessonRead.lesson_id).where(LessonRead.user_id.in_(ids)))}
        # Only the columns a score needs: an attempt's layout is large and not needed here.
        best = _best_percent(session.scalars(select(Attempt).where(Attempt.user_id.in_(ids), Attempt.submitted_at.is_not(None))
                                             .options(load_only(Attempt.user_id, Attempt.quiz_id, Attempt.score,
                                                                Attempt.max_score, Attempt.pending_manual))))
        work = {(s.user_id, s.assignment_id): s for s in session.scalars(select(Submission).where(Submission.user_id.in_(ids)))}
        for o in session.scalars(select(ScheduleOverride).where(ScheduleOverride.user_id.in_(ids), ScheduleOverride.kind == EXTENSION)
                                 .order_by(ScheduleOverride.created_at, ScheduleOverride.id)):
            extended[(o.user_id, o.phase_id)] = o.on_date
    return _Loaded(levels, phases, quizzes, assignments, read, best, work, extended)


def cohort_progress(session: Session, cohort: Cohort, user_ids: list[int], now: datetime) -> dict[int, LearnerProgress]:
    """Progress of each of ``user_ids`` in ``cohort``, in a fixed number of statements."""
    return _progress(cohort, list(user_ids), now, _load(session, list(user_ids)))


def cohorts_progress(session: Session, groups: Sequence[tuple[Cohort, list[int]]],
                     now: datetime) -> dict[int, dict[int, LearnerProgress]]:
    """``cohort_progress`` for several cohorts at once (cohort id -> learner id -> progress),
    in the same fixed number of statements whatever the number of cohorts."""
    loaded = _load(session, [uid for _cohort, ids in groups for uid in ids])
    return {cohort.id: _progress(cohort, list(ids), now, loaded) for cohort, ids in groups}


def _progress(cohort: Cohort, ids: list[int], now: datetime, loaded: _Loaded) -> dict[int, LearnerProgress]:
    today = cohort_today(cohort, now)
    month = current_month(cohort.start_date, today)
    levels, phases, quizzes, assignments = loaded.levels, loaded.phases, loaded.quizzes, loaded.assignments
    read, best, work, extended = loaded.read, loaded.best, loaded.work, loaded.extended

    def level_of(month_number: int) -> Level | None:
        return next((lv for lv in levels if lv.holds(month_number)), None)

    slots = {p.phase.id: (p, month_opens_on(cohort.start_date, p.phase.month), month_opens_on(cohort.start_date, p.phase.month + 1))
             for p in phases}
    result: dict[int, LearnerProgress] = {}
    for uid in ids:
        items: list[Item] = []
        parts: dict[tuple[int, int], ModulePart] = {}

        def part(module: Module, level: Level | None) -> ModulePart | None:
            if level is None:
                return None
            key = (module.id, level.id)
            if key not in parts:
                parts[key] = ModulePart(module=module, level=level)
            return parts[key]

        def due(phase_id: int, default: date) -> date:
            extra = extended.get((uid, phase_id))  # noqa: B023 - used within the iteration
            return max(default, extra) if extra else default

        for sp, opens, closes in slots.values():
            level = level_of(sp.phase.month)
            holder = part(sp.module, level)
            for lesson in sp.lessons:
                item = Item("lesson", lesson.key, lesson.title, sp.module, level, opens, due(sp.phase.id, closes),
                            (uid, lesson.id) in read)
                items.append(item)
                if holder:
                    holder.items.append(item)
        for quiz in quizzes:
            score = best.get((uid, quiz.id))
            passed = score is not None and score >= quiz.passing_score
            detail = "" if score is None else f"best {score:g}% (pass {quiz.passing_score:g}%)"
            if quiz.phase_id is not None and quiz.phase_id in slots:
                sp, opens, closes = slots[quiz.phase_id]
                release = opens + timedelta(days=quiz.opens_after_days)
                end = opens + timedelta(days=quiz.closes_after_days) if quiz.closes_after_days else closes
                level = level_of(sp.phase.month)
                item = Item("quiz", quiz.key, quiz.title, sp.module, level, release, due(quiz.phase_id, end), passed, detail)
                items.append(item)
                holder = part(sp.module, level)
                if holder:
                    holder.items.append(item)
            elif quiz.level_id is not None:
                level = next((lv for lv in levels if lv.id == quiz.level_id), None)
                if level is None:
                    continue
                release = month_opens_on(cohort.start_date, level.last_month) + timedelta(days=quiz.opens_after_days)
                end = (month_opens_on(cohort.start_date, level.last_month) + timedelta(days=quiz.closes_after_days)
                       if quiz.closes_after_days else month_opens_on(cohort.start_date, level.last_month + 1))
                items.append(Item("exam", quiz.key, quiz.title, None, level, release, end, passed, detail))
        for assignment in assignments:
            if assignment.phase_id not in slots:
                continue
            sp, opens, _closes = slots[assignment.phase_id]
            submission = work.get((uid, assignment.id))
            accepted = submission is not None and submission.status == "released"
            detail = "" if submission is None else {"draft": "draft", "submitted": "waiting for a grade",
                                                     "returned": "returned for revision", "released": "accepted"}.get(submission.status, "")
            deadline = due(assignment.phase_id, opens + timedelta(days=assignment.due_after_days))
            if assignment.kind == "portfolio":
                level = next((lv for lv in levels if lv.id == assignment.rubric.level_id), None) or level_of(sp.phase.month)
                items.append(Item("portfolio", assignment.key, assignment.title, sp.module, level, opens, deadline, accepted, detail))
                continue
            level = level_of(sp.phase.month)
            item = Item("assignment", assignment.key, assignment.title, sp.module, level, opens, deadline, accepted, detail)
            items.append(item)
            holder = part(sp.module, level)
            if holder:
                holder.items.append(item)

        statuses = []
        for level in levels:
            level_parts = sorted((p for p in parts.values() if p.level.id == level.id), key=lambda p: p.module.position)
            exam = next((i for i in items if i.kind == "exam" and i.level is not None and i.level.id == level.id), None)
            portfolio = next((i for i in items if i.kind == "portfolio" and i.level is not None and i.level.id == level.id), None)
            statuses.append(LevelStatus(level=level, parts=level_parts, exam=exam, portfolio=portfolio))
        items.sort(key=lambda i: (i.opens_on, i.due_on, i.kind != "lesson"))
        result[uid] = LearnerProgress(user_id=uid, today=today, month=month, level=level_of(month) if 1 <= month <= 12 else None,
                                      levels=statuses, items=items)
    return result


def learner_progress(session: Session, cohort: Cohort, user_id: int, now: datetime) -> LearnerProgress:
    return cohort_progress(session, cohort, [user_id], now)[user_id]
