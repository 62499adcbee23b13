"""Checks of a signed-in person's own secrets: the current password on the account page, a
two-factor code to turn two-factor sign-in off or to get new recovery codes.

Sign-in counts its failures (``lms.accounts.signin_guard``), but these forms let a session
guess as often as it was sent: someone holding a session (a browser left signed in, a
stolen cookie) could try passwords or the million six-digit codes until one fitted, then
change the password or turn two-factor off. Wrong answers now count per person, in the
rate-limit storage (Redis when it is set), shared by all these forms: past
``SECRET_CHECKS_PER_USER`` the next one is refused (429) before the secret is looked at.
A view calls ``note_refused`` when the secret it checked was wrong; nothing else counts."""

from __future__ import annotations

from flask import current_app, g
from flask_limiter.util import get_remote_address
from werkzeug.wrappers import Response

from lms.accounts.current import signed_in_user
from lms.extensions import limiter

REFUSED = "lms_secret_refused"  # g: the secret this request checked was wrong
SCOPE = "own-secret-check"


def note_refused() -> None:
    setattr(g, REFUSED, True)


def _refused(_response: Response) -> bool:
    return bool(g.pop(REFUSED, False))


def _person() -> str:
    user = signed_in_user()
    return f"user-{user.id}" if user is not None else get_remote_address()


def _limit() -> str:
    return str(current_app.config["SECRET_CHECKS_PER_USER"])


# A decorator for each view that checks one of the person's secrets.
limit_secret_checks = limiter.shared_limit(_limit, SCOPE, key_func=_person, methods=["POST"], deduct_when=_refused)
