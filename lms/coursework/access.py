"""Assignments open like lessons: staff always, learners once their phase is released."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from lms.accounts.models import User
from lms.cohorts.models import Cohort
from lms.cohorts.roles import roles_of
from lms.coursework.models import Assignment, Attachment
from lms.extensions import db
from lms.learning.services import LessonAccess, phase_access
from lms.web.access import AccessRule, Decision


def _access(user: User, key: str) -> LessonAccess:
    assignment = db.session.scalar(select(Assignment).where(Assignment.key == key, Assignment.retired_at.is_(None)))
    if assignment is None:
        return LessonAccess(True)  # the view answers 404
    return phase_access(db.session, user, assignment.phase, "assignment")


class ReleasedAssignment(AccessRule):
    label = "staff; learners once the schedule releases the assignment"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        if roles_of(db.session, user).is_staff:
            return Decision.ALLOW
        return Decision.ALLOW if _access(user, view_args["key"]).allowed else Decision.FORBID

    def reason(self, user: Any, view_args: Mapping[str, Any]) -> str | None:
        return _access(user, view_args["key"]).reason


RELEASED_ASSIGNMENT = ReleasedAssignment()


class LearnerOfReleasedAssignment(AccessRule):
    """Handing in work: an enrolled learner, once the assignment is released for them."""

    label = "enrolled learners once the assignment is released"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        if roles_of(db.session, user).enrolment is None:
            return Decision.FORBID
        return Decision.ALLOW if _access(user, view_args["key"]).allowed else Decision.FORBID

    def reason(self, user: Any, view_args: Mapping[str, Any]) -> str | None:
        if roles_of(db.session, user).enrolment is None:
            return "Work is handed in by learners enrolled in a cohort."
        return _access(user, view_args["key"]).reason


def handed_in(attachment: Attachment) -> bool:
    """Whether the file is part of a version its learner handed in. One of a draft never
    handed in is the learner's alone, as the draft is (the grading pages never show it)."""
    return any(attachment.id in version.attachment_ids for version in attachment.submission.versions)


class AttachmentReader(AccessRule):
    """A file is seen by the learner who uploaded it and, once handed in, by their cohort's staff."""

    label = "the learner who uploaded it and, once handed in, their cohort's staff"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        attachment = db.session.get(Attachment, view_args["attachment_id"])
        if attachment is None:
            return Decision.NOT_FOUND
        submission = attachment.submission
        if submission.user_id == user.id or user.is_admin:
            return Decision.ALLOW
        cohort = db.session.get(Cohort, submission.cohort_id) if submission.cohort_id else None
        roles = roles_of(db.session, user)
        if (cohort is not None and (cohort.organization_id in roles.admin_of or cohort.id in roles.instructs)
                and handed_in(attachment)):
            return Decision.ALLOW
        return Decision.NOT_FOUND


LEARNER_OF_RELEASED_ASSIGNMENT = LearnerOfReleasedAssignment()
ATTACHMENT_READER = AttachmentReader()
