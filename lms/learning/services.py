"""The cohort schedule: month N of the program opens at start + (N-1) months, at
midnight in the cohort's time zone; each phase's work is due a month after it opens.

Each learner's own dates follow from the cohort's and from when they joined (``Timeline``,
the one place this date maths lives): a learner who joined on or before the cohort's start
has the cohort's dates; one who joined later has the pace chosen at enrolment, catch-up
(the months already under way or gone open at once and are due in a catch-up window,
``days_per_month`` days per month in program order, then the cohort's dates) or their own
start (month 1 opens on the joining day). Overrides move one learner's dates on top.
Flush only; ``now`` is always passed in."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from blinker import Namespace
from flask import current_app, has_app_context
from icalendar import Calendar, Event
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import ColumnElement

from lms.accounts.models import User
from lms.accounts.services import hash_token, new_token
from lms.audit.models import AuditAction
from lms.audit.services import record_all_from, record_from
from lms.catalog.models import Lesson, Level, Phase
from lms.catalog.services import ScheduledPhase, active_levels, kept_levels, kept_schedule, schedule
from lms.cohorts.calendar import PROGRAM_MONTHS as PROGRAM_MONTHS
from lms.cohorts.calendar import cohort_today as cohort_today
from lms.cohorts.calendar import current_month as current_month
from lms.cohorts.calendar import month_opens_on as month_opens_on
from lms.cohorts.calendar import program_closes_on, program_ends_on
from lms.cohorts.enrolment import active_enrolment
from lms.cohorts.models import Cohort, Enrolment, Pace, TimeAllowance, cohort_instructors, organization_admins
from lms.cohorts.services import CohortError
from lms.database import DbSession, among, rowcount, utcnow
from lms.learning.models import CalendarFeed, FeedKind, OverrideKind, ScheduleOverride
from lms.web.page_cache import fingerprint

events = Namespace()
# An override granted (sender: the ScheduleOverride; session, cohort, now): the learner is told
# (lms.notifications).
schedule_changed = events.signal("schedule-changed")
# Extensions removed, one or several learners at once (sender: the Cohort; session, overrides,
# now): each learner is told, in one batch (lms.notifications).
extensions_removed = events.signal("extensions-removed")
OVERRIDE_KINDS = {OverrideKind.EARLY_ACCESS: "Early access", OverrideKind.EXTENSION: "Extension"}
CATCH_UP_DAYS_PER_MONTH = 14  # the default; the app config's CATCH_UP_DAYS_PER_MONTH wins
PACES = {Pace.CATCH_UP: "Catch-up: the missed months compressed into a catch-up window, then the cohort's dates",
         Pace.OWN_START: "Own start: the program's pace from the joining day"}


def opens_at(cohort: Cohort, day: date) -> datetime:
    """The UTC instant a date begins in the cohort's time zone."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(cohort.timezone)).astimezone(ZoneInfo("UTC"))


def catch_up_days() -> int:
    """Days of the catch-up window per missed month: the app's setting, or the default."""
    if has_app_context():
        return int(current_app.config.get("CATCH_UP_DAYS_PER_MONTH", CATCH_UP_DAYS_PER_MONTH))
    return CATCH_UP_DAYS_PER_MONTH


@dataclass(frozen=True)
class Timeline:
    """How one learner's dates follow from their cohort's start, their joining day (in the
    cohort's time zone; None: from the start) and their pace. Plain values only."""

    cohort_start: date
    joined_on: date | None = None
    pace: Pace = Pace.CATCH_UP
    days_per_month: int = CATCH_UP_DAYS_PER_MONTH

    @property
    def late(self) -> bool:
        """Joined after the cohort started (on or before the start: the cohort's dates)."""
        return self.joined_on is not None and self.joined_on > self.cohort_start

    @property
    def own_start(self) -> bool:
        return self.late and self.pace == Pace.OWN_START

    @property
    def start(self) -> date:
        """The day the learner's month 1 opens on the calendar their dates are counted from."""
        if self.own_start:
            assert self.joined_on is not None  # late
            return self.joined_on
        return self.cohort_start

    @property
    def caught_up(self) -> int:
        """The months in the catch-up window, 1..N (0: none): those under way or gone on joining."""
        if not self.late or self.pace != Pace.CATCH_UP:
            return 0
        assert self.joined_on is not None  # late
        return min(current_month(self.cohort_start, self.joined_on), PROGRAM_MONTHS)

    @property
    def ends_on(self) -> date:
        """The day after the learner's month 12 (their twelve months' end on their own calendar)."""
        return program_ends_on(self.start)

    @property
    def closes_on(self) -> date:
        """The day their program closes, after the closing period that follows month 12
        (``lms.cohorts.calendar.program_closes_on``): nothing is due or open after it."""
        return program_closes_on(self.start)

    def month_opens(self, month: int) -> date:
        return month_opens_on(self.start, month)

    def month(self, today: date) -> int:
        """The learner's program month on ``today`` (see ``current_month``)."""
        return current_month(self.start, today)

    def catch_up_due(self, month: int) -> date | None:
        """The end of ``month``'s catch-up window (None: the month is not caught up)."""
        if not 1 <= month <= self.caught_up:
            return None
        assert self.joined_on is not None  # caught_up > 0 only when late
        return self.joined_on + timedelta(days=self.days_per_month * month)

    def place(self, month: int, opens: date, due: date) -> tuple[date, date]:
        """An item of ``month`` with these dates on the learner's calendar: a caught-up month
        opens on joining and is due at the end of its catch-up window, never earlier than its
        own due date."""
        window = self.catch_up_due(month)
        if window is None:
            return opens, due
        assert self.joined_on is not None
        return self.joined_on, max(due, window)

    def item_dates(self, month: int, opens_after_days: int = 0, due_after_days: int | None = None) -> tuple[date, date]:
        """Open and due dates of an item released ``opens_after_days`` into ``month`` and due
        ``due_after_days`` after the month opens (None: when the next month opens), never
        after the program closes (``closes_on``): a window the content gives every quiz (90
        days) ran two months past month 12 for a quiz opening in it, so a learner whose
        program was over was still told a quiz was open and due. The final work the content
        puts in the closing period after month 12 keeps its own due day (the content check
        refuses work due after the close)."""
        base = self.month_opens(month)
        due = base + timedelta(days=due_after_days) if due_after_days is not None else self.month_opens(month + 1)
        due = min(due, self.closes_on)
        return self.place(month, base + timedelta(days=opens_after_days), due)

    def phase_dates(self, month: int) -> tuple[date, date]:
        """When a phase of ``month`` opens and when its work is due."""
        return self.item_dates(month)

    @property
    def catch_up_window(self) -> tuple[date, date] | None:
        """The first and last due dates of the catch-up window (None: no catch-up)."""
        if not self.caught_up:
            return None
        return self.phase_dates(1)[1], max(self.phase_dates(m)[1] for m in range(1, self.caught_up + 1))


