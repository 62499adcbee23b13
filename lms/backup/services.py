"""Writing and restoring backups. A backup is a folder, or a ``.tar.gz`` of one, holding
the database snapshot (``database.sqlite3`` or ``database.dump``), ``uploads/`` (a copy of
the upload folder) and the manifest (``lms.backup.manifest``).

Restoring checks everything before it writes anything: the manifest and its digest, the
format, the dialect, that the schema revision is one this code knows, every file's size
and sha256, that the target database and upload folder are empty (and, on SQLite, that
the snapshot's row counts are the manifest's). Then it loads the database, keeping it only
if every table's row count is the manifest's (checked inside the load, so a mismatch
leaves the target empty on both databases), copies the uploads and counts once more."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine

from config import BASE_DIR
from lms.audit.models import AuditAction, AuditEntry
from lms.audit.services import record
from lms.backup.dialects import mismatch, snapshot_for
from lms.backup.manifest import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    UPLOADS,
    BackupError,
    FileEntry,
    Manifest,
    file_entry,
    read_manifest,
    verify_files,
    write_manifest,
)
from lms.database import DbSession

MIGRATIONS = BASE_DIR / "migrations"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")


@dataclass(frozen=True)
class Outcome:
    path: Path
    manifest: Manifest

    @property
    def rows(self) -> int:
        return sum(self.manifest.tables.values())

    @property
    def uploads(self) -> int:
        return sum(1 for name in self.manifest.files if name.startswith(f"{UPLOADS}/"))


def app_version() -> str:
    try:
        return version("lms")
    except PackageNotFoundError:
        return "unknown"


def is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIXES)


def _copy_uploads(uploads: Path, folder: Path) -> dict[str, FileEntry]:
    files: dict[str, FileEntry] = {}
    if not uploads.is_dir():
        return files
    for path in sorted(uploads.rglob("*")):
        if path.is_file() and not path.is_symlink():
            name = f"{UPLOADS}/{path.relative_to(uploads).as_posix()}"
            copy = folder / name
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
            files[name] = file_entry(copy)
    return files


def write_backup(engine: Engine, uploads: Path, target: Path, now: datetime) -> Outcome:
    """Write a backup of the database behind ``engine`` and of ``uploads`` to ``target``
    (a new folder, or a ``.tar.gz`` archive when its name says so). The database is
    copied first, then the uploads: a file added meanwhile may be in the backup without
    its row, never the other way round (attachments are never deleted, only hidden)."""
    if target.exists():
        raise BackupError(f"{target}: already exists; choose a new name")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent}: no such folder")
    snapshot = snapshot_for(engine.dialect.name)
    with tempfile.TemporaryDirectory(prefix=".lms-backup-", dir=target.parent) as work:
        top = target.name.removesuffix(".tar.gz").removesuffix(".tgz") if is_archive(target) else target.name
        folder = Path(work) / top
        folder.mkdir(mode=0o700)  # it holds everyone's data, password hashes included
        taken = snapshot.dump(engine, folder / snapshot.filename)
        files = {snapshot.filename: file_entry(folder / snapshot.filename), **_copy_uploads(uploads, folder)}
        manifest = Manifest(format=FORMAT, format_version=FORMAT_VERSION, app_version=app_version(),
                            alembic_revision=taken.alembic_revision, created_at=now, dialect=snapshot.dialect,
                            schema_name=taken.schema_name, client_version=taken.client_version,
                            database_file=snapshot.filename, tables=taken.tables, files=files)
        write_manifest(folder, manifest)
        if is_archive(target):
            partial = Path(work) / "archive.tar.gz"
            with tarfile.open(partial, "w:gz", compresslevel=6) as archive:
                archive.add(folder, arcname=top)
            partial.chmod(0o600)
            partial.replace(target)
        else:
            folder.replace(target)
    return Outcome(target, manifest)


UNREADABLE = "not a readable backup: the file is corrupted, or is not a .tar.gz archive written by flask lms backup"


def _extract(archive: Path, into: Path) -> Path:
    """The backup's folder inside ``archive``, extracted into ``into``. A file that is no
    archive, a damaged or truncated one, and one without a manifest (a file of zeros or cut
    at a header reads as an archive holding nothing, or part of one) are all refused as not
    a readable backup, naming the file."""
    read = False
    try:
        with tarfile.open(archive, "r:*") as tar:
            read = True
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        # no archive of any compression tarfile knows (its reasons say nothing more), or one
        # cut short or damaged inside (said why)
        raise BackupError(f"{archive.name}: {UNREADABLE}" + (f" ({exc})" if read else "")) from exc
    if (into / MANIFEST).is_file():
        return into
    entries = list(into.iterdir())
    if len(entries) == 1 and (entries[0] / MANIFEST).is_file():
        return entries[0]
    raise BackupError(f"{archive.name}: {UNREADABLE} (it holds no {MANIFEST})")


@contextmanager
def opened(source: Path) -> Iterator[Path]:
    """The backup's folder: ``source`` itself, or its archive extracted to a temporary one."""
    if not source.exists():
        raise BackupError(f"{source}: no such file or folder")
    if source.is_dir():
        yield source
        return
    with tempfile.TemporaryDirectory(prefix="lms-restore-") as work:
        yield _extract(source, Path(work))


