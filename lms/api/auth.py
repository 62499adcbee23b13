"""Bearer-token authentication and the per-token rate limit for /api/v1, as a
``before_request`` hook that runs before the access policy: the token's owner becomes
the request's user (a session cookie is never an API credential, so CSRF does not apply),
and the last-used time is written after the response, in a unit of work of its own."""

from __future__ import annotations

from flask import Flask, current_app, g, request
from limits import parse

from lms.accounts.models import User
from lms.api.access import TOKEN_KEY
from lms.api.problems import PREFIX, ApiProblem
from lms.api.tokens import LAST_USED_EVERY, find_token, note_use
from lms.database import unit_of_work, utcnow
from lms.extensions import db, limiter

PUBLIC_PATHS = (f"{PREFIX}/openapi.json", f"{PREFIX}/docs")
NOTE_KEY = "api_token_note"


def authenticate() -> None:
    if not request.path.startswith(PREFIX + "/") or request.path in PUBLIC_PATHS or request.method == "OPTIONS":
        return
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiProblem(401, "Send an API token: Authorization: Bearer <token> (create one on your account page).")
    now = utcnow()
    presented = find_token(db.session, secret.strip(), now)
    if presented.token is None or presented.problem is not None:
        raise ApiProblem(401, presented.problem or "The bearer token is unknown.")
    token = presented.token
    _rate_limit(token.token_hash)
    owner = db.session.get(User, token.user_id)
    g._login_user = owner  # Flask-Login's current user for this request only (no session is written)
    setattr(g, TOKEN_KEY, token)
    last = token.last_used_at
    if last is None or (now - last).total_seconds() >= LAST_USED_EVERY:
        setattr(g, NOTE_KEY, token.id)


def _rate_limit(key: str) -> None:
    item = parse(current_app.config["API_RATE_LIMIT"])
    strategy = limiter.limiter
    ids = ("api-token", key[:24])
    if not strategy.hit(item, *ids):
        reset = strategy.get_window_stats(item, *ids).reset_time
        wait = max(1, int(reset - utcnow().timestamp()) + 1)
        raise ApiProblem(429, f"This token made more than {current_app.config['API_RATE_LIMIT']} requests; wait {wait} s.",
                         headers={"Retry-After": str(wait)})


def note_last_use(error: BaseException | None) -> None:
    """Teardown: the last-used time, after the request's own unit of work has ended."""
    token_id = g.pop(NOTE_KEY, None)
    if token_id is None or error is not None:
        return
    try:
        with unit_of_work(db.session):
            note_use(db.session, token_id)
    except Exception:  # losing a last-used time must not fail the request
        current_app.logger.warning("could not record the API token's last use", exc_info=True)


def install(app: Flask) -> None:
    app.config.setdefault("API_RATE_LIMIT", "600/minute")
    app.before_request(authenticate)
    app.teardown_request(note_last_use)
