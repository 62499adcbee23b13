"""The today feature's wiring: its templates and its two panels on the home page."""

from __future__ import annotations

from flask import Flask

from lms.learning.home import add_home_panel
from lms.today.views import PANELS, bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    for panel in PANELS:
        add_home_panel(app, panel)
