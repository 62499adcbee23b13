"""``flask lms publish-announcements``: notify learners of scheduled announcements whose
time has come. Idempotent (each learner is notified of an announcement once); run it
every few minutes from cron, beside ``flask lms send-reminders``."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from lms.announcements import services
from lms.announcements.views import link_for
from lms.database import unit_of_work, utcnow
from lms.extensions import db
from lms.notifications.services import BASE_URL, NO_BASE_URL, mail_base_url


@click.command("publish-announcements")
@click.option("--base-url", envvar="LMS_BASE_URL", default="",
              help="The site's root URL for links in emails, e.g. https://lms.example.org (or LMS_BASE_URL).")
@with_appcontext
def publish_announcements_command(base_url: str) -> None:
    """Notify each cohort's learners of the scheduled announcements that have become visible."""
    session = db.session
    if base_url:
        session.info[BASE_URL] = base_url
    # A request context of its own, so url_for builds the notifications' links (paths on the site).
    with current_app.test_request_context(), unit_of_work(session):
        count = services.publish_due(session, utcnow(), link_for)
    click.echo(f"Notified the learners of {count} announcement{'s' * (count != 1)}.")
    if not mail_base_url(session):
        click.echo(f"warning: {NO_BASE_URL}", err=True)
