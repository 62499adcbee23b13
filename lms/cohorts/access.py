"""Access rules that know about people, organizations and cohorts.

Anonymous visitors are sent to sign in; someone with no current link to an organization
(a learner whose enrolment in it ended included) gets a 404 for its pages, as for an id
that does not exist (they may not learn it exists); someone inside it now without the
right role gets a 403."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, request, url_for
from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import joinedload

from lms.accounts.current import load_with_signed_in_user, loaded_with_user
from lms.accounts.models import User
from lms.cohorts.enrolment import is_learner_of
from lms.cohorts.models import Cohort, Enrolment, Organization, cohort_instructors, organization_admins
from lms.cohorts.moved import moved_page, was_learner_of
from lms.cohorts.roles import roles_of, ties_of
from lms.extensions import db
from lms.web.access import AccessRule, Decision, hold

# Read with the signed-in user on safe requests (lms.accounts.current): the navigation and
# the Learner and Staff rules need no statement of their own.
LEARNS, ADMINISTERS, INSTRUCTS = "cohorts_learns", "cohorts_administers", "cohorts_instructs"
ENROLLED = "cohorts_enrolled"


@dataclass(frozen=True)
class RoleFlags:
    """Whether a person has an active enrolment, administers an organization, teaches a cohort,
    and has ever been enrolled (an ended enrolment too: a former learner's)."""

    learns: bool
    administers: bool
    instructs: bool
    enrolled: bool = False

    @property
    def former(self) -> bool:
        """A former learner: enrolled before (the program finished, or left), not now."""
        return self.enrolled and not self.learns

    def is_staff(self, user: User) -> bool:
        """``Roles.is_staff``: a site admin, an organization admin or an instructor."""
        return user.is_admin or self.administers or self.instructs


def role_flag_expressions() -> dict[str, ColumnElement[bool]]:
    """The four flags as EXISTS correlated to ``users.id``: the active enrolment is the one
    ``roles_of`` finds (an enrolment not ended; its cohort is a required foreign key)."""
    return {
        LEARNS: exists().where(Enrolment.user_id == User.id, Enrolment.active),
        ADMINISTERS: exists().where(organization_admins.c.user_id == User.id),
        INSTRUCTS: exists().where(cohort_instructors.c.user_id == User.id),
        ENROLLED: exists().where(Enrolment.user_id == User.id),
    }


def load_role_flags(app: Flask) -> None:
    for name, expression in role_flag_expressions().items():
        load_with_signed_in_user(app, name, expression)


def loaded_role_flags(user: User) -> RoleFlags | None:
    """The flags read with ``user`` in this request, or None (not a safe request, or the user came another way)."""
    values = [loaded_with_user(user, name) for name in (LEARNS, ADMINISTERS, INSTRUCTS, ENROLLED)]
    return None if None in values else RoleFlags(*(bool(value) for value in values))


class SignedIn(AccessRule):
    label = "anyone signed in"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        return Decision.LOGIN if user is None else Decision.ALLOW


class Anonymous(AccessRule):
    """Pages for people who are not signed in yet (sign-in form, reset, invitation)."""

    label = "anyone (signed in users are redirected by the view)"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        return Decision.ALLOW


class SiteAdmin(AccessRule):
    label = "site admins"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        return Decision.ALLOW if user.is_admin else Decision.FORBID


class Learner(AccessRule):
    label = "learners with an active enrolment"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        flags = loaded_role_flags(user)
        learns = flags.learns if flags is not None else roles_of(db.session, user).enrolment is not None
        return Decision.ALLOW if learns else Decision.FORBID

    def reason(self, user: Any, view_args: Mapping[str, Any]) -> str | None:
        return "This page is for learners enrolled in a cohort."


class LearnerOrFormer(Learner):
    """Learners, and former learners whose enrolment ended (their program over, or left):
    what they earned (their certificates) stays theirs to find."""

    label = "learners with an enrolment, current or ended"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        decision = super().decide(user, view_args)
        if decision is not Decision.FORBID or user is None:
            return decision
        was = db.session.scalar(select(exists().where(Enrolment.user_id == user.id)))
        return Decision.ALLOW if was else Decision.FORBID

    def reason(self, user: Any, view_args: Mapping[str, Any]) -> str | None:
        return "This page is for learners enrolled in a cohort, now or before."


class Staff(AccessRule):
    label = "instructors, organization admins and site admins"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        flags = loaded_role_flags(user)
        is_staff = flags.is_staff(user) if flags is not None else roles_of(db.session, user).is_staff
        return Decision.ALLOW if is_staff else Decision.FORBID


class OrganizationAdmin(AccessRule):
    """Admins of the organization in ``view_args[arg]``, and site admins."""

    label = "the organization's admins"

    def __init__(self, arg: str = "org_id") -> None:
        self.arg = arg

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        org = hold(db.session.get(Organization, view_args[self.arg]))
        if org is None:
            return Decision.NOT_FOUND
        if user.is_admin:
            return Decision.ALLOW
        ties = ties_of(db.session, user)
        if org.id in ties.admin_of:
            return Decision.ALLOW
        return Decision.FORBID if org.id in ties.inside else Decision.NOT_FOUND


class CohortRole(AccessRule):
    """People with a role on the cohort in ``view_args[arg]``: its organization's admins
    and site admins always; its instructors when ``instructors`` is set."""

    def __init__(self, arg: str = "cohort_id", instructors: bool = True, learner_arg: str | None = None) -> None:
        self.arg, self.instructors, self.learner_arg = arg, instructors, learner_arg
        self.label = "the cohort's instructors and organization admins" if instructors else "the organization's admins"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        # with its organization: the cohort's pages name it (one statement, not two)
        cohort = hold(db.session.get(Cohort, view_args[self.arg], options=[joinedload(Cohort.organization)]))
        if cohort is None:
            return Decision.NOT_FOUND
        if self.learner_arg and not is_learner_of(db.session, cohort.id, view_args[self.learner_arg]):
            # No longer its learner (moved, or left): the cohort's own staff are told so, by a page
            # (``answer``); anyone else learns nothing more than before.
            if self._role(user, cohort) is Decision.ALLOW and was_learner_of(db.session, cohort.id,
                                                                             view_args[self.learner_arg]):
                return Decision.ANSWER
            return Decision.NOT_FOUND
        return self._role(user, cohort)

    def _role(self, user: User, cohort: Cohort) -> Decision:
        if user.is_admin:
            return Decision.ALLOW
        ties = ties_of(db.session, user)
        if cohort.organization_id in ties.admin_of:
            return Decision.ALLOW
        if self.instructors and cohort.id in ties.instructs:
            return Decision.ALLOW
        return Decision.FORBID if cohort.organization_id in ties.inside else Decision.NOT_FOUND

    def answer(self, user: User, view_args: Mapping[str, Any]) -> Any:
        """A page of the learner ``view_args[learner_arg]`` who left this cohort: where they are
        now (``lms.cohorts.moved``), linking to the same page there (a page read), or to their
        schedule and access page there (a form sent: it is to be sent again from there)."""
        assert self.learner_arg is not None  # only a rule with a learner answers (``decide``)
        cohort = db.session.get_one(Cohort, view_args[self.arg])
        learner_id = view_args[self.learner_arg]
        endpoint = request.endpoint or ""
        read = request.method in ("GET", "HEAD")

        def link(there: Cohort) -> str:
            if read:
                return url_for(endpoint, **{**view_args, self.arg: there.id})
            return url_for("learning.learner", cohort_id=there.id, user_id=learner_id)

        return moved_page(db.session, user, cohort, learner_id, link,
                          what="This page" if read else "Their schedule and access page")


SIGNED_IN = SignedIn()
ANONYMOUS = Anonymous()
SITE_ADMIN = SiteAdmin()
STAFF = Staff()
LEARNER = Learner()
LEARNER_OR_FORMER = LearnerOrFormer()
ORG_ADMIN = OrganizationAdmin()
COHORT_STAFF = CohortRole(instructors=True)
COHORT_MANAGER = CohortRole(instructors=False)
STAFF_FOR_LEARNER = CohortRole(instructors=True, learner_arg="user_id")
MANAGER_FOR_LEARNER = CohortRole(instructors=False, learner_arg="user_id")
