"""The declarative base every model shares, and the column types it maps by default."""

from __future__ import annotations

import json
import select
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_sqlalchemy.session import Session as FlaskSqlAlchemySession
from pydantic import TypeAdapter
from sqlalchemy import JSON, ColumnExpressionArgument, DateTime, Enum, Integer, MetaData, String, bindparam, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import CursorResult, Dialect, Engine, Result
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

# Named constraints let Alembic's batch mode alter SQLite tables reliably.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as naive UTC and gives them back aware, on every database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; store times as aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value  # the DateTime impl loads a naive datetime
        return stored.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def zone_named(name: str | None) -> ZoneInfo:
    """The time zone of that name (a person's or a cohort's setting); UTC when it is empty
    or no zone of this machine's database has that name."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# --------------------------------------------------------------------------- one id among many


class _IdList(TypeDecorator[list[int]]):
    """A list of ids bound as one value: an integer array on PostgreSQL, JSON text on SQLite."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(ARRAY(Integer) if dialect.name == "postgresql" else String())

    def process_bind_param(self, value: list[int] | None, dialect: Dialect) -> Any:
        ids = [int(i) for i in value or ()]
        return ids if dialect.name == "postgresql" else json.dumps(ids)


class _Among(FunctionElement[bool]):
    """``among``'s SQL, by dialect. (Typed as a boolean, SQLite would be given ``... = 1``.)"""

    name = "lms_among"
    inherit_cache = True


