"""Announcements' wiring: its pages, the learner's home panel, the template global the
cohort page includes, and ``flask lms publish-announcements``."""

from __future__ import annotations

from flask import Flask

from lms.announcements.cli import publish_announcements_command
from lms.announcements.views import bp, cohort_announcement_rows, home_panel
from lms.cli import add_commands
from lms.learning.home import HomePanel, Place, add_home_panel


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_home_panel(app, HomePanel(Place.LEARNER, "announcements/_home.html", home_panel))
    app.add_template_global(cohort_announcement_rows, "cohort_announcement_rows")
    add_commands(app, publish_announcements_command)
