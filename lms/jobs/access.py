"""A job's page and file are for the person who asked for it and site admins; anyone
else gets a 404 for its id. An export of a cohort or an organization stays its requester's
only while they may still read what it holds (the cohort's staff, the organization's
admins): an instructor taken off the cohort, or an admin off the organization, no longer
downloads the file they asked for before."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lms.accounts.models import User
from lms.cohorts.access import COHORT_STAFF, ORG_ADMIN
from lms.extensions import db
from lms.jobs.models import Job
from lms.web.access import AccessRule, Decision


class JobRequester(AccessRule):
    label = "who asked for the job (while they may still read what it holds), and site admins"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        if user.is_admin:
            return Decision.ALLOW
        found = db.session.execute(db.select(Job.requested_by_id, Job.params).where(Job.id == view_args["job_id"])).first()
        if found is None or found.requested_by_id is None or found.requested_by_id != user.id:
            return Decision.NOT_FOUND
        params = found.params if isinstance(found.params, dict) else {}
        if "cohort_id" in params:
            still = COHORT_STAFF.decide(user, {"cohort_id": int(params["cohort_id"])})
        elif "organization_id" in params:
            still = ORG_ADMIN.decide(user, {"org_id": int(params["organization_id"])})
        else:
            still = Decision.ALLOW
        return Decision.ALLOW if still is Decision.ALLOW else Decision.NOT_FOUND


JOB_REQUESTER = JobRequester()
