"""What's due: the learner's to-do list, recent grades and feedback and what opens next; for
an instructor, per cohort taught, the work waiting to be graded, the overdue learners and
the learners newly at risk.

The to-do list is the learner's schedule as the kept state holds it (``lms.progress.state``,
kept with the dates ``lms.progress.completion`` works out: the same as the schedule, the quiz
and assessed-work pages, extensions included) plus the weekly checks of the units open now;
a quiz or exam whose window has closed is not on it (it can no longer be taken: the progress
page lists it as missed).
Read only; a fixed number of statements whatever the number of items, learners or evidence
rows (the instructor's part: a fixed number per cohort taught)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from functools import cache, cached_property
from typing import ClassVar, NamedTuple

from sqlalchemy import Executable, and_, bindparam, exists, or_, select
from sqlalchemy.orm import load_only, selectinload

from lms.accounts.models import User
from lms.assessment.models import Attempt, Quiz, QuizKind, percent_of
from lms.assessment.services import pending_essay_counts
from lms.catalog.models import Level, Module
from lms.cohorts.calendar import program_closes_on
from lms.cohorts.models import Cohort, cohort_instructors
from lms.competency.services import HeatMap, heat_map
from lms.coursework.models import Assignment, Submission, SubmissionStatus
from lms.coursework.sharing import groups_of, work_by_learner
from lms.database import DbSession
from lms.feedback.models import FeedbackInvite, FeedbackResponse
from lms.grading.models import Grade, GradeStatus
from lms.learning.services import MOMENT, CalendarEvent, Schedule, day_starts, due_by, opens_at
from lms.progress.completion import cohorts_assessed_dates
from lms.progress.models import ItemKind, ProgressItem

RECENT_SHOWN = 6       # grades, quiz results and feedback on the learner's home
WAITING_SHOWN = 5      # submissions listed per cohort on the instructor's home (the rest: the queue)


class TodoKind(StrEnum):
    CHECK = "weekly check"
    QUIZ = "quiz"
    EXAM = "exam"
    ASSIGNMENT = "assignment"
    PORTFOLIO = "portfolio"


KIND_OF_ITEM = {ItemKind.QUIZ: TodoKind.QUIZ, ItemKind.EXAM: TodoKind.EXAM, ItemKind.ASSIGNMENT: TodoKind.ASSIGNMENT,
                ItemKind.PORTFOLIO: TodoKind.PORTFOLIO}


@dataclass(frozen=True)
class Link:
    """Where an entry leads: an endpoint and its arguments (the template builds the URL)."""

    endpoint: str
    key: str = ""
    arg: str = "key"

    @property
    def args(self) -> dict[str, str]:
        return {self.arg: self.key} if self.key else {}


@dataclass(frozen=True)
class Todo:
    kind: TodoKind
    key: str
    title: str
    module: str | None
    due_on: date
    today: date
    link: Link
    detail: str = ""
    # A quiz or exam with a closing time: it closes at the start of ``due_on`` (in the
    # cohort's time zone), so it is listed only before that day; assessed work is due by its end.
    closes: bool = False
    # A quiz, exam or check the learner has an attempt of under way (``running_attempts``),
    # and when its time runs out (None: no time limit): sooner than the item's own date.
    running: bool = False
    runs_out: datetime | None = None
    zone: str = "UTC"  # the cohort's time zone, where its days begin and end
    # Its place in the course among entries due the same day: the schedule's order for
    # assessed items, the week's for weekly checks (never the title's alphabet, which put
    # week 3's check before week 2's).
    place: int = 0

    @property
    def overdue(self) -> bool:
        return self.due_on < self.today

    @property
    def deadline(self) -> datetime:
        """When it is due: the start of ``due_on`` in the cohort's zone for a quiz or exam
        that closes then, the end of it for the rest (work handed in later is late)."""
        return due_by(self.zone, self.due_on, self.closes)


@dataclass(frozen=True)
class Recent:
    what: str          # "grade", "quiz", "feedback"
    title: str
    at: datetime
    result: str
    link: Link


@dataclass(frozen=True)
class Opening:
    """What opens next: the first day something opens, and what."""

    on: date
    titles: list[tuple[str, str]]  # (what it is: "module", "assignment", "quiz", ...; its title)
    at: datetime | None = None  # the moment ``on`` begins in the cohort's zone (the learner's clock may read another day)


@dataclass(frozen=True)
class LearnerToday:
    todo: list[Todo]
    recent: list[Recent]
    next: Opening | None
    closed: str | None = None  # the learner's program has closed: what the panel says first


@dataclass(frozen=True)
class Kept:
    """One assessed item of the learner's schedule as the kept state holds it
    (``lms.progress.state``: dates with extensions and early access, done, handed in), with
    the titles and key it is shown with."""

    kind: ItemKind
    key: str
    title: str
    module_title: str | None
    level_title: str | None
    level_key: str | None
    opens_on: date
    due_on: date
    done: bool
    handed_in: bool
    detail: str
    closes: bool  # a quiz or exam whose window closes (``Quiz.closes_after_days``): at the start of ``due_on``

    def closed(self, today: date) -> bool:
        """A quiz or exam whose window has closed for the learner (``quiz_window``: at the
        start of its due day in the cohort's time zone, their extension counted in the kept
        due date): it can no longer be taken."""
        return self.closes and self.due_on <= today


def _link(item: Kept) -> Link:
    if item.kind == ItemKind.PORTFOLIO and item.level_key is not None:
        return Link("portfolio.portfolio", item.level_key, "level_key")
    if item.kind in (ItemKind.QUIZ, ItemKind.EXAM):
        return Link("assessment.quiz", item.key)
    return Link("coursework.assignment", item.key)


def _todo_order(todo: Todo) -> tuple[bool, date, bool, int, str]:
    """Overdue first, then by due date; on one date the assessed work in the schedule's
    order, then the weekly checks in the weeks' order."""
    return (not todo.overdue, todo.due_on, todo.kind == TodoKind.CHECK, todo.place, todo.title)