def learner_dates(cohort_start: date, joined_on: date | None, pace: Pace, phase_month: int,
                  days_per_month: int = CATCH_UP_DAYS_PER_MONTH) -> tuple[date, date]:
    """(opens, due) of a phase of ``phase_month`` for a learner who joined on ``joined_on``."""
    return Timeline(cohort_start, joined_on, pace, days_per_month).phase_dates(phase_month)


def timeline_of(cohort: Cohort, enrolment: Enrolment | None, days_per_month: int | None = None) -> Timeline:
    """The learner's timeline in ``cohort`` from their enrolment there (None: the cohort's dates)."""
    days = catch_up_days() if days_per_month is None else days_per_month
    if enrolment is None or enrolment.cohort_id != cohort.id:
        return Timeline(cohort.start_date, days_per_month=days)
    return joined_timeline(cohort, enrolment.started_at, enrolment.pace, days)


def joined_timeline(cohort: Cohort, started_at: datetime, pace: Pace, days_per_month: int | None = None) -> Timeline:
    days = catch_up_days() if days_per_month is None else days_per_month
    return Timeline(cohort.start_date, cohort_today(cohort, started_at), Pace(pace), days)


def enrolment_in(session: DbSession, cohort: Cohort, user_id: int) -> Enrolment | None:
    """The learner's current enrolment in ``cohort``, if any."""
    return session.scalar(select(Enrolment).where(Enrolment.user_id == user_id, Enrolment.cohort_id == cohort.id,
                                                  Enrolment.active))


def deadline_that_applies(regular: date, extension: date | None) -> date:
    """The one rule of which deadline applies to a learner's item regularly due on
    ``regular`` when their part of the program has an extension to ``extension`` (None:
    none): the extension's day when it is later, else the regular day. An extension to a
    day before the part's own end (the gradebook extends one item a few days) still moves
    the items due before it. The schedule (``build_schedule``), the work page
    (``lms.coursework.services.dates_for``), quiz windows, the kept schedule state
    (``lms.progress.completion``, whose due dates lateness and the API follow) all ask here."""
    return max(regular, extension) if extension is not None else regular


@dataclass(frozen=True)
class Close:
    """When one learner's program closes (``Timeline.closes_on``: the cohort's close, or
    their own for a late joiner at their own pace, as ``lms.cohorts.calendar.program_over``
    works it out), and what they are told once it has. From that day nothing is handed in
    (work, team work, portfolios, quiz attempts) unless it is still due: an extension (or a
    return for revision) running to that day or later, or the final work due on the day
    itself. Reading stays open: lessons, portfolio, progress, certificates."""

    cohort: str
    on: date
    own: bool  # the learner's own program (a late joiner at their own pace), not the cohort's
    zone: str  # the cohort's time zone, where the day is counted

    def passed(self, now: datetime) -> bool:
        """The program has closed at ``now`` (in the cohort's time zone)."""
        return now.astimezone(ZoneInfo(self.zone)).date() >= self.on

    def refuses(self, due: date, now: datetime, what: str, done: str = "handed in") -> str | None:
        """Why ``what`` (due on ``due``, extensions included) can no longer be ``done`` at
        ``now``: the program has closed and it is past due. None: it may be."""
        if not self.passed(now) or due >= now.astimezone(ZoneInfo(self.zone)).date():
            return None
        return self.says(f"{what} can no longer be {done} unless your instructor grants you an extension")

    def says(self, what: str) -> str:
        """The sentence a closed program is told with: ``what`` after the day it closed."""
        program = f"Your program in {self.cohort}" if self.own else f"The program of {self.cohort}"
        return f"{program} closed on {self.on:%d %B %Y}: {what}."


