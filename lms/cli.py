"""The ``flask lms ...`` command group: one per app, made by ``create_app``; each
feature's ``init_app`` adds its commands with ``add_commands``."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

GROUP = "lms"


def lms_group(app: Flask) -> AppGroup:
    group = app.cli.commands.get(GROUP)
    if not isinstance(group, AppGroup):
        group = AppGroup(GROUP, help="Manage the course platform: content, accounts, demo data.")
        app.cli.add_command(group)
    return group


def add_commands(app: Flask, *commands: click.Command) -> None:
    group = lms_group(app)
    for command in commands:
        group.add_command(command)
