"""``flask lms backup [TARGET]`` and ``flask lms restore SOURCE``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from lms.backup.manifest import BackupError, now_iso
from lms.backup.services import audit, restore_backup, write_backup
from lms.database import unit_of_work, utcnow
from lms.extensions import db


def upload_folder() -> Path:
    return Path(current_app.config.get("UPLOAD_DIR") or Path(current_app.instance_path) / "uploads")


def _fail(what: str, exc: Exception) -> None:
    click.echo(f"error: {what}: {exc}", err=True)
    sys.exit(1)


@click.command("backup")
@click.argument("target", required=False, type=click.Path(path_type=Path))
@with_appcontext
def backup_command(target: Path | None) -> None:
    """Write a backup (database snapshot, uploads, manifest) to TARGET: a new folder, or a
    .tar.gz archive (default: instance/backups/lms-<UTC time>.tar.gz)."""
    now = utcnow()
    if target is None:
        target = Path(current_app.instance_path) / "backups" / f"lms-{now_iso(now)}.tar.gz"
        target.parent.mkdir(parents=True, exist_ok=True)
    try:
        outcome = write_backup(db.engine, upload_folder(), target, now)
    except (BackupError, SQLAlchemyError, OSError) as exc:
        _fail("no backup was written", exc)
        return
    manifest = outcome.manifest
    try:
        with unit_of_work(db.session):
            audit(db.session, "backup", outcome)
    except SQLAlchemyError as exc:
        _fail(f"the backup {outcome.path} was written but its audit entry was not", exc)
    click.echo(f"Backup written to {outcome.path}: {manifest.dialect} database at revision "
               f"{manifest.alembic_revision}, {len(manifest.tables)} tables, {outcome.rows} rows, "
               f"{outcome.uploads} uploaded files.")


@click.command("restore")
@click.argument("source", type=click.Path(path_type=Path))
@with_appcontext
def restore_command(source: Path) -> None:
    """Verify the backup SOURCE (folder or .tar.gz) and load it into this site's database
    and upload folder, both of which must be empty."""
    try:
        outcome = restore_backup(db.engine, upload_folder(), source)
    except (BackupError, SQLAlchemyError, OSError) as exc:
        _fail(f"{source} was not restored", exc)
        return
    manifest = outcome.manifest
    try:
        with unit_of_work(db.session):  # written into the restored database, after its rows were checked
            audit(db.session, "restore", outcome)
    except SQLAlchemyError as exc:
        _fail(f"{source} was restored but its audit entry was not written", exc)
    click.echo(f"Restored {source} (made {manifest.created_at:%Y-%m-%d %H:%M} UTC): {len(manifest.tables)} tables, "
               f"{outcome.rows} rows and {outcome.uploads} uploaded files, all matching the manifest. "
               "Run `flask db upgrade` if this version of lms is newer than the backup's.")