def close_of(cohort: Cohort, timeline: Timeline) -> Close:
    """When the program of a learner of ``cohort`` on ``timeline`` closes (``Close``)."""
    return Close(cohort.name, timeline.closes_on, timeline.own_start, cohort.timezone)


@dataclass(frozen=True)
class Slot:
    """One phase of a module in one learner's schedule. ``extension``: the day of the
    extension that applies to the phase (None: none), which moves every due date of the
    phase before it (``deadline_that_applies``); ``extended``: it moves the phase's own end."""

    item: ScheduledPhase
    opens_on: date
    due_on: date
    is_open: bool
    early: bool
    extended: bool
    extension: date | None = None

    @property
    def phase(self) -> Phase:
        return self.item.phase

    @property
    def lessons(self) -> list[Lesson]:
        return self.item.lessons


@dataclass(frozen=True)
class Schedule:
    cohort: Cohort
    today: date
    month: int
    level: Level | None
    slots: list[Slot]
    timeline: Timeline

    @property
    def joined_month(self) -> int:
        """The cohort's month the learner joined in (0: on or before the start)."""
        timeline = self.timeline
        return current_month(timeline.cohort_start, timeline.joined_on) if timeline.late and timeline.joined_on else 0

    @property
    def over(self) -> bool:
        """The learner's twelve months are over (their month counts past the last)."""
        return self.month > PROGRAM_MONTHS

    @property
    def close(self) -> Close:
        """When the learner's program closes, and what they are told once it has."""
        return close_of(self.cohort, self.timeline)

    @property
    def closed(self) -> bool:
        """The learner's program has closed (``program_over`` for them): on or after ``Timeline.closes_on``."""
        return self.today >= self.timeline.closes_on

    @property
    def extended_to(self) -> date | None:
        """The latest day any of the learner's extensions runs to (None: they have none)."""
        return max((s.extension for s in self.slots if s.extension is not None), default=None)

    def refuses(self, now: datetime, what: str, done: str) -> str | None:
        """Why ``what``, practice due on no day of its own (simulation runs, KPI figures), can
        no longer be ``done`` at ``now``: the learner's program has closed (``Close``) and none
        of their extensions runs to today. None: it may be."""
        return self.close.refuses(self.extended_to or date.min, now, what, done)

    @property
    def open_now(self) -> list[Slot]:
        """Released work that is not yet past due: what to do now."""
        return [s for s in self.slots if s.is_open and s.due_on > self.today]

    @property
    def released_earlier(self) -> list[Slot]:
        return [s for s in self.slots if s.is_open and s.due_on <= self.today]

    @property
    def upcoming(self) -> list[Slot]:
        return [s for s in self.slots if not s.is_open]

    @property
    def next_up(self) -> Slot | None:
        upcoming = self.upcoming
        return min(upcoming, key=lambda s: s.opens_on) if upcoming else None

    def slot_for(self, phase_id: int) -> Slot | None:
        return next((s for s in self.slots if s.phase.id == phase_id), None)

    def due_at(self, slot: Slot) -> datetime:
        """When ``slot`` is due: the end of its due day in the cohort's zone (``due_by``)."""
        return due_by(self.cohort.timezone, slot.due_on)

    def opens_at(self, slot: Slot) -> datetime:
        """When ``slot`` opens: the start of its opening day in the cohort's zone."""
        return day_starts(self.cohort.timezone, slot.opens_on)

    def by_month(self) -> dict[int, list[Slot]]:
        months: dict[int, list[Slot]] = {m: [] for m in range(1, PROGRAM_MONTHS + 1)}
        for slot in self.slots:
            months.setdefault(slot.phase.month, []).append(slot)
        return months


def latest_overrides(session: DbSession, user_id: int) -> dict[tuple[int, OverrideKind], ScheduleOverride]:
    """The override of each kind per phase that applies: the newest not removed."""
    rows = session.scalars(select(ScheduleOverride).where(ScheduleOverride.user_id == user_id,
                                                          ScheduleOverride.removed_at.is_(None))
                           .order_by(ScheduleOverride.created_at, ScheduleOverride.id))
    return {(o.phase_id, o.kind): o for o in rows}


def build_schedule(session: DbSession, cohort: Cohort, user_id: int | None, now: datetime,
                   enrolment: Enrolment | None = None, kept: bool = False) -> Schedule:
    """The learner's schedule in ``cohort`` (``user_id`` None: the cohort's own dates):
    their own dates from their enrolment there (looked up unless given), then their overrides.

    ``kept``: the phases, lessons and levels are the curriculum this process keeps between
    requests (``lms.catalog.revision``: one statement instead of four), detached and read
    only; for pages that only show the schedule, never for one that writes beside it."""
    today = cohort_today(cohort, now)
    overrides = latest_overrides(session, user_id) if user_id is not None else {}
    if enrolment is None and user_id is not None:
        enrolment = enrolment_in(session, cohort, user_id)
    timeline = timeline_of(cohort, enrolment)
    slots = []
    for item in (kept_schedule(session) if kept else schedule(session)):
        opens, due = timeline.phase_dates(item.phase.month)
        early = overrides.get((item.phase.id, OverrideKind.EARLY_ACCESS))
        extension = overrides.get((item.phase.id, OverrideKind.EXTENSION))
        is_early = early is not None and early.on_date < opens
        if early is not None and is_early:
            opens = early.on_date
        extended_to = extension.on_date if extension is not None else None
        applies = deadline_that_applies(due, extended_to)
        slots.append(Slot(item=item, opens_on=opens, due_on=applies, is_open=opens <= today, early=is_early,
                          extended=applies > due, extension=extended_to))
    month = timeline.month(today)
    level = next((lv for lv in (kept_levels(session) if kept else active_levels(session)) if lv.holds(month)), None)
    return Schedule(cohort=cohort, today=today, month=month, level=level, slots=slots, timeline=timeline)


