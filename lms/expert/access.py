"""An expert invitation is managed (withdrawn) by whoever sent it and by the staff of the
submission's cohort; anyone else gets a 404 for its id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lms.accounts.models import User
from lms.cohorts.models import Cohort
from lms.cohorts.roles import roles_of
from lms.expert.models import ExpertInvite
from lms.extensions import db
from lms.web.access import AccessRule, Decision


class ExpertInviteManager(AccessRule):
    label = "whoever sent the invitation and the cohort's staff"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        item = db.session.get(ExpertInvite, view_args["invite_id"])
        if item is None:
            return Decision.NOT_FOUND
        if item.invited_by_id == user.id or user.is_admin:
            return Decision.ALLOW
        cohort_id = item.submission.cohort_id
        cohort = db.session.get(Cohort, cohort_id) if cohort_id else None
        roles = roles_of(db.session, user)
        if cohort is not None and (cohort.organization_id in roles.admin_of or cohort.id in roles.instructs):
            return Decision.ALLOW
        return Decision.NOT_FOUND


EXPERT_INVITE_MANAGER = ExpertInviteManager()
