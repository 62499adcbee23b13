"""Passing the second sign-in step in tests, through the real pages: set up when the role
requires it (the key is read from the set-up page), else a fresh code from the stored secret."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from flask import current_app

from lms.extensions import db
from lms.twofactor import services
from lms.twofactor.models import TwoFactorCredential

STEP = services.STEP_SECONDS


class Clock:
    """The two-factor services' clock in a test (``monkeypatch.setattr(services, "utcnow", Clock())``):
    the real time plus however far the test moved it on, so spent time steps need no waiting."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead

    def advance(self, seconds: float) -> None:
        self.ahead += timedelta(seconds=seconds)


def secret_of(user_id: int) -> str:
    found = db.session.scalar(db.select(TwoFactorCredential).where(TwoFactorCredential.user_id == user_id))
    assert found is not None
    return services._decrypt(services.cipher_key(current_app.config["SECRET_KEY"]), found.secret_encrypted)


def fresh_code(secret: str, user_id: int, waited: bool = False) -> str:
    """A code for a time step after the last one accepted (which would be refused as a replay)."""
    db.session.expire_all()
    found = db.session.scalar(db.select(TwoFactorCredential).where(TwoFactorCredential.user_id == user_id))
    last = found.last_step if found is not None else 0
    now = services.utcnow().timestamp()
    current = int(now) // STEP
    for step in range(current - services.DRIFT_STEPS, current + services.DRIFT_STEPS + 1):
        if step > last:
            return pyotp.TOTP(secret).at(step * STEP)
    assert not waited, "the last accepted code is from the future"
    # Every usable step is spent: move a test's clock on to the next, or wait for it.
    if isinstance(services.utcnow, Clock):
        services.utcnow.advance(STEP)
    else:
        time.sleep(STEP - now % STEP + 0.1)
    return fresh_code(secret, user_id, waited=True)


def pass_second_factor(client: Any, response: Any, user: Any) -> Any:
    """Finish a sign-in whose password step answered ``response``; returns the last answer."""
    location = response.headers.get("Location", "")
    if location.startswith("/account/two-factor"):
        page = client.get("/account/two-factor").get_data(as_text=True)
        secret = re.search(r'id="twofactor-secret"[^>]*>([A-Z2-7]+)<', page)
        key = re.search(r'name="key" type="hidden" value="([^"]+)"', page)
        assert secret and key, "the set-up page shows the key"
        done = client.post("/account/two-factor", data={"key": key.group(1), "code": fresh_code(secret.group(1), user.id)})
        assert done.status_code == 200 and "recovery-codes" in done.get_data(as_text=True), done.status_code
        return done
    if location.startswith("/login/two-factor"):
        done = client.post("/login/two-factor", data={"code": fresh_code(secret_of(user.id), user.id)})
        assert done.status_code == 302, f"the code step refused {user.email}"
        return done
    return response
