"""Single sign-on's wiring: its pages (settings for organization admins, the sign-in steps)."""

from __future__ import annotations

from flask import Flask

from lms.sso.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
