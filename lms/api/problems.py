"""Errors under /api/v1 as RFC 9457 ``application/problem+json``: the API blueprint's
handlers answer its own aborts; an after-request hook rewrites whatever else answered an
error there (an unknown path, a wrong method, the site's JSON error handler)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException

from lms.api.schemas import Problem

PREFIX = "/api/v1"
MIMETYPE = "application/problem+json"
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 410: "Gone", 413: "Too large", 415: "Unsupported media type", 422: "Unprocessable content",
          429: "Too many requests", 500: "Internal server error", 503: "Service unavailable"}
DETAILS = {401: "Send an API token: Authorization: Bearer <token>.",
           403: "The token's owner may not see this, or the token lacks the scope.",
           404: "There is nothing at this address, or the token may not know it exists.",
           405: "This address does not accept that method.",
           429: "Too many requests for this token; wait and try again."}


class ApiProblem(HTTPException):
    """An abort with a problem body (extra headers and field errors included)."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(description=detail)
        self.code = status
        self.errors = errors
        self.extra_headers = headers or {}


def problem_response(status: int, detail: str, errors: list[dict[str, Any]] | None = None,
                     headers: dict[str, str] | None = None) -> Response:
    body = Problem(title=TITLES.get(status, "Error"), status=status, detail=detail, instance=request.path, errors=errors)
    response = current_app.response_class(body.model_dump_json(exclude_none=True), status=status, mimetype=MIMETYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if status == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="lms"')
    return response


def handle_http_error(error: HTTPException) -> Response:
    status = error.code or 500
    custom = error.description if error.description and error.description != type(error).description else None
    if isinstance(error, ApiProblem):
        return problem_response(status, error.description or "", error.errors, error.extra_headers)
    return problem_response(status, custom or DETAILS.get(status, TITLES.get(status, "Error")))


def as_problem(response: Response) -> Response:
    """After-request: any other error under /api/v1 becomes a problem document."""
    if not request.path.startswith(PREFIX) or response.status_code < 400 or response.mimetype == MIMETYPE:
        return response
    detail = DETAILS.get(response.status_code, TITLES.get(response.status_code, "Error"))
    if response.mimetype == "application/json":
        with contextlib.suppress(ValueError, AttributeError):
            detail = str(json.loads(response.get_data(as_text=True)).get("reason") or detail)
    fresh = problem_response(response.status_code, detail)
    for name in ("Retry-After", "Allow", "WWW-Authenticate"):
        if name in response.headers:
            fresh.headers[name] = response.headers[name]
    return fresh
