"""The kpi feature's wiring: its pages; ``flask lms rejudge-kpi``."""

from __future__ import annotations

from flask import Flask

from lms.cli import add_commands
from lms.kpi.cli import rejudge_kpi_command
from lms.kpi.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_commands(app, rejudge_kpi_command)
