"""The competency feature's wiring: its pages, and what its kept heat map is keyed on."""

from __future__ import annotations

from flask import Flask

from lms.cohorts import services as cohorts
from lms.competency import lines, services
from lms.competency.views import bp
from lms.progress import services as progress
from lms.web.page_cache import PageInput, add_cohort_input


def init_app(app: Flask) -> None:
    # the heat map is kept per cohort while what it shows is unchanged: the cohort and its
    # members, their schedule state and mastery, the reviews and the curriculum
    add_cohort_input(app, PageInput("cohort", cohorts.cohort_stamp))
    add_cohort_input(app, PageInput("progress", progress.cohort_stamp))
    add_cohort_input(app, PageInput("competency", services.cohort_stamp))
    lines.init_app(app)
    app.register_blueprint(bp)
