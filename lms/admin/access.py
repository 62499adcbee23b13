"""Who may read the audit log: site admins (every entry) and organization admins (their
organizations' entries; the view narrows them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lms.accounts.models import User
from lms.cohorts.roles import roles_of
from lms.extensions import db
from lms.web.access import AccessRule, Decision


class AuditReader(AccessRule):
    label = "site admins, and organization admins for their organizations"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        if user.is_admin or roles_of(db.session, user).admin_of:
            return Decision.ALLOW
        return Decision.FORBID


AUDIT_READER = AuditReader()
