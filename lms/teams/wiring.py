"""The teams feature's wiring: its pages, a team grade turned into every member's evidence, and
the team's submission registered as every member's work (``lms.coursework.sharing``)."""

from __future__ import annotations

from flask import Flask

from lms.coursework import sharing
from lms.grading.services import grade_saved
from lms.teams import services
from lms.teams.sharing import TeamWork
from lms.teams.views import bp
from lms.web.page_cache import PageInput, add_page_input


def init_app(app: Flask) -> None:
    add_page_input(app, PageInput("teams", services.page_stamp))
    app.register_blueprint(bp)
    grade_saved.connect(services.on_grade_saved)
    sharing.register("teams", TeamWork())
