"""Whole learner pages kept per process, keyed on a fingerprint of the data they show.

The learner's home and progress pages are the pages read most and they change only when
the learner's own records, their cohort or the curriculum change. A page asks for
``cached_page``: one SQL statement reads the page's *stamp*, a row of scalar subqueries
that each feature registered for the rows it keeps about a learner (``add_page_input``):
their attempts, work, grades, schedule state, announcements, unread notifications, the
content revision... Each subquery returns the rows themselves folded into one value (the
columns the pages show, every row, joined: ``fingerprint``) or a count, never a timestamp
someone must remember to bump, so any write through any path (the ORM, a bulk statement,
another process) changes the stamp and the next view renders afresh. A page is kept under
(the page, the learner, their name, time zone and the stamp, the quarter hour): what
changes with the clock alone is re-rendered within fifteen minutes (a time zone's day
starts on a quarter hour), and inputs that turn on an exact time (an announcement's
publication) put ``now`` into their subquery.

What the layout shows of the viewer (their unread notifications, the navigation their
roles open: ``add_viewer_input``) is part of the key, read from what was loaded with them.

What is never kept: a page with flashed messages waiting (rendering consumes them), a page
for a person whose stamp says they have more than a learner's page (staff, site admins:
an input marked ``bypass``), anything but a 200. The CSRF token in a kept page is replaced
by a mark and put back, the asker's own, on every view.

A cohort's heat map (and its trend by month) is kept the same way, per viewer and query
string (sorted, filtered, paged), under the cohort's stamp (``add_cohort_input``): the cohort and its members, their
schedule state (what the pages show of each learner's kept rows folded into a number, summed), their
mastery (each learner's mark, drawn afresh by the database on every write to their mastery rows,
summed), the reviews, the curriculum.

On a learner page the stamp can come with the signed-in user, in the statement that loads
them (``learner_stamp``, ``stamp_read_with_user``): a kept page then costs that one
statement, one round trip to the database.

Per process (a gunicorn worker), bounded (``PAGE_CACHE_SIZE`` pages, 0 turns it off) and
expiring (``PAGE_CACHE_SECONDS``); nothing to invalidate across nodes, since the stamp is
read from the shared database on every view. With ``PAGE_CACHE_REDIS_URL`` (by default
``REDIS_URL``) a page is also shared (``SharedPages``): one that a process does not hold is
looked for in Redis before it is built, so a page is built once for every process of every
node, not once in each (under a load balancer a learner's next views land on other workers).
Shared pages are keyed on the code's version and the secret key as well: nodes running
another release, or another deployment on the same Redis, never serve each other's."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import zlib
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from cachetools import TTLCache
from flask import Flask, current_app, g, request, session
from flask_wtf.csrf import generate_csrf
from redis import RedisError
from sqlalchemy import (
    JSON,
    ColumnExpressionArgument,
    Dialect,
    Integer,
    Select,
    String,
    TextClause,
    TypeDecorator,
    bindparam,
    cast,
    column,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.engine.interfaces import BindTyping
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ColumnClause, ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import Subquery
from sqlalchemy.types import TypeEngine

from lms.database import DbSession, UTCDateTime
from lms.redis_link import RedisLink

INPUTS_KEY = "lms.page_inputs"
COHORT_INPUTS_KEY = "lms.cohort_page_inputs"
VIEWER_INPUTS_KEY = "lms.viewer_page_inputs"
CACHE_KEY = "lms.page_cache"
SHARED_PREFIX = "lms:page:"  # the shared pages' Redis keys
PACKAGE = Path(__file__).resolve().parent.parent  # lms/: its files make the code's version
QUARTER_HOUR = 15 * 60
PARAMETERS = ("subject_id", "now")  # the stamp's parameters: whose page (a learner, a cohort) and the time
# g: (the request's WSGI environ, learner id, now, Stamp) read in the signed-in user's statement. The environ
# is kept to tell it apart: ``g`` outlives a request when an app context spans several (tests).
READ_WITH_USER = "lms_stamp_read_with_user"
# A stamp read with the user counts for the page when the page's time is this close after it
# (the same request); a page whose clock is further on (a test's) reads its own.
READ_WITH_USER_WINDOW = timedelta(seconds=1)

# A feature's columns given the learner's (or the cohort's) id and now, as bound parameters:
# the statement is built once a process and executed with each page's values.
Columns = Callable[[ColumnElement[int], ColumnElement[datetime]], Sequence[ColumnElement[Any]]]


@dataclass(frozen=True)
class PageInput:
    """What a feature keeps about a learner that their cached pages show: scalar subqueries
    over the learner's rows, given (bound parameters for) their user id and now. ``bypass``: a truthy value of any
    of these columns means the person sees more than a learner's page (staff); theirs is
    rendered every time."""

    name: str
    columns: Columns
    bypass: bool = False
    # Told what its columns read, whenever a stamp is read (``seen(session, values)``): a
    # feature may keep it for the rest of the request instead of reading it again (the
    # content revision: ``lms.catalog.revision.seen``).
    seen: Callable[[DbSession, tuple[Any, ...]], None] | None = None


@dataclass(frozen=True)
class Viewer:
    """The person a page is rendered for, as the page shows them (read by the request's
    sign-in already: no statement)."""

    id: int
    name: str
    timezone: str
    is_admin: bool


class Scope(StrEnum):
    """Whose records a kept page shows: a learner's own (home, progress) or a whole
    cohort's (the heat map, for its staff)."""

    LEARNER = "learner"
    COHORT = "cohort"


