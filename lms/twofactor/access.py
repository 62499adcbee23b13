"""Who may open the two-factor set-up page: people signed in, and people half-way through
signing in whose role requires two-factor sign-in they have not set up yet (their
password was right; they are not signed in until they confirm a code)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import session

from lms.accounts.models import User
from lms.web.access import AccessRule, Decision

PENDING = "lms_two_factor_pending"


class SignedInOrEnrolling(AccessRule):
    label = "anyone signed in, or half-way through signing in and required to set up two-factor"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is not None:
            return Decision.ALLOW
        pending = session.get(PENDING)
        return Decision.ALLOW if isinstance(pending, dict) and pending.get("enrol") else Decision.LOGIN


SIGNED_IN_OR_ENROLLING = SignedInOrEnrolling()
