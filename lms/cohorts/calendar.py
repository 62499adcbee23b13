"""A cohort's program calendar: its twelve months counted from its start date on its own
clock, and where it stands (not started, under way, finished). The one definition every page
that says so reads: the schedule (``lms.learning``), the cohort lists and the organization's
comparison of its cohorts."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from lms.cohorts.models import Cohort

PROGRAM_MONTHS = 12


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
