"""Lessons are for signed-in people: staff read every lesson; a learner reads the
lessons their cohort's schedule (with any early access) has released."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lms.accounts.models import User
from lms.cohorts.roles import roles_of
from lms.extensions import db
from lms.learning.services import lesson_access
from lms.web.access import AccessRule, Decision


class ReleasedLesson(AccessRule):
    label = "staff; learners once the schedule releases the lesson"

    def __init__(self, arg: str = "key") -> None:
        self.arg = arg

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        if roles_of(db.session, user).is_staff:
            return Decision.ALLOW
        return Decision.ALLOW if lesson_access(db.session, user, view_args[self.arg]).allowed else Decision.FORBID

    def reason(self, user: Any, view_args: Mapping[str, Any]) -> str | None:
        return lesson_access(db.session, user, view_args[self.arg]).reason


class FeedToken(AccessRule):
    """A private link (calendar feed, shared portfolio) carries its own secret; the view checks it."""

    label = "holders of the private link"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        return Decision.ALLOW


RELEASED_LESSON = ReleasedLesson()
FEED_TOKEN = FeedToken()
