"""``flask lms rebuild-mastery``: recompute every learner's mastery from all evidence;
``flask lms rebuild-progress``: recompute every learner's schedule state (``lms.progress.state``)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from lms.database import unit_of_work, utcnow
from lms.extensions import db
from lms.progress import state
from lms.progress.evidence import rederive_quiz_evidence
from lms.progress.services import rebuild, reweigh


@click.command("rebuild-mastery")
@click.option("--rederive-quizzes", is_flag=True,
              help="First rebuild every quiz's evidence from the attempts under its grading rule (after an upgrade).")
@with_appcontext
def rebuild_mastery_command(rederive_quizzes: bool) -> None:
    """Recompute mastery from evidence under the current rules; gives the same numbers as the incremental updates."""
    with unit_of_work(db.session):
        now = utcnow()
        if rederive_quizzes:
            pairs = rederive_quiz_evidence(db.session, now)
            click.echo(f"Rederived the quiz evidence of {pairs} learner-quiz pair{'s' * (pairs != 1)}.")
        reweigh(db.session)
        count = rebuild(db.session, now)
    click.echo(f"Rebuilt {count} mastery record{'s' * (count != 1)}.")


@click.command("rebuild-progress")
@with_appcontext
def rebuild_progress_command() -> None:
    """Recompute every learner's schedule state (each item's dates, done or not) from their
    records; gives the same rows as the updates made as events arrive."""
    with unit_of_work(db.session):
        rows = state.rebuild(db.session, utcnow())
    click.echo(f"Rebuilt {rows} schedule item{'s' * (rows != 1)}.")
