"""How each database is snapshotted and loaded: a registry of small classes keyed by the
SQLAlchemy dialect name.

- SQLite: the online backup API (``sqlite3.Connection.backup``) copies a consistent
  database file while the site runs; restoring copies it back the same way.
- PostgreSQL: ``pg_dump --format=custom`` of the application's schema, taken from a
  snapshot exported by a REPEATABLE READ transaction that also counts the rows, so counts
  and dump agree; ``pg_restore`` turns it into SQL that ``psql`` runs in one transaction
  into the same schema of the target, ending with a check of every table's row count
  against the manifest: a mismatch rolls the whole load back.

Either way ``load`` keeps the loaded database only when its tables and row counts are the
manifest's; otherwise the target is left as it was and the restore is refused."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Connection, Engine, text

from lms.backup.manifest import BackupError, Manifest

# Tables whose rows do not make a database "not empty": the migration marker.
BOOKKEEPING = frozenset({"alembic_version"})
# Starts the message of the row-count check run at the end of a PostgreSQL load.
CHECK_MARK = "lms-restore-check:"


@dataclass(frozen=True)
class Snapshot:
    """What a dump recorded: rows per table, the schema's revision, and dialect details."""

    tables: dict[str, int]
    alembic_revision: str
    schema_name: str | None = None
    client_version: str | None = None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _counts(tables: list[str], scalar: Callable[[str], Any]) -> dict[str, int]:
    return {table: int(scalar(f"SELECT count(*) FROM {_quote(table)}")) for table in sorted(tables)}


def _revision(tables: list[str], scalar: Callable[[str], Any]) -> str:
    if "alembic_version" not in tables:
        raise BackupError("the database has no schema (no alembic_version table): run `flask db upgrade` first")
    revision = scalar("SELECT version_num FROM alembic_version")
    if not revision:
        raise BackupError("the database has no schema revision in alembic_version: run `flask db upgrade` first")
    return str(revision)


def mismatch(loaded: dict[str, int], expected: dict[str, int]) -> str | None:
    """The first table whose row count (or presence) differs from the manifest's, as a sentence."""
    wrong = sorted(name for name in set(loaded) | set(expected) if loaded.get(name) != expected.get(name))
    if not wrong:
        return None
    return (f"table {wrong[0]} holds {loaded.get(wrong[0], 'no')} rows, the manifest says "
            f"{expected.get(wrong[0], 'no table')}")


def refused_load(problem: str) -> BackupError:
    return BackupError(f"the loaded database does not match the manifest: {problem}; nothing was kept "
                       "(the target is as it was)")


class DatabaseSnapshot(ABC):
    dialect: ClassVar[str]
    filename: ClassVar[str]

    @abstractmethod
    def dump(self, engine: Engine, target: Path) -> Snapshot:
        """Write a consistent copy of the database to ``target``."""

    @abstractmethod
    def snapshot_counts(self, dump: Path) -> dict[str, int] | None:
        """Rows per table read from the dump file itself, or None if it cannot be read
        without loading it."""

    @abstractmethod
    def check_target(self, engine: Engine, manifest: Manifest) -> None:
        """Refuse a target that is not empty or cannot take this backup."""

    @abstractmethod
    def load(self, engine: Engine, dump: Path, manifest: Manifest) -> None:
        """Load the dump into the (checked) target and keep it only if every table's row
        count is the manifest's; otherwise leave the target as it was and raise."""

    @abstractmethod
    def counts(self, engine: Engine) -> dict[str, int]:
        """Rows per table of the database behind ``engine``."""

    def refuse_rows(self, counts: dict[str, int], ignore: frozenset[str] = frozenset()) -> None:
        filled = [table for table, rows in counts.items() if rows and table not in BOOKKEEPING | ignore]
        if filled:
            raise BackupError(f"the target database is not empty: table {filled[0]} holds {counts[filled[0]]} rows "
                              "(restore only into an empty database)")


