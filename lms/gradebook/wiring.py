"""The gradebook feature's wiring: its pages."""

from __future__ import annotations

from flask import Flask

from lms.gradebook.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
