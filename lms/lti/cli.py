"""``flask lms lti-sync``: send the grades waiting for the platforms (cron, every minute:
new ones and failed ones whose next try has come), and with ``--worker`` run the RQ worker
of the ``lti`` queue when REDIS_URL is set."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import delete

from lms.database import unit_of_work, utcnow
from lms.extensions import db
from lms.jobs.outbox import Worker, redis_link
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
