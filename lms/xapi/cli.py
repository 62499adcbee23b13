"""``flask lms send-xapi``: send the statements that are due (cron, every minute), or run
the RQ worker of the ``xapi`` queue (``--worker``, needs REDIS_URL)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from lms.database import unit_of_work
from lms.extensions import db
from lms.jobs.outbox import Worker, redis_link
from lms.xapi.jobs import QUEUE
from lms.xapi.services import counts, enabled, send_pending
from lms.xapi.services import retry_failed as make_failed_due


@click.command("send-xapi")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Send at most this many statements.")
@click.option("--retry-failed", is_flag=True, help="First make statements given up on due again.")
@click.option("--worker", is_flag=True, help="Run the RQ worker of the xapi queue instead (needs REDIS_URL).")
@click.option("--burst", is_flag=True, help="With --worker: stop once the queue is empty.")
@with_appcontext
def send_xapi_command(limit: int | None, retry_failed: bool, worker: bool, burst: bool) -> None:
    """Send the xAPI statements that are due to the LRS (new ones, and failed ones whose next try has come)."""
    if not enabled(current_app.config):
        raise click.UsageError("xAPI is off: set XAPI_LRS_ENDPOINT (and XAPI_LRS_USERNAME, XAPI_LRS_PASSWORD).")
    if worker:
        link = redis_link(current_app)
        if link is None:
            raise click.UsageError("REDIS_URL is not set: statements are sent after each response and by `flask lms send-xapi`.")
        Worker([QUEUE], connection=link.connection).work(burst=burst)
        return
    if retry_failed:
        with unit_of_work(db.session):
            again = make_failed_due(db.session)
        click.echo(f"{again} failed statement{'s' * (again != 1)} due again.")
    sent = send_pending(db.session, current_app.config, limit=limit)
    left = counts(db.session)
    click.echo(f"Sent {sent} statement{'s' * (sent != 1)}; pending {left.get('pending', 0)}, failed {left.get('failed', 0)}.")