def learner_schedule(session: DbSession, user: User, now: datetime | None = None) -> Schedule | None:
    enrolment = active_enrolment(session, user.id)
    if enrolment is None:
        return None
    return build_schedule(session, enrolment.cohort, user.id, now or utcnow(), enrolment)


def closed_to(session: DbSession, user_id: int, now: datetime, what: str, done: str) -> str | None:
    """Why the learner can no longer do ``what`` (``done``), practice due on no day of its own
    such as a simulation run or a KPI figure, at ``now``: their program has closed and none of
    their extensions runs to today (``Schedule.refuses``). None: they may, or they are in no
    cohort (no program of theirs to close)."""
    enrolment = active_enrolment(session, user_id)
    if enrolment is None:
        return None
    return build_schedule(session, enrolment.cohort, user_id, now, enrolment).refuses(now, what, done)


@dataclass(frozen=True)
class LessonAccess:
    allowed: bool
    opens_on: date | None = None
    reason: str | None = None


def phase_access(session: DbSession, user: User, phase: Phase, what: str, now: datetime | None = None) -> LessonAccess:
    """May this learner open something released with ``phase``? (Staff are let through
    by the access rules before this is asked.)"""
    enrolment = active_enrolment(session, user.id)
    if enrolment is None:
        return LessonAccess(False, reason=f"{what.capitalize()}s open to learners enrolled in a cohort.")
    # the kept curriculum: only the phase's dates on the learner's calendar are read
    plan = build_schedule(session, enrolment.cohort, user.id, now or utcnow(), enrolment, kept=True)
    slot = plan.slot_for(phase.id)
    if slot is None or slot.is_open:
        return LessonAccess(True)
    whose = "you" if plan.timeline.own_start else "your cohort"
    return LessonAccess(False, slot.opens_on,
                        f"This {what} is part of month {phase.month}, which opens for {whose} on "
                        f"{slot.opens_on:%d %B %Y}.")


def lesson_access(session: DbSession, user: User, lesson_key: str, now: datetime | None = None) -> LessonAccess:
    lesson = session.scalar(select(Lesson).where(Lesson.key == lesson_key, Lesson.retired_at.is_(None)))
    if lesson is None:
        return LessonAccess(True)  # the view answers 404
    return phase_access(session, user, lesson.phase, "lesson", now)


# ------------------------------------------------------------------ overrides


EXTENSION_PAST_DUE = timedelta(days=90)


def latest_extension(timeline: Timeline, regular_due: date) -> date:
    """The latest day an extension of a part regularly due on ``regular_due`` may run to:
    the day the learner's program closes (``Timeline.closes_on``: its final work is due by
    then, so work of month 12 can be extended into the closing period), or
    ``EXTENSION_PAST_DUE`` past the regular due date when that is later (a late joiner's
    catch-up dates can pass the close). A typed year such as 2030 is refused, not kept."""
    return max(timeline.closes_on, regular_due + EXTENSION_PAST_DUE)


def extension_limit(timeline: Timeline) -> str:
    """What the grant form says of how late an extension may run, for this learner."""
    return (f"at most to {timeline.closes_on:%d %B %Y}, the day the program closes (or {EXTENSION_PAST_DUE.days} days "
            "past the part's due date when that is later)")


