"""The ``flask lms ...`` command group; each feature adds its commands to it."""

from flask.cli import AppGroup

lms_cli = AppGroup("lms", help="Manage the course platform: content, accounts, demo data.")
