"""A notification is its recipient's alone; anyone else gets a 404 for its id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lms.accounts.models import User
from lms.extensions import db
from lms.notifications.models import Notification
from lms.web.access import AccessRule, Decision


class OwnNotification(AccessRule):
    label = "the notification's recipient"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        notification = db.session.get(Notification, view_args["notification_id"])
        return Decision.ALLOW if notification is not None and notification.user_id == user.id else Decision.NOT_FOUND


OWN_NOTIFICATION = OwnNotification()