class SqliteSnapshot(DatabaseSnapshot):
    dialect = "sqlite"
    filename = "database.sqlite3"

    @staticmethod
    def _tables(conn: sqlite3.Connection) -> list[str]:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        return [str(name) for (name,) in rows]

    def _read(self, conn: sqlite3.Connection) -> dict[str, int]:
        return _counts(self._tables(conn), lambda sql: conn.execute(sql).fetchone()[0])

    def dump(self, engine: Engine, target: Path) -> Snapshot:
        raw = engine.raw_connection()
        try:
            copy = sqlite3.connect(target)
            try:
                source = raw.driver_connection
                assert isinstance(source, sqlite3.Connection)
                source.backup(copy)
                tables = self._tables(copy)
                revision = _revision(tables, lambda sql: copy.execute(sql).fetchone()[0])
                return Snapshot(tables=self._read(copy), alembic_revision=revision)
            finally:
                copy.close()
        finally:
            raw.close()

    def snapshot_counts(self, dump: Path) -> dict[str, int] | None:
        try:
            conn = sqlite3.connect(f"{dump.resolve().as_uri()}?mode=ro", uri=True)
            try:
                return self._read(conn)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise BackupError(f"{dump.name}: not a readable SQLite database ({exc})") from exc

    def counts(self, engine: Engine) -> dict[str, int]:
        raw = engine.raw_connection()
        try:
            conn = raw.driver_connection
            assert isinstance(conn, sqlite3.Connection)
            return self._read(conn)
        finally:
            raw.close()

    def check_target(self, engine: Engine, manifest: Manifest) -> None:
        raw = engine.raw_connection()
        try:
            conn = raw.driver_connection
            assert isinstance(conn, sqlite3.Connection)
            virtual = [str(name) for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'")]
            counts = self._read(conn)
        finally:
            raw.close()
        # A full-text index's shadow tables (search_fts_config, ...) hold rows of their own
        # in an empty database; the index itself counts as its content.
        shadows = frozenset(table for table in counts for name in virtual if table.startswith(f"{name}_"))
        self.refuse_rows(counts, shadows)

    def load(self, engine: Engine, dump: Path, manifest: Manifest) -> None:
        source = sqlite3.connect(f"{dump.resolve().as_uri()}?mode=ro", uri=True)
        raw = engine.raw_connection()
        try:
            target = raw.driver_connection
            assert isinstance(target, sqlite3.Connection)
            with tempfile.TemporaryDirectory(prefix="lms-restore-") as work:
                before = sqlite3.connect(Path(work) / "before.sqlite3")
                try:
                    target.backup(before)  # the (empty) target as it was, to put back on a mismatch
                    source.backup(target)
                    problem = mismatch(self._read(target), manifest.tables)
                    if problem is not None:
                        before.backup(target)
                        raise refused_load(problem)
                finally:
                    before.close()
        finally:
            raw.close()
            source.close()
            engine.dispose()


def _major(version_text: str) -> int | None:
    found = re.search(r"\(PostgreSQL\)\s+(\d+)", version_text) or re.search(r"(\d+)", version_text)
    return int(found.group(1)) if found else None


class PostgresSnapshot(DatabaseSnapshot):
    dialect = "postgresql"
    filename = "database.dump"

    @staticmethod
    def _client(program: str, server_major: int) -> tuple[str, str]:
        """The client program's path and version, refused if missing or older than the server."""
        path = shutil.which(program)
        if path is None:
            raise BackupError(f"{program} was not found on PATH: install the PostgreSQL {server_major} client "
                              f"(Debian: apt-get install postgresql-client-{server_major})")
        found = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
        major = _major(found.stdout)
        if found.returncode != 0 or major is None:
            raise BackupError(f"{path} --version failed: {found.stderr.strip() or found.stdout.strip()}")
        if major < server_major:
            raise BackupError(f"{path} is version {major} but the server is PostgreSQL {server_major}: "
                              f"install the PostgreSQL {server_major} client")
        return path, found.stdout.strip()

    @staticmethod
    def _libpq(engine: Engine) -> tuple[str, dict[str, str]]:
        """A libpq URI for the engine's database (password passed in the environment)."""
        url = engine.url
        env = dict(os.environ)
        if url.password:
            env["PGPASSWORD"] = str(url.password)
        return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env

    @staticmethod
    def _server_major(conn: Connection) -> int:
        return int(conn.scalar(text("SHOW server_version_num")) or 0) // 10000

    @staticmethod
    def _tables(conn: Connection) -> list[str]:
        return list(conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")))

    def _read(self, conn: Connection) -> dict[str, int]:
        return _counts(self._tables(conn), lambda sql: conn.scalar(text(sql)))

    def dump(self, engine: Engine, target: Path) -> Snapshot:
        uri, env = self._libpq(engine)
        with engine.connect() as plain:
            conn = plain.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                # The transaction's snapshot, shared with pg_dump: counts and dump agree.
                exported = str(conn.scalar(text("SELECT pg_export_snapshot()")))
                schema = conn.scalar(text("SELECT current_schema()"))
                if schema is None:
                    raise BackupError("the database's search_path names no existing schema")
                program, version = self._client("pg_dump", self._server_major(conn))
                tables = self._tables(conn)
                revision = _revision(tables, lambda sql: conn.scalar(text(sql)))
                counts = self._read(conn)
                done = subprocess.run(
                    [program, "--format=custom", f"--snapshot={exported}", f"--schema={schema}",
                     f"--file={target}", f"--dbname={uri}"],
                    capture_output=True, text=True, env=env, check=False)
                if done.returncode != 0:
                    raise BackupError(f"pg_dump failed (exit {done.returncode}): {done.stderr.strip()}")
        return Snapshot(tables=counts, alembic_revision=revision, schema_name=str(schema), client_version=version)

    def snapshot_counts(self, dump: Path) -> dict[str, int] | None:
        return None  # a custom-format dump's rows are counted once loaded

    def counts(self, engine: Engine) -> dict[str, int]:
        with engine.connect() as conn:
            return self._read(conn)

    def check_target(self, engine: Engine, manifest: Manifest) -> None:
        with engine.connect() as conn:
            schema = conn.scalar(text("SELECT current_schema()"))
            server = self._server_major(conn)
            counts = self._read(conn)
        if schema is None:
            raise BackupError(f"the target database's search_path names no existing schema: create schema "
                              f"{manifest.schema_name} first")
        if schema != manifest.schema_name:
            raise BackupError(f"the backup holds schema {manifest.schema_name!r} but the target's current schema is "
                              f"{schema!r}: restore into a database whose search_path starts with "
                              f"{manifest.schema_name!r}")
        self.refuse_rows(counts)
        _, version = self._client("pg_restore", server)
        made_by = _major(manifest.client_version or "")
        if made_by is not None and (_major(version) or 0) < made_by:
            raise BackupError(f"pg_restore is {version} but the dump was made by {manifest.client_version}: "
                              f"install the PostgreSQL {made_by} client")

    @staticmethod
    def check_script(schema: str, expected: dict[str, int]) -> str:
        """A PL/pgSQL block that raises unless the schema's tables and their row counts are
        ``expected``; run last in the load's transaction, so a mismatch rolls it all back.
        Names and counts reach it as one JSON literal (never spliced into SQL as names:
        ``format('%I')`` quotes them), inside a dollar quote whose tag is random."""
        tag = f"$lms_{secrets.token_hex(8)}$"
        literal = "'" + json.dumps({"schema": schema, "tables": expected}).replace("'", "''") + "'"
        return f"""DO {tag}
DECLARE
  given CONSTANT jsonb := {literal}::jsonb;
  target CONSTANT text := given ->> 'schema';
  name text;
  found bigint;
BEGIN
  FOR name IN SELECT tablename FROM pg_tables WHERE schemaname = target
                AND NOT (given -> 'tables') ? tablename ORDER BY tablename LOOP
    EXECUTE format('SELECT count(*) FROM %I.%I', target, name) INTO found;
    RAISE EXCEPTION '{CHECK_MARK} table % holds % rows, the manifest says no table', name, found;
  END LOOP;
  FOR name IN SELECT jsonb_object_keys(given -> 'tables') ORDER BY 1 LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = target AND tablename = name) THEN
      RAISE EXCEPTION '{CHECK_MARK} table % holds no rows, the manifest says %', name, given -> 'tables' ->> name;
    END IF;
    EXECUTE format('SELECT count(*) FROM %I.%I', target, name) INTO found;
    IF found <> (given -> 'tables' ->> name)::bigint THEN
      RAISE EXCEPTION '{CHECK_MARK} table % holds % rows, the manifest says %', name, found, given -> 'tables' ->> name;
    END IF;
  END LOOP;
END
{tag};
"""

    def load(self, engine: Engine, dump: Path, manifest: Manifest) -> None:
        with engine.connect() as conn:
            server = self._server_major(conn)
            program, _ = self._client("pg_restore", server)
            psql, _ = self._client("psql", server)
            has_tables = bool(self._tables(conn))
        engine.dispose()  # no connection of ours holds a lock the load needs
        uri, env = self._libpq(engine)
        listing = subprocess.run([program, "--list", str(dump)], capture_output=True, text=True, env=env,
                                 check=False)
        if listing.returncode != 0:
            raise BackupError(f"{dump.name}: pg_restore cannot read it: {listing.stderr.strip()}")
        # The schema itself exists in the target already (it is the target's current schema).
        kept = [line for line in listing.stdout.splitlines()
                if line.split()[3:5] != ["SCHEMA", "-"] and line.split()[3:6] != ["COMMENT", "-", "SCHEMA"]]
        with tempfile.TemporaryDirectory(prefix="lms-restore-") as work:
            use_list, script, check = Path(work) / "restore.list", Path(work) / "restore.sql", Path(work) / "check.sql"
            use_list.write_text("\n".join(kept) + "\n", encoding="utf-8")
            check.write_text(self.check_script(manifest.schema_name or "public", manifest.tables), encoding="utf-8")
            # Empty tables left by `flask db upgrade` are replaced by the backup's, in the same transaction.
            clean = ["--clean", "--if-exists"] if has_tables else []
            written = subprocess.run(
                [program, "--no-owner", "--no-privileges", *clean, f"--use-list={use_list}", f"--file={script}",
                 str(dump)], capture_output=True, text=True, env=env, check=False)
            if written.returncode != 0:
                raise BackupError(f"{dump.name}: pg_restore failed (exit {written.returncode}), nothing was loaded: "
                                  f"{written.stderr.strip()}")
            done = subprocess.run(
                [psql, "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--single-transaction",
                 "--command=SET client_min_messages TO warning", f"--file={script}", f"--file={check}",
                 f"--dbname={uri}"],
                capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            marked = re.search(rf"{re.escape(CHECK_MARK)} (.+)", done.stderr)
            if marked:
                raise refused_load(marked.group(1).strip())
            raise BackupError(f"{dump.name}: loading it failed (psql exit {done.returncode}), nothing was loaded: "
                              f"{done.stderr.strip()}")


SNAPSHOTS: dict[str, type[DatabaseSnapshot]] = {cls.dialect: cls for cls in (SqliteSnapshot, PostgresSnapshot)}


def snapshot_for(dialect: str) -> DatabaseSnapshot:
    try:
        return SNAPSHOTS[dialect]()
    except KeyError:
        raise BackupError(f"no backup method for {dialect} databases (known: {', '.join(sorted(SNAPSHOTS))})") from None
