"""The cohorts feature's wiring: its pages, and the role flags read with the signed-in user."""

from __future__ import annotations

from flask import Flask

from lms.cohorts.access import load_role_flags
from lms.cohorts.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    load_role_flags(app)
