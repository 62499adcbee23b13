"""Who is signed in, typed. Flask-Login ships no type information, so its ``current_user``
proxy is ``Any``; views ask here instead and get a ``User``.

What every page asks about its signed-in user (the navigation's roles, the unread count)
can come with the user: a feature names a scalar SQL expression on the ``users`` row with
``load_with_signed_in_user`` and reads its value back with ``loaded_with_user``, so a page
sends one statement for all of them instead of one each. They are read only on safe
requests (GET, HEAD, OPTIONS), which never write, so a value read as the user loads is the
value the page would read when it renders; on other requests ``loaded_with_user`` answers
None and the feature asks the database itself, when it needs to.

A kept learner page (``lms.web.page_cache``) reads its stamp the same way: on the endpoints
named with ``load_stamp_with_user``, the user's statement joins the learner's stamp, so a
kept page costs one statement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from flask import Flask, abort, current_app, g, request
from flask_login import current_user
from sqlalchemy import ColumnElement, Dialect, Select, bindparam, select, true

from lms.accounts.models import User
from lms.database import DbSession, utcnow
from lms.web.page_cache import learner_stamp, stamp_read_with_user
from lms.web.unit_of_work import SAFE_METHODS

LOADED_WITH_USER = "lms.loaded_with_user"     # app.extensions: name -> expression
USER_STATEMENT = "lms.signed_in_user_statement"  # app.extensions: the statements built from them, by dialect and stamp
STAMPED_ENDPOINTS = "lms.stamped_endpoints"       # app.extensions: endpoints whose user statement reads the stamp
LOADED = "lms_loaded_with_user"               # g: (user id, {name: value}) of this request


def signed_in_user() -> User | None:
    """The signed-in user of this request, or None when anonymous."""
    # cast: Flask-Login's current_user is untyped; when authenticated it proxies the User
    # our user loader (lms.accounts.views.load_user) returned.
    return cast(User, current_user) if current_user.is_authenticated else None


def signed_in() -> User:
    """The signed-in user, for views whose access rule already requires signing in."""
    user = signed_in_user()
    if user is None:  # the access policy sends anonymous visitors to sign in before any such view runs
        abort(401)
    return user


def load_with_signed_in_user(app: Flask, name: str, expression: ColumnElement[Any]) -> None:
    """Read ``expression`` (a scalar expression correlated to ``users``, such as an EXISTS
    on ``users.id``) in the statement that loads the signed-in user on safe requests.
    ``name`` is a plain identifier (it labels the column)."""
    app.extensions.setdefault(LOADED_WITH_USER, {})[name] = expression
    app.extensions.pop(USER_STATEMENT, None)


def load_stamp_with_user(app: Flask, *endpoints: str) -> None:
    """On a safe request to one of ``endpoints`` (a kept learner page's), read the learner's
    page stamp in the statement that loads the signed-in user."""
    app.extensions.setdefault(STAMPED_ENDPOINTS, set()).update(endpoints)
    app.extensions.pop(USER_STATEMENT, None)


def _user_statement(app: Flask, dialect: Dialect, stamped: bool) -> tuple[Select[Any], int]:
    """The statement and how many extra columns it reads before the stamp's."""
    built: dict[tuple[str, bool], tuple[Select[Any], int]] = app.extensions.setdefault(USER_STATEMENT, {})
    found = built.get((dialect.name, stamped))
    if found is None:
        extras: dict[str, ColumnElement[Any]] = app.extensions.get(LOADED_WITH_USER, {})
        statement = (select(User, *(expression.label(name) for name, expression in extras.items()))
                     .where(User.id == bindparam("signed_in_user_id")))
        stamp = learner_stamp(app, dialect) if stamped else None
        if stamp is not None:
            statement = statement.add_columns(*stamp.c).join(stamp, true())
        found = built[(dialect.name, stamped)] = (statement, len(extras))
    return found


def load_signed_in_user(session: DbSession, user_id: int) -> User | None:
    """The user whose session this request carries, by id, with what features asked to
    load with it (on safe requests), and on a kept learner page's request its stamp."""
    stamped = request.endpoint in current_app.extensions.get(STAMPED_ENDPOINTS, ())
    if request.method not in SAFE_METHODS or not (stamped or current_app.extensions.get(LOADED_WITH_USER)):
        return session.get(User, user_id)
    statement, extras = _user_statement(current_app, session.get_bind().dialect, stamped)
    now = utcnow()
    row = session.execute(statement, {"signed_in_user_id": user_id, "subject_id": user_id, "now": now}).one_or_none()
    if row is None:
        return None
    user: User = row[0]
    names = list(row._fields)
    setattr(g, LOADED, (user.id, dict(zip(names[1:1 + extras], row[1:1 + extras], strict=True))))
    if len(row) > 1 + extras:
        stamp_read_with_user(current_app, session, user.id, now, row[1 + extras:])
    return user


def count_loaded_with_user(name: str, count: Callable[[int], int]) -> int:
    """A count the layout shows of the signed-in user (their unread notifications, their
    unread conversations): read with the user on safe requests (``name``), otherwise
    ``count(user_id)``, one statement; 0 for nobody signed in."""
    user = signed_in_user()
    if user is None:
        return 0
    loaded = loaded_with_user(user, name)
    return int(loaded) if loaded is not None else count(user.id)


def loaded_with_user(user: User, name: str) -> Any:
    """The value of ``name`` read with ``user`` in this request, or None when it was not (the
    request is not a safe one, or the user came another way, such as an API token)."""
    loaded: tuple[int, dict[str, Any]] | None = g.get(LOADED)
    if loaded is None or loaded[0] != user.id:
        return None
    return loaded[1].get(name)
