"""Who is signed in, typed. Flask-Login ships no type information, so its ``current_user``
proxy is ``Any``; views ask here instead and get a ``User``.

What every page asks about its signed-in user (the navigation's roles, the unread count)
can come with the user: a feature names a scalar SQL expression on the ``users`` row with
``load_with_signed_in_user`` and reads its value back with ``loaded_with_user``, so a page
sends one statement for all of them instead of one each. They are read only on safe
requests (GET, HEAD, OPTIONS), which never write, so a value read as the user loads is the
value the page would read when it renders; on other requests ``loaded_with_user`` answers
None and the feature asks the database itself, when it needs to."""

from __future__ import annotations

from typing import Any, cast

from flask import Flask, abort, current_app, g, request
from flask_login import current_user
from sqlalchemy import ColumnElement, Select, bindparam, select

from lms.accounts.models import User
from lms.database import DbSession
from lms.web.unit_of_work import SAFE_METHODS

LOADED_WITH_USER = "lms.loaded_with_user"     # app.extensions: name -> expression
USER_STATEMENT = "lms.signed_in_user_statement"  # app.extensions: the statement built from them
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


def _user_statement(app: Flask) -> Select[Any]:
    statement: Select[Any] | None = app.extensions.get(USER_STATEMENT)
    if statement is None:
        extras: dict[str, ColumnElement[Any]] = app.extensions.get(LOADED_WITH_USER, {})
        statement = (select(User, *(expression.label(name) for name, expression in extras.items()))
                     .where(User.id == bindparam("signed_in_user_id")))
        app.extensions[USER_STATEMENT] = statement
    return statement


def load_signed_in_user(session: DbSession, user_id: int) -> User | None:
    """The user whose session this request carries, by id, with what features asked to
    load with it (on safe requests)."""
    if request.method not in SAFE_METHODS or not current_app.extensions.get(LOADED_WITH_USER):
        return session.get(User, user_id)
    row = session.execute(_user_statement(current_app), {"signed_in_user_id": user_id}).one_or_none()
    if row is None:
        return None
    values = row._asdict()
    user: User = values.pop(User.__name__)
    setattr(g, LOADED, (user.id, values))
    return user


def loaded_with_user(user: User, name: str) -> Any:
    """The value of ``name`` read with ``user`` in this request, or None when it was not (the
    request is not a safe one, or the user came another way, such as an API token)."""
    loaded: tuple[int, dict[str, Any]] | None = g.get(LOADED)
    if loaded is None or loaded[0] != user.id:
        return None
    return loaded[1].get(name)
