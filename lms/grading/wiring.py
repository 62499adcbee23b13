"""The grading feature's wiring: its pages, and the peer reviews a moved learner leaves unfinished."""

from __future__ import annotations

from flask import Flask

from lms.cohorts.enrolment import learner_moved
from lms.coursework.services import register_scores
from lms.grading import peer, services
from lms.grading.views import bp
from lms.web.page_cache import PageInput, add_page_input


def init_app(app: Flask) -> None:
    add_page_input(app, PageInput("grading", services.page_stamp))
    app.register_blueprint(bp)
    learner_moved.connect(peer.on_learner_moved)
    register_scores("grading", services.ReleasedScores())
