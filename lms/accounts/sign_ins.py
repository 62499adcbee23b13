"""Signing out ends that sign-in for every copy of its session cookie.

Flask's session is a signed cookie the browser holds: signing out wrote a new cookie without
the user, but a copy of the old one (a stolen cookie, a browser's saved state, a proxy's
log) still signed its holder in, for as long as they kept using it. Each sign-in's session
now carries an id of its own (``SIGN_IN``: when it began and a random part), and signing
out (or an idle session ended, ``lms.accounts.idle``) marks that id ended in the rate-limit
storage (Redis when ``REDIS_URL`` is set, so every worker sees it): a session carrying an
ended id signs nobody in. Marks are kept ``ENDED_FOR``; a session begun longer ago than
``MAX_AGE`` (shorter) is refused whatever, so none outlives its mark. A session restored
from the "Keep me signed in" cookie begins a new id (that cookie keeps its own rule,
``REMEMBER_COOKIE_DURATION``, and a device row of its own: ``lms.accounts.devices``). A
session without an id is taken as a new sign-in from the remember cookie: it signs in only
with a live device token (``lms.accounts.views.load_user``).

A sign-in with a device row (``lms.accounts.devices``: every sign-in sent by a form) is
also ended by its device: signing it out from another device's account page marks the
device's id ended here (``end_device``), so its session stops at its next request, and
its row ended in the database, so its remember cookie signs nobody in again."""

from __future__ import annotations

import secrets
import time

from flask import current_app, session
from limits import parse

from lms.extensions import limiter

SIGN_IN = "lms_sign_in"  # session: "<unix time it began>.<random>"
ENDED_FOR = parse("1 per 31 days")  # one hit marks an id ended, kept for the window
MAX_AGE = 30 * 86400  # seconds a session may last, remembered or not (then: sign in again, or the remember cookie)


def _now() -> float:
    return time.time()


def _key() -> str:
    return f"{current_app.config.get('RATELIMIT_KEY_PREFIX', '')}sign-in-ended"


def _device_key() -> str:
    return f"{current_app.config.get('RATELIMIT_KEY_PREFIX', '')}sign-in-device-ended"


def begin() -> None:
    """A new sign-in in this session (after the password, a second step, single sign-on,
    LTI, an invitation, the remember cookie)."""
    session[SIGN_IN] = f"{int(_now())}.{secrets.token_urlsafe(12)}"


def end() -> None:
    """Mark this session's sign-in ended, for every copy of its cookie."""
    mark = session.get(SIGN_IN)
    if isinstance(mark, str):
        limiter.limiter.hit(ENDED_FOR, _key(), mark)


def end_device(device_id: int) -> None:
    """Mark every session of this device's sign-in ended (the device's own session, and any
    copy of its cookie), wherever it is."""
    limiter.limiter.hit(ENDED_FOR, _device_key(), str(device_id))


USER_KEYS = ("_user_id", "_fresh", "_id")  # what Flask-Login keeps of the signed-in user


def forget() -> None:
    """An ended or too old sign-in: the session keeps neither it nor its user (the remember
    cookie, if the browser has one, may then begin a new sign-in in this same request)."""
    for key in (SIGN_IN, *USER_KEYS):
        session.pop(key, None)


def device_on(device_id: int) -> bool:
    """Whether the device's sign-in was not marked ended here (``end_device``)."""
    return bool(limiter.limiter.test(ENDED_FOR, _device_key(), str(device_id)))


def still_on(device_id: int | None = None) -> bool:
    """Whether the sign-in this session carries (of the device ``device_id``, when it has a
    row) may still sign its user in."""
    if device_id is not None and not device_on(device_id):
        return False
    mark = session.get(SIGN_IN)
    if mark is None:
        return True
    began, _, _random = str(mark).partition(".")
    if not began.isdigit() or _now() - int(began) > MAX_AGE:
        return False
    return bool(limiter.limiter.test(ENDED_FOR, _key(), str(mark)))