def grant_override(session: DbSession, cohort: Cohort, learner: User, phase_id: int, kind: OverrideKind | str, on_date: date,
                   note: str, granted_by: User, now: datetime | None = None, item_due: date | None = None,
                   seen: int | None = None) -> ScheduleOverride:
    """Early access to a part of the program, or an extension of it. Early access opens the
    part on ``on_date``, from today (in the cohort's time zone) to before its regular
    opening, and moves no due or closing date: the learner may hand in early but is due
    when their classmates are. An extension moves every due date of the part before
    ``on_date`` to it, and must run past the part's regular due date, or past ``item_due``
    when given (one item's due date, as the gradebook extends an item).

    ``seen`` is the newest override the granting page showed (its id, 0 for none): a
    grant of the same kind for the same part made since (another admin, another tab) is
    not replaced unseen, as the newest grant wins and could shorten what they gave;
    ``StaleOverride`` names it, to look at and grant again."""
    if kind not in OVERRIDE_KINDS:
        raise CohortError(f"Unknown kind {kind!r}.")
    kind = OverrideKind(kind)
    enrolment = active_enrolment(session, learner.id)
    if enrolment is None or enrolment.cohort_id != cohort.id:
        raise CohortError(f"{learner.name} is not a learner of {cohort.name}.")
    phase = session.get(Phase, phase_id)
    if phase is None or phase.retired_at is not None:
        raise CohortError("Choose a part of the program that exists.")
    if seen is not None:
        newer = session.scalar(select(ScheduleOverride).where(
            ScheduleOverride.user_id == learner.id, ScheduleOverride.phase_id == phase.id, ScheduleOverride.kind == kind,
            ScheduleOverride.id > seen).order_by(ScheduleOverride.id.desc()).limit(1))
        if newer is not None:
            given = "an extension to" if kind == OverrideKind.EXTENSION else "early access from"
            raise StaleOverride(f"Not granted: since this page was opened, {newer.granted_by.name} granted this part "
                                f"{given} {newer.on_date:%d %B %Y}, and yours would replace it. It is listed under "
                                "Granted below; grant again if yours should apply instead.")
    timeline = timeline_of(cohort, enrolment)
    base_open, base_due = timeline.phase_dates(phase.month)
    latest = latest_extension(timeline, base_due)
    if kind == OverrideKind.EARLY_ACCESS and on_date >= base_open:
        raise CohortError(f"Early access must open before the regular date, {base_open:%d %B %Y}.")
    today = cohort_today(cohort, now or utcnow())
    if kind == OverrideKind.EARLY_ACCESS and on_date < today:
        raise CohortError(f"Early access cannot open in the past: choose a date from today, {today:%d %B %Y}, "
                          f"to before the regular date, {base_open:%d %B %Y}.")
    if kind == OverrideKind.EXTENSION and item_due is not None and on_date <= item_due:
        raise CohortError(f"An extension must run past the item's due date, {item_due:%d %B %Y}.")
    if kind == OverrideKind.EXTENSION and item_due is None and on_date <= base_due:
        raise CohortError(f"An extension must run past the regular due date, {base_due:%d %B %Y}.")
    if kind == OverrideKind.EXTENSION and on_date > latest:
        raise CohortError(f"An extension can run at most to {latest:%d %B %Y}: the day the learner's program closes, "
                          f"or {EXTENSION_PAST_DUE.days} days past the regular due date when that is later.")
    override = ScheduleOverride(user_id=learner.id, phase_id=phase.id, kind=kind, on_date=on_date,
                                note=note.strip(), granted_by_id=granted_by.id, created_at=now or utcnow())
    session.add(override)
    session.flush()
    record_from(session, action=AuditAction.EXTENSION_GRANTED if kind == OverrideKind.EXTENSION else AuditAction.OVERRIDE_GRANTED,
                organization_id=cohort.organization_id, target=f"user:{learner.id} cohort:{cohort.id} phase:{phase.id}",
                before={"open": base_open, "due": base_due}, after={"kind": kind, "on_date": on_date, "note": override.note},
                actor_id=granted_by.id)
    schedule_changed.send(override, session=session, cohort=cohort, now=now or utcnow())
    return override


def remove_extension(session: DbSession, cohort: Cohort, learner: User, override_id: int, removed_by: User,
                     now: datetime | None = None) -> ScheduleOverride:
    """Take away the extension ``override_id`` of a learner of ``cohort``, the one the
    staff member's page showed as applying: the part's regular due dates apply again (no
    earlier extension it replaced comes back), and the learner's schedule, and the lateness
    of what they handed in, are worked out again in the same unit of work, as for a grant
    (``lms.progress.state``). Audited (``override_revoked``) and the learner told, as a grant is.

    A conditional write, as a grant is conditional on the newest grant its page showed: it
    marks removed the extensions of that part up to ``override_id`` that still apply, never a
    newer one. A grant made since the page was opened (another admin, another tab) is not
    undone: the removal is refused (``StaleOverride``) naming it, and a grant racing the
    removal keeps applying whichever commits first. Two removals at once: the second is
    told it was removed already. ``remove_extensions`` for one learner, its refusal raised."""
    done = remove_extensions(session, cohort, [(learner, override_id)], removed_by, now)
    if learner.id in done.refused:
        raise done.refused[learner.id]
    return done.removed[0]


@dataclass
class Removals:
    """What ``remove_extensions`` did: the extensions removed, and per learner id why not."""

    removed: list[ScheduleOverride] = field(default_factory=list)
    refused: dict[int, CohortError] = field(default_factory=dict)  # a newer grant: ``StaleOverride`` (``newer`` names it)