def kept_items(session: DbSession, cohort_id: int, user_id: int) -> list[Kept]:
    """The learner's assessed items in ``cohort_id`` from the kept schedule state, a quiz's
    or exam's with whether its window closes: one statement, nothing worked out in Python on
    the page view."""
    quiz = and_(Quiz.key == ProgressItem.key, ProgressItem.kind.in_([ItemKind.QUIZ, ItemKind.EXAM]))
    rows = session.execute(
        select(ProgressItem.kind, ProgressItem.key, ProgressItem.title, Module.title, Level.title, Level.key,
               ProgressItem.opens_on, ProgressItem.due_on, ProgressItem.done, ProgressItem.handed_in, ProgressItem.detail,
               Quiz.closes_after_days.is_not(None))
        .outerjoin(Module, Module.id == ProgressItem.module_id).outerjoin(Level, Level.id == ProgressItem.level_id)
        .outerjoin(Quiz, quiz)
        .where(ProgressItem.user_id == user_id, ProgressItem.cohort_id == cohort_id,
               ProgressItem.kind.in_(list(KIND_OF_ITEM)))
        .order_by(ProgressItem.position))
    return [Kept(*tuple(row)) for row in rows]


def todo_list(session: DbSession, plan: Schedule, user_id: int, items: list[Kept]) -> list[Todo]:
    """The open assessed items not yet done (work handed in and waiting for a grade is not
    the learner's to do, nor a quiz or exam closed: it can no longer be taken) and the
    weekly checks of the units open now not yet taken: overdue first, then by due date.
    Once the learner's program is over (``lms.cohorts.calendar.program_over``) nothing past
    due is listed: only work an extension keeps open."""
    today = plan.today
    over = today >= plan.timeline.closes_on  # what is past due once the program has closed is no longer overdue
    # Handed in and not done is waiting for a grade: the learner's own work or their team's
    # (the kept state found it through lms.coursework.sharing).
    todo = [Todo(kind=KIND_OF_ITEM[item.kind], key=item.key, title=item.title,
                 module=item.module_title or item.level_title, due_on=item.due_on, today=today, link=_link(item),
                 detail=item.detail, closes=item.closes, zone=plan.cohort.timezone, place=place)
            for place, item in enumerate(items)
            if not item.done and item.opens_on <= today and not item.closed(today) and not (over and item.due_on < today)
            and not (item.kind in (ItemKind.ASSIGNMENT, ItemKind.PORTFOLIO) and item.handed_in)]
    return sorted(todo + _checks(session, plan, user_id), key=_todo_order)


