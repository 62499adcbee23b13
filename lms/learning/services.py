"""The cohort schedule: month N of the program opens at start + (N-1) months, at
midnight in the cohort's time zone; each phase's work is due a month after it opens.
Overrides move one learner's dates. Flush only; ``now`` is always passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lms.accounts.models import User
from lms.accounts.services import hash_token, new_token
from lms.catalog.models import Lesson, Level, Phase
from lms.catalog.services import ScheduledPhase, active_levels, schedule
from lms.cohorts.enrolment import active_enrolment
from lms.cohorts.models import Cohort
from lms.cohorts.services import CohortError
from lms.database import DbSession, utcnow
from lms.learning.models import CalendarFeed, OverrideKind, ScheduleOverride

PROGRAM_MONTHS = 12
OVERRIDE_KINDS = {OverrideKind.EARLY_ACCESS: "Early access", OverrideKind.EXTENSION: "Extension"}


def month_opens_on(start: date, month: int) -> date:
    return start + relativedelta(months=month - 1)


def opens_at(cohort: Cohort, day: date) -> datetime:
    """The UTC instant a date begins in the cohort's time zone."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(cohort.timezone)).astimezone(ZoneInfo("UTC"))


def cohort_today(cohort: Cohort, now: datetime) -> date:
    return now.astimezone(ZoneInfo(cohort.timezone)).date()


def current_month(start: date, today: date) -> int:
    """0 before the start, 1-12 during the program, 13 once month 12 is over."""
    if today < start:
        return 0
    month = 1
    while month <= PROGRAM_MONTHS and month_opens_on(start, month + 1) <= today:
        month += 1
    return month


@dataclass(frozen=True)
class Slot:
    """One phase of a module in one learner's schedule."""

    item: ScheduledPhase
    opens_on: date
    due_on: date
    is_open: bool
    early: bool
    extended: bool

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

    def by_month(self) -> dict[int, list[Slot]]:
        months: dict[int, list[Slot]] = {m: [] for m in range(1, PROGRAM_MONTHS + 1)}
        for slot in self.slots:
            months.setdefault(slot.phase.month, []).append(slot)
        return months


def latest_overrides(session: DbSession, user_id: int) -> dict[tuple[int, OverrideKind], ScheduleOverride]:
    rows = session.scalars(select(ScheduleOverride).where(ScheduleOverride.user_id == user_id)
                           .order_by(ScheduleOverride.created_at, ScheduleOverride.id))
    return {(o.phase_id, o.kind): o for o in rows}


def build_schedule(session: DbSession, cohort: Cohort, user_id: int | None, now: datetime) -> Schedule:
    today = cohort_today(cohort, now)
    overrides = latest_overrides(session, user_id) if user_id is not None else {}
    slots = []
    for item in schedule(session):
        opens = month_opens_on(cohort.start_date, item.phase.month)
        due = month_opens_on(cohort.start_date, item.phase.month + 1)
        early = overrides.get((item.phase.id, OverrideKind.EARLY_ACCESS))
        extension = overrides.get((item.phase.id, OverrideKind.EXTENSION))
        is_early = early is not None and early.on_date < opens
        is_extended = extension is not None and extension.on_date > due
        if early is not None and is_early:
            opens = early.on_date
        if extension is not None and is_extended:
            due = extension.on_date
        slots.append(Slot(item=item, opens_on=opens, due_on=due, is_open=opens <= today, early=is_early, extended=is_extended))
    month = current_month(cohort.start_date, today)
    level = next((lv for lv in active_levels(session) if lv.holds(month)), None)
    return Schedule(cohort=cohort, today=today, month=month, level=level, slots=slots)


def learner_schedule(session: DbSession, user: User, now: datetime | None = None) -> Schedule | None:
    enrolment = active_enrolment(session, user.id)
    if enrolment is None:
        return None
    return build_schedule(session, enrolment.cohort, user.id, now or utcnow())


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
    plan = build_schedule(session, enrolment.cohort, user.id, now or utcnow())
    slot = plan.slot_for(phase.id)
    if slot is None or slot.is_open:
        return LessonAccess(True)
    return LessonAccess(False, slot.opens_on,
                        f"This {what} is part of month {phase.month}, which opens for your cohort on "
                        f"{slot.opens_on:%d %B %Y}.")


