"""The coursework feature's wiring: its pages, and a moved learner's work carried to their new cohort."""

from __future__ import annotations

from flask import Flask

from lms.cohorts.enrolment import learner_moved
from lms.coursework import services
from lms.coursework.views import bp
from lms.web.page_cache import PageInput, add_page_input


def init_app(app: Flask) -> None:
    add_page_input(app, PageInput("coursework", services.page_stamp))
    app.register_blueprint(bp)
    learner_moved.connect(services.on_learner_moved)
