"""Discussions' wiring: its pages and the learner's home panel linking their cohort's
discussions (the catalog's module page links ``/discussions?module=<key>``)."""

from __future__ import annotations

from flask import Flask

from lms.discussions.views import bp, home_panel
from lms.learning.home import HomePanel, Place, add_home_panel


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_home_panel(app, HomePanel(Place.LEARNER, "discussions/_home.html", home_panel))
