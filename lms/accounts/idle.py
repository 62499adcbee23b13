"""Signed-in sessions end after ``SESSION_IDLE_MINUTES`` without a request (0: never).

Flask's session is a cookie that lives until the browser closes (it is not "permanent"),
and Flask only signs its age when it writes it; Flask-Login keeps the user's id in it as
long as it lives. A browser left open on a shared computer stayed signed in for days. The
session now carries the time of its last request (``SEEN``, whole seconds since the epoch:
UTC), written at most once a minute (``MARK_EVERY``), so a page view does not re-send the
cookie every time. A request that finds it older than the limit (plus that minute, so the
session is never ended early) signs the person out before the access rule or the view
runs: a page view is sent to the sign-in page with a ``next`` back to it; a form sent (a
POST) is answered with the sign-in page itself and a message saying that nothing was saved
and that going back shows what was typed, as a stale CSRF token is (``lms.web.errors``).

Not affected: a session whose browser holds the "Keep me signed in" cookie for the same
sign-in (Flask-Login's remember cookie: it would sign the person in again at once; it keeps
its own rule, ``REMEMBER_COOKIE_DURATION``); requests under paths another feature
authenticates itself (``not_session_paths``: the API's bearer tokens); static files, and
answers any cache may keep for everyone (``Cache-Control: public``), which never carry a
session cookie. A kept learner page (``lms.web.page_cache``) is served after this check
like any page, and its key holds nothing of it."""

from __future__ import annotations

from flask import Flask, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import logout_user
from flask_login.utils import decode_cookie
from werkzeug.wrappers import Response

from lms.accounts.forms import LoginForm
from lms.database import utcnow
from lms.web.unit_of_work import SAFE_METHODS

SEEN = "lms_seen"     # session: the last request's time, whole seconds since the epoch (UTC)
MARK_EVERY = 60       # seconds: the mark is written again once it is this old
USER_KEY = "_user_id"  # Flask-Login's session key of the signed-in user
OTHER_AUTH = "lms.not_session_paths"  # app.extensions: path prefixes whose requests carry no session sign-in


def not_session_paths(app: Flask, *prefixes: str) -> None:
    """Requests under ``prefixes`` authenticate otherwise (an API token): their session, if
    the browser sends one, is neither checked nor marked."""
    app.extensions.setdefault(OTHER_AUTH, set()).update(prefixes)


def idle_message(minutes: int) -> str:
    return f"You were signed out after {minutes} minute{'s' if minutes != 1 else ''} without activity."


def _applies() -> bool:
    endpoint = request.endpoint or ""
    if endpoint == "static" or endpoint.endswith(".static"):
        return False
    return not request.path.startswith(tuple(current_app.extensions.get(OTHER_AUTH, ())))


def _remembered() -> bool:
    """The browser holds a remember cookie of this very sign-in (Flask-Login reads it only
    when the session has no user; an idle sign-out would be undone by it at once)."""
    cookie = request.cookies.get(current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token"))
    return (cookie is not None and session.get("_remember") != "clear"
            and decode_cookie(cookie) == session.get(USER_KEY))


def _back_to() -> str | None:
    """Where the person was: this page on a GET; for a form sent, the page it was sent from
    (same site only), else nothing (home after signing in)."""
    if request.method in SAFE_METHODS:
        return request.full_path.rstrip("?")
    referrer = request.referrer or ""
    root = request.host_url
    if referrer.startswith(root):
        return "/" + referrer[len(root):]
    return None


def end_idle_session() -> Response | tuple[str, int] | None:
    """``before_request``: sign out a session idle for longer than the limit."""
    minutes = int(current_app.config.get("SESSION_IDLE_MINUTES") or 0)
    if minutes <= 0 or USER_KEY not in session or not _applies() or request.endpoint == "accounts.logout":
        return None  # (signing out: it goes ahead)
    seen = session.get(SEEN)
    if not isinstance(seen, int) or utcnow().timestamp() - seen <= minutes * 60 + MARK_EVERY or _remembered():
        return None
    logout_user()
    session.pop(SEEN, None)
    target = _back_to()
    if request.method in SAFE_METHODS:
        flash(idle_message(minutes), "info")
        return redirect(url_for("accounts.login", next=target))
    flash(f"{idle_message(minutes)} What you sent was not saved. Go back: what you typed is usually still there. "
          "Copy anything long, sign in and send it again.", "error")
    action = url_for("accounts.login", next=target)
    return render_template("accounts/login.html", form=LoginForm(formdata=None), action=action, next_url=target), 401


def mark_activity(response: Response) -> Response:
    """``after_request``: the session's last request, at most once a minute; none on an
    answer any cache may keep (it must not carry a cookie) or once signed out."""
    if not _applies():
        return response
    if USER_KEY not in session:
        if SEEN in session:
            session.pop(SEEN)
        return response
    if response.cache_control.public:
        return response
    now = int(utcnow().timestamp())
    seen = session.get(SEEN)
    if not isinstance(seen, int) or now - seen >= MARK_EVERY:
        session[SEEN] = now
    return response


def init_app(app: Flask) -> None:
    app.before_request(end_idle_session)
    app.after_request(mark_activity)
