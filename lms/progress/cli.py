"""``flask lms rebuild-mastery``: recompute every learner's mastery from all evidence."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from lms.database import unit_of_work, utcnow
from lms.extensions import db
from lms.progress.services import rebuild


@click.command("rebuild-mastery")
@with_appcontext
def rebuild_mastery_command() -> None:
    """Recompute mastery from evidence; gives the same numbers as the incremental updates."""
    with unit_of_work(db.session):
        count = rebuild(db.session, utcnow())
    click.echo(f"Rebuilt {count} mastery record{'s' * (count != 1)}.")
