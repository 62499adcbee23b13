"""The simulations feature's wiring: its pages and the template global that links a
module's simulations from the module page and the quizzes page."""

from __future__ import annotations

from flask import Flask

from lms.simulations.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
