"""The CASE framework's wiring: its read-only blueprint."""

from __future__ import annotations

from flask import Flask

from lms.framework.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
