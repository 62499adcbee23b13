"""Storage's wiring: ``flask lms move-files``; the backend named by FILE_STORAGE is checked
when the app is built, so a typo fails at start, not at the first upload."""

from __future__ import annotations

from flask import Flask

from lms.cli import add_commands
from lms.storage.backends import backend_name
from lms.storage.cli import move_files_command


def init_app(app: Flask) -> None:
    backend_name(app)
    add_commands(app, move_files_command)
