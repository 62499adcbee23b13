"""``flask lms backup`` and ``flask lms restore``: the demo data round-trips into a fresh
empty database (a new SQLite file, or on PostgreSQL a second database made for the test)
with every table's rows, a learner's evidence and a submission's file intact; damaged
backups and non-empty targets are refused with the file or table and the reason, and the
target is left untouched; a loaded database whose row counts differ from the manifest is
not kept, on either database. Backups and restores are in the audit log.

Kept cheap: the demo runs with three of its learner profiles (every table the full demo
fills is still filled), the small backup is made once and each test works on a copy, and
every test restores into one target database made for the module and emptied after each
test (a new schema or SQLite file is cheap; a PostgreSQL database is not)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, select

from config import normalise_database_url
from lms.accounts.models import User
from lms.audit.models import AuditAction, AuditEntry
from lms.backup.dialects import CHECK_MARK, PostgresSnapshot, SqliteSnapshot
from lms.backup.manifest import MANIFEST, MANIFEST_DIGEST, BackupError, sha256_of
from lms.cohorts.services import create_organization
from lms.coursework.models import Attachment, Submission
from lms.coursework.services import attachment_bytes
from lms.demo import services as demo
from lms.extensions import db
from lms.progress.models import Evidence
from tests.conftest import PG_SCHEMA, RUN, with_search_path

ATTACHMENT = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
# The demo's profiles the round trip keeps: learner01 (strong, revises her work), one in the
# middle, one falling behind. With them the demo fills the same tables as with all twelve.
DEMO_PROFILES = (0, 4, 10)


def cli(app: Flask, *args: str) -> Result:
    with app.app_context():  # a session of its own, as on the command line
        result = app.test_cli_runner().invoke(args=["lms", *args])
    db.session.rollback()
    db.session.expire_all()
    return result


def row_counts(app: Flask) -> dict[str, int]:
    with app.app_context(), db.engine.connect() as conn:
        return {table.name: conn.scalar(select(func.count()).select_from(table)) or 0
                for table in db.metadata.sorted_tables}


def table_names(app: Flask) -> list[str]:
    with app.app_context():
        names = sa.inspect(db.engine).get_table_names()
        db.engine.dispose()
    return names


@pytest.fixture(scope="module")
def _target(make_app: Callable[..., Flask], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """An app on an empty database with an empty upload folder, for the whole module: a new
    SQLite file, or on PostgreSQL a new database holding an empty schema of the same name
    as the suite's (a dump is restored into the schema it came from). One database is made
    and dropped per module (each CREATE and DROP DATABASE costs PostgreSQL a checkpoint);
    ``target`` empties it after each test."""
    base = os.environ.get("TEST_DATABASE_URL")
    admin = sa.create_engine(normalise_database_url(base), isolation_level="AUTOCOMMIT") if base else None
    folder = tmp_path_factory.mktemp("target")
    name = ""
    if admin is None:
        url = f"sqlite:///{folder / 'restored.sqlite3'}"
    else:
        name = f"{admin.url.database}_backup_{RUN}".lower()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = with_search_path(admin.url.set(database=name).render_as_string(hide_password=False), PG_SCHEMA)
    app = make_app(SQLALCHEMY_DATABASE_URI=url, UPLOAD_DIR=str(folder / "restored-uploads"))
    empty(app)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def empty(app: Flask) -> None:
    """Make the target empty again: no table (a new schema, or no SQLite file), no upload."""
    with app.app_context():
        db.session.remove()
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
                conn.execute(sa.text(f"CREATE SCHEMA {PG_SCHEMA}"))
            db.engine.dispose()
        else:
            db.engine.dispose()
            Path(str(db.engine.url.database)).unlink(missing_ok=True)
    shutil.rmtree(app.config["UPLOAD_DIR"], ignore_errors=True)


@pytest.fixture()
def target(_target: Flask) -> Iterator[Flask]:
    """The module's empty target, emptied again after the test."""
    yield _target
    empty(_target)


def add_attachment(app: Flask, uploads: Path, submission: Submission) -> Attachment:
    stored = f"{submission.id}/backup-test.pdf"
    (uploads / stored).parent.mkdir(parents=True, exist_ok=True)
    (uploads / stored).write_bytes(ATTACHMENT)
    attachment = Attachment(submission=submission, filename="plan.pdf", stored_name=stored,
                            content_type="application/pdf", size=len(ATTACHMENT), uploaded_at=datetime.now(UTC))
    db.session.add(attachment)
    db.session.commit()
    return attachment