def remove_extensions(session: DbSession, cohort: Cohort, shown: Sequence[tuple[User, int]], removed_by: User,
                      now: datetime | None = None) -> Removals:
    """``remove_extension`` for several learners of ``cohort`` in one unit of work and a fixed
    number of statements whatever their number (the gradebook removes one item's extensions
    for the learners ticked): ``shown`` pairs each learner with the extension the staff
    member's page showed as applying. Each is checked as the single removal checks it (a
    learner of the cohort, an extension of theirs, no newer grant of its part, not removed
    already); the ones that pass are removed by one conditional write, audited one entry
    each, and their learners told in one batch (``extensions_removed``). A refusal is
    answered per learner, never raised: the caller says which and why."""
    now = now or utcnow()
    done = Removals()
    if not shown:
        return done
    ids = [learner.id for learner, _ in shown]
    enrolments = {e.user_id: e for e in session.scalars(select(Enrolment).where(among(Enrolment.user_id, ids),
                                                                                  Enrolment.active))}
    overrides = {o.id: o for o in session.scalars(
        select(ScheduleOverride).where(among(ScheduleOverride.id, [override_id for _, override_id in shown]))
        .options(selectinload(ScheduleOverride.phase).selectinload(Phase.module),
                 selectinload(ScheduleOverride.removed_by)))}
    # the newest extension still applying to each of the learners' parts: a newer grant than the one shown
    newest: dict[tuple[int, int], ScheduleOverride] = {}
    for o in session.scalars(select(ScheduleOverride).where(among(ScheduleOverride.user_id, ids),
                                                            ScheduleOverride.kind == OverrideKind.EXTENSION,
                                                            ScheduleOverride.removed_at.is_(None))
                             .options(selectinload(ScheduleOverride.granted_by)).order_by(ScheduleOverride.id)):
        newest[(o.user_id, o.phase_id)] = o
    passed: list[tuple[User, ScheduleOverride]] = []
    for learner, override_id in shown:
        enrolment = enrolments.get(learner.id)
        override = overrides.get(override_id)
        if enrolment is None or enrolment.cohort_id != cohort.id:
            done.refused[learner.id] = CohortError(f"{learner.name} is not a learner of {cohort.name}.")
        elif override is None or override.user_id != learner.id or override.kind != OverrideKind.EXTENSION:
            done.refused[learner.id] = CohortError("Choose an extension listed on this page.")
        elif (newer := newest.get((learner.id, override.phase_id))) is not None and newer.id > override.id:
            done.refused[learner.id] = StaleOverride(
                f"Not removed: since this page was opened, {newer.granted_by.name} granted this part an extension to "
                f"{newer.on_date:%d %B %Y}, which applies now. It is listed under Granted below; remove that one if the "
                "learner should have none.", newer=newer)
        elif override.removed_at is not None:
            by = override.removed_by.name if override.removed_by else "someone"
            done.refused[learner.id] = CohortError(f"This extension was removed already, by {by}: the regular due dates apply.")
        else:
            passed.append((learner, override))
    if not passed:
        return done
    # One conditional write for every learner: each part's extensions up to the one shown that still apply.
    changed = set(session.scalars(
        update(ScheduleOverride).where(ScheduleOverride.kind == OverrideKind.EXTENSION, ScheduleOverride.removed_at.is_(None),
                                       or_(*(and_(ScheduleOverride.user_id == o.user_id, ScheduleOverride.phase_id == o.phase_id,
                                                  ScheduleOverride.id <= o.id) for _, o in passed)))
        .values(removed_at=now, removed_by_id=removed_by.id).returning(ScheduleOverride.id)
        .execution_options(synchronize_session=False)))
    audited: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]] = []
    for learner, override in passed:
        if override.id not in changed:
            done.refused[learner.id] = CohortError("This extension was removed meanwhile by someone else: the regular due "
                                                   "dates apply.")
            continue
        set_committed_value(override, "removed_at", now)  # as written: no statement to read it back
        set_committed_value(override, "removed_by_id", removed_by.id)
        base_due = timeline_of(cohort, enrolments[learner.id]).phase_dates(override.phase.month)[1]
        audited.append((f"user:{learner.id} cohort:{cohort.id} phase:{override.phase_id}",
                        {"kind": OverrideKind.EXTENSION, "on_date": override.on_date, "note": override.note},
                        {"due": base_due}))
        done.removed.append(override)
    record_all_from(session, action=AuditAction.OVERRIDE_REVOKED, organization_id=cohort.organization_id,
                    actor_id=removed_by.id, changes=audited)
    if done.removed:
        extensions_removed.send(cohort, session=session, overrides=done.removed, now=now)
    return done


def applying_extensions(session: DbSession, user_ids: Sequence[int], phase_id: int) -> dict[int, ScheduleOverride]:
    """The extension of part ``phase_id`` that applies to each of ``user_ids`` who has one
    (the newest not removed, as ``latest_overrides`` decides), with who granted it: one
    statement and one for the granters, whatever the number of learners."""
    rows = session.scalars(select(ScheduleOverride).where(among(ScheduleOverride.user_id, user_ids),
                                                          ScheduleOverride.phase_id == phase_id,
                                                          ScheduleOverride.kind == OverrideKind.EXTENSION,
                                                          ScheduleOverride.removed_at.is_(None))
                           .options(selectinload(ScheduleOverride.granted_by))
                           .order_by(ScheduleOverride.created_at, ScheduleOverride.id))
    return {o.user_id: o for o in rows}


class StaleOverride(CohortError):
    """A grant, or a removal, from a page shown before another grant of the same kind for
    the same part (``newer``, when known)."""

    def __init__(self, message: str, newer: ScheduleOverride | None = None) -> None:
        super().__init__(message)
        self.newer = newer


def set_pace(session: DbSession, cohort: Cohort, learner: User, pace: Pace | str) -> Enrolment:
    """Change the pace of a learner of ``cohort`` (it matters when they joined after the start)."""
    if pace not in PACES:
        raise CohortError(f"Unknown pace {pace!r}.")
    enrolment = enrolment_in(session, cohort, learner.id)
    if enrolment is None:
        raise CohortError(f"{learner.name} is not a learner of {cohort.name}.")
    enrolment.pace = Pace(pace)
    session.flush()
    return enrolment


TIME_ALLOWANCES = {allowance: allowance.label[0].upper() + allowance.label[1:] for allowance in TimeAllowance}


