"""The teams feature's wiring: its pages, and a team grade turned into every member's evidence."""

from __future__ import annotations

from flask import Flask

from lms.grading.services import grade_saved
from lms.teams import services
from lms.teams.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    grade_saved.connect(services.on_grade_saved)