def evidence_of(app: Flask, email: str) -> list[tuple[Any, ...]]:
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.email == email))
        rows = db.session.scalars(select(Evidence).where(Evidence.user_id == user_id).order_by(Evidence.id))
        return [(e.id, e.objective_id, e.source, e.source_ref, e.level, e.weight, e.note, e.recorded_at) for e in rows]


# --------------------------------------------------------------------------- the round trip


def audit_entries(app: Flask, action: AuditAction) -> list[AuditEntry]:
    with app.app_context():
        found = list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))
        db.session.expunge_all()
    return found


def test_the_demo_data_round_trips_into_an_empty_database(loaded: Flask, tmp_path: Path,
                                                          target: Flask,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    uploads = tmp_path / "uploads"
    loaded.config["UPLOAD_DIR"] = str(uploads)
    monkeypatch.setattr(demo, "PROFILES", [demo.PROFILES[n] for n in DEMO_PROFILES])
    assert cli(loaded, "demo").exit_code == 0
    learner = db.session.scalar(select(User).where(User.email == "learner01@demo.lms"))
    assert learner is not None
    submission = db.session.scalars(select(Submission).where(Submission.user_id == learner.id)).first()
    assert submission is not None
    attachment_id = add_attachment(loaded, uploads, submission).id
    before = row_counts(loaded)
    evidence = evidence_of(loaded, "learner01@demo.lms")
    assert len(evidence) > 10 and before["attachments"] == 1 and before["users"] >= 15
    # every kind of row the demo makes is there to round-trip
    assert {table for table, rows in before.items() if rows} >= {
        "evidence", "quiz_attempts", "quiz_responses", "submissions", "grades", "peer_reviews", "audit_log"}

    archive = tmp_path / "nightly.tar.gz"
    made = cli(loaded, "backup", str(archive))
    assert made.exit_code == 0, made.output
    assert f"Backup written to {archive}" in made.output and "1 uploaded files" in made.output
    # the audit log names the backup, with the system as actor (a command has no signed-in person)
    [written] = audit_entries(loaded, AuditAction.BACKUP_WRITTEN)
    assert (written.actor_id, written.ip, written.target) == (None, None, f"backup:{archive.resolve()}")
    assert written.after is not None and written.after["via"] == "flask lms backup"
    # (the manifest counts every table, alembic_version and the search index's too)
    assert written.after["rows"] >= sum(before.values()) and written.after["uploads"] == 1

    restored = cli(target, "restore", str(archive))
    assert restored.exit_code == 0, restored.output
    assert "all matching the manifest" in restored.output

    # every row, plus the restore's own audit entry, written once the counts were checked
    assert row_counts(target) == {**before, "audit_log": before["audit_log"] + 1}
    [restored_entry] = audit_entries(target, AuditAction.BACKUP_RESTORED)
    assert restored_entry.actor_id is None and restored_entry.target == f"backup:{archive.resolve()}"
    assert restored_entry.after is not None and restored_entry.after["via"] == "flask lms restore"
    assert restored_entry.after["rows"] == written.after["rows"]
    assert evidence_of(target, "learner01@demo.lms") == evidence
    with target.app_context():
        copy = db.session.get(Attachment, attachment_id)
        assert copy is not None and copy.filename == "plan.pdf"
        assert attachment_bytes(Path(target.config["UPLOAD_DIR"]), copy) == ATTACHMENT
        # The restored database carries on: ids continue after the restored rows.
        organization = create_organization(db.session, "After the restore")
        db.session.commit()
        assert organization.id > before["organizations"]
        db.session.rollback()

    # Restoring again into the now filled database is refused, naming a table that holds rows.
    again = cli(target, "restore", str(archive))
    assert again.exit_code != 0
    assert "the target database is not empty: table" in again.output and "restore only into an empty" in again.output


# --------------------------------------------------------------------------- refusals


@pytest.fixture(scope="module")
def _small_original() -> dict[str, Path]:
    return {}


@pytest.fixture()
def small_backup(app: Flask, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                 make_user: Callable[..., Any], _small_original: dict[str, Path]) -> Path:
    """A private copy of a backup folder of a database with two users and one uploaded
    file; the backup is made once per module (the first test that asks for it)."""
    if "folder" not in _small_original:
        made_in = tmp_path_factory.mktemp("small")
        uploads = made_in / "uploads"
        app.config["UPLOAD_DIR"] = str(uploads)
        make_user(), make_user()
        (uploads / "7").mkdir(parents=True)
        (uploads / "7" / "work.pdf").write_bytes(ATTACHMENT)
        folder = made_in / "backup"
        made = cli(app, "backup", str(folder))
        assert made.exit_code == 0, made.output
        assert sorted(p.name for p in folder.iterdir()) == sorted([MANIFEST, MANIFEST_DIGEST, "uploads", (
            "database.sqlite3" if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") else "database.dump")])
        _small_original["folder"] = folder
    copy = tmp_path / "backup"
    shutil.copytree(_small_original["folder"], copy)
    return copy


def refused(target: Flask, source: Path, *expected: str) -> None:
    result = cli(target, "restore", str(source))
    assert result.exit_code == 1, result.output
    for text in expected:
        assert text in result.output, result.output
    # untouched: no table made, no file copied
    assert table_names(target) == []
    assert not Path(target.config["UPLOAD_DIR"]).exists()


def rewrite_manifest(folder: Path, change: Callable[[dict[str, Any]], None]) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    change(manifest)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    (folder / MANIFEST_DIGEST).write_text(f"{sha256_of(folder / MANIFEST)}  {MANIFEST}\n")


def test_a_damaged_file_is_refused_before_anything_is_loaded(small_backup: Path, target: Flask) -> None:
    damaged = small_backup / "uploads" / "7" / "work.pdf"
    damaged.chmod(damaged.stat().st_mode | stat.S_IWUSR)
    damaged.write_bytes(ATTACHMENT.replace(b"EOF", b"EOG"))
    refused(target, small_backup, "uploads/7/work.pdf: checksum does not match the manifest")

    damaged.unlink()
    refused(target, small_backup, "uploads/7/work.pdf: listed in the manifest but missing")


def test_a_damaged_or_wrong_manifest_is_refused(small_backup: Path, target: Flask) -> None:
    manifest = small_backup / MANIFEST
    original = manifest.read_bytes()
    manifest.write_bytes(original.replace(b'"users": 2', b'"users": 3'))
    refused(target, small_backup, f"{MANIFEST}: its checksum does not match {MANIFEST_DIGEST}")

    manifest.write_bytes(original)
    rewrite_manifest(small_backup, lambda m: m.update(files={**m["files"], "extra.txt": m["files"]["uploads/7/work.pdf"]}))
    refused(target, small_backup, "extra.txt: listed in the manifest but missing")

    (small_backup / MANIFEST).write_bytes(original[:-20])
    (small_backup / MANIFEST_DIGEST).write_text(f"{sha256_of(manifest)}  {MANIFEST}\n")
    refused(target, small_backup, f"{MANIFEST}: not JSON at line")

    manifest.write_bytes(original)
    rewrite_manifest(small_backup, lambda m: m.update(alembic_revision="ffffffffffff"))
    refused(target, small_backup, "schema revision ffffffffffff is unknown")

    manifest.write_bytes(original)
    rewrite_manifest(small_backup, lambda m: m.update(dialect="oracle"))
    refused(target, small_backup, "the backup is of a oracle database")


def test_row_counts_other_than_the_manifests_are_refused_and_nothing_is_kept(
        small_backup: Path, target: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite counts the snapshot file before loading it; a PostgreSQL dump's rows can only
    be counted once loaded, so the count runs inside the loading transaction. Either way a
    mismatch exits 1 naming the table and leaves the target empty."""
    sqlite = json.loads((small_backup / MANIFEST).read_text())["dialect"] == "sqlite"
    original = (small_backup / MANIFEST).read_bytes()
    rewrite_manifest(small_backup, lambda m: m["tables"].update(users=5))
    refused(target, small_backup, "table users holds 2 rows, the manifest says 5",
            "database.sqlite3: " if sqlite else "the loaded database does not match the manifest: ")
    if not sqlite:
        return  # the check's other cases: test_the_postgres_load_check_names_the_first_wrong_table

    for change, message in (
            (lambda m: m["tables"].pop("announcements"), "table announcements holds 0 rows, the manifest says no table"),
            (lambda m: m["tables"].update(ghosts=0), "table ghosts holds no rows, the manifest says 0")):
        (small_backup / MANIFEST).write_bytes(original)
        rewrite_manifest(small_backup, change)
        refused(target, small_backup, message)

    # SQLite checks after loading too (a snapshot it could not count first): the target is put back.
    monkeypatch.setattr(SqliteSnapshot, "snapshot_counts", lambda self, dump: None)
    (small_backup / MANIFEST).write_bytes(original)
    rewrite_manifest(small_backup, lambda m: m["tables"].update(users=1))
    refused(target, small_backup, "the loaded database does not match the manifest: table users holds 2 rows, "
            "the manifest says 1; nothing was kept")


def test_the_postgres_load_check_names_the_first_wrong_table(app: Flask, make_user: Callable[..., Any]) -> None:
    """The PL/pgSQL block that ends a PostgreSQL load, run here on the suite's own schema:
    silent when tables and counts are right, else it raises naming the table (an extra
    table, a missing one, a count), and names with quotes stay names."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("PostgreSQL only (SQLite counts the snapshot file itself)")
    make_user(), make_user()
    with app.app_context(), db.engine.connect() as conn:
        schema = str(conn.scalar(sa.text("SELECT current_schema()")))
        counts = PostgresSnapshot()._read(conn)

        def check(tables: dict[str, int]) -> str | None:
            try:
                with conn.begin_nested():
                    conn.exec_driver_sql(PostgresSnapshot.check_script(schema, tables).replace("%", "%%"))
            except sa.exc.DBAPIError as exc:
                return str(exc.orig).splitlines()[0]
            return None

        assert counts["users"] == 2 and check(counts) is None
        assert check({**counts, "users": 5}) == f"{CHECK_MARK} table users holds 2 rows, the manifest says 5"
        assert check({k: v for k, v in counts.items() if k != "announcements"}) == (
            f"{CHECK_MARK} table announcements holds 0 rows, the manifest says no table")
        assert check({**counts, "it's \"odd\"$$": 0}) == (
            f"{CHECK_MARK} table it's \"odd\"$$ holds no rows, the manifest says 0")
        conn.rollback()


def test_a_broken_archive_and_a_filled_upload_folder_are_refused(app: Flask, small_backup: Path, tmp_path: Path,
                                                                 target: Flask) -> None:
    archive = tmp_path / "whole.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(small_backup, arcname="whole")
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    unreadable = "not a readable backup: the file is corrupted, or is not a .tar.gz archive written by flask lms backup"
    refused(target, broken, f"broken.tar.gz: {unreadable}")
    # A damaged file that still reads as an archive (zeros, cut at a header, a zip) is no
    # more a backup: the same words, naming it, never "holds no manifest.json" alone.
    zeros = tmp_path / "zeros.tar.gz"
    zeros.write_bytes(bytes(20 * 512))
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tar:
        tar.add(small_backup, arcname="whole")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(plain.read_bytes()[:512])  # the folder's header alone
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    for damaged in (zeros, cut, garbage):
        refused(target, damaged, f"{damaged.name}: {unreadable}")
    refused(target, tmp_path / "nowhere.tar.gz", "nowhere.tar.gz: no such file or folder")

    uploads = Path(target.config["UPLOAD_DIR"])
    (uploads / "left").mkdir(parents=True)
    (uploads / "left" / "over.txt").write_text("x")
    result = cli(target, "restore", str(small_backup))
    assert result.exit_code == 1
    assert "the upload folder is not empty (left/over.txt)" in result.output
    assert table_names(target) == []

    # An existing target is never overwritten by a backup either.
    again = cli(app, "backup", str(archive))
    assert again.exit_code == 1 and "already exists; choose a new name" in again.output


def test_postgres_client_missing_or_older_than_the_server_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    monkeypatch.setattr(shutil, "which", lambda program: None)
    with pytest.raises(BackupError, match="pg_dump was not found on PATH: install the PostgreSQL 16 client"):
        PostgresSnapshot._client("pg_dump", 16)

    old = tmp_path / "pg_dump"
    old.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 13.4'\n")
    old.chmod(0o755)
    monkeypatch.setattr(shutil, "which", lambda program: str(old))
    with pytest.raises(BackupError, match="is version 13 but the server is PostgreSQL 16"):
        PostgresSnapshot._client("pg_dump", 16)


def test_a_migrated_but_empty_database_takes_the_backup(small_backup: Path, target: Flask) -> None:
    """``flask db upgrade`` then ``flask lms restore``: the empty tables are replaced by the backup's."""
    with target.app_context():
        upgrade(revision=json.loads((small_backup / MANIFEST).read_text())["alembic_revision"])
        db.engine.dispose()
    restored = cli(target, "restore", str(small_backup))
    assert restored.exit_code == 0, restored.output
    assert row_counts(target)["users"] == 2
    assert (Path(target.config["UPLOAD_DIR"]) / "7" / "work.pdf").read_bytes() == ATTACHMENT
