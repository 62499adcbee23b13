"""Discussions' wiring: its pages, the learner's home panel linking their cohort's
discussions (the catalog's module page links ``/discussions?module=<key>``), and the
learners' threads waiting for a reply under each cohort of the instructor's home."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Flask

from lms.database import DbSession
from lms.discussions.services import threads_waiting
from lms.discussions.views import bp, home_panel
from lms.learning.home import HomePanel, Place, add_home_panel
from lms.today.waiting import WaitingLine, add_waiting_source


def questions_waiting(session: DbSession, user_id: int, cohort_ids: Sequence[int]) -> dict[int, WaitingLine]:
    """Each cohort's threads waiting for a reply, for the instructor's home ("Waiting for
    you"): a learner's question was told once, by a notice, and then waited unseen among the
    modules' pages. One thread links itself; several, the cohort's discussions, which count
    them per module."""
    lines = {}
    for cohort_id, (count, newest) in threads_waiting(session, cohort_ids).items():
        if count == 1:
            lines[cohort_id] = WaitingLine(kind="threads-waiting", endpoint="discussions.thread",
                                           args={"thread_id": newest}, text="1 discussion thread waiting for a reply")
        else:
            lines[cohort_id] = WaitingLine(kind="threads-waiting", endpoint="discussions.index",
                                           args={"cohort_id": cohort_id},
                                           text=f"{count} discussion threads waiting for a reply")
    return lines


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_home_panel(app, HomePanel(Place.LEARNER, "discussions/_home.html", home_panel))
    add_waiting_source(app, questions_waiting)