@compiles(_Among)
def _among_any(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    """PostgreSQL: ``column = ANY(array)``, which an index on the column serves."""
    column, ids = element.clauses
    return f"{compiler.process(column, **kw)} = ANY({compiler.process(ids, **kw)})"


@compiles(_Among, "sqlite")
def _among_json(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite: the ids read from their JSON array by ``json_each``."""
    column, ids = element.clauses
    return f"{compiler.process(column, **kw)} IN (SELECT value FROM json_each({compiler.process(ids, **kw)}))"


def among(column: ColumnExpressionArgument[int | None], ids: Iterable[int]) -> ColumnElement[bool]:
    """``column IN ids`` as one statement whatever the number of ids: the ids go in one
    bound value. ``column.in_(ids)`` writes a placeholder for each, so every new length is a
    new statement text, which the drivers keep in their caches of recent statements (tens
    of KB each for a chunk's hundreds of ids: psycopg's counts of the last 100 statements
    held 4 MB during a 5,000-learner gradebook export, ``sqlite3``'s 128 statements 1.3
    MB), and which PostgreSQL plans afresh. For lists that vary with the data: a chunk's
    submissions, a page's learners."""
    return _Among(column, bindparam(None, list(ids), type_=_IdList()))


# --------------------------------------------------------------------------- ordering by name


class _FoldedName(FunctionElement[str]):
    """``folded_name``'s SQL, by dialect."""

    type = String()
    name = "lms_folded_name"
    inherit_cache = True


@compiles(_FoldedName)
def _folded_in_c(element: _FoldedName, compiler: SQLCompiler, **kw: Any) -> str:
    """PostgreSQL: the name in the "C" collation before ``lower()``, which then changes
    ASCII letters only, and its result compares by bytes."""
    return f'lower(({compiler.process(element.clauses, **kw)}) COLLATE "C")'


@compiles(_FoldedName, "sqlite")
def _folded_binary(element: _FoldedName, compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite: its ``lower()`` changes ASCII letters only, and BINARY compares by bytes."""
    return f"lower({compiler.process(element.clauses, **kw)}) COLLATE BINARY"


def folded_name(name: ColumnExpressionArgument[str]) -> ColumnElement[str]:
    """A name as an ORDER BY key that sorts alike on every database and in Python
    (``fold_name``): lowered in ASCII letters only and compared by bytes (UTF-8's byte
    order is the order of code points, as Python compares strings), not by the database's
    collation, which may lower other letters and skip spaces and punctuation ("Ann Lee"
    after "Anne" in en_US)."""
    return _FoldedName(name)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold_name(name: str) -> str:
    """``folded_name`` in Python: ASCII letters lowered, nothing else changed."""
    return name.translate(_ASCII_LOWER)


# --------------------------------------------------------------------------- matching typed text


class _Lowered(FunctionElement[str]):
    """``lowered``'s SQL, by dialect."""

    type = String()
    name = "lms_lowered"
    inherit_cache = True


@compiles(_Lowered)
def _lowered_by_ctype(element: _Lowered, compiler: SQLCompiler, **kw: Any) -> str:
    """PostgreSQL: ``lower()`` in the database's character type (a UTF-8 one lowers every letter)."""
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(_Lowered, "sqlite")
def _lowered_in_python(element: _Lowered, compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite: its ``lower()`` changes ASCII letters only; ``lms_lower`` is Python's (``install_functions``)."""
    return f"lms_lower({compiler.process(element.clauses, **kw)})"


def lowered(text: ColumnExpressionArgument[str]) -> ColumnElement[str]:
    """A column lowered in every alphabet, on every database, to match what a person typed,
    lowered with ``str.lower``: a search for "ünï" or "ÜNÏ" finds "Ünïcødé", "élodie" finds
    "Élodie". (``folded_name`` is an ORDER BY key: it lowers ASCII letters only, so that the
    order is the same everywhere, and would miss them.)"""
    return _Lowered(text)


def _sqlite_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _add_sqlite_functions(dbapi_connection: Any, connection_record: Any) -> None:
    dbapi_connection.create_function("lms_lower", 1, _sqlite_lower, deterministic=True)


def install_functions(engine: Engine) -> None:
    """Give each new SQLite connection the functions ``lowered`` compiles to."""
    if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _add_sqlite_functions):
        event.listen(engine, "connect", _add_sqlite_functions)


def _values(enum: type[StrEnum]) -> list[str]:
    return [member.value for member in enum]


def enum_type(enum: type[StrEnum], *, length: int, name: str) -> Enum:
    """The column type of one of a fixed set of strings: the member's value in a
    VARCHAR(``length``) on every database, guarded by a CHECK constraint named
    ``ck_<table>_<name>`` (``name`` is the column's) that lists the enum's values. Loads
    give the member back; a value outside the enum is refused before it reaches the
    database. Adding a member means a migration that replaces the constraint."""
    return Enum(enum, native_enum=False, create_constraint=True, length=length, values_callable=_values,
                validate_strings=True, name=name)


class TypedJSON(TypeDecorator[Any]):
    """JSON holding validated content (a pydantic model or a list of them): stored as its
    JSON dump, loaded back as the typed value. Made per type by ``typed_json``."""

    impl = JSON
    cache_ok = True
    adapter: ClassVar[TypeAdapter[Any]]

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return self.adapter.dump_python(self.adapter.validate_python(value), mode="json")

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else self.adapter.validate_python(value)


def typed_json(spec: Any, name: str) -> TypedJSON:
    """A JSON column type that stores and loads ``spec`` (e.g. ``list[CriterionSpec]``)."""
    # cache_ok is read from each class's own attributes: the type is safe in a cached statement
    typed: type[TypedJSON] = type(f"{name}JSON", (TypedJSON,),
                                  {"adapter": TypeAdapter(spec), "cache_ok": True, "__module__": __name__})
    return typed()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# What services take: a Session, or the request's scoped session that stands for one.
DbSession = Session | scoped_session[Any]

# Session.info: the session only reads (a safe request, lms.web.unit_of_work), so on
# PostgreSQL its connection is taken in autocommit.
READING = "lms.reading"
_AUTOCOMMIT: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


class RequestSession(FlaskSqlAlchemySession):
    """Flask-SQLAlchemy's session (``db.session``). While ``info[READING]`` is set, a
    PostgreSQL connection it takes is in autocommit: every statement sees what is committed
    when it starts, as within a READ COMMITTED transaction, without the round trips of
    BEGIN and ROLLBACK; the pool gives the connection back to its default when it returns.
    Only a session that needs a connection takes one: nothing is checked out up front."""

    def get_bind(self, mapper: Any = None, clause: Any = None, bind: Any = None, **kwargs: Any) -> Any:
        found = super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)
        if bind is None and self.info.get(READING) and isinstance(found, Engine) and found.dialect.name == "postgresql":
            reading = _AUTOCOMMIT.get(found)
            if reading is None:
                reading = _AUTOCOMMIT[found] = found.execution_options(isolation_level="AUTOCOMMIT")
            return reading
        return found


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE touched. ``Session.execute`` is typed as answering any
    ``Result``; for those statements it is a ``CursorResult``, which has the count."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


def _closed_by_server(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
    """A pooled PostgreSQL connection is idle between requests, so the server has nothing
    to say on it unless it is closing it (a restart, a terminated backend, an idle timeout:
    a goodbye message, then the end of the stream): something to read is the sign, seen with
    a zero-timeout poll of its socket instead of a round trip (SQLAlchemy's pre-ping: a
    ``SELECT 1`` before every request). ``DisconnectionError`` makes the pool discard it
    and connect afresh."""
    if dbapi_connection.closed:
        raise DisconnectionError("the connection is closed")
    readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    if readable:
        raise DisconnectionError("the server closed the connection while it was idle")


def watch_idle_connections(engine: Engine) -> None:
    """Check each PostgreSQL connection the pool hands out (``_closed_by_server``)."""
    if engine.dialect.name == "postgresql" and not event.contains(engine, "checkout", _closed_by_server):
        event.listen(engine, "checkout", _closed_by_server)


class Companion:
    """A second DBAPI connection (``raw``, from the pool) whose transaction ends with a
    session's: committed right after the session's unit of work commits (then
    ``after_commit``, a statement such as ``ANALYZE``, is run and committed too), rolled back
    when the session's transaction ends any other way or on ``abandon``; the connection goes
    back to its pool either way. Nothing on it is committed before the session's work is."""

    def __init__(self, raw: Any, after_commit: str | None = None) -> None:
        self.raw, self.after_commit = raw, after_commit
        self.ended = False

    def follow(self, session: DbSession) -> None:
        """End with ``session``'s current transaction."""
        real = session()  # type: ignore[operator]  # the scoped session's own Session
        event.listen(real, "after_commit", self._committed, once=True)
        event.listen(real, "after_transaction_end", self._transaction_ended)

    def _end(self, finish: Callable[[], None]) -> None:
        """``finish`` the connection's transaction (once: later calls do nothing), then give it back."""
        if self.ended:
            return
        self.ended = True
        try:
            finish()
        finally:
            self.raw.close()

    def _commit(self) -> None:
        self.raw.commit()
        if self.after_commit:
            self.raw.cursor().execute(self.after_commit)
            self.raw.commit()

    def _committed(self, _session: Any) -> None:
        self._end(self._commit)

    def _transaction_ended(self, _session: Any, transaction: Any) -> None:
        if transaction.parent is None:  # the session's own transaction (after a commit: nothing left to do)
            self.abandon()

    def abandon(self) -> None:
        """Roll back what was done on the connection and give it back."""
        self._end(lambda: self.raw.rollback())  # looked up only if not ended: a returned connection has none


@contextmanager
def unit_of_work(session: DbSession) -> Iterator[None]:
    """The one place work is committed: what the block did is committed if it returns,
    rolled back if it raises. Requests get theirs from ``lms.web.unit_of_work``; commands
    and jobs wrap their work in this."""
    try:
        yield
    except BaseException:
        session.rollback()
        raise
    session.commit()


UpsertInsert = postgresql.Insert | sqlite.Insert


def upsert_insert(session: DbSession) -> Callable[[Any], UpsertInsert]:
    """The database's INSERT with ON CONFLICT (both dialects spell it the same): a row that
    another request inserted meanwhile is found by its unique key, not fought over."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"lms needs SQLite or PostgreSQL, not {dialect}")


def insert_unless_there(session: DbSession, model: type[Any], values: dict[str, Any], key: tuple[str, ...]) -> bool:
    """Insert one row of ``model`` unless a row with the same unique ``key`` exists, or is
    being inserted by another request at this moment (then this waits for that one to
    commit): True when this call made the row. The caller reads the row afterwards either
    way. A form sent twice at once (a double click) finds the first one's row instead of
    failing on the unique key. The values go as parameters, so listeners that note the rows
    a statement writes (the kept schedule state) see them."""
    statement = (upsert_insert(session)(model).on_conflict_do_nothing(index_elements=list(key))
                 .returning(*sa_inspect(model).primary_key))
    return session.execute(statement, values).first() is not None
