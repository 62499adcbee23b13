"""An attempt is its learner's alone: anyone else gets a 404 for its id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lms.accounts.models import User
from lms.assessment.models import Attempt
from lms.extensions import db
from lms.web.access import AccessRule, Decision


class OwnAttempt(AccessRule):
    label = "the learner who made the attempt"

    def __init__(self, arg: str = "attempt_id") -> None:
        self.arg = arg

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        attempt = db.session.get(Attempt, view_args[self.arg])
        return Decision.ALLOW if attempt is not None and attempt.user_id == user.id else Decision.NOT_FOUND


OWN_ATTEMPT = OwnAttempt()
