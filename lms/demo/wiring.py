"""The demo's wiring: ``flask lms demo``."""

from __future__ import annotations

from flask import Flask

from lms.cli import add_commands
from lms.demo.cli import demo_command


def init_app(app: Flask) -> None:
    add_commands(app, demo_command)
