"""Error pages in the site's layout (JSON under /api/), never a traceback."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from lms.extensions import db

# Every form's CSRF token is checked once, by CSRFProtect before the view runs.
CSRF_MESSAGE = ("This page had expired (it was opened in another session: you signed out or in since, or closed "
                "the browser), so nothing was saved. Go back: what you typed is usually still there. Copy anything "
                "long, reload the page and send it again.")

MESSAGES: dict[int, tuple[str, str]] = {
    400: ("Bad request", "The request could not be understood. Check what you sent and try again."),
    401: ("Please sign in", "You need to sign in to see this page."),
    403: ("Not allowed", "Your account does not have access to this page."),
    404: ("Page not found", "There is nothing at this address. It may have moved or been retired."),
    405: ("Method not allowed", "This page does not accept that kind of request."),
    413: ("Too large", "What you sent is larger than the platform accepts."),
    429: ("Too many requests", "Too many attempts in a short time. Wait a minute and try again."),
    500: ("Something went wrong", "An unexpected error happened on our side. It has been logged."),
}


# The database cannot be reached (refused, dropped, timed out, locked): a 503 to try again
# later, not a 500. Its page is rendered without the site's layout and context processors,
# which would ask the database again.
UNAVAILABLE_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)
UNAVAILABLE = ("Temporarily unavailable",
               "The platform cannot reach its database just now, so nothing you sent was saved. Try again in a minute.")
RETRY_AFTER = "30"


def handle_unavailable(error: Exception) -> Any:
    current_app.logger.error("database unavailable for %s %s: %s", request.method, request.path,
                             str(error).splitlines()[0] if str(error) else type(error).__name__)
    try:
        db.session.rollback()
    except Exception:  # the connection is gone: nothing to roll back
        current_app.logger.debug("rollback after a database failure failed too", exc_info=True)
    title, message = UNAVAILABLE
    headers = {"Retry-After": RETRY_AFTER}
    if request.path.startswith("/api/"):
        return jsonify(error=title, reason=message), 503, headers
    page = current_app.jinja_env.get_template("errors/unavailable.html").render(title=title, message=message)
    return page, 503, headers


def handle_error(error: Exception) -> Any:
    original = getattr(error, "original_exception", None)
    if isinstance(original, UNAVAILABLE_ERRORS):  # raised outside a view (after the request)
        return handle_unavailable(original)
    if not isinstance(error, HTTPException):
        error = InternalServerError(original_exception=error)
    code = error.code or 500
    if code >= 500:
        db.session.rollback()
    title, message = MESSAGES.get(code, (error.name, error.description or ""))
    # A description given at abort() time is specific to the case; werkzeug's default is not.
    custom = error.description if error.description and error.description != type(error).description else None
    reason = CSRF_MESSAGE if isinstance(error, CSRFError) else custom or message
    # A 405 says which methods the address takes (RFC 9110 requires the Allow header).
    headers = {"Allow": ", ".join(error.valid_methods)} if isinstance(error, MethodNotAllowed) and error.valid_methods else {}
    if request.path.startswith("/api/"):
        return jsonify(error=title, reason=reason), code, headers
    return render_template("errors/error.html", code=code, title=title, message=reason), code, headers


def register_error_handlers(app: Flask) -> None:
    for code in MESSAGES:
        app.register_error_handler(code, handle_error)
    for error in UNAVAILABLE_ERRORS:
        app.register_error_handler(error, handle_unavailable)
