"""Shared fixtures.

The schema is built by running the migrations once per pytest-xdist worker, on SQLite
(default) or on PostgreSQL when TEST_DATABASE_URL points there (each worker uses a schema
of its own). Every test then starts from empty tables, and a test that loads content gets
the loaded tables without paying for the load each time:

- after migrating, each worker saves a snapshot of its empty database; the ``app`` fixture
  restores it before a test when the previous one wrote anything, and again after the test;
- the first time a worker loads a given set of content files (the shipped curriculum, or a
  test's fixed quiz folder) into empty tables, ``load_content`` loads it for real and saves
  a snapshot of the result; a later test doing the same gets that snapshot restored;
- likewise ``demo_command``: ``flask lms demo`` on freshly loaded tables is built once per
  worker and restored for the next test that starts from there.

Tests run against real commits (the app commits, threads and a live server share the
database), so a snapshot is restored rather than a transaction rolled back. Browser
fixtures (Playwright) live in ``tests/browser/conftest.py``.
"""

from __future__ import annotations

import contextvars
import copy
import gc
import hashlib
import itertools
import os
import shutil
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import pytest
import sqlalchemy as sa
import werkzeug.routing.rules
import werkzeug.security
from dateutil.relativedelta import relativedelta
from flask import Flask, has_app_context
from flask.testing import FlaskClient
from flask_migrate import upgrade

from config import BASE_DIR, normalise_database_url
from lms import create_app
from lms.accounts.current import USER_STATEMENT
from lms.accounts.services import create_user
from lms.accounts.signin_guard import DEVICE_COOKIE, device_cookie_value
from lms.cohorts.enrolment import enrol
from lms.cohorts.models import Cohort, Pace
from lms.cohorts.services import create_organization
from lms.competency.lines import lines_of
from lms.competency.services import forget_finished_months
from lms.content.services import ContentSource, apply_content
from lms.extensions import db, limiter
from lms.learning.services import opens_at
from lms.mail.models import OutboxMessage
from lms.mail.services import Claimed, Letter, LogTransport
from lms.sections import parse_curriculum
from lms.web.links import FIXED_URLS
from lms.web.page_cache import QUARTER_HOUR, cache_of
from tests.two_factor import pass_second_factor

SHIPPED_CONTENT = BASE_DIR / "content"
SHIPPED_QUIZZES = BASE_DIR / "quizzes"
# Each pytest-xdist worker has its own database (SQLite file or PostgreSQL schema). On a
# shared PostgreSQL server the schemas' names carry the process id, so that two runs at
# once (two people, or two checkouts) never drop each other's tables.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
RUN = f"{WORKER}_{os.getpid()}"
PG_SCHEMA = f"lms_test_{RUN}"


def with_search_path(url: str, schema: str) -> str:
    """A PostgreSQL URL whose connections use ``schema``; tests never touch ``public``."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def reset_pg_schema(url: str, schema: str, create: bool = True) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL lock_timeout = '30s'"))
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            if create:
                conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- the database


class Snapshots(Protocol):
    """Named copies of the test database's rows (the schema never changes)."""

    def save(self, name: str) -> None: ...

    def restore(self, name: str) -> None: ...

    def close(self) -> None: ...


