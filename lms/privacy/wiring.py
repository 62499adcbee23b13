"""Data rights' wiring: the pages and ``flask lms purge-uploads``."""

from __future__ import annotations

from flask import Flask

from lms.cli import add_commands
from lms.privacy.cli import purge_uploads_command
from lms.privacy.views import bp, delete_committed_files
from lms.web.unit_of_work import after_commit


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_commands(app, purge_uploads_command)
    after_commit(app, delete_committed_files)
