"""``flask lms deliver-mail`` (cron, every minute: sends what is due, retrying failures
with exponential backoff) and ``flask lms mail-worker`` (the RQ worker for the ``mail``
queue when ``REDIS_URL`` is set)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from lms.extensions import db
from lms.jobs.outbox import Worker
from lms.mail.jobs import QUEUE, redis_link
from lms.mail.services import deliver_pending, transport_for


@click.command("deliver-mail")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Send at most this many messages.")
@with_appcontext
def deliver_mail_command(limit: int | None) -> None:
    """Send the outbox's due messages (new ones and failed ones whose next try has come)."""
    sent = deliver_pending(db.session, transport_for(current_app.config), limit=limit)
    click.echo(f"Delivered {sent} email{'s' * (sent != 1)}.")


@click.command("mail-worker")
@click.option("--burst", is_flag=True, help="Stop once the queue is empty.")
@with_appcontext
def mail_worker_command(burst: bool) -> None:
    """Run the RQ worker that delivers the mail requests queue (needs REDIS_URL)."""
    link = redis_link(current_app)
    if link is None:
        raise click.UsageError("REDIS_URL is not set: mail is delivered after each response and by `flask lms deliver-mail`.")
    # The worker (an RQ SimpleWorker) runs jobs in this process, inside this app context.
    Worker([QUEUE], connection=link.connection).work(burst=burst)
