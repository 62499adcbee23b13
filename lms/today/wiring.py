"""The today feature's wiring: its templates, its two panels on the home page and the
learner's assessed items in their calendar feed."""

from __future__ import annotations

from flask import Flask

from lms.learning.calendar import add_calendar_source
from lms.learning.home import add_home_panel
from lms.today.services import calendar_events
from lms.today.views import PANELS, bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    for panel in PANELS:
        add_home_panel(app, panel)
    add_calendar_source(app, calendar_events)
