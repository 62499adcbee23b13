"""One unit of work per request, at the edge: views and services never commit.

A request that changes something (POST and the like) is committed once its view has
answered with a success or a redirect, and rolled back when the view raised or answered
with an error status. A safe request (GET, HEAD, OPTIONS) is always rolled back: a page
view never writes, and in testing a GET that flushed a change fails loudly. On PostgreSQL a
safe request reads outside a transaction (autocommit): each statement sees what is
committed when it starts, as it does inside a READ COMMITTED transaction, without the two
round trips of BEGIN and ROLLBACK; a flush there is refused before it reaches the database.
Work that must follow the commit (delivering mail) registers with ``after_commit``."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, current_app, request
from sqlalchemy import event
from sqlalchemy.orm import Session, UOWTransaction

from lms.database import READING, unit_of_work
from lms.extensions import db

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
AFTER_COMMIT_KEY = "lms.after_commit"
WROTE = "lms.wrote"

AfterCommit = Callable[[Session], None]


class WriteOnSafeRequest(RuntimeError):
    """A GET (or HEAD, OPTIONS) flushed a change: page views must only read."""


def after_commit(app: Flask, hook: AfterCommit) -> None:
    """Run ``hook(session)`` after each request's unit of work committed; what the hook
    changes is committed in a unit of work of its own."""
    app.extensions.setdefault(AFTER_COMMIT_KEY, []).append(hook)


def _note_write(session: Session, flush_context: UOWTransaction, instances: object) -> None:
    if session.new or session.dirty or session.deleted:
        if session.info.get(READING):  # outside a transaction it would stay written
            raise WriteOnSafeRequest(f"{request.method} {request.path} flushed a change")
        session.info[WROTE] = True


def read_without_transaction() -> None:
    """A safe request on PostgreSQL reads in autocommit (``lms.database.RequestSession``). A
    session already in a transaction (a request inside a test's or a command's app context)
    goes on in it."""
    if request.method in SAFE_METHODS and db.engine.dialect.name == "postgresql":
        session = db.session()
        if not session.in_transaction():
            session.info[READING] = True


def finish_request(response: Response) -> Response:
    session = db.session
    wrote = session.info.pop(WROTE, False)
    session.info.pop(READING, None)
    if request.method in SAFE_METHODS or response.status_code >= 400:
        session.rollback()
        if wrote and request.method in SAFE_METHODS:
            current_app.logger.error("%s %s wrote to the database; the change was rolled back", request.method, request.path)
            if current_app.config.get("TESTING"):
                raise WriteOnSafeRequest(f"{request.method} {request.path} flushed a change")
        return response
    with unit_of_work(session):
        pass
    for hook in current_app.extensions.get(AFTER_COMMIT_KEY, []):
        with unit_of_work(session):
            hook(session())
    return response


def init_app(app: Flask) -> None:
    if not event.contains(Session, "before_flush", _note_write):
        event.listen(Session, "before_flush", _note_write)
    app.before_request(read_without_transaction)
    app.after_request(finish_request)


