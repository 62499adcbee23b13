"""Each cohort's heat map lines kept per process, learner by learner (issue 14 point 2).

A heat map built afresh read the whole cohort's lines, mastery and figures again, even when
one learner's evidence was all that changed: 5-6 times its own aggregate query. This keeps,
for each cohort a process has shown, every current learner's line (``Summary``: mean, weak
objectives, days behind), their mastery on each column and, once shown at risk, their
complete at-risk row, each under the learner's *key*: what the database holds that those
are made from, read for the whole cohort in one statement (``services.learner_keys``):
their enrolment and account as listed, the number their kept schedule state is folded into
(``ProgressLearner.cohort_revision``) and their mastery mark (``MasteryMark``, drawn afresh
by the database's triggers on every write to their mastery rows, whatever writes it). A
view reads the keys, builds again only the learners whose key moved (or who are new), and
sorts, filters, counts and pages the whole cohort from the lines in Python
(``SortOrder.key``, the same order as SQL's). What holds for the whole cohort (today on the
cohort's calendar, its columns and their closing days, the program's rules, the content
revision) keys the cohort's lines as a whole: a new day, or a content load, builds them all
again once.

Never written by a GET and nothing to invalidate: a line whose key moved is never read.
Per process and bounded (``HEAT_LINES_LEARNERS`` learners in all, the cohorts used least
recently dropped first; 0 turns it off and every view reads the whole cohort in SQL)."""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache
from flask import Flask

LINES_KEY = "lms.heat_lines"


@dataclass(frozen=True)
class KeptCohort:
    """One cohort's lines as of a view: the cohort-wide key they hold under, and each learner's
    key and line (``line``: whatever the service keeps for a learner). ``complete`` holds the
    at-risk rows made so far for this cohort-wide key, under the learner's key they were made
    from (filled as the at-risk list shows them; a learner's row is made again once their key
    moved)."""

    key: Hashable
    learners: dict[int, tuple[Any, Any]]
    complete: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    totals: Any = None  # the cohort's figures over these lines, kept up to date with them
    memo: dict[str, Any] = field(default_factory=dict)  # figures read once, each under what it was read for


class HeatLines:
    """The kept cohorts of one process (thread-safe: a cohort's lines are replaced whole),
    and the at-risk list's items made from them (HTML, under all they show)."""

    ITEMS = 4096  # at-risk items kept, the least recently shown dropped first

    def __init__(self, learners: int) -> None:
        self.enabled = learners > 0
        self._cohorts: LRUCache[int, KeptCohort] = LRUCache(maxsize=max(learners, 1),
                                                             getsizeof=lambda kept: max(len(kept.learners), 1))
        self._items: LRUCache[Hashable, str] = LRUCache(maxsize=self.ITEMS)
        self._lock = threading.Lock()
        self.built = 0  # learners' lines made (what a test reads to see which were made again)

    def item(self, key: Hashable) -> str | None:
        with self._lock:
            return self._items.get(key)

    def keep_item(self, key: Hashable, made: str) -> None:
        if self.enabled:
            with self._lock:
                self._items[key] = made

    def get(self, cohort_id: int, key: Hashable) -> KeptCohort | None:
        with self._lock:
            kept = self._cohorts.get(cohort_id)
        return kept if kept is not None and kept.key == key else None

    def put(self, cohort_id: int, kept: KeptCohort, made: int) -> None:
        if not self.enabled or len(kept.learners) > self._cohorts.maxsize:
            return
        with self._lock:
            self._cohorts[cohort_id] = kept
            self.built += made

    def clear(self) -> None:
        with self._lock:
            self._cohorts.clear()
            self._items.clear()


def lines_of(app: Flask) -> HeatLines:
    return app.extensions[LINES_KEY]  # type: ignore[no-any-return]


def init_app(app: Flask) -> None:
    app.extensions[LINES_KEY] = HeatLines(int(app.config.get("HEAT_LINES_LEARNERS", 10000)))