def _checks(session: DbSession, plan: Schedule, user_id: int) -> list[Todo]:
    """The weekly checks of the lessons open now (released, not yet past due) the learner
    has not finished an attempt of: one statement."""
    due_of = {lesson.id: (slot, lesson) for slot in plan.open_now for lesson in slot.lessons}
    week = {lesson_id: place for place, lesson_id in enumerate(due_of)}
    if not due_of:
        return []
    taken = exists().where(Attempt.quiz_id == Quiz.id, Attempt.user_id == user_id, Attempt.submitted_at.is_not(None))
    checks = session.scalars(select(Quiz).where(Quiz.kind == QuizKind.CHECK, Quiz.retired_at.is_(None),
                                               Quiz.lesson_id.in_(list(due_of)), ~taken)
                             .options(load_only(Quiz.id, Quiz.key, Quiz.title, Quiz.lesson_id)))
    result = []
    for quiz in checks:
        if quiz.lesson_id is None:
            continue
        slot, lesson = due_of[quiz.lesson_id]
        result.append(Todo(kind=TodoKind.CHECK, key=quiz.key, title=quiz.title, module=slot.item.module.title,
                           due_on=slot.due_on, today=plan.today, link=Link("assessment.quiz", quiz.key),
                           detail=f"practice on {lesson.title}", zone=plan.cohort.timezone,
                           place=week[quiz.lesson_id]))
    return result


@cache
def _recent_statements() -> tuple[Executable, Executable, Executable]:
    """``recent_results``' statements for the released grades (of ``submission_ids``), the
    scored quizzes and the stakeholder feedback (of ``user_id``), newest first: the columns
    the panel shows, built once a process (a select with its joins and options cost more to
    build and key than to run, and loading whole rows more than reading these columns)."""
    grades = (select(Grade.id, Grade.submission_id, Grade.score, Grade.max_score, Grade.released_at, Grade.updated_at,
                     Assignment.key, Assignment.title)
              .join(Submission, Submission.id == Grade.submission_id).join(Assignment, Assignment.id == Submission.assignment_id)
              .where(Grade.submission_id.in_(bindparam("submission_ids", expanding=True)),
                     Grade.status == GradeStatus.RELEASED, Grade.released_at.is_not(None))
              .order_by(Grade.released_at.desc()).limit(RECENT_SHOWN))
    attempts = (select(Quiz.key, Quiz.title, Attempt.score, Attempt.max_score, Attempt.submitted_at, Attempt.started_at)
                .join(Quiz, Quiz.id == Attempt.quiz_id)
                .where(Attempt.user_id == bindparam("user_id"), Attempt.submitted_at.is_not(None), Attempt.score.is_not(None),
                       Attempt.pending_manual.is_(False), Quiz.kind != QuizKind.CHECK)
                .order_by(Attempt.submitted_at.desc()).limit(RECENT_SHOWN))
    answers = (select(FeedbackInvite.name, Module.title, FeedbackInvite.relation, FeedbackResponse.submitted_at)
               .join(FeedbackInvite, FeedbackInvite.id == FeedbackResponse.invite_id)
               .join(Module, Module.id == FeedbackInvite.module_id)
               .where(FeedbackInvite.learner_id == bindparam("user_id"))
               .order_by(FeedbackResponse.submitted_at.desc()).limit(RECENT_SHOWN))
    return grades, attempts, answers


