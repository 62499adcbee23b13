"""A cohort's program calendar: its twelve months counted from its start date on its own
clock, the closing period after them (``CLOSING_DAYS``) and where it stands (not started,
under way, finished). The one definition every page that says so reads: the schedule
(``lms.learning``), the cohort lists and the organization's comparison of its cohorts; and
when a learner's program is over (``program_over``: once it has closed), which every list
that asks someone to act leaves them off."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import ColumnElement, false, or_

from lms.cohorts.models import Cohort, Enrolment, Pace

PROGRAM_MONTHS = 12
# The closing period after month 12: the program's final work (the capstone, then the advanced
# portfolio review that collects it once graded) falls due in it, so no quiz closes and no work
# is due after it (``program_closes_on``).
CLOSING_DAYS = 14


@lru_cache(maxsize=4096)
def month_opens_on(start: date, month: int) -> date:
    """The day ``month`` of a program started on ``start`` opens. A pure function asked for
    hundreds of times an event (every item's dates of a learner's schedule), and relativedelta's
    arithmetic is slow: kept for the starts seen (cohorts' and late joiners' own)."""
    return start + relativedelta(months=month - 1)


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


class CohortStage(StrEnum):
    """Where a cohort's program stands; the value is what a cohort list says."""

    NOT_STARTED = "not started"
    RUNNING = "active"
    FINISHED = "finished"


def stage_at(month: int) -> CohortStage:
    """The stage of a program in ``month`` (``current_month``'s answer)."""
    if month < 1:
        return CohortStage.NOT_STARTED
    return CohortStage.FINISHED if month > PROGRAM_MONTHS else CohortStage.RUNNING


def stage_of(cohort: Cohort, now: datetime) -> CohortStage:
    return stage_at(current_month(cohort.start_date, cohort_today(cohort, now)))


def program_ends_on(start: date) -> date:
    """The day after month 12 of a program started on ``start``: the day its twelve months end
    (a cohort's stage is finished from it, and its schedule says it runs to it). Its final
    work is due in the closing period that follows (``program_closes_on``)."""
    return month_opens_on(start, PROGRAM_MONTHS + 1)


def program_closes_on(start: date) -> date:
    """The day a program started on ``start`` closes: ``CLOSING_DAYS`` after month 12 ends,
    the first day it is over. The product gives no grace period after it (late work is a
    learner's extension, which staff grant one by one): quizzes close and work is due by then
    (``Timeline.item_dates``)."""
    return program_ends_on(start) + timedelta(days=CLOSING_DAYS)


def _last_start_over(today: date) -> date:
    """The latest start whose program is over (has closed) on ``today`` (month arithmetic
    clamps the day, so a day or two past a year back may be over too)."""
    start = today - timedelta(days=CLOSING_DAYS) - relativedelta(months=PROGRAM_MONTHS)
    while program_closes_on(start + timedelta(days=1)) <= today:
        start += timedelta(days=1)
    return start


def program_over(cohort: Cohort, today: date) -> ColumnElement[bool]:
    """The SQL condition on ``Enrolment`` (of ``cohort``) that its learner's program is over on
    ``today`` (the cohort's day): the cohort's program has closed (its twelve months and the
    closing period after them, ``program_closes_on``), and the learner follows its dates, or
    joined late at their own pace (``Pace.OWN_START``) so long ago that their own program has
    closed too. A finished program's learners are former learners in all but
    name: nobody is told to chase them (at risk, behind, overdue, reminders), while their
    work, grades and certificates stay with the cohort, and staff still grade what they
    handed in. Derived from the calendar, not stored: the enrolment rows stay as they were
    (ending them would empty the finished cohort's roster, heat map and gradebook, and
    a start date moved later would have to bring them back). No statement of its own."""
    if today < program_closes_on(cohort.start_date):
        return false()
    cutoff = datetime.combine(_last_start_over(today) + timedelta(days=1), time(0), tzinfo=ZoneInfo(cohort.timezone))
    return or_(Enrolment.pace != Pace.OWN_START, Enrolment.started_at < cutoff.astimezone(UTC))


def _last_start_in_month(today: date, month: int) -> date:
    """The latest start of a program whose ``month`` has opened by ``today`` (month arithmetic
    clamps the day, so a day or two later may have opened it too)."""
    start = today - relativedelta(months=month - 1)
    while month_opens_on(start + timedelta(days=1), month) <= today:
        start += timedelta(days=1)
    return start


def own_month_reached(cohort: Cohort, today: date, month: int) -> ColumnElement[bool]:
    """The SQL condition on ``Enrolment`` (of ``cohort``) that its learner is in ``month`` of
    the program or later on ``today`` (the cohort's day), counted on their own dates: the
    cohort's, or, when they joined late at their own pace (``Pace.OWN_START``), from the day
    they joined (a late joiner at their own pace is in an earlier month than their cohort).
    A catch-up learner's missed months open on joining, so they are where the cohort is.
    No statement of its own, as ``program_over``."""
    cutoff = own_month_cutoff(cohort, today, month)
    if cutoff is None:
        return false()
    return or_(Enrolment.pace != Pace.OWN_START, Enrolment.started_at < cutoff)


def own_month_cutoff(cohort: Cohort, today: date, month: int) -> datetime | None:
    """``own_month_reached``'s bound: a learner at their own pace who joined before it (UTC)
    is in ``month`` or later on ``today``; None: the cohort itself is not there yet."""
    if current_month(cohort.start_date, today) < month:
        return None
    cutoff = datetime.combine(_last_start_in_month(today, month) + timedelta(days=1), time(0),
                              tzinfo=ZoneInfo(cohort.timezone))
    return cutoff.astimezone(UTC)


def in_own_month(pace: Pace, started_at: datetime | None, cutoff: datetime | None) -> bool:
    """``own_month_reached`` for one enrolment read already (its pace and start, which a
    learner at the cohort's pace need not have read), given ``own_month_cutoff``: the same
    answer in Python, for lines kept in a process."""
    if cutoff is None:
        return False
    return pace != Pace.OWN_START or (started_at is not None and started_at < cutoff)
