"""The expert evaluation feature's wiring: its pages and the template global that shows
expert ratings on the learner's work page and the staff grading page."""

from __future__ import annotations

from flask import Flask

from lms.expert.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
