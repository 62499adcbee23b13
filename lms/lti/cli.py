"""``flask lms lti-sync``: send the grades waiting for the platforms (cron, every minute:
new ones and failed ones whose next try has come), and with ``--worker`` run the RQ worker
of the ``lti`` queue when REDIS_URL is set. ``flask lms check-lti-links``: the identity
links made before a platform's vouched email was held to the organization's rule
(``lms.lti.links``), listed, and with ``--unlink`` removed."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import delete

from lms.database import unit_of_work, utcnow
from lms.extensions import db
from lms.jobs.outbox import Worker, redis_link
from lms.lti import links
from lms.lti.grades import send_pending
from lms.lti.jobs import QUEUE
from lms.lti.models import LtiNonce


@click.command("lti-sync")
@click.option("--limit", type=click.IntRange(min=1), default=500, help="Send at most this many scores.")
@click.option("--worker", is_flag=True, help="Run the RQ worker of the lti queue instead (needs REDIS_URL).")
@click.option("--burst", is_flag=True, help="With --worker: stop once the queue is empty.")
@with_appcontext
def lti_sync_command(limit: int, worker: bool, burst: bool) -> None:
    """Send due LTI grade passbacks to the platforms, retrying failures with backoff."""
    if worker:
        link = redis_link(current_app)
        if link is None:
            raise click.UsageError("REDIS_URL is not set: scores are sent after each commit and by `flask lms lti-sync`.")
        Worker([QUEUE], connection=link.connection).work(burst=burst)
        return
    with unit_of_work(db.session):
        db.session.execute(delete(LtiNonce).where(LtiNonce.expires_at < utcnow()))
    result = send_pending(db.session, current_app.config, limit=limit)
    click.echo(f"Sent {result.sent} score{'s' * (result.sent != 1)}; {result.failed} failed (retried later).")


@click.command("check-lti-links")
@click.option("--unlink", is_flag=True, help="Remove the links found (audited); the accounts and their work stay.")
@with_appcontext
def check_lti_links_command(unlink: bool) -> None:
    """List LTI identity links whose account is outside the organizations the platform
    launches into (made before the rule held); exit status 1 when any are left."""
    found = links.outsider_links(db.session)
    for link in found:
        click.echo(link.line())
    if not found:
        click.echo("No LTI link breaks the rule: every linked account belongs to an organization its platform launches into.")
        return
    if not unlink:
        click.echo(f"{len(found)} link{'s' * (len(found) != 1)} break{'s' * (len(found) == 1)} the rule: a launch through "
                   "them is refused. Run again with --unlink to remove them.")
        sys.exit(1)
    with unit_of_work(db.session):
        removed = links.unlink(db.session, found)
    click.echo(f"Removed {removed} link{'s' * (removed != 1)}; the accounts and their work are kept.")
