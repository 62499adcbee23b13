"""What the learner's calendar feed holds besides their modules' dates: a registry of
sources, as the home page has panels (``lms.learning.home``).

The feed (``/calendar/<token>.ics``, ``lms.learning.services.calendar_ics``) is learning's,
but what is assessed (quizzes, exams, assignments, portfolio reviews) and where it stands on
each learner's dates is known by features above it: each adds a ``CalendarSource`` in its
``init_app``, and the feed asks every source for the learner's events, in the order the
features added them. A source reads what it needs in a fixed number of statements, whatever
the number of items."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flask import Flask

from lms.database import DbSession
from lms.learning.services import CalendarEvent, Schedule

CALENDAR_SOURCES_KEY = "lms.calendar_sources"

CalendarSource = Callable[[DbSession, Schedule, int], Sequence[CalendarEvent]]


def add_calendar_source(app: Flask, source: CalendarSource) -> None:
    app.extensions.setdefault(CALENDAR_SOURCES_KEY, []).append(source)


def calendar_events(app: Flask, session: DbSession, plan: Schedule, user_id: int) -> list[CalendarEvent]:
    """Every source's events for the learner of ``plan`` (their schedule in their cohort)."""
    return [event for source in app.extensions.get(CALENDAR_SOURCES_KEY, []) for event in source(session, plan, user_id)]
