"""Error pages in the site's layout (JSON under /api/), never a traceback."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from lms.extensions import db

# Every form's CSRF token is checked once, by CSRFProtect before the view runs.
CSRF_MESSAGE = ("This page had expired (or was opened in another session), so nothing was saved. "
                "Go back, reload the page and send it again.")

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


def handle_error(error: Exception) -> Any:
    if not isinstance(error, HTTPException):
        error = InternalServerError(original_exception=error)
    code = error.code or 500
    if code >= 500:
        db.session.rollback()
    title, message = MESSAGES.get(code, (error.name, error.description or ""))
    # A description given at abort() time is specific to the case; werkzeug's default is not.
    custom = error.description if error.description and error.description != type(error).description else None
    reason = CSRF_MESSAGE if isinstance(error, CSRFError) else custom or message
    if request.path.startswith("/api/"):
        return jsonify(error=title, reason=reason), code
    return render_template("errors/error.html", code=code, title=title, message=reason), code


def register_error_handlers(app: Flask) -> None:
    for code in MESSAGES:
        app.register_error_handler(code, handle_error)
