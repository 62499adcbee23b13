"""A job's page and file are for the person who asked for it and site admins; anyone
else gets a 404 for its id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lms.accounts.models import User
from lms.extensions import db
from lms.jobs.models import Job
from lms.web.access import AccessRule, Decision


class JobRequester(AccessRule):
    label = "who asked for the job, and site admins"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        if user.is_admin:
            return Decision.ALLOW
        requested_by = db.session.scalar(db.select(Job.requested_by_id).where(Job.id == view_args["job_id"]))
        return Decision.ALLOW if requested_by is not None and requested_by == user.id else Decision.NOT_FOUND


JOB_REQUESTER = JobRequester()
