"""The curriculum kept in each process between requests, keyed on the database's content
revision.

The curriculum (levels, phases, lessons, quizzes, assignments) is read on every learner
page and changes only when content is loaded. ``content_revisions`` holds one random token,
replaced in the same transaction as any change to a content item (a session event: an ORM
write to a ``ContentItem``, or a bulk statement on one; a content load always replaces it).
A page reads the token (one statement a transaction) and uses what this process keeps for
that token, loading it once, through a private session on the transaction's own connection,
when it has nothing for it. So
every gunicorn worker, on every node, sees a content load at its next request; a token is
never used twice, so a rolled-back change or a restored backup cannot bring back a stale
entry.

What is kept is detached ORM objects with the attributes the loader loaded: read them,
never add them to a session or reach for a relationship the loader did not load. A
transaction that changed content itself (not yet committed) bypasses the cache: it loads
through its own session and sees its own changes."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import event, insert, select, update
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.sql.elements import ColumnElement

from lms.catalog.models import ContentItem, ContentRevision
from lms.database import DbSession

T = TypeVar("T")
TOKEN = "lms.catalog.content_token"        # session.info: the token read in this transaction
CHANGED = "lms.catalog.content_changed"    # session.info: this transaction changed content
MEMO = "lms.catalog.memo"                  # session.info: per-transaction results (``memo``)

_lock = threading.Lock()
_kept: dict[str, tuple[str, dict[str, Any]]] = {}  # database URL -> (token, name -> value)


def new_token() -> str:
    return uuid.uuid4().hex


def bump(session: DbSession) -> None:
    """Replace the token (in the session's transaction): every process's cache is stale at commit."""
    conn = session.connection()
    if conn.execute(update(ContentRevision).values(token=new_token())).rowcount == 0:  # a database emptied since migrating
        conn.execute(insert(ContentRevision).values(id=1, token=new_token()))
    session.info[CHANGED] = True
    session.info.pop(TOKEN, None)
    session.info.pop(MEMO, None)


def token(session: DbSession) -> str | None:
    """The content revision this transaction sees (None: no revision row, as before the
    first content load; nothing is cached meanwhile)."""
    if TOKEN not in session.info:
        found = session.scalar(select(ContentRevision.token).where(ContentRevision.id == 1))  # autoflushes first
        if CHANGED in session.info:
            return found
        session.info[TOKEN] = found
    value: str | None = session.info.get(TOKEN)
    return value


def stamp_columns(subject_id: ColumnElement[int], now: ColumnElement[datetime]) -> list[ColumnElement[Any]]:
    """The content revision as a kept page's stamp reads it (``lms.web.page_cache``: every
    kept page shows the curriculum)."""
    return [select(ContentRevision.token).where(ContentRevision.id == 1).scalar_subquery()]


def seen(session: DbSession, values: tuple[Any, ...]) -> None:
    """The token a page's stamp read (``stamp_columns``), kept as the one this transaction
    sees, as ``token`` would have read it: a page built after its stamp reads no token again."""
    if TOKEN not in session.info and CHANGED not in session.info:
        session.info[TOKEN] = values[0]


def cached(session: DbSession, name: str, load: Callable[[DbSession], T]) -> T:
    """``load(session)``, kept in this process for the current content revision. ``name``
    says what it is (one value per name and revision); ``load`` must only read, and load
    every attribute its callers use (the result is detached)."""
    current = token(session)
    if current is None or session.info.get(CHANGED):
        return load(session)
    where = session.get_bind().engine.url.render_as_string(hide_password=True)
    with _lock:
        kept = _kept.get(where)
        if kept is not None and kept[0] == current and name in kept[1]:
            value: T = kept[1][name]
            return value
    # On the transaction's own connection, never a second one: a long write (the volume build,
    # a rebuild) holds a SQLite database exclusively once its pages spill from the cache, and a
    # second connection of this process would wait on it until "database is locked"; on
    # PostgreSQL it would take another connection from the pool while holding one. The private
    # session neither commits nor rolls back that transaction, nor does closing it.
    with Session(bind=session.connection(), autoflush=False, expire_on_commit=False,
                 join_transaction_mode="rollback_only") as private:
        value = load(private)  # read only; closing detaches the objects with what they loaded (no expiry)
    with _lock:
        kept = _kept.get(where)
        if kept is None or kept[0] != current:
            kept = _kept[where] = (current, {})
        kept[1][name] = value
    return value


def memo(session: DbSession, name: str, load: Callable[[DbSession], T]) -> T:
    """``load(session)`` once per transaction (until the session next flushes): the same
    attached objects a second query would return from the identity map, without the query."""
    if session.info.get(CHANGED) or session.new or session.dirty or session.deleted:
        return load(session)
    results: dict[str, Any] = session.info.setdefault(MEMO, {})
    if name not in results:
        results[name] = load(session)
    value: T = results[name]
    return value


def forget_kept() -> None:
    """Drop what this process keeps (tests)."""
    with _lock:
        _kept.clear()


# --------------------------------------------------------------------------- noticing changes


def _content_touched(session: Session) -> bool:
    return any(isinstance(obj, ContentItem) for obj in (*session.new, *session.dirty, *session.deleted))


def _before_flush(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    session.info.pop(MEMO, None)
    if _content_touched(session):
        session.info["lms.catalog.bump"] = True


def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    if session.info.pop("lms.catalog.bump", False):
        bump(session)


def _note_statement(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if mapper is not None and issubclass(mapper.class_, ContentItem):
        bump(state.session)


def _end(session: Session, *args: Any) -> None:
    if session.in_nested_transaction():
        return
    for key in (TOKEN, CHANGED, MEMO):
        session.info.pop(key, None)


def _end_rollback(session: Session, previous_transaction: Any) -> None:
    if getattr(previous_transaction, "parent", None) is None:
        for key in (TOKEN, CHANGED, MEMO):
            session.info.pop(key, None)


LISTENERS = (("before_flush", _before_flush), ("after_flush", _after_flush), ("do_orm_execute", _note_statement),
             ("after_commit", _end), ("after_soft_rollback", _end_rollback))


def listen() -> None:
    """Connect the session events (from ``lms.catalog.wiring``; once, whatever the apps)."""
    for name, fn in LISTENERS:
        if not event.contains(Session, name, fn):
            event.listen(Session, name, fn)
