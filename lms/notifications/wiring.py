"""Notifications' wiring: filled in as the feature grows."""

from __future__ import annotations

from flask import Flask

from lms.notifications import models  # noqa: F401  (the tables belong to the app's metadata)


def init_app(app: Flask) -> None:
    pass
