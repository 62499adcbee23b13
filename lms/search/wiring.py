"""The search feature's wiring: its page and ``flask lms rebuild-search``. The index is
kept in step by ``SearchIndexSection``, listed in ``lms.sections.CONTENT_SECTIONS``."""

from __future__ import annotations

from flask import Flask

from lms.cli import add_commands
from lms.search.cli import rebuild_search_command
from lms.search.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_commands(app, rebuild_search_command)
