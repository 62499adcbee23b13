"""Assessment's wiring: quiz pages and the GIFT commands."""

from __future__ import annotations

from flask import Flask

from lms.assessment.cli import close_expired_attempts_command, export_gift_command, import_gift_command
from lms.assessment.views import bp
from lms.cli import add_commands


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_commands(app, import_gift_command, export_gift_command, close_expired_attempts_command)
