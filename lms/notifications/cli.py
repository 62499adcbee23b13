"""``flask lms send-reminders``: due-date reminders, month openings, staff's grading and
at-risk notices, and the daily digests. Idempotent; run it every few minutes from cron."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from lms.database import unit_of_work, utcnow
from lms.extensions import db
from lms.mail.services import deliver_pending, transport_for
from lms.notifications.reminders import run_reminders
from lms.notifications.services import BASE_URL, mail_base_url, reminders_due


def _moment(value: str | None) -> datetime:
    if not value:
        return utcnow()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date and time (e.g. 2026-12-01T09:00)", param_hint="--at") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@click.command("send-reminders")
@click.option("--base-url", envvar="LMS_BASE_URL", default="",
              help="The site's root URL for links in emails, e.g. https://lms.example.org (default: LMS_BASE_URL, "
                   "the site's configured address).")
@click.option("--at", "at", default=None, help="Act as if it were this UTC time (ISO format), to try things out.")
@with_appcontext
def send_reminders_command(base_url: str, at: str | None) -> None:
    """Send the reminders and digests due now; never the same notice twice."""
    now = _moment(at)
    session = db.session
    if base_url:
        session.info[BASE_URL] = base_url
    report = run_reminders(session, now)
    # A request context of its own, so receivers' url_for builds links (paths on the site).
    with current_app.test_request_context(), unit_of_work(session):
        reminders_due.send(current_app._get_current_object(), session=session, now=now)  # type: ignore[attr-defined]  # Flask types the proxy as the app itself
    with unit_of_work(session):
        mailed = deliver_pending(session, transport_for(current_app.config))
    kinds = ", ".join(f"{event.value} {count}" for event, count in sorted(report.notices.items())) or "none"
    click.echo(f"Made {report.made} notice{'s' * (report.made != 1)} ({kinds}); "
               f"queued {report.digests} digest{'s' * (report.digests != 1)}; delivered {mailed} email{'s' * (mailed != 1)}.")
    if not mail_base_url(session):
        # Run outside a request, the links in the emails have no site to go with them (a digest
        # read "- A peer reviewed your ...: /assignments/.../peer-reviews"): said, not guessed.
        click.echo("warning: no --base-url (or LMS_BASE_URL) was given, so the links in these emails are paths "
                   "without the site's address; give it, e.g. --base-url https://lms.example.org.", err=True)
    if report.failed:
        click.echo(f"error: {report.problem}. The other cohorts' reminders were made; run it again once mended.", err=True)
        sys.exit(1)
