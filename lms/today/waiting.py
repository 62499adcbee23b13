"""Lines other features add under each cohort of the instructor's "Waiting for you": a
registry filled in their ``init_app`` (the inbox adds the conversations with a learner's
reply not read yet). Each source answers for all the cohorts at once, in a fixed number
of statements, and leaves out the cohorts it has nothing for."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from flask import Flask

from lms.database import DbSession

WAITING_SOURCES_KEY = "lms.today.waiting_sources"


@dataclass(frozen=True)
class WaitingLine:
    """One linked line under a cohort: ``kind`` names it (the page's class), the template
    builds the link from ``endpoint`` and ``args``."""

    kind: str
    text: str
    endpoint: str
    args: dict[str, str | int] = field(default_factory=dict)


# (session, the staff member's id, the cohorts on their home) -> cohort id -> its line
WaitingSource = Callable[[DbSession, int, Sequence[int]], dict[int, WaitingLine]]


def add_waiting_source(app: Flask, source: WaitingSource) -> None:
    app.extensions.setdefault(WAITING_SOURCES_KEY, []).append(source)


def waiting_lines(app: Flask, session: DbSession, user_id: int, cohort_ids: Sequence[int]) -> dict[int, list[WaitingLine]]:
    """Cohort id -> the lines the features added for it, in the order they were added."""
    lines: dict[int, list[WaitingLine]] = defaultdict(list)
    if not cohort_ids:
        return lines
    for source in app.extensions.get(WAITING_SOURCES_KEY, []):
        for cohort_id, line in source(session, user_id, cohort_ids).items():
            lines[cohort_id].append(line)
    return lines
