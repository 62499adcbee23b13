"""What a backup holds and how it is checked: ``manifest.json`` (format, versions, when,
the database's dialect, row counts per table, the sha256 and size of every file) and
``manifest.json.sha256`` (the manifest's own digest, so a damaged manifest is refused
before anything is loaded)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

FORMAT = "lms-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_DIGEST = "manifest.json.sha256"
UPLOADS = "uploads"
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup that cannot be written or a backup refused: the message names the file
    (or table) and the reason."""


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["lms-backup"]
    format_version: int
    app_version: str
    alembic_revision: str
    created_at: AwareDatetime
    dialect: str
    schema_name: str | None  # PostgreSQL: the schema dumped; restored into the same one
    client_version: str | None  # PostgreSQL: pg_dump's version
    database_file: str
    tables: dict[str, int]
    files: dict[str, FileEntry]

    @field_validator("files")
    @classmethod
    def _relative_paths(cls, files: dict[str, FileEntry]) -> dict[str, FileEntry]:
        for name in files:
            path = PurePosixPath(name)
            if path.is_absolute() or ".." in path.parts or not path.parts or name != str(path):
                raise ValueError(f"{name!r} is not a plain relative path")
        return files

    @field_validator("tables")
    @classmethod
    def _counts(cls, tables: dict[str, int]) -> dict[str, int]:
        negative = [name for name, rows in tables.items() if rows < 0]
        if negative:
            raise ValueError(f"negative row count for {negative[0]!r}")
        return tables


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(path: Path) -> FileEntry:
    return FileEntry(sha256=sha256_of(path), size=path.stat().st_size)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    path = folder / MANIFEST
    path.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (folder / MANIFEST_DIGEST).write_text(f"{sha256_of(path)}  {MANIFEST}\n", encoding="ascii")


def read_manifest(folder: Path) -> Manifest:
    """The folder's manifest, its own digest checked first; refused with the file's name
    and the reason."""
    path, digest_path = folder / MANIFEST, folder / MANIFEST_DIGEST
    for required in (path, digest_path):
        if not required.is_file():
            raise BackupError(f"{required.name}: missing from the backup")
    expected = digest_path.read_text(encoding="ascii", errors="replace").split()[:1]
    if expected != [sha256_of(path)]:
        raise BackupError(f"{MANIFEST}: its checksum does not match {MANIFEST_DIGEST} (the manifest is damaged)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise BackupError(f"{MANIFEST}: not UTF-8 text ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise BackupError(f"{MANIFEST}: not JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    if isinstance(raw, dict) and raw.get("format") == FORMAT and raw.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"{MANIFEST}: format version {raw.get('format_version')!r} is not supported "
                          f"(this version of lms reads version {FORMAT_VERSION})")
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise BackupError(f"{MANIFEST}: {where}: {first['msg']}") from exc


def verify_files(folder: Path, manifest: Manifest) -> None:
    """Every listed file present with its size and sha256, and nothing else beside the
    manifest; refused with the first file that is wrong."""
    if manifest.database_file not in manifest.files:
        raise BackupError(f"{MANIFEST}: the database file {manifest.database_file!r} is not listed in files")
    root = folder.resolve()
    for name, entry in sorted(manifest.files.items()):
        path = (folder / name).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise BackupError(f"{name}: listed in the manifest but missing from the backup")
        if path.stat().st_size != entry.size:
            raise BackupError(f"{name}: {path.stat().st_size} bytes, the manifest says {entry.size}")
        if sha256_of(path) != entry.sha256:
            raise BackupError(f"{name}: checksum does not match the manifest (the file is damaged)")
    listed = set(manifest.files) | {MANIFEST, MANIFEST_DIGEST}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_symlink() or (not path.is_dir() and name not in listed):
            raise BackupError(f"{name}: in the backup but not in the manifest")


def now_iso(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")