def recent_results(session: DbSession, user_id: int) -> list[Recent]:
    """The learner's latest released grades (on their own work and on their team's, with
    their own adjusted score), scored quizzes and stakeholder feedback, newest first: a
    fixed number of statements."""
    grades_of, attempts_of, answers_of = _recent_statements()
    work = work_by_learner(session, [user_id], options=(load_only(Submission.id, Submission.assignment_id,
                                                                   Submission.user_id),))
    grades = session.execute(grades_of, {"submission_ids": sorted({s.id for s in work.values()})}).all() if work else []
    teams = groups_of(session, [g.submission_id for g in grades])
    recent = []
    for g in grades:
        team = teams.get(g.submission_id)
        score = team.score_of(user_id, g.score, g.max_score) if team is not None else g.score
        recent.append(Recent("grade", g.title + (f" (team {team.name})" if team is not None else ""),
                             g.released_at or g.updated_at, f"{score:g} of {g.max_score:g}" if score is not None else "graded",
                             Link("grading.feedback", g.key)))
    for key, title, score, max_score, submitted_at, started_at in session.execute(attempts_of, {"user_id": user_id}):
        percent = percent_of(score, max_score)
        if percent is not None:
            recent.append(Recent("quiz", title, submitted_at or started_at, f"{percent:g}%", Link("assessment.quiz", key)))
    recent += [Recent("feedback", f"{name} on {module}", submitted_at, relation.replace("_", " "), Link("feedback.mine", ""))
               for name, module, relation, submitted_at in session.execute(answers_of, {"user_id": user_id})]
    return sorted(recent, key=lambda r: r.at, reverse=True)[:RECENT_SHOWN]


def next_opening(plan: Schedule, items: list[Kept]) -> Opening | None:
    """The first day after today something of the schedule opens (a phase, a quiz, an exam,
    assessed work), and what opens then."""
    phases = [(s.opens_on, ("module", f"{s.item.module.title}: {s.phase.title}")) for s in plan.upcoming]
    assessed = [(i.opens_on, (str(KIND_OF_ITEM[i.kind]), i.title)) for i in items if i.opens_on > plan.today]
    if not phases and not assessed:
        return None
    first = min(day for day, _title in phases + assessed)
    return Opening(first, [title for day, title in phases + assessed if day == first], opens_at(plan.cohort, first))


def running_attempts(session: DbSession, user_id: int, now: datetime) -> dict[str, datetime | None]:
    """The learner's attempts started and not yet ended (handed in or out of time), by the
    key of their quiz: when each one's time runs out (None: no time limit). One statement."""
    rows = session.execute(select(Quiz.key, Attempt.deadline_at).join(Quiz, Quiz.id == Attempt.quiz_id)
                           .where(Attempt.user_id == user_id, Attempt.submitted_at.is_(None),
                                  or_(Attempt.deadline_at.is_(None), Attempt.deadline_at > now)))
    return {key: deadline for key, deadline in rows}


def learner_today(session: DbSession, plan: Schedule, user_id: int, now: datetime) -> LearnerToday:
    """The learner's home panel: their assessed items read from the kept schedule state
    (``lms.progress.state``, the same dates ``lms.progress.completion`` works out), the
    weekly checks from their schedule, with the attempts they have under way (a timed one's
    clock runs while they are elsewhere: its entry says when time runs out, not only when
    the quiz closes), their latest results."""
    items = kept_items(session, plan.cohort.id, user_id)
    todo = todo_list(session, plan, user_id, items)
    running = running_attempts(session, user_id, now)
    todo = [replace(t, running=True, runs_out=running[t.key]) if t.key in running else t for t in todo]
    closed = plan.close.says("nothing more is handed in unless your instructor grants you an extension") if plan.closed else None
    return LearnerToday(todo=todo, recent=recent_results(session, user_id), next=next_opening(plan, items), closed=closed)


