"""``flask lms rejudge-kpi``: judge every stored KPI figure again under the current evidence
rule (``lms.kpi.services.rejudge_all``), and the mastery it moves."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from lms.database import unit_of_work, utcnow
from lms.extensions import db
from lms.kpi.services import rejudge_all


@click.command("rejudge-kpi")
@with_appcontext
def rejudge_kpi_command() -> None:
    """Judge every learner's KPI figures again under the current rule (once after upgrading
    from before migration zzd2c3d4e5f614); running it again changes nothing."""
    with unit_of_work(db.session):
        count = rejudge_all(db.session, utcnow())
    click.echo(f"Judged {count} KPI figure{'s' * (count != 1)} again.")