def _known_revision(revision: str) -> None:
    scripts = ScriptDirectory(str(MIGRATIONS))
    try:
        known = scripts.get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        raise BackupError(f"{MANIFEST}: schema revision {revision} is unknown to this version of lms "
                          "(restore it with the version that made it)")


def _first_file(folder: Path) -> Path | None:
    if not folder.exists():
        return None
    return next((path for path in sorted(folder.rglob("*")) if not path.is_dir()), None)


def verify(folder: Path, manifest: Manifest, engine: Engine, uploads: Path) -> None:
    """Everything restore checks before writing; refuses with the file or table and why."""
    if manifest.dialect != engine.dialect.name:
        raise BackupError(f"{MANIFEST}: the backup is of a {manifest.dialect} database, the target is "
                          f"{engine.dialect.name}")
    snapshot = snapshot_for(manifest.dialect)
    if manifest.database_file != snapshot.filename:
        raise BackupError(f"{MANIFEST}: database_file is {manifest.database_file!r}, expected {snapshot.filename!r}")
    _known_revision(manifest.alembic_revision)
    verify_files(folder, manifest)
    inside = snapshot.snapshot_counts(folder / manifest.database_file)
    if inside is not None and inside != manifest.tables:
        table = next(iter(sorted(set(inside) ^ set(manifest.tables))), None) or next(
            name for name in sorted(inside) if inside[name] != manifest.tables[name])
        raise BackupError(f"{manifest.database_file}: table {table} holds {inside.get(table, 'no')} rows, "
                          f"the manifest says {manifest.tables.get(table, 'no table')}")
    snapshot.check_target(engine, manifest)
    found = _first_file(uploads)
    if found is not None:
        raise BackupError(f"{uploads}: the upload folder is not empty ({found.relative_to(uploads)}); "
                          "restore only into an empty one")


def restore_backup(engine: Engine, uploads: Path, source: Path) -> Outcome:
    """Verify the backup at ``source`` (folder or archive) and load it into the empty
    database behind ``engine`` and the empty folder ``uploads``."""
    with opened(source) as folder:
        manifest = read_manifest(folder)
        verify(folder, manifest, engine, uploads)
        snapshot = snapshot_for(manifest.dialect)
        snapshot.load(engine, folder / manifest.database_file, manifest)
        for name in sorted(manifest.files):
            if name.startswith(f"{UPLOADS}/"):
                target = uploads / name.removeprefix(f"{UPLOADS}/")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(folder / name, target)
    # ``load`` kept the database only if its row counts were the manifest's; counted once
    # more now that it is committed, in case something wrote to it meanwhile.
    problem = mismatch(snapshot.counts(engine), manifest.tables)
    if problem is not None:
        raise BackupError(f"the restored database does not match the manifest: {problem}; do not use it")
    return Outcome(source, manifest)


def command_runner() -> str:
    """Who ran the command, as the system knows them (``user@host``): commands have no
    signed-in actor, so the audit entry's actor is the system and this says whose shell it was."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container without a passwd entry)
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def audit(session: DbSession, command: Literal["backup", "restore"], outcome: Outcome) -> AuditEntry:
    """The audit entry of a backup written or restored by ``flask lms backup`` / ``restore``:
    the system as actor (no person is signed in on the command line), the backup's path as
    target, and what it holds."""
    manifest = outcome.manifest
    return record(session, actor_id=None,
                  action=AuditAction.BACKUP_WRITTEN if command == "backup" else AuditAction.BACKUP_RESTORED,
                  organization_id=None, target=f"backup:{outcome.path.resolve()}", before=None,
                  after={"via": f"flask lms {command}", "run_by": command_runner(),
                         "made_at": manifest.created_at, "dialect": manifest.dialect,
                         "alembic_revision": manifest.alembic_revision, "tables": len(manifest.tables),
                         "rows": outcome.rows, "uploads": outcome.uploads},
                  ip=None)
