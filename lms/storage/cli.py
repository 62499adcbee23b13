"""``flask lms move-files --to database|local``."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from lms.storage.backends import BACKENDS, backend_name, store_for
from lms.storage.services import move_files


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


@click.command("move-files")
@click.option("--to", "target_name", type=click.Choice(sorted(BACKENDS)), required=True,
              help="Where the files go: the database (every node reads them) or the local upload folder.")
@click.option("--keep-source", is_flag=True, help="Copy and check, but leave the files where they were too.")
@click.option("--dry-run", is_flag=True, help="Count what would move; move nothing.")
@with_appcontext
def move_files_command(target_name: str, keep_source: bool, dry_run: bool) -> None:
    """Move every stored upload into one backend, checking each copy's sha256. Safe to run
    again: files already moved are not copied twice."""
    target = store_for(target_name)
    total = None
    for source_name in BACKENDS:
        if source_name == target_name:
            continue
        source = store_for(source_name)
        report = move_files(source, target, keep_source=keep_source, dry_run=dry_run)
        verb = "Would move" if dry_run else ("Copied" if keep_source else "Moved")
        click.echo(f"{verb} {report.moved} file{'s' * (report.moved != 1)} ({_megabytes(report.bytes)}) from "
                   f"{source.describe()} to {target.describe()}, each checked by sha256; "
                   f"{report.already} already there with the same sha256"
                   + (f", {report.replaced} replaced a different copy" if report.replaced else "")
                   + f"; {report.failed} failed.")
        for key in report.failures or []:
            click.echo(f"  {key}: the copy's sha256 differs from the original; the original is kept", err=True)
        total = (total or 0) + report.failed
    configured = backend_name(current_app)
    if configured != target_name:
        click.echo(f"FILE_STORAGE is {configured}: set FILE_STORAGE={target_name} (on every node) so new uploads go there too.")
    if total:
        raise click.ClickException(f"{total} file{'s' * (total != 1)} could not be copied intact; run the command again.")