def calendar_events(session: DbSession, plan: Schedule, user_id: int) -> list[CalendarEvent]:
    """The learner's assessed items in their calendar feed (``lms.learning.calendar``), on
    the dates the kept schedule state holds (``kept_items``: their own dates, as the To do
    list and the progress page have them: late joining, extensions, early access, work
    returned for revision): when each piece of assessed work is due, when each quiz and exam
    opens, and when it closes (or is due, when its window stays open). Done or not: a
    calendar is the schedule. One statement, whatever the number of items."""
    zone = plan.cohort.timezone
    events = []
    for item in kept_items(session, plan.cohort.id, user_id):
        link = _link(item)
        where = " · ".join(part for part in (KIND_OF_ITEM[item.kind].capitalize(), item.module_title or item.level_title) if part)
        name = f"{item.kind}-{item.key}"
        if item.kind in (ItemKind.QUIZ, ItemKind.EXAM):
            opens = day_starts(zone, item.opens_on)
            events.append(CalendarEvent(f"{name}-opens", f"Opens: {item.title}", opens, opens + MOMENT,
                                        f"{where}. Opens at the start of {item.opens_on:%A %d %B %Y} in your cohort's "
                                        f"time zone ({zone}).", link.endpoint, link.args))
        deadline = due_by(zone, item.due_on, item.closes)
        if item.closes:
            summary, said = (f"Closes: {item.title}",
                             f"Closes at the start of {item.due_on:%A %d %B %Y} in your cohort's time zone ({zone}): "
                             "it cannot be taken after that.")
        else:
            summary, said = (f"Due: {item.title}",
                             f"Due by the end of {item.due_on:%A %d %B %Y} in your cohort's time zone ({zone}).")
        events.append(CalendarEvent(f"{name}-due", summary, deadline - MOMENT, deadline, f"{where}. {said}",
                                    link.endpoint, link.args))
    return events


# --------------------------------------------------------------------------- instructors


@dataclass(frozen=True)
class Waiting:
    submission: Submission
    learner: User


class Behind(NamedTuple):
    """A learner with assessed work past due."""

    id: int
    name: str
    days: int


@dataclass(frozen=True)
class CohortToday:
    """One cohort on the instructor's home. Its lists of learners show the first ``SHOWN``
    (the most days behind, the most reasons); the rest are one link away (the gradebook's
    overdue filter, the heat map's at-risk list): a cohort of hundreds has hundreds behind."""

    SHOWN: ClassVar[int] = 10
    cohort: Cohort
    waiting: list[Waiting]
    waiting_count: int
    essays: int
    # None for a cohort the person staffs only as an admin of its organization: an
    # organization may run many cohorts, and its admin follows them on their heat maps.
    map: HeatMap | None

    @cached_property
    def overdue(self) -> list[Behind]:
        """Learners with assessed work past due, the most days behind first: from the
        heat map's one line per learner, no row built. A closed account (deactivated, or
        erased) is on nobody's to-do: nobody can chase it."""
        if self.map is None:
            return []
        lines = sorted((s for s in self.map.learners_in_order if s.days_behind > 0 and not s.closed and not s.over),
                       key=lambda s: (-s.days_behind, s.name))
        return [Behind(id=s.user_id, name=s.name, days=s.days_behind) for s in lines]

    @cached_property
    def new_at_risk(self) -> list[tuple[User, list[str]]]:
        """At-risk learners nobody has reviewed yet, or with reasons new since their last
        review (their rows built once, whatever the template asks, with the reasons as the
        map has them: the list shows their texts)."""
        if self.map is None:
            return []
        found = []
        rows = list(self.map.mapped_at_risk)
        for row, since in zip(rows, self.map.reviews_of(rows), strict=True):
            if not since.reviewed:
                found.append((row.user, [str(r) for r in row.reasons]))
            elif since.new:
                found.append((row.user, [str(r) for r in since.new]))
        return found


def taught_cohorts(session: DbSession, user_id: int, admin_of: Collection[int] = ()) -> list[Cohort]:
    """The cohorts (not archived) the person teaches, and those of the organizations they
    administer (an organization admin may grade its cohorts' work)."""
    taught = select(cohort_instructors.c.cohort_id).where(cohort_instructors.c.user_id == user_id)
    staffed = or_(Cohort.id.in_(taught), Cohort.organization_id.in_(list(admin_of))) if admin_of else Cohort.id.in_(taught)
    return list(session.scalars(select(Cohort).where(staffed, Cohort.archived_at.is_(None)).order_by(Cohort.name, Cohort.id)))


