"""Dismissing an announcement: only a learner of its cohort, once it is visible; for
everyone else it does not exist."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lms.accounts.models import User
from lms.announcements.models import Announcement
from lms.cohorts.enrolment import is_learner_of
from lms.database import utcnow
from lms.extensions import db
from lms.web.access import AccessRule, Decision


class LearnerOfAnnouncement(AccessRule):
    label = "learners of the announcement's cohort, once it is visible"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        announcement = db.session.get(Announcement, view_args["announcement_id"])
        if (announcement is None or not announcement.visible(utcnow())
                or not is_learner_of(db.session, announcement.cohort_id, user.id)):
            return Decision.NOT_FOUND
        return Decision.ALLOW


LEARNER_OF_ANNOUNCEMENT = LearnerOfAnnouncement()
