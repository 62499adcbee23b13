"""Announcements' wiring: its pages, the learner's home panel, the template global the
cohort page includes, ``flask lms publish-announcements``, and publishing scheduled
announcements whenever ``flask lms send-reminders`` runs (its ``reminders_due`` signal)."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from lms.announcements import services
from lms.announcements.cli import publish_announcements_command
from lms.announcements.views import bp, cohort_announcement_rows, home_panel, link_for
from lms.cli import add_commands
from lms.database import DbSession
from lms.learning.home import HomePanel, Place, add_home_panel
from lms.notifications.services import reminders_due
from lms.web.page_cache import PageInput, add_page_input


def publish_with_reminders(_sender: object, *, session: DbSession, now: datetime) -> None:
    services.publish_due(session, now, link_for)


def init_app(app: Flask) -> None:
    add_page_input(app, PageInput("announcements", services.page_stamp))
    app.register_blueprint(bp)
    add_home_panel(app, HomePanel(Place.LEARNER, "announcements/_home.html", home_panel))
    app.add_template_global(cohort_announcement_rows, "cohort_announcement_rows")
    add_commands(app, publish_announcements_command)
    reminders_due.connect(publish_with_reminders)
