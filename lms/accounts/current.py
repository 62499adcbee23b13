"""Who is signed in, typed. Flask-Login ships no type information, so its ``current_user``
proxy is ``Any``; views ask here instead and get a ``User``."""

from __future__ import annotations

from typing import cast

from flask import abort
from flask_login import current_user

from lms.accounts.models import User


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
