"""Backup's wiring: the ``flask lms backup`` and ``flask lms restore`` commands."""

from __future__ import annotations

from flask import Flask

from lms.backup.cli import backup_command, restore_command
from lms.cli import add_commands


def init_app(app: Flask) -> None:
    add_commands(app, backup_command, restore_command)
