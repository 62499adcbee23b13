"""Who may use a cohort's discussions: its learners and its staff (instructors, the
organization's admins, site admins). Anybody else, another cohort's learners included,
is told the cohort's threads do not exist (404). Moderation is for the staff alone (a
learner of the cohort gets 403); editing a post for its author alone."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from lms.accounts.models import User
from lms.cohorts.models import Cohort
from lms.cohorts.roles import roles_of
from lms.discussions.models import Post, Thread
from lms.extensions import db
from lms.web.access import AccessRule, Decision


class Role(Enum):
    STAFF = "staff"
    LEARNER = "learner"
    NONE = "none"


def role_in(user: User, cohort: Cohort) -> Role:
    if user.is_admin:
        return Role.STAFF
    roles = roles_of(db.session, user)
    if cohort.organization_id in roles.admin_of or cohort.id in roles.instructs:
        return Role.STAFF
    if roles.enrolment is not None and roles.enrolment.cohort_id == cohort.id:
        return Role.LEARNER
    return Role.NONE


def _cohort_of(view_args: Mapping[str, Any]) -> tuple[Cohort | None, Post | None]:
    """The cohort (and post, for post routes) a discussion route's arguments point at."""
    if "post_id" in view_args:
        post = db.session.get(Post, view_args["post_id"])
        return (post.thread.cohort, post) if post is not None else (None, None)
    if "thread_id" in view_args:
        thread = db.session.get(Thread, view_args["thread_id"])
        return (thread.cohort if thread is not None else None), None
    return db.session.get(Cohort, view_args["cohort_id"]), None


class CohortDiscussion(AccessRule):
    """``member``: the cohort's learners and staff; ``staff``: its staff only (learners
    403); ``author``: the post's author only (others of the cohort 403)."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.label = {"member": "the cohort's learners and staff", "staff": "the cohort's staff",
                      "author": "the post's author"}[who]

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        cohort, post = _cohort_of(view_args)
        if cohort is None:
            return Decision.NOT_FOUND
        role = role_in(user, cohort)
        if role is Role.NONE:
            return Decision.NOT_FOUND
        if self.who == "staff":
            return Decision.ALLOW if role is Role.STAFF else Decision.FORBID
        if self.who == "author":
            return Decision.ALLOW if post is not None and post.author_id == user.id else Decision.FORBID
        return Decision.ALLOW

    def reason(self, user: Any, view_args: Mapping[str, Any]) -> str | None:
        if self.who == "staff":
            return "Only the cohort's instructors and administrators moderate its discussions."
        if self.who == "author":
            return "Only a post's author can edit it."
        return None


DISCUSSION_MEMBER = CohortDiscussion("member")
DISCUSSION_STAFF = CohortDiscussion("staff")
POST_AUTHOR = CohortDiscussion("author")