def lesson_access(session: DbSession, user: User, lesson_key: str, now: datetime | None = None) -> LessonAccess:
    lesson = session.scalar(select(Lesson).where(Lesson.key == lesson_key, Lesson.retired_at.is_(None)))
    if lesson is None:
        return LessonAccess(True)  # the view answers 404
    return phase_access(session, user, lesson.phase, "lesson", now)


# ------------------------------------------------------------------ overrides


def grant_override(session: DbSession, cohort: Cohort, learner: User, phase_id: int, kind: OverrideKind | str, on_date: date,
                   note: str, granted_by: User, now: datetime | None = None) -> ScheduleOverride:
    if kind not in OVERRIDE_KINDS:
        raise CohortError(f"Unknown kind {kind!r}.")
    kind = OverrideKind(kind)
    enrolment = active_enrolment(session, learner.id)
    if enrolment is None or enrolment.cohort_id != cohort.id:
        raise CohortError(f"{learner.name} is not a learner of {cohort.name}.")
    phase = session.get(Phase, phase_id)
    if phase is None or phase.retired_at is not None:
        raise CohortError("Choose a part of the program that exists.")
    base_open = month_opens_on(cohort.start_date, phase.month)
    base_due = month_opens_on(cohort.start_date, phase.month + 1)
    if kind == OverrideKind.EARLY_ACCESS and on_date >= base_open:
        raise CohortError(f"Early access must open before the regular date, {base_open:%d %B %Y}.")
    if kind == OverrideKind.EXTENSION and on_date <= base_due:
        raise CohortError(f"An extension must run past the regular due date, {base_due:%d %B %Y}.")
    override = ScheduleOverride(user_id=learner.id, phase_id=phase.id, kind=kind, on_date=on_date,
                                note=note.strip(), granted_by_id=granted_by.id, created_at=now or utcnow())
    session.add(override)
    session.flush()
    return override


def override_history(session: DbSession, user_id: int) -> list[ScheduleOverride]:
    return list(session.scalars(select(ScheduleOverride).where(ScheduleOverride.user_id == user_id)
                                .options(selectinload(ScheduleOverride.phase).selectinload(Phase.module),
                                         selectinload(ScheduleOverride.granted_by))
                                .order_by(ScheduleOverride.created_at.desc())))


# ------------------------------------------------------------------ calendar feed


def active_feed(session: DbSession, user: User) -> CalendarFeed | None:
    return session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == user.id, CalendarFeed.revoked_at.is_(None)))


def new_feed(session: DbSession, user: User, now: datetime | None = None) -> str:
    """A fresh private feed URL token; any earlier one stops working."""
    now = now or utcnow()
    revoke_feed(session, user, now)
    token, digest = new_token()
    session.add(CalendarFeed(user_id=user.id, token_hash=digest, created_at=now))
    session.flush()
    return token


def revoke_feed(session: DbSession, user: User, now: datetime | None = None) -> None:
    for feed in session.scalars(select(CalendarFeed).where(CalendarFeed.user_id == user.id, CalendarFeed.revoked_at.is_(None))):
        feed.revoked_at = now or utcnow()
    session.flush()


def feed_owner(session: DbSession, token: str) -> User | None:
    feed = session.scalar(select(CalendarFeed).where(CalendarFeed.token_hash == hash_token(token), CalendarFeed.revoked_at.is_(None)))
    return feed.user if feed else None


def calendar_ics(plan: Schedule, user: User, now: datetime) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//lms//AI Operations schedule//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"AI Operations · {plan.cohort.name}")
    for slot in plan.slots:
        title = f"{slot.item.module.title}: {slot.phase.title}"
        for what, day in (("opens", slot.opens_on), ("due", slot.due_on)):
            event = Event()
            event.add("uid", f"{user.id}-{slot.phase.key}-{what}@lms")
            event.add("dtstamp", now)
            event.add("dtstart", day)
            event.add("dtend", day + timedelta(days=1))
            event.add("summary", f"{'Opens' if what == 'opens' else 'Due'}: {title} (month {slot.phase.month})")
            calendar.add_component(event)
    return cast(bytes, calendar.to_ical())  # icalendar leaves to_ical unannotated; it returns the encoded bytes
