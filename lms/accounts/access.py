"""A sign-in on the account page's list is its person's alone; anyone else gets a 404 for its id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lms.accounts.models import SignInDevice, User
from lms.extensions import db
from lms.web.access import AccessRule, Decision


class OwnSignIn(AccessRule):
    label = "the person signed in on that device"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        device = db.session.get(SignInDevice, view_args["device_id"])
        return Decision.ALLOW if device is not None and device.user_id == user.id else Decision.NOT_FOUND


OWN_SIGN_IN = OwnSignIn()
