"""``flask lms purge-uploads``: the retention rule for uploads (UPLOAD_RETENTION_MONTHS)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from lms.database import unit_of_work, utcnow
from lms.extensions import db
from lms.privacy.services import delete_doomed, purge_uploads
from lms.storage.backends import file_storage


@click.command("purge-uploads")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@with_appcontext
def purge_uploads_command(dry_run: bool) -> None:
    """Delete the uploaded files of cohorts archived more than UPLOAD_RETENTION_MONTHS months ago."""
    months = current_app.config.get("UPLOAD_RETENTION_MONTHS")
    if not isinstance(months, int) or isinstance(months, bool) or months < 1:
        raise click.ClickException(f"UPLOAD_RETENTION_MONTHS must be a whole number of months (1 or more), not {months!r}.")
    with unit_of_work(db.session):
        report = purge_uploads(db.session, months, utcnow(), dry_run=dry_run)
    delete_doomed(db.session, file_storage())  # from every storage: local disk and the database
    verb = "Would delete" if dry_run else "Deleted"
    where = ", ".join(report.cohorts) or "no cohort archived that long with files left"
    click.echo(f"{verb} {report.files} file{'s' * (report.files != 1)} ({report.bytes} bytes) "
               f"of cohorts archived more than {months} months ago: {where}.")
