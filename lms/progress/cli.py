"""``flask lms rebuild-mastery``: recompute every learner's mastery from all evidence."""

from __future__ import annotations

import click

from lms.cli import lms_cli
from lms.database import utcnow
from lms.extensions import db
from lms.progress.services import rebuild


@lms_cli.command("rebuild-mastery")
def rebuild_mastery_command() -> None:
    """Recompute mastery from evidence; gives the same numbers as the incremental updates."""
    count = rebuild(db.session, utcnow())
    db.session.commit()
    click.echo(f"Rebuilt {count} mastery record{'s' * (count != 1)}.")