def add_page_input(app: Flask, page_input: PageInput) -> None:
    app.extensions.setdefault(INPUTS_KEY, []).append(page_input)


def add_cohort_input(app: Flask, page_input: PageInput) -> None:
    """A feature's columns for a cohort's kept pages, given the cohort's id and now: what it
    keeps about the cohort and its learners that the heat map shows."""
    app.extensions.setdefault(COHORT_INPUTS_KEY, []).append(page_input)


def add_viewer_input(app: Flask, read: Callable[[], Hashable]) -> None:
    """What every page's layout shows of the signed-in person (their unread notifications,
    the navigation their roles open), read on each view from what was loaded with them (no
    statement) and made part of a kept page's key: a cohort's stamp does not cover its
    viewer, so their kept heat map would otherwise show yesterday's notification count."""
    app.extensions.setdefault(VIEWER_INPUTS_KEY, []).append(read)


def fingerprint(*columns: ColumnExpressionArgument[Any]) -> ColumnElement[str]:
    """Every row a select reads folded into one string: each row's columns joined
    (``summary``), rows joined (in whatever order the database reads them: a new order only costs a
    render). Use it as the select's only column, then ``.scalar_subquery()``."""
    return func.coalesce(func.aggregate_strings(summary(*columns), literal_column("','")),  # type: ignore[arg-type]
                         literal_column("''"))


def summary(*values: ColumnExpressionArgument[Any]) -> ColumnElement[str]:
    """Values joined into one string that tells NULL from any value: a row's columns
    (``fingerprint``), or a select's aggregates (counts, sums, the latest time), where one
    scalar subquery reads many rows once and a fingerprint of each would be too long (a
    cohort's mastery: thousands)."""
    return Summary(*values)


class Summary(FunctionElement[str]):
    """``summary``'s SQL, by dialect (``_summary_joined``, ``_summary_row``)."""

    type = String()
    name = "lms_summary"
    inherit_cache = True


