"""``flask lms prune-removals``: delete the API's removal records (tombstones) older than the
days the API promises to keep them (``API_REMOVALS_KEPT_DAYS``, 90 unless configured). Run
it from cron (daily), or queue the ``prune-removals`` job kind for the worker."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from lms.api.removals import DEFAULT_KEPT_DAYS, prune
from lms.database import unit_of_work, utcnow
from lms.extensions import db


def kept_days() -> int:
    return int(current_app.config.get("API_REMOVALS_KEPT_DAYS") or DEFAULT_KEPT_DAYS)


@click.command("prune-removals")
@click.option("--older-than", "days", type=click.IntRange(min=1), default=None, metavar="DAYS",
              help="Delete removals recorded more than DAYS days ago (default: API_REMOVALS_KEPT_DAYS, 90).")
@with_appcontext
def prune_removals_command(days: int | None) -> None:
    """Delete the API's removal records older than DAYS days (cron: daily)."""
    kept = kept_days()
    if days is None:
        days = kept
    elif days < kept:
        raise click.BadParameter(
            f"{days} is fewer than the {kept} days the API keeps removals (API_REMOVALS_KEPT_DAYS): a client whose "
            f"cursor is {days} to {kept} days old would miss removals. Lower API_REMOVALS_KEPT_DAYS first.",
            param_hint="--older-than")
    with unit_of_work(db.session):
        count = prune(db.session, timedelta(days=days), utcnow())
    click.echo(f"Deleted {count} removal record{'s' * (count != 1)} older than {days} days.")
