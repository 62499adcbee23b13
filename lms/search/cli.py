"""``flask lms rebuild-search``: rebuild the search index from the loaded content."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from lms.database import unit_of_work
from lms.extensions import db
from lms.search.backends import NoSearchBackend
from lms.search.services import rebuild_index


@click.command("rebuild-search")
@with_appcontext
def rebuild_search_command() -> None:
    """Bring the search index in line with the active lessons and templates and rebuild
    the database's full-text index (safe to rerun)."""
    try:
        with unit_of_work(db.session):
            report = rebuild_index(db.session)
    except (SQLAlchemyError, NoSearchBackend) as exc:
        click.echo(f"error: the search index was not rebuilt: {exc}", err=True)
        click.echo("Has the schema been created? Run `flask db upgrade` first.", err=True)
        sys.exit(1)
    click.echo(f"Search index rebuilt: {report.created} added, {report.updated} updated, "
               f"{report.removed} removed, {report.unchanged} unchanged.")