@compiles(Summary)
def _summary_elsewhere(element: Summary, compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError(f"a page stamp's summary has no form for {compiler.dialect.name}: only SQLite and PostgreSQL")


@compiles(Summary, "sqlite")
def _summary_joined(element: Summary, compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite: the values joined with ``|``, a string as an SQL literal (``quote``: ``'it''s'``,
    ``NULL``), so a separator or a quote within it is inside its quotes; any other value (a
    number, a time) as text, NULL as ``~``, which no number or time reads as. No two rows
    read alike. (Quoting every value would do too, at a fifth more time for a cohort's stamp.)
    The literals are SQL, not bound parameters: a stamp's hundreds of them would cost more per
    execution than reading the rows."""
    null: ColumnElement[str] = literal_column("'~'")
    parts = [func.quote(value) if _is_string(value.type) else func.coalesce(cast(value, String), null)
             for value in element.clauses]
    return " || '|' || ".join(compiler.process(part, **kw) for part in parts)


def _is_string(type_: TypeEngine[Any]) -> bool:
    return isinstance(type_.impl if isinstance(type_, TypeDecorator) else type_, String | JSON)  # JSON: text


@compiles(Summary, "postgresql")
def _summary_row(element: Summary, compiler: SQLCompiler, **kw: Any) -> str:
    """PostgreSQL: the values as a row, in the row's text form (``(1,,"a b")``: NULL is empty,
    an empty string ``""``, a value with a comma, a quote or a parenthesis quoted). No two rows
    read alike, and the statement is shorter: the learner's user-and-stamp statement went from
    8,300 characters to 5,800, less for psycopg to convert on each execution (it keeps no
    conversion of a statement over 4,096)."""
    return f"CAST(ROW({compiler.process(element.clauses, **kw)}) AS TEXT)"


def code_version(package: Path = PACKAGE) -> str:
    """A digest of every file of the ``lms`` package (code, templates, static files): what a
    page's HTML depends on besides its data, which its stamp covers."""
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class SharedPages:
    """Pages kept in Redis for every process of every node, compressed, each expiring with
    ``PAGE_CACHE_SECONDS``. A page's Redis key is an HMAC, under the secret key, of the code's
    version (``code_version``, read at the first use) and the page's key in the process (its
    ``repr``: plain values, the same in every process). Redis failing (down, slow: a quarter
    of a second at most) is a miss and a warning, and it is not asked again for
    ``retry_after`` seconds (``RedisLink``): the page is built as if nothing were shared."""

    def __init__(self, url: str, seconds: float, secret: str, retry_after: float = 30.0) -> None:
        self.link = RedisLink(url, retry_after, "pages are not shared meanwhile", "lms.page_cache",
                              connect_timeout=0.25, timeout=0.25)
        self._seconds = max(int(seconds), 1)
        self._secret = secret.encode()
        self._version: str | None = None
        self.hits = 0
        self.misses = 0

    def name_of(self, key: Hashable) -> str | None:
        """The page's Redis key; None for a key that names an object by its address (another
        process could have another object there)."""
        text = repr(key)
        if " at 0x" in text:
            return None
        if self._version is None:
            self._version = code_version()
        return SHARED_PREFIX + hmac.new(self._secret, f"{self._version}\n{text}".encode(), hashlib.sha256).hexdigest()

    def get(self, key: Hashable) -> str | None:
        name = self.name_of(key)
        if name is None or not self.link.usable():
            return None
        try:
            found = self.link.connection.get(name)
        except RedisError as exc:
            self.link.failed(exc)
            return None
        if not isinstance(found, bytes):  # None: not there (bytes otherwise: no decode_responses)
            self.misses += 1
            return None
        self.hits += 1
        return zlib.decompress(found).decode()

    def put(self, key: Hashable, page: str) -> None:
        name = self.name_of(key)
        if name is None or not self.link.usable():
            return
        try:
            self.link.connection.set(name, zlib.compress(page.encode(), 1), ex=self._seconds)
        except RedisError as exc:
            self.link.failed(exc)


class PageCache:
    """Rendered pages by key, bounded and expiring; safe across a process's threads. The
    stamp's statement is built at its first use, once every feature has added its inputs.
    ``shared``: the pages of every process (``SharedPages``), when configured. A kept page
    holds ``mark`` where its CSRF token was: made from the secret key, so the same in every
    process (a shared page's is put back by the process serving it) and never in a page by
    chance."""

    def __init__(self, size: int, seconds: float, inputs: dict[Scope, list[PageInput]], secret: str = "",
                 shared: SharedPages | None = None) -> None:
        self._pages: TTLCache[Hashable, str] = TTLCache(maxsize=max(size, 1), ttl=seconds)
        self._lock = threading.Lock()
        self._inputs = inputs
        self._queries: dict[Scope, StampQuery] = {}
        self.enabled = size > 0
        self.shared = shared if self.enabled else None
        self.mark = "csrf-mark-" + hmac.new(secret.encode(), b"lms.page_cache.csrf", hashlib.sha256).hexdigest()[:32]
        self.hits = 0
        self.misses = 0

    def query(self, scope: Scope) -> StampQuery:
        found = self._queries.get(scope)
        if found is None:
            found = self._queries[scope] = stamp_query(self._inputs[scope])
        return found

    def get(self, key: Hashable) -> str | None:
        with self._lock:
            page = self._pages.get(key)
            if page is None:
                self.misses += 1
            else:
                self.hits += 1
            return page

    def put(self, key: Hashable, page: str) -> None:
        with self._lock:
            self._pages[key] = page

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()

    def __len__(self) -> int:
        """The pages kept."""
        with self._lock:
            return len(self._pages)


def cache_of(app: Flask) -> PageCache:
    return app.extensions[CACHE_KEY]  # type: ignore[no-any-return]


# A value that changes whenever anything is committed to the database, read in the stamp's
# statement (the same snapshot) and again after a page is built: the same value on the same
# connection means nothing was written in between, so the stamp still holds without reading
# it again (a cohort's: a few rows a learner). SQLite: the connection's count of commits
# to the database file by other connections (``PRAGMA data_version``) and of rows it changed
# itself (``total_changes()``). Any other database: none, and the stamp is read again.
# PostgreSQL has a candidate, the statement's snapshot (``pg_current_snapshot()``), but any
# transaction of the whole cluster moves it, whatever its database: under a server's usual
# traffic it would seldom hold, and a page's statements would depend on other databases'
# (measured on a quiet server: 0.8 ms of a 56 ms built heat map).
WRITE_MARKS = {
    "sqlite": "((SELECT data_version FROM pragma_data_version) || '.' || total_changes())",
}


def write_mark(dialect: Dialect) -> ColumnElement[str]:
    return literal_column(WRITE_MARKS.get(dialect.name, "NULL"), String)


@dataclass(frozen=True)
class Stamp:
    values: tuple[Any, ...]
    bypass: bool
    # the write mark read with the values, and the DBAPI connection it was read on
    mark: Any = field(default=None, compare=False)
    connection: Any = field(default=None, compare=False, repr=False)


@dataclass
class StampQuery:
    statement: Select[Any] | None
    bypassing: tuple[int, ...]  # the positions of the bypass inputs' columns
    # the inputs told what their columns read (``PageInput.seen``), each with its columns' positions
    seers: tuple[tuple[Callable[[DbSession, tuple[Any, ...]], None], slice], ...] = ()
    # The statement as SQL text, per dialect: executing the select would work out its cache
    # key (a walk over hundreds of elements) on every view; a text's key is its string.
    texts: dict[str, TextClause] = field(default_factory=dict)
    subqueries: dict[str, Subquery] = field(default_factory=dict)

    def stamp_of(self, values: Sequence[Any], connection: Any = None) -> Stamp:
        """The stamp a row of this statement's values makes (the last is the write mark),
        read on ``connection`` (a DBAPI connection)."""
        *inputs, mark = values
        return Stamp(tuple(inputs), bypass=any(inputs[i] for i in self.bypassing), mark=mark, connection=connection)

    def tell(self, session: DbSession, stamp: Stamp) -> Stamp:
        """Tell the inputs that asked (``PageInput.seen``) what their columns of ``stamp`` read."""
        for seen, columns in self.seers:
            seen(session, stamp.values[columns])
        return stamp

    def text_for(self, dialect: Dialect) -> TextClause:
        """The statement as SQL for ``dialect``, the write mark (``WRITE_MARKS``) its last column."""
        found = self.texts.get(dialect.name)
        if found is None:
            assert self.statement is not None
            marked = self.statement.add_columns(write_mark(dialect).label(f"stamp_{len(self.statement.selected_columns)}"))
            named: Dialect = type(dialect)(paramstyle="named")  # type: ignore[call-arg]  # ":name", whatever the driver's style
            named.bind_typing = BindTyping.NONE  # no ":name::TYPE" casts (psycopg's), which text() would not read as names
            compiled = marked.compile(dialect=named, compile_kwargs={"render_postcompile": True})
            sql = str(compiled)
            constants = [bindparam(name, value=value, type_=compiled.binds[name].type)  # a feature's own constants
                         for name, value in compiled.params.items()
                         if name not in PARAMETERS and re.search(rf":{name}\b", sql)]  # (some are rendered inline)
            parameters: list[BindParameter[Any]] = [bindparam("subject_id", type_=Integer), bindparam("now", type_=UTCDateTime)]
            used = [p for p in parameters if re.search(rf":{p.key}\b", sql)]  # (no input may need the time)
            found = self.texts[dialect.name] = text(sql).bindparams(*used, *constants)
        return found

    def subquery_for(self, dialect: Dialect) -> Subquery:
        """The statement as a subquery named ``stamp`` whose columns are ``stamp_0``, ``stamp_1``...
        (with the parameters ``subject_id`` and ``now``), to join to another statement."""
        found = self.subqueries.get(dialect.name)
        if found is None:
            assert self.statement is not None
            names: list[ColumnClause[Any]] = [column(f"stamp_{i}") for i in range(len(self.statement.selected_columns) + 1)]
            found = self.subqueries[dialect.name] = self.text_for(dialect).columns(*names).subquery("stamp")
        return found


def stamp_query(inputs: Sequence[PageInput]) -> StampQuery:
    """Every input's columns in one statement, with the parameters ``subject_id`` (the
    learner's or the cohort's id) and ``now``."""
    subject_id: ColumnElement[int] = bindparam("subject_id", type_=Integer)
    now: ColumnElement[datetime] = bindparam("now")
    columns: list[ColumnElement[Any]] = []
    bypassing: list[int] = []
    seers: list[tuple[Callable[[DbSession, tuple[Any, ...]], None], slice]] = []
    for page_input in inputs:
        found = page_input.columns(subject_id, now)
        if page_input.bypass:
            bypassing.extend(range(len(columns), len(columns) + len(found)))
        if page_input.seen is not None:
            seers.append((page_input.seen, slice(len(columns), len(columns) + len(found))))
        columns.extend(found)
    labelled = [found.label(f"stamp_{i}") for i, found in enumerate(columns)]
    return StampQuery(select(*labelled) if columns else None, tuple(bypassing), seers=tuple(seers))


def read_stamp(session: DbSession, query: StampQuery, subject_id: int, now: datetime) -> Stamp:
    """The learner's (or cohort's) stamp: one statement."""
    if query.statement is None:
        return Stamp((), bypass=False)
    connection = session.connection()
    row = connection.execute(query.text_for(connection.dialect), {"subject_id": subject_id, "now": now}).one()
    return query.tell(session, query.stamp_of(row, connection.connection.dbapi_connection))


def still_holds(session: DbSession, query: StampQuery, subject_id: int, now: datetime, stamp: Stamp) -> bool:
    """Whether ``stamp`` is still what the data says: nothing was written since it was read
    (its write mark reads the same on the same connection: one cheap statement), or, when
    something was, the stamp read again is the same."""
    if stamp.mark is not None and read_write_mark(session) == (stamp.mark, stamp.connection):
        return True
    return read_stamp(session, query, subject_id, now) == stamp


def read_write_mark(session: DbSession) -> tuple[Any, Any]:
    """The write mark now (``WRITE_MARKS``), and the DBAPI connection it was read on."""
    connection = session.connection()
    return connection.execute(select(write_mark(connection.dialect))).scalar(), connection.connection.dbapi_connection


def learner_stamp(app: Flask, dialect: Dialect) -> Subquery | None:
    """The learners' stamp as a subquery (``StampQuery.subquery_for``), for the statement that
    loads the signed-in user on a kept page's request to read it too (one round trip, not
    two); None when pages are not kept."""
    cache = cache_of(app)
    query = cache.query(Scope.LEARNER)
    return query.subquery_for(dialect) if cache.enabled and query.statement is not None else None


def stamp_read_with_user(app: Flask, session: DbSession, learner_id: int, now: datetime, values: Sequence[Any]) -> None:
    """Keep for this request the learner's stamp, read at ``now`` with the signed-in user
    through ``session`` (the connection it was read on is asked for only when it read a
    write mark: a kept page's request on a database without one skips it)."""
    query = cache_of(app).query(Scope.LEARNER)
    stamp = query.tell(session, query.stamp_of(values))
    if stamp.mark is not None:
        stamp = replace(stamp, connection=session.connection().connection.dbapi_connection)
    setattr(g, READ_WITH_USER, (request.environ, learner_id, now, stamp))


def _stamp_of_request(learner_id: int, now: datetime) -> Stamp | None:
    read: tuple[object, int, datetime, Stamp] | None = g.get(READ_WITH_USER)
    if (read is None or read[0] is not request.environ or read[1] != learner_id
            or not timedelta(0) <= now - read[2] <= READ_WITH_USER_WINDOW):
        return None
    return read[3]


def quarter_hour(now: datetime) -> int:
    return int(now.timestamp()) // QUARTER_HOUR


def cached_page(db_session: DbSession, page: str, viewer: Viewer, now: datetime, render: Callable[[], str],
                cohort_id: int | None = None, variant: str = "") -> str:
    """The page for ``viewer``: kept if its stamp has not changed, else ``render()`` (and kept).
    A learner's own page by default; with ``cohort_id`` a cohort's page (the stamp is the
    cohort's), one per ``variant`` (its query string: sorted, filtered, paged). A kept page
    costs one statement (the stamp), or none when the signed-in user's statement read the
    learner's stamp (``lms.accounts.current.load_stamp_with_user``); a page built two more
    than its own: the stamp, and after it the write mark (``still_holds``) where the
    database has one, or the stamp again (no mark, or something was written meanwhile)."""
    cache = cache_of(current_app)
    scope = Scope.LEARNER if cohort_id is None else Scope.COHORT
    if not cache.enabled or "_flashes" in session or (scope is Scope.LEARNER and viewer.is_admin):
        return render()
    query = cache.query(scope)
    subject = viewer.id if cohort_id is None else cohort_id
    stamp = _stamp_of_request(subject, now) if scope is Scope.LEARNER else None
    if stamp is None:
        stamp = read_stamp(db_session, query, subject, now)
    if stamp.bypass:
        return render()
    layout = tuple(read() for read in current_app.extensions.get(VIEWER_INPUTS_KEY, ()))
    key = (page, scope, subject, variant, viewer.id, viewer.name, viewer.timezone, viewer.is_admin, layout,
           quarter_hour(now), stamp.values)
    token = generate_csrf()
    kept = cache.get(key)
    if kept is None and cache.shared is not None:
        kept = cache.shared.get(key)  # built by another process
        if kept is not None:
            cache.put(key, kept)
    if kept is not None:
        return kept.replace(cache.mark, token)
    html = render()
    # Kept only if nothing was flashed while rendering and the stamp still holds: each
    # statement sees what is committed when it starts, so a write committed between the
    # stamp and the page's reads would otherwise be kept under the stamp from before it (and
    # served again should the data come back to that state).
    if "_flashes" not in session and still_holds(db_session, query, subject, now, stamp):
        marked = html.replace(token, cache.mark)
        cache.put(key, marked)
        if cache.shared is not None:
            cache.shared.put(key, marked)
    return html


def init_app(app: Flask) -> None:
    seconds, secret = float(app.config.get("PAGE_CACHE_SECONDS", 900)), str(app.config.get("SECRET_KEY") or "")
    url = str(app.config.get("PAGE_CACHE_REDIS_URL") or "")
    app.extensions[CACHE_KEY] = PageCache(int(app.config.get("PAGE_CACHE_SIZE", 2048)), seconds,
                                          {Scope.LEARNER: app.extensions.setdefault(INPUTS_KEY, []),
                                           Scope.COHORT: app.extensions.setdefault(COHORT_INPUTS_KEY, [])},
                                          secret, SharedPages(url, seconds, secret) if url else None)
