"""``flask lms deliver-webhooks`` (cron, every minute: sends what is due, retrying failures
with exponential backoff) and ``flask lms webhook-worker`` (the RQ worker for the
``webhooks`` queue when ``REDIS_URL`` is set)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from lms.extensions import db
from lms.jobs.outbox import Worker, redis_link
from lms.webhooks.jobs import QUEUE
from lms.webhooks.services import deliver_pending


@click.command("deliver-webhooks")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Send at most this many deliveries.")
@with_appcontext
def deliver_webhooks_command(limit: int | None) -> None:
    """Send the webhook deliveries that are due (new ones and failed ones whose next try has come)."""
    sent = deliver_pending(db.session, current_app.config, limit=limit)
    click.echo(f"Delivered {sent} webhook{'s' * (sent != 1)}.")


@click.command("webhook-worker")
@click.option("--burst", is_flag=True, help="Stop once the queue is empty.")
@with_appcontext
def webhook_worker_command(burst: bool) -> None:
    """Run the RQ worker that delivers the webhooks requests queue (needs REDIS_URL)."""
    link = redis_link(current_app)
    if link is None:
        raise click.UsageError("REDIS_URL is not set: webhooks are delivered after each response and by "
                               "`flask lms deliver-webhooks`.")
    Worker([QUEUE], connection=link.connection).work(burst=burst)
