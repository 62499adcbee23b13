"""Certificates' wiring: verification pages, and a level certificate issued when a passed
quiz or a released grade completes the level."""

from __future__ import annotations

from flask import Flask

from lms.assessment.services import attempt_scored
from lms.certificates import services
from lms.certificates.views import bp
from lms.grading.services import grade_saved


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    attempt_scored.connect(services.on_attempt_scored)
    grade_saved.connect(services.on_grade_saved)