def set_time_allowance(session: DbSession, cohort: Cohort, learner: User, allowance: TimeAllowance | str,
                       seen: TimeAllowance | str, granted_by: User) -> Enrolment:
    """Give a learner of ``cohort`` ``allowance`` on timed quizzes and exams (an
    accommodation), if it is still ``seen``, the allowance the staff member saw: a
    conditional write, so two people changing it at once never overwrite each other
    silently (the second is told what it is now). Attempts already started keep their time.
    Recorded in the audit log."""
    if allowance not in TIME_ALLOWANCES or seen not in TIME_ALLOWANCES:
        raise CohortError("Choose one of the time allowances listed.")
    allowance, seen = TimeAllowance(allowance), TimeAllowance(seen)
    enrolment = enrolment_in(session, cohort, learner.id)
    if enrolment is None:
        raise CohortError(f"{learner.name} is not a learner of {cohort.name}.")
    changed = session.execute(update(Enrolment).where(Enrolment.id == enrolment.id, Enrolment.time_allowance == seen)
                              .values(time_allowance=allowance).execution_options(synchronize_session=False))
    session.refresh(enrolment, ["time_allowance"])
    if rowcount(changed) == 0:
        raise CohortError(f"Someone changed the time allowance of {learner.name} meanwhile: it is now "
                          f"{enrolment.time_allowance.label}. Choose again if that is not what you want.")
    record_from(session, action=AuditAction.TIME_ALLOWANCE_SET, organization_id=cohort.organization_id,
                target=f"user:{learner.id} cohort:{cohort.id}", before={"time_allowance": seen},
                after={"time_allowance": allowance}, actor_id=granted_by.id)
    return enrolment


def override_history(session: DbSession, user_id: int) -> list[ScheduleOverride]:
    """The learner's overrides, the last granted first (as ``latest_overrides`` decides which applies)."""
    return list(session.scalars(select(ScheduleOverride).where(ScheduleOverride.user_id == user_id)
                                .options(selectinload(ScheduleOverride.phase).selectinload(Phase.module),
                                         selectinload(ScheduleOverride.granted_by),
                                         selectinload(ScheduleOverride.removed_by))
                                .order_by(ScheduleOverride.created_at.desc(), ScheduleOverride.id.desc())))


def replaced_overrides(history: Sequence[ScheduleOverride]) -> set[int]:
    """The ids of the overrides in ``history`` (``override_history``'s order) that a later one
    of the same kind for the same part of the program replaced: they no longer apply. A
    removed one replaces nothing (it is listed as removed)."""
    seen: set[tuple[int, OverrideKind]] = set()
    replaced = set()
    for override in history:
        if override.removed_at is not None:
            continue
        key = (override.phase_id, override.kind)
        if key in seen:
            replaced.add(override.id)
        seen.add(key)
    return replaced


# ------------------------------------------------------------------ calendar feed


def active_feed(session: DbSession, user: User, kind: FeedKind = FeedKind.SCHEDULE) -> CalendarFeed | None:
    return session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == user.id, CalendarFeed.kind == kind,
                                                     CalendarFeed.revoked_at.is_(None)))


def new_feed(session: DbSession, user: User, now: datetime | None = None, kind: FeedKind = FeedKind.SCHEDULE) -> str:
    """A fresh private feed URL token of ``kind``; any earlier one of that kind stops working
    (a person who learns and teaches keeps one link of each)."""
    now = now or utcnow()
    revoke_feed(session, user, now, kind)
    token, digest = new_token()
    session.add(CalendarFeed(user_id=user.id, token_hash=digest, kind=kind, created_at=now))
    session.flush()
    return token


def revoke_feed(session: DbSession, user: User, now: datetime | None = None, kind: FeedKind = FeedKind.SCHEDULE) -> None:
    for feed in session.scalars(select(CalendarFeed).where(CalendarFeed.user_id == user.id, CalendarFeed.kind == kind,
                                                           CalendarFeed.revoked_at.is_(None))):
        feed.revoked_at = now or utcnow()
    session.flush()


def feed_owner(session: DbSession, token: str, kind: FeedKind = FeedKind.SCHEDULE) -> User | None:
    """The person whose live feed of ``kind`` ``token`` is (a link of the other kind answers
    nothing here); None for a deactivated account (its link is its secret, as an API token
    is: it answers again once the account is reactivated)."""
    return session.scalar(select(User).join(CalendarFeed, CalendarFeed.user_id == User.id).where(
        CalendarFeed.token_hash == hash_token(token), CalendarFeed.kind == kind, CalendarFeed.revoked_at.is_(None),
        User.deactivated_at.is_(None)))


# How long an event of a moment (a deadline, an opening) lasts in the feed: a calendar shows it
# as a short block that ends at a deadline (so it sits on the due day, not the next one) or
# starts at an opening.
MOMENT = timedelta(minutes=30)