def instructor_today(session: DbSession, user_id: int, now: datetime, admin_of: Collection[int] = ()) -> list[CohortToday]:
    """Each cohort the person teaches, or staffs as an admin of its organization (not
    archived): work waiting for a grade (the oldest first), essay answers to grade, overdue
    learners and newly at-risk learners."""
    cohorts = taught_cohorts(session, user_id, admin_of)
    if not cohorts:
        return []
    ids = [c.id for c in cohorts]
    teaches = set(session.scalars(select(cohort_instructors.c.cohort_id).where(
        cohort_instructors.c.user_id == user_id, cohort_instructors.c.cohort_id.in_(ids))))
    submitted = list(session.scalars(
        select(Submission).where(Submission.cohort_id.in_(ids), Submission.status == SubmissionStatus.SUBMITTED)
        .order_by(Submission.submitted_at, Submission.id)
        .options(selectinload(Submission.assignment), load_only(Submission.id, Submission.assignment_id, Submission.user_id,
                                                                 Submission.cohort_id, Submission.status, Submission.submitted_at))))
    learners = ({u.id: u for u in session.scalars(select(User).where(User.id.in_({s.user_id for s in submitted})))}
                if submitted else {})
    by_cohort: dict[int, list[Waiting]] = defaultdict(list)
    for s in submitted:
        if s.cohort_id is not None:
            by_cohort[s.cohort_id].append(Waiting(s, learners[s.user_id]))
    essays = pending_essay_counts(session, ids)
    return [CohortToday(cohort=c, waiting=by_cohort[c.id][:WAITING_SHOWN], waiting_count=len(by_cohort[c.id]),
                        essays=essays.get(c.id, 0), map=heat_map(session, c, now) if c.id in teaches else None)
            for c in cohorts]


# --------------------------------------------------------------------------- the teaching calendar


def teaching_events(session: DbSession, cohorts: Sequence[Cohort]) -> list[CalendarEvent]:
    """An instructor's calendar feed (``lms.today.views.teaching_calendar_feed``): for each
    of ``cohorts`` (``taught_cohorts``), on its own dates and clock (as a learner's feed
    has theirs, ``lms.learning.services.calendar_ics``), when each piece of assessed work
    and each portfolio falls due (grading starts: what is handed in waits in the queue),
    when each quiz and exam that closes closes, and when the program closes. A learner's
    own extension moves only their own dates, not these. The content has no live sessions
    or office hours to add. A fixed number of statements, whatever the number of cohorts
    or learners (``cohorts_assessed_dates``)."""
    dates = cohorts_assessed_dates(session, cohorts)
    events = []
    for cohort in cohorts:
        zone, name = cohort.timezone, cohort.name
        for item in dates[cohort.id]:
            where = " · ".join(part for part in (KIND_OF_ITEM[item.kind].capitalize(), name,
                                                 item.module.title if item.module else item.level.title if item.level else "")
                               if part)
            uid = f"cohort-{cohort.id}-{item.kind}-{item.key}"
            if item.kind in (ItemKind.QUIZ, ItemKind.EXAM):
                if not item.closes:
                    continue  # open to the program's end: nothing closes
                closes = due_by(zone, item.due_on, closes=True)
                events.append(CalendarEvent(
                    f"{uid}-closes", f"Closes: {item.title} ({name})", closes - MOMENT, closes,
                    f"{where}. Closes for the cohort's learners at the start of {item.due_on:%A %d %B %Y} in the "
                    f"cohort's time zone ({zone}).", "assessment.quiz", {"key": item.key}))
                continue
            due = due_by(zone, item.due_on)
            events.append(CalendarEvent(
                f"{uid}-grading", f"Grading starts: {item.title} ({name})", due, due + MOMENT,
                f"{where}. Due by the end of {item.due_on:%A %d %B %Y} in the cohort's time zone ({zone}): "
                "what is handed in waits in your grading queue.", "grading.queue", {"cohort": str(cohort.id)}))
        closes_on = program_closes_on(cohort.start_date)
        closes = day_starts(zone, closes_on)
        events.append(CalendarEvent(
            f"cohort-{cohort.id}-program-closes", f"Program closes: {name}", closes - MOMENT, closes,
            f"The program of {name} closes at the start of {closes_on:%A %d %B %Y} in the cohort's time zone ({zone}): "
            "its final work is due by then, and no quiz is open after it.", "cohorts.cohort", {"cohort_id": str(cohort.id)}))
    return events