def _no_fsync(dbapi_connection: Any, connection_record: Any = None) -> None:
    """Test databases need not survive a power cut: on this suite's disk each SQLite commit
    would otherwise wait about 15 ms for fsync. Locking and isolation are unchanged."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous = OFF")


def _sqlite_copy(source: Path, target: Path) -> None:
    """Copy a whole SQLite database with the backup API: the target's other connections
    (the app's pool) see the new contents on their next statement."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        _no_fsync(dst)
        src.backup(dst)
    finally:
        dst.close()
        src.close()


class SqliteSnapshots:
    def __init__(self, database: Path, folder: Path) -> None:
        self.database, self.folder = database, folder

    def save(self, name: str) -> None:
        _sqlite_copy(self.database, self.folder / f"{name}.sqlite3")

    def restore(self, name: str) -> None:
        _sqlite_copy(self.folder / f"{name}.sqlite3", self.database)

    def close(self) -> None:
        pass


# Reading the signatures of a hundred small tables, PostgreSQL plans a parallel append and
# starts workers for it: 36 ms a read, against 15 without them (110 tables, 60,000 rows).
_SERIAL = "SET LOCAL max_parallel_workers_per_gather = 0"


class PostgresSnapshots:
    """A snapshot is a schema beside the worker's, holding copies of the non-empty tables,
    and the sequences' positions. Restoring deletes every row (with DELETE: TRUNCATE of
    every table took about 1.5 s a test here), restarts the sequences, copies the rows
    back and moves the sequences to where they were, all sent at once (an empty restore
    went from 57 to 28 ms, the loaded curriculum's from 430 to 300 ms).

    As a superuser, a restore rewrites only the tables that differ from the snapshot. After
    a save or restore each table's contents are known: a digest of its rows (equal tables in
    different snapshots share it) and a signature read from PostgreSQL, its row count and
    newest ``xmin``, which any committed insert, update or delete changes, whichever process
    made it. A table whose signature is unchanged and whose digest is the snapshot's is left
    alone: restoring the curriculum after a test on it no longer deletes the 91 documents and
    works their search vectors out again (about 105 of a restore's 133 ms)."""

    def __init__(self, url: str, schema: str, tables: list[str]) -> None:
        self.engine = sa.create_engine(url)
        self.schema, self.tables = schema, tables  # tables in foreign-key order
        # name -> (copy schema, [(table, columns copied back)], sequences, {table: digest})
        self.saved: dict[str, tuple[str, list[tuple[str, str]], list[tuple[str, int]], dict[str, str]]] = {}
        # what each table holds now: its digest and signature (None: unknown)
        self.known: dict[str, tuple[str, tuple[int, ...]]] | None = None
        with self.engine.connect() as conn:
            try:
                with conn.begin():
                    conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
                self.replica = True
            except sa.exc.DBAPIError:  # not a superuser
                self.replica = False

    def _name(self, *parts: str) -> str:
        return ".".join(self.engine.dialect.identifier_preparer.quote(part) for part in parts)

    def _signatures(self, tables: list[str]) -> str:
        """One statement: each table's name, row count and the newest ``xmin`` of its rows (the
        transaction that wrote it). A committed insert, update or delete since changes one of them:
        the new row versions carry a newer transaction's id. (With the sum of the ``xmin``s too,
        the statement took five times as long over the curriculum, about 30 ms.)"""
        return " UNION ALL ".join(
            f"SELECT {self._literal(table)}, count(*), coalesce(max(CAST(CAST(xmin AS text) AS bigint)), 0) "
            f"FROM {self._name(self.schema, table)}" for table in tables)

    def save(self, name: str) -> None:
        copy_schema = f"{self.schema}_{len(self.saved)}"
        with self.engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {copy_schema} CASCADE"))
            conn.execute(sa.text(f"CREATE SCHEMA {copy_schema}"))
            filled = []  # (table, the columns copied back: all but the generated ones)
            digests = {table: "" for table in self.tables}
            for table in self.tables:
                if conn.scalar(sa.text(f"SELECT EXISTS (SELECT 1 FROM {self._name(self.schema, table)})")):
                    conn.execute(sa.text(f"CREATE TABLE {self._name(copy_schema, table)} "
                                         f"AS TABLE {self._name(self.schema, table)}"))
                    columns = conn.execute(sa.text(
                        "SELECT attname, attgenerated <> '' FROM pg_attribute "
                        "WHERE attrelid = CAST(:table AS regclass) AND attnum > 0 AND NOT attisdropped ORDER BY attnum"),
                        {"table": self._name(self.schema, table)}).all()
                    copied = ", ".join(self._name(c) for c, generated in columns if not generated)
                    filled.append((table, copied if any(generated for _, generated in columns) else "*"))
                    digests[table] = conn.scalar(sa.text(
                        f"SELECT md5(string_agg(CAST(t AS text), E'\\n' ORDER BY CAST(t AS text))) "
                        f"FROM {self._name(copy_schema, table)} AS t"))
            sequences = conn.execute(sa.text(
                "SELECT sequencename, last_value FROM pg_sequences "
                "WHERE schemaname = :schema AND last_value IS NOT NULL"), {"schema": self.schema}).all()
            conn.execute(sa.text(_SERIAL))
            signed = conn.execute(sa.text(self._signatures(self.tables))).all()
        self.saved[name] = (copy_schema, filled, [(self._name(self.schema, s), v) for s, v in sequences], digests)
        self.known = {table: (digests[table], tuple(signature)) for table, *signature in signed}

    def restore(self, name: str) -> None:
        copy_schema, filled, sequences, digests = self.saved[name]
        known = self.known if self.replica else None
        self.known = None  # unknown until this restore has committed
        if known is None:
            tables = self.tables
        else:
            with self.engine.connect() as conn:
                conn.execute(sa.text(_SERIAL))
                now = {table: tuple(signature) for table, *signature in conn.execute(sa.text(self._signatures(self.tables)))}
                conn.rollback()
            tables = [table for table in self.tables if known[table] != (digests[table], now[table])]
        # One round trip: a few hundred statements sent one by one cost more than their work.
        # As a superuser (the suite's usual role) with ``session_replication_role = replica``
        # for this transaction: no trigger fires, so neither the foreign keys' checks for every
        # row deleted and copied back (the copy is consistent as it stands) nor the audit
        # log's refusal of DELETE. Otherwise as the tables' owner: that refusal is lifted for
        # the transaction, the deletes go in foreign-key order and the keys are checked.
        statements = [
            # A connection left in a transaction could block us: fail, not hang.
            "SET LOCAL lock_timeout = '30s'", "SET LOCAL synchronous_commit = off", _SERIAL,
        ]
        append_only = [self._name(self.schema, table) for table in self.tables if table == "audit_log"]
        if self.replica:
            statements.append("SET LOCAL session_replication_role = replica")
        else:
            statements += [f"ALTER TABLE {table_name} DISABLE TRIGGER USER" for table_name in append_only]
        statements += [f"DELETE FROM {self._name(self.schema, table)}" for table in reversed(tables)]
        statements.append(
            "SELECT setval(CAST(format('%I.%I', schemaname, sequencename) AS regclass), 1, false) "
            f"FROM pg_sequences WHERE schemaname = {self._literal(self.schema)}")
        statements += [f"INSERT INTO {self._name(self.schema, table)}{'' if columns == '*' else f' ({columns})'} "
                       f"SELECT {columns} FROM {self._name(copy_schema, table)}" for table, columns in filled
                       if table in tables]
        if sequences:
            statements.append("SELECT " + ", ".join(
                f"setval(CAST({self._literal(sequence)} AS regclass), {int(value)})" for sequence, value in sequences))
        if not self.replica:
            statements += [f"ALTER TABLE {table_name} ENABLE TRIGGER USER" for table_name in append_only]
        if known is not None and tables:
            statements.append(self._signatures(tables))  # the last result: what the rewritten tables hold now
        with self.engine.begin() as conn:
            # psycopg sends a string of several statements without parameters in one go
            cursor = conn.connection.driver_connection.execute(";\n".join(statements))  # type: ignore[union-attr]
            rewritten = []
            if known is not None and tables:
                while cursor.nextset():  # psycopg starts at the first statement's result
                    pass
                rewritten = cursor.fetchall()
        if known is not None:
            self.known = {**known, **{table: (digests[table], tuple(signature)) for table, *signature in rewritten}}

    def _literal(self, text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def close(self) -> None:
        with self.engine.begin() as conn:
            for copy_schema, *_ in self.saved.values():
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {copy_schema} CASCADE"))
        self.engine.dispose()


# Statements that cannot change a row; anything else counts as a write.
_READS = ("SELECT", "PRAGMA", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "SHOW")


class TestDatabase:
    """The worker's database: which snapshot it was last restored from (``None``: unknown)
    and whether anything wrote since. Every engine in the process is watched, so writes
    through a second app, a thread or the live server count too."""

    __test__ = False  # not a test class

    def __init__(self, snapshots: Snapshots) -> None:
        self.snapshots = snapshots
        self.restored: str | None = None
        self.written = True
        self.loads: dict[Any, tuple[str, Any]] = {}  # content key -> (snapshot, SyncReport)
        self.demos: dict[Any, tuple[str, Any]] = {}  # (loaded snapshot, config, day) -> (snapshot, CLI result)
        # (snapshot built on, config, day) -> (snapshot, the World's rows as (model, id) by field, users made)
        self.worlds: dict[Any, tuple[str, dict[str, tuple[type, int]], int]] = {}
        self.bases: dict[str, str] = {}  # a world's snapshot -> the snapshot it was built on
        self.worlds_seen: set[Any] = set()  # keys of worlds made once (the second is saved)
        self.shipped: str | None = None  # the snapshot of the shipped curriculum loaded into empty tables
        self.preloaded: str | None = None  # restored by ``app`` for the test's first load of that curriculum
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._watch)

    def _watch(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(_READS):
            self.written = True

    @property
    def empty(self) -> bool:
        return self.restored == "empty" and not self.written

    def restore(self, name: str) -> None:
        self.snapshots.restore(name)
        self.restored, self.written = name, False

    def save(self, name: str) -> None:
        self.snapshots.save(name)
        self.restored, self.written = name, False

    def base(self) -> str | None:
        """The snapshot the tables were restored from, or the one a world restored was built on."""
        return self.bases.get(self.restored, self.restored) if self.restored is not None else None

    def reset(self, name: str = "empty") -> None:
        """Bring every table to snapshot ``name`` (empty), unless nothing wrote since they were."""
        self.preloaded = None
        if self.restored != name or self.written:
            self.restore(name)

    def close(self) -> None:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", self._watch)
        self.snapshots.close()


@pytest.fixture(scope="session", autouse=True)
def _fast_commits() -> Iterator[None]:
    sa.event.listen(sa.pool.Pool, "connect", _no_fsync)
    yield
    sa.event.remove(sa.pool.Pool, "connect", _no_fsync)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        return
    url = normalise_database_url(url)
    try:
        reset_pg_schema(url, PG_SCHEMA)
    except sa.exc.OperationalError as exc:
        pytest.exit(f"TEST_DATABASE_URL is unreachable: {exc}", returncode=1)
    # As for SQLite (``_no_fsync``): a commit need not wait for the disk.
    yield with_search_path(url, PG_SCHEMA) + "%20-csynchronous_commit%3Doff"
    reset_pg_schema(url, PG_SCHEMA, create=False)


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("instance")


class InContext:
    """A streamed body read a piece at a time, and closed, inside ``context``
    (``IsolatedClient``): werkzeug reads its first piece while opening the request, and the
    contexts ``stream_with_context`` pushes there must be popped there, even when the test
    drops the response unread."""

    def __init__(self, context: contextvars.Context, body: Any) -> None:
        self.context = context
        self.body: Any = body
        self.pieces: Iterator[bytes] = iter(body)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                yield self.context.run(next, self.pieces)
            except StopIteration:
                return

    def close(self) -> None:
        body, self.body = self.body, None
        close = getattr(body, "close", None)
        if close is not None:
            self.context.run(close)

    def __del__(self) -> None:
        self.close()


class IsolatedClient(FlaskClient):
    """Every request runs with none of the test's contexts, as in production.

    pytest-flask keeps a request context of ``app`` pushed during each test, and a request
    to the same app would otherwise reuse its app context: ``g`` (where Flask-Login caches
    the signed-in user) and ``db.session`` would be shared by the test body and every
    client, so a second sign-in would silently keep the first user. So each request runs in
    an empty ``contextvars.Context``, as a server's would: it pushes its own app context
    and tears it down (closing its session) before a streamed body is read, which then runs
    with the contexts pushed again (``InContext``). An app context held around the request
    kept its session open while the body streamed, which hid exports that broke off under
    a real server. The test body keeps its own session: commit before a request,
    ``db.session.expire_all()`` after one."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        context = contextvars.Context()
        response = context.run(super().open, *args, **kwargs)
        if response.is_streamed:  # the rest of its body is read (or dropped) in that context too
            response.response = InContext(context, response.response)
        return response

    # pytest-flask enters ``with app.test_client()``, which would keep each request's
    # context pushed after it returns; these tests never need that.
    def __enter__(self) -> IsolatedClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._context_stack.close()


@pytest.fixture(scope="session")
def make_app(database_url: str, instance_dir: Path) -> Callable[..., Flask]:
    def factory(**overrides: Any) -> Flask:
        config = {"SQLALCHEMY_DATABASE_URI": database_url, **overrides}
        app = create_app("testing", overrides=config, instance_path=instance_dir)
        app.test_client_class = IsolatedClient
        return app

    return factory


@pytest.fixture(scope="session")
def _migrated(make_app: Callable[..., Flask], database_url: str,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabase]:
    """Migrate the worker's database, empty it and save that as the snapshot "empty"."""
    app = make_app()
    with app.app_context():
        upgrade()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.engine.dispose()
    url = sa.engine.make_url(database_url)
    snapshots: Snapshots
    if url.get_backend_name() == "sqlite":
        snapshots = SqliteSnapshots(Path(url.database or ""), tmp_path_factory.mktemp("snapshots"))
    else:
        tables = [table.name for table in db.metadata.sorted_tables]
        snapshots = PostgresSnapshots(normalise_database_url(os.environ["TEST_DATABASE_URL"]), PG_SCHEMA, tables)
    global _DATABASE
    database = TestDatabase(snapshots)
    database.save("empty")
    _DATABASE = database
    yield database
    _DATABASE = None
    database.close()


_DATABASE: TestDatabase | None = None  # the worker's, once a test has asked for it


@pytest.fixture(autouse=True)
def _tables_reset(request: pytest.FixtureRequest) -> None:
    """A test that uses the database but not ``app`` (which does this itself) starts on
    empty tables: a test leaves its rows behind, and the next one to need the database
    resets it (once to what it needs, not twice)."""
    names = set(request.fixturenames)
    if _DATABASE is not None and "app" not in names and names & {"_migrated", "make_app", "database_url"}:
        _DATABASE.reset()


# What an app works out from its own shape the first time a request needs it, kept in
# ``app.extensions``: a test's requests fill them, which changes nothing a next test could tell.
MEMOS = (FIXED_URLS, USER_STATEMENT)


def _shape(app: Flask) -> tuple[Any, ...]:
    """What a test could add to an app besides configuration: routes, hooks, handlers,
    template filters and globals, and the registries kept in ``app.extensions`` (not the
    memos worked out from them, ``MEMOS``). Flask's lookup of an error handler leaves an
    empty entry in ``error_handler_spec`` for each blueprint and status it looked up; those
    are not handlers."""

    def plain(value: Any) -> Any:
        return repr(value) if isinstance(value, dict | list | tuple | set) else id(value)

    handlers = {name: {code: dict(found) for code, found in by_code.items() if found}
                for name, by_code in app.error_handler_spec.items()}
    return (
        sorted((rule.rule, rule.endpoint, sorted(rule.methods or ())) for rule in app.url_map.iter_rules()),
        sorted(app.view_functions),
        repr((app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs,
              app.teardown_appcontext_funcs, {name: found for name, found in handlers.items() if found},
              app.template_context_processors, app.url_value_preprocessors, app.url_default_functions, app.blueprints)),
        sorted(app.jinja_env.filters), sorted(app.jinja_env.globals),
        {key: plain(value) for key, value in app.extensions.items() if key not in MEMOS},
    )


class WorkerApp:
    """Building an app takes a while (werkzeug compiles every route), so each worker keeps
    one for the tests: a test gets it with its configuration as built, and a test that
    changed anything else about it (added a route, say) has it thrown away."""

    def __init__(self, make_app: Callable[..., Flask]) -> None:
        self.make_app = make_app
        self.app: Flask | None = None

    def take(self) -> Flask:
        if self.app is None:
            self.app = self.make_app()
            self.config = copy.deepcopy(dict(self.app.config))
            self.shape = _shape(self.app)
        # Flask refuses new routes once an app has served a request; a test may add some.
        self.app._got_first_request = False
        return self.app

    def give_back(self, app: Flask) -> None:
        app.config.clear()
        app.config.update(copy.deepcopy(self.config))
        for memo in MEMOS:  # worked out again by the next test, under its configuration
            app.extensions.pop(memo, None)
        if _shape(app) != self.shape:
            self.app = None


@pytest.fixture(scope="session")
def _worker_app(make_app: Callable[..., Flask]) -> Iterator[WorkerApp]:
    worker = WorkerApp(make_app)
    yield worker
    if worker.app is not None:  # its pool's connections, kept between tests (``app``)
        with worker.app.app_context():
            db.engine.dispose()


@pytest.fixture()
def app(request: pytest.FixtureRequest, _worker_app: WorkerApp, _migrated: TestDatabase) -> Iterator[Flask]:
    """The app on empty tables (``make_app`` builds a new one). For a test on the shipped
    curriculum (``loaded``), once it has been loaded in this worker, the tables go straight
    to that snapshot, and the test's load takes it as it stands (``load_content``): on
    PostgreSQL a test after another on the curriculum then rewrites only what that one changed."""
    names = set(request.fixturenames)
    if _migrated.shipped is not None and "loaded" in names and "content_dir" not in names:
        _migrated.reset(_migrated.shipped)
        _migrated.preloaded = _migrated.shipped
    else:
        _migrated.reset()
    app = _worker_app.take()
    cache_of(app).clear()  # pages kept by an earlier test on tables since reset
    yield app
    with app.app_context():
        db.session.remove()
        engine = db.engine
    _worker_app.give_back(app)
    # On PostgreSQL the pool's connections serve the next test too (returned to it, each was
    # rolled back): a new one is a server process to start and its catalog caches to fill
    # again, about a tenth of a test's time there. SQLite's cost nothing to open again.
    if _worker_app.app is not app or engine.dialect.name != "postgresql":
        engine.dispose()


@pytest.fixture()
def session(app: Flask) -> Iterator[sa.orm.Session]:
    with app.app_context():
        yield db.session


@pytest.fixture()
def content_dir(tmp_path: Path, app: Flask) -> Path:
    """A private copy of the shipped content (and quizzes, beside it) that a test may
    edit; the app reads it."""
    target = tmp_path / "content"
    shutil.copytree(SHIPPED_CONTENT, target)
    shutil.copytree(SHIPPED_QUIZZES, tmp_path / "quizzes")
    app.config["CONTENT_DIR"] = target
    app.config["QUIZZES_DIR"] = tmp_path / "quizzes"
    return target


def _content_key(source: ContentSource) -> tuple[Path, Path, str] | None:
    """What identifies a load of files kept in the repository (the shipped content, a
    test's fixed quiz folder): their folders and a digest of every file. ``None`` for
    folders elsewhere (a test's own copy, which it may edit between loads).

    The digest is worked out again only when a file's name, size, inode or modified or
    changed time differs from the last time (reading the curriculum's 220 files took 23 ms,
    for each of the thousand tests that load it; looking at them takes 2)."""
    folders = (source.content_dir.resolve(), source.quizzes_dir.resolve())
    if not all(folder.is_relative_to(BASE_DIR) for folder in folders):
        return None
    files = [Path(root, name) for folder in folders for root, _dirs, names in os.walk(folder) for name in names]
    stamp = tuple((str(path), *((found := path.stat()).st_size, found.st_ino, found.st_mtime_ns, found.st_ctime_ns))
                  for path in sorted(files))
    known = _DIGESTS.get(folders)
    if known is not None and known[0] == stamp:
        return (*folders, known[1])
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                digest.update(f"{path.relative_to(folder)}\0{path.stat().st_size}\0".encode())
                digest.update(path.read_bytes())
    _DIGESTS[folders] = (stamp, digest.hexdigest())
    return (*folders, digest.hexdigest())


_DIGESTS: dict[tuple[Path, Path], tuple[tuple[Any, ...], str]] = {}  # folders -> (their files' stamp, digest)
_PARSED: dict[tuple[Path, Path, str], Any] = {}


def _unsaved(session: Any) -> bool:
    return bool(session.new or session.dirty or session.deleted)


@pytest.fixture()
def load_content(app: Flask, _migrated: TestDatabase) -> Callable[..., Any]:
    """Load content (the shipped files by default) the way the CLI does, and commit.

    Files kept in the repository are parsed once per worker, and their first load into
    empty tables is saved as a snapshot: a later load of the same files into empty tables
    restores it (the same rows, ids and report as a real load). Any other load is real."""

    def load(content: Path | None = None) -> Any:
        source = ContentSource(
            content_dir=Path(content or app.config["CONTENT_DIR"]),
            quizzes_dir=Path(app.config["QUIZZES_DIR"]),
            lint_bank=bool(app.config.get("ITEM_BANK_LINT", True)),
        )
        key = _content_key(source)
        preloaded, _migrated.preloaded = _migrated.preloaded, None
        if preloaded is not None and _migrated.base() == preloaded:
            if key is not None and _migrated.loads.get(key, ("",))[0] == preloaded:
                return copy.deepcopy(_migrated.loads[key][1])  # ``app`` restored this load's snapshot
            if _migrated.written:
                raise RuntimeError(f"the test asks for ``loaded`` but loads {source.content_dir} (or another "
                                   "quiz folder) after writing: ask for ``load_content`` instead")
            _migrated.reset()
        into_empty = key is not None and _migrated.empty and not (has_app_context() and _unsaved(db.session))
        if into_empty and has_app_context():
            db.session.rollback()  # the test's own session holds no changes; end its transaction
        if into_empty and key in _migrated.loads:
            name, report = _migrated.loads[key]
            _migrated.restore(name)
            return copy.deepcopy(report)
        with app.app_context():
            parsed = _PARSED.get(key) if key is not None else None
            if parsed is None:
                parsed = parse_curriculum(source)
                if key is not None:
                    _PARSED[key] = parsed
            assert not parsed.problems, [str(p) for p in parsed.problems]
            report = apply_content(db.session, parsed)
            db.session.commit()
        if into_empty:
            name = f"load{len(_migrated.loads)}"
            _migrated.save(name)
            _migrated.loads[key] = (name, copy.deepcopy(report))
            if key is not None and key[:2] == (SHIPPED_CONTENT.resolve(), SHIPPED_QUIZZES.resolve()):
                _migrated.shipped = name
        return report

    return load


@pytest.fixture()
def loaded(app: Flask, load_content: Callable[..., Any]) -> Flask:
    """The app with the shipped curriculum loaded."""
    load_content()
    return app


@pytest.fixture()
def demo_command(loaded: Flask, _migrated: TestDatabase) -> Callable[[], Any]:
    """Run ``flask lms demo`` (in an app context of its own, as on the command line) and
    return click's result; the test's session is rolled back and expired afterwards.

    The demo's months of activity take a while to build, and several tests start from the
    same place: the shipped curriculum just loaded, nothing else written. The first such run
    in a worker (for a given configuration, on a given day) is real and saved as a snapshot;
    a later one restores it and returns a copy of the same result. Any other run is real."""

    def run() -> Any:
        config = hashlib.sha256(repr(sorted(loaded.config.items())).encode()).hexdigest()
        key = (_migrated.restored, config, datetime.now(UTC).date())
        fresh = (str(_migrated.restored).startswith("load") and not _migrated.written
                 and not (has_app_context() and _unsaved(db.session)))
        if fresh and has_app_context():
            db.session.rollback()  # the test's own session holds no changes; end its transaction
        if fresh and key in _migrated.demos:
            name, result = _migrated.demos[key]
            _migrated.restore(name)
            result = copy.copy(result)
        else:
            with loaded.app_context():
                result = loaded.test_cli_runner().invoke(args=["lms", "demo"])
            if fresh and result.exit_code == 0:
                name = f"demo{len(_migrated.demos)}"
                _migrated.save(name)
                _migrated.demos[key] = (name, copy.copy(result))
        if has_app_context():
            db.session.rollback()
            db.session.expire_all()
        return result

    return run


@pytest.fixture()
def count_queries(app: Flask) -> Callable[[Callable[[], Any]], int]:
    """Run a callable and return how many SQL statements it sent. Pages kept by the page
    cache (``lms.web.page_cache``) and the heat map's learners' lines
    (``lms.competency.lines``) are forgotten first, so a page is counted as it is built
    (its stamp statement included); tests/test_page_cache.py counts the kept path,
    tests/test_heatmap_scale.py the lines kept."""

    def run(action: Callable[[], Any]) -> int:
        statements: list[str] = []

        def record(*args: Any) -> None:
            statements.append(args[2])

        with app.app_context():
            engine = db.engine
        cache_of(app).clear()
        lines_of(app).clear()
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            action()
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)
        return len(statements)

    return run


@pytest.fixture()
def page_statements(count_queries: Callable[[Callable[[], Any]], int]) -> Callable[[Any, list[str]], list[int]]:
    """How many SQL statements each page sends, asked for in turn by ``client`` (the
    session expired after each, so none reads the previous one's objects)."""

    def run(client: Any, urls: list[str]) -> list[int]:
        found = []
        for address in urls:
            found.append(count_queries(lambda: client.get(address)))  # noqa: B023 (called at once)
            db.session.expire_all()
        return found

    return run


# The files that take longest (10 s and more in a run on either database, by ``--durations``),
# longest first. pytest-xdist hands a worker a whole file at a time, in the collection's
# order (``--no-loadscope-reorder``: its own order puts the files with the most tests
# first, and so these, a few long tests each, last): sent first, they no longer leave one
# worker finishing a 30-45 s file while the other waits (about a minute of a run).
LONGEST_FIRST = (
    "browser/test_browser_crawl.py", "test_two_nodes.py", "test_xss_corpus.py", "test_demo.py", "test_team_demo.py",
    "test_xapi.py", "test_schedule.py", "browser/test_browser_teams.py", "test_content_reload.py", "test_quizzes.py",
    "test_faults.py", "test_explain.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files in the order workers take them: ``LONGEST_FIRST``, then the rest by their number
    of tests, the most first (pytest-xdist's own order), each in its written order.
    Within each file, the tests on the shipped curriculum (``loaded``) run after the
    others, each group in its written order. Alternating between empty tables and the
    curriculum cost a restore of the curriculum each way (about 560 a PostgreSQL run); now
    a test after another on the curriculum rewrites only the tables that one changed.
    Every worker sorts the same way, so pytest-xdist sees the same collection everywhere."""
    tests = Path(__file__).parent
    files: dict[Path, int] = {}
    for item in items:
        files.setdefault(item.path, len(files))
    counts = Counter(item.path for item in items)

    def first(path: Path) -> int:
        name = path.relative_to(tests).as_posix() if path.is_relative_to(tests) else ""
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    rank = {path: (first(path), -counts[path], files[path]) for path in files}

    def on_curriculum(item: pytest.Item) -> bool:
        names = getattr(item, "fixturenames", ())
        return "loaded" in names and "content_dir" not in names

    items.sort(key=lambda item: (rank[item.path], on_curriculum(item)))


# --------------------------------------------------------------------------- passwords


# The suite's processes collect garbage as a production app's do (``GC_FIRST_GENERATION``'s
# default): with Python's threshold (700) a worker spent about 13 % of its time in the
# collector, mostly going over its large, long-lived heap (the app, the parsed curriculum)
# in full collections. Only how often cycles are collected changes; the testing
# configuration still leaves the thresholds as it finds them (tests/test_app.py).
SUITE_COLLECTOR_THRESHOLDS = (10_000, 10, 10)


def pytest_configure(config: pytest.Config) -> None:
    gc.set_threshold(*SUITE_COLLECTOR_THRESHOLDS)


@pytest.fixture(autouse=True)
def _collector_thresholds() -> Iterator[None]:
    """An app built for another environment (production, development) sets the process's
    garbage collector thresholds (``GC_FIRST_GENERATION``); the next test runs with the
    suite's own again (``SUITE_COLLECTOR_THRESHOLDS``), which the testing configuration leaves."""
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)


@pytest.fixture(autouse=True)
def _no_months_kept() -> None:
    """The trend's months gone by are kept in the process (``competency.services``), keyed
    on what they are made of; a test's statement counts start from none kept."""
    forget_finished_months()


_SALTS: list[Iterator[int]] = [itertools.count(1)]  # the salts of the test's password hashes, in turn


@pytest.fixture(scope="session", autouse=True)
def _remembered_scrypt(request: pytest.FixtureRequest) -> Iterator[None]:
    """scrypt is a pure function that is slow on purpose (about 0.12 s a call), and the
    suite calls it with the same inputs again and again: each sign-in checks the password
    of a user a fixture made. Remember its results; hashes and checks are exactly what they
    would be.

    The results are kept in the process and, with pytest's cache (``make test``'s runs), in
    a folder of it that the workers of a run, and the runs after it, share: a worker
    computes a hash another one or the SQLite run before it computed only once. And a
    password hashed with a random salt (signing up, accepting an invitation, resetting)
    would be a new input each time: the k-th salt a test makes is the same in every test
    (``_same_salts``), still a different one for each hash within the test."""
    real = hashlib.scrypt
    results: dict[tuple[Any, ...], bytes] = {}
    cache = getattr(request.config, "cache", None)  # None without the cacheprovider plugin
    kept = cache.mkdir("lms-scrypt") if cache is not None else None

    def scrypt(password: Any, *, salt: Any, n: int, r: int, p: int, maxmem: int = 0, dklen: int = 64) -> bytes:
        key = (bytes(password), bytes(salt), n, r, p, maxmem, dklen)
        if key in results:
            return results[key]
        path = kept / hashlib.sha256(repr(key).encode()).hexdigest() if kept is not None else None
        found = path.read_bytes() if path is not None and path.is_file() else b""
        if len(found) != dklen:
            found = real(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen)
            if path is not None:  # written whole, then renamed: another worker never reads half of it
                part = path.with_name(f"{path.name}.{os.getpid()}")
                part.write_bytes(found)
                os.replace(part, path)
        results[key] = found
        return found

    def same_salt(length: int) -> str:
        return f"s{next(_SALTS[0]):0{length - 1}d}"

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hashlib, "scrypt", scrypt)
        patch.setattr(werkzeug.security, "gen_salt", same_salt)
        yield


@pytest.fixture(autouse=True)
def _same_salts() -> None:
    """Each test's password hashes take the salts ``s000000000000001``, ``s000000000000002``,
    ... in turn (``_remembered_scrypt``)."""
    _SALTS[0] = itertools.count(1)


@pytest.fixture(scope="session", autouse=True)
def _remembered_url_builders() -> Iterator[None]:
    """Werkzeug writes and compiles Python code for each route's URL builder when the route
    is added (about 70 % of ``create_app``), and the suite builds the same app again and
    again (tests with configuration of their own, second nodes, rebuilt worker apps). The
    builder is a pure function of the route's text, its parts and ``append_unknown``, taking
    the rule as an argument: remember it for the session. A rule whose defaults fill one of
    its own variables (the builder then holds a converted value) is compiled each time."""
    real = werkzeug.routing.rules.Rule._compile_builder
    builders: dict[tuple[Any, ...], Any] = {}

    def compile_builder(self: werkzeug.routing.rules.Rule, append_unknown: bool = True) -> Any:
        defaults = self.defaults or {}
        if any(is_dynamic and data in defaults for is_dynamic, data in self._trace):
            return real(self, append_unknown)
        key = (self.rule, tuple(self._trace), tuple(defaults), append_unknown)
        if key not in builders:
            builders[key] = real(self, append_unknown)
        return builders[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(werkzeug.routing.rules.Rule, "_compile_builder", compile_builder)
        yield


# --------------------------------------------------------------------------- people

PASSWORD = "correct-horse-battery"


class UserMaker:
    """``make_user``: create a user with a password (``PASSWORD`` unless given); returns the User.
    ``made`` counts the users made so far in the test (the n-th is ``person{n}@example.com``
    unless given an address)."""

    def __init__(self) -> None:
        self.made = 0

    def __call__(self, email: str | None = None, name: str | None = None, password: str | None = PASSWORD,
                 admin: bool = False, timezone: str = "UTC") -> Any:
        self.made += 1
        n = self.made
        # The n-th user of every test gets the same salt, so with ``_remembered_scrypt``
        # its hash is computed once per worker; users of one test still differ.
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(werkzeug.security, "gen_salt", lambda length: f"{n:0{length}d}")
            user = create_user(db.session, email or f"person{n}@example.com", name or f"Person {n}",
                               password, timezone=timezone, is_admin=admin)
        db.session.commit()
        return user


@pytest.fixture()
def make_user(app: Flask) -> UserMaker:
    return UserMaker()


@pytest.fixture()
def make_org(app: Flask) -> Callable[..., Any]:
    counter = iter(range(1, 10_000))

    def make(name: str | None = None, admins: list[Any] = ()) -> Any:  # type: ignore[assignment]
        org = create_organization(db.session, name or f"Organization {next(counter)}")
        org.admins.extend(admins)
        db.session.commit()
        return org

    return make


@pytest.fixture()
def make_cohort(app: Flask, make_org) -> Callable[..., Any]:
    """A cohort; ``months_ago`` sets the start date relative to today (UTC)."""
    counter = iter(range(1, 10_000))

    def make(org: Any = None, name: str | None = None, months_ago: int = 0, start: date | None = None,
             timezone: str = "UTC", instructors: list[Any] = ()) -> Any:  # type: ignore[assignment]
        org = org or make_org()
        start = start or (datetime.now(UTC).date() - relativedelta(months=months_ago))
        cohort = Cohort(organization=org, name=name or f"Cohort {next(counter)}", start_date=start, timezone=timezone)
        cohort.instructors.extend(instructors)
        db.session.add(cohort)
        db.session.commit()
        return cohort

    return make


@pytest.fixture()
def enrol_learner(app: Flask, make_user) -> Callable[..., Any]:
    """Enrol a (new, unless given) user in ``cohort``; returns the user. They joined at the
    cohort's start (or now, if it has not started) unless ``joined`` says when, with ``pace``."""

    def make(cohort: Any, user: Any = None, joined: datetime | None = None, pace: Pace = Pace.CATCH_UP,
             **user_fields: Any) -> Any:
        user = user or make_user(**user_fields)
        enrol(db.session, cohort, user, joined or min(opens_at(cohort, cohort.start_date), datetime.now(UTC)), pace)
        db.session.commit()
        return user

    return make


@pytest.fixture()
def login(app: Flask) -> Callable[..., Any]:
    """Sign ``user`` in on ``client`` through the real form, as from a browser they signed
    in with before (it carries their sign-in device cookie, so no "new sign-in" notice is
    mailed: ``tests/test_security_notices.py`` signs in from new browsers); returns the response."""

    def sign_in(client: Any, user: Any, password: str = PASSWORD) -> Any:
        client.set_cookie(DEVICE_COOKIE, device_cookie_value(app.config["SECRET_KEY"], user.id, f"test-device-{user.id}"))
        response = client.post("/login", data={"email": user.email, "password": password})
        assert response.status_code == 302, f"could not sign in {user.email}"
        return pass_second_factor(client, response, user)  # when two-factor sign-in asks for it

    return sign_in


@dataclass
class World:
    """Two organizations, with every kind of person the access rules tell apart."""

    org_a: Any
    org_b: Any
    cohort_a: Any          # org A, started five months ago
    cohort_a2: Any         # org A, another cohort
    cohort_b: Any          # org B
    admin: Any
    org_admin_a: Any
    org_admin_b: Any
    instructor_a: Any
    instructor_b: Any
    learner_a: Any
    learner_a2: Any
    learner_b: Any
    nobody: Any            # signed in, no role anywhere


def _build_world(make_user: UserMaker, make_org: Callable[..., Any], make_cohort: Callable[..., Any],
                 enrol_learner: Callable[..., Any]) -> World:
    admin = make_user(email="admin@example.com", name="Site Admin", admin=True)
    org_admin_a, org_admin_b = make_user(name="Org Admin A"), make_user(name="Org Admin B")
    instructor_a, instructor_b = make_user(name="Instructor A"), make_user(name="Instructor B")
    org_a = make_org("Alpha Org", admins=[org_admin_a])
    org_b = make_org("Beta Org", admins=[org_admin_b])
    cohort_a = make_cohort(org_a, "Alpha 1", months_ago=5, instructors=[instructor_a])
    cohort_a2 = make_cohort(org_a, "Alpha 2", months_ago=1)
    cohort_b = make_cohort(org_b, "Beta 1", months_ago=5, instructors=[instructor_b])
    return World(
        org_a=org_a, org_b=org_b, cohort_a=cohort_a, cohort_a2=cohort_a2, cohort_b=cohort_b,
        admin=admin, org_admin_a=org_admin_a, org_admin_b=org_admin_b,
        instructor_a=instructor_a, instructor_b=instructor_b,
        learner_a=enrol_learner(cohort_a, name="Learner A"),
        learner_a2=enrol_learner(cohort_a2, name="Learner A2"),
        learner_b=enrol_learner(cohort_b, name="Learner B"),
        nobody=make_user(name="Nobody"),
    )


@pytest.fixture()
def world(app: Flask, make_user: UserMaker, make_org, make_cohort, enrol_learner, _migrated: TestDatabase) -> World:
    """``World``'s people, organizations and cohorts, made through the fixtures above.

    About 500 tests ask for it, on empty tables or on the shipped curriculum just loaded,
    and making it (nine users, three enrolments, each learner's schedule worked out) took
    0.1-0.2 s on SQLite and twice that on PostgreSQL. As ``demo_command`` does for the demo,
    a world made on one of those (for a configuration, on a day) the second time in a worker
    is saved as a snapshot (one made once, under a test's own configuration, is not worth
    saving); a later test starting from the same place gets that snapshot restored: the
    same rows and ids, with ``World`` holding them read afresh (as a real one after its
    commits) and ``make_user``'s count where the real one leaves it. Anywhere else it is real."""
    config = hashlib.sha256(repr(sorted(app.config.items())).encode()).hexdigest()
    key = (_migrated.restored, config, datetime.now(UTC).date())
    fresh = (_migrated.restored in ("empty", _migrated.shipped) and not _migrated.written
             and not (has_app_context() and _unsaved(db.session)))
    if fresh and has_app_context():
        db.session.rollback()  # the test's own session holds no changes; end its transaction
    if fresh and key in _migrated.worlds:
        name, rows, users = _migrated.worlds[key]
        _migrated.restore(name)
        db.session.expire_all()
        make_user.made += users
        return World(**{field: db.session.get(model, row_id) for field, (model, row_id) in rows.items()})
    before = make_user.made
    made = _build_world(make_user, make_org, make_cohort, enrol_learner)
    if fresh and key not in _migrated.worlds_seen:
        _migrated.worlds_seen.add(key)
    elif fresh:
        name = f"world{len(_migrated.worlds)}"
        _migrated.save(name)
        _migrated.bases[name] = str(key[0])
        _migrated.worlds[key] = (name, {field.name: (type(getattr(made, field.name)), getattr(made, field.name).id)
                                        for field in fields(made)}, make_user.made - before)
    return made


# Bodies as the log transport sent them, by outbox message id (this test's).
SENT_BODIES: dict[int, str] = {}


@pytest.fixture(autouse=True)
def _sent_mail(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Once sent, an outbox message keeps its body with the one-time links blanked (a reset,
    unlock or invitation link must not stay usable in the table): a test that follows a
    mailed link reads the body as it was sent (``sent_body``), recorded here."""
    SENT_BODIES.clear()
    send = LogTransport.send

    def recorded(transport: LogTransport, message: Letter) -> None:
        send(transport, message)
        if isinstance(message, Claimed):
            SENT_BODIES[message.id] = message.body

    monkeypatch.setattr(LogTransport, "send", recorded)
    yield
    SENT_BODIES.clear()


def sent_body(message: OutboxMessage) -> str:
    """The body ``message`` went out with (its stored one until it is sent)."""
    return SENT_BODIES.get(message.id, message.body)


@pytest.fixture(autouse=True)
def _reset_rate_limits(app: Flask) -> Iterator[None]:
    yield
    # limits' MemoryStorage expires its entries on a timer thread that reads a key's events
    # twice without the lock reset() skips: a reset between the two reads was a KeyError in that
    # thread, reported as an error of whichever test ran next. Stop the timer first; the storage
    # starts a new one when it next records a hit.
    timer = getattr(limiter.limiter.storage, "timer", None)
    if timer is not None:
        timer.cancel()
        timer.join()
    limiter.reset()


@pytest.fixture()
def admin_client(client: Any, make_user, login) -> Any:
    """The test client signed in as a site admin (reads every lesson)."""
    login(client, make_user(email="reader@example.com", admin=True))
    return client


@pytest.fixture
def clear_of_a_quarter_boundary() -> None:
    """Kept pages are keyed by the quarter hour as well as their stamp (announcements publish
    on the clock), so a test asserting that a second view was served kept fails if the clock
    crosses a quarter hour between its two views (it did once, on PostgreSQL at 09:00). Such a
    test starts at least a margin before the next quarter hour, waiting it out if needed."""
    margin = 20.0
    left = QUARTER_HOUR - time.time() % QUARTER_HOUR
    if left < margin:
        time.sleep(left + 0.5)