def day_starts(zone: str, day: date) -> datetime:
    """The moment ``day`` begins in ``zone`` (a cohort's), in UTC: when what opens on it opens."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(ZoneInfo("UTC"))


def due_by(zone: str, day: date, closes: bool = False) -> datetime:
    """The moment something due on ``day`` is due, in UTC: the end of the day in the
    cohort's ``zone`` (work handed in later is late: ``lms.coursework.services.handed_in_late``),
    or its start for a quiz or exam whose window closes then
    (``lms.assessment.services.quiz_window``)."""
    return day_starts(zone, day if closes else day + timedelta(days=1))


@dataclass(frozen=True)
class CalendarEvent:
    """One event of a learner's feed that a feature above learning adds
    (``lms.learning.calendar``). ``uid`` names the thing and the moment (``quiz-<key>-due``),
    never its date: the feed puts the learner before it, and a calendar that reads the feed
    again moves the event when the date moves instead of adding another. ``starts`` and
    ``ends`` are aware datetimes, written in UTC; ``endpoint`` and ``args`` the page it is about."""

    uid: str
    summary: str
    starts: datetime
    ends: datetime
    description: str = ""
    endpoint: str | None = None
    args: Mapping[str, str] = field(default_factory=dict)


def final_work_due(plan: Schedule, events: Sequence[CalendarEvent]) -> date | None:
    """The day the learner's final work is due by (their program's close, ``Timeline.closes_on``)
    when some of it falls in the closing period after their month 12 (``events``: their feed's,
    ``lms.learning.calendar``): a deadline later than work due as month 12 ends. None: none does."""
    after = due_by(plan.cohort.timezone, plan.timeline.ends_on)
    return plan.timeline.closes_on if any(event.ends > after for event in events) else None


LinkOf = Callable[[str, Mapping[str, str]], str]


def calendar_ics(plan: Schedule, user: User, now: datetime, events: Sequence[CalendarEvent] = (),
                 link: LinkOf | None = None) -> bytes:
    """The learner's feed: when each phase of each module opens and when its work is due
    (whole days on their dates), then ``events`` (their assessed work, quizzes and exams:
    ``lms.learning.calendar``). ``link`` makes an absolute URL of an endpoint and its
    arguments (None: events carry no URL). icalendar escapes and folds the text."""
    calendar = new_calendar(f"AI Operations · {plan.cohort.name}")
    for slot in plan.slots:
        title = f"{slot.item.module.title}: {slot.phase.title}"
        for what, day in (("opens", slot.opens_on), ("due", slot.due_on)):
            event = Event()
            event.add("uid", f"{user.id}-{slot.phase.key}-{what}@lms")
            event.add("dtstamp", now)
            event.add("dtstart", day)
            event.add("dtend", day + timedelta(days=1))
            event.add("summary", f"{'Opens' if what == 'opens' else 'Due'}: {title} (month {slot.phase.month})")
            if link is not None:
                event.add("url", link("catalog.module", {"key": slot.item.module.key}))
            calendar.add_component(event)
    add_events(calendar, str(user.id), now, events, link)
    return cast(bytes, calendar.to_ical())  # icalendar leaves to_ical unannotated; it returns the encoded bytes


def new_calendar(name: str) -> Calendar:
    """An empty feed called ``name`` (what a calendar app names the subscription)."""
    calendar = Calendar()
    calendar.add("prodid", "-//lms//AI Operations schedule//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    return calendar


def add_events(calendar: Calendar, owner: str, now: datetime, events: Sequence[CalendarEvent], link: LinkOf | None) -> None:
    """``events`` into ``calendar``, each event's uid put after ``owner`` (the feed's owner, so
    two people's feeds in one calendar app never share an event), its times in UTC and its
    page's absolute URL (``link``; None: none) in its URL field and at the end of its description."""
    utc = ZoneInfo("UTC")
    for item in events:
        event = Event()
        event.add("uid", f"{owner}-{item.uid}@lms")
        event.add("dtstamp", now)
        event.add("dtstart", item.starts.astimezone(utc))
        event.add("dtend", item.ends.astimezone(utc))
        event.add("summary", item.summary)
        url = link(item.endpoint, item.args) if link is not None and item.endpoint is not None else None
        if url is not None:
            event.add("url", url)
        description = "\n".join(part for part in (item.description, url) if part)  # many calendars show no URL field
        if description:
            event.add("description", description)
        calendar.add_component(event)


def page_stamp(user_id: ColumnElement[int], now: ColumnElement[datetime]) -> list[ColumnElement[Any]]:
    """What a learner's cached pages (``lms.web.page_cache``) show from this feature: their
    enrolments and cohorts (the schedule's dates), their schedule overrides (the curriculum's
    revision is the catalog's input)."""
    mine = select(Enrolment.cohort_id).where(Enrolment.user_id == user_id)
    return [
        select(fingerprint(Enrolment.id, Enrolment.cohort_id, Enrolment.started_at, Enrolment.ended_at,
                           Enrolment.ended_reason, Enrolment.pace)).where(Enrolment.user_id == user_id).scalar_subquery(),
        select(fingerprint(Cohort.id, Cohort.organization_id, Cohort.name, Cohort.start_date, Cohort.timezone,
                           Cohort.archived_at)).where(Cohort.id.in_(mine)).scalar_subquery(),
        select(fingerprint(ScheduleOverride.id, ScheduleOverride.phase_id, ScheduleOverride.kind, ScheduleOverride.on_date,
                           ScheduleOverride.note)).where(ScheduleOverride.user_id == user_id).scalar_subquery(),
    ]


def staff_stamp(user_id: ColumnElement[int], now: ColumnElement[datetime]) -> list[ColumnElement[Any]]:
    """How many cohorts the person teaches and organizations they administer: a staff
    member's home shows their cohorts, so it is never kept (a ``bypass`` input)."""
    return [select(func.count()).select_from(organization_admins).where(organization_admins.c.user_id == user_id).scalar_subquery(),
            select(func.count()).select_from(cohort_instructors).where(cohort_instructors.c.user_id == user_id).scalar_subquery()]
