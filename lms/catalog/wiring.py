"""The catalog feature's wiring: its pages; the content revision noticed on every write to content."""

from __future__ import annotations

from flask import Flask

from lms.catalog import revision
from lms.catalog.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    revision.listen()
