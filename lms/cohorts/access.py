"""Access rules that know about people, organizations and cohorts.

Anonymous visitors are sent to sign in; someone with no link to an organization gets a
404 for its pages (they may not learn it exists); someone inside it without the right
role gets a 403."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lms.accounts.models import User
from lms.cohorts.enrolment import is_learner_of
from lms.cohorts.models import Cohort, Organization
from lms.cohorts.roles import roles_of
from lms.extensions import db
from lms.web.access import AccessRule, Decision


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
        return Decision.ALLOW if roles_of(db.session, user).enrolment else Decision.FORBID

    def reason(self, user: Any, view_args: Mapping[str, Any]) -> str | None:
        return "This page is for learners enrolled in a cohort."


class Staff(AccessRule):
    label = "instructors, organization admins and site admins"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        return Decision.ALLOW if roles_of(db.session, user).is_staff else Decision.FORBID


class OrganizationAdmin(AccessRule):
    """Admins of the organization in ``view_args[arg]``, and site admins."""

    label = "the organization's admins"

    def __init__(self, arg: str = "org_id") -> None:
        self.arg = arg

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        org = db.session.get(Organization, view_args[self.arg])
        if org is None:
            return Decision.NOT_FOUND
        if user.is_admin:
            return Decision.ALLOW
        roles = roles_of(db.session, user)
        if org.id in roles.admin_of:
            return Decision.ALLOW
        return Decision.FORBID if org.id in roles.member_of else Decision.NOT_FOUND


class CohortRole(AccessRule):
    """People with a role on the cohort in ``view_args[arg]``: its organization's admins
    and site admins always; its instructors when ``instructors`` is set."""

    def __init__(self, arg: str = "cohort_id", instructors: bool = True, learner_arg: str | None = None) -> None:
        self.arg, self.instructors, self.learner_arg = arg, instructors, learner_arg
        self.label = "the cohort's instructors and organization admins" if instructors else "the organization's admins"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        cohort = db.session.get(Cohort, view_args[self.arg])
        if cohort is None:
            return Decision.NOT_FOUND
        if self.learner_arg and not is_learner_of(db.session, cohort.id, view_args[self.learner_arg]):
            return Decision.NOT_FOUND
        if user.is_admin:
            return Decision.ALLOW
        roles = roles_of(db.session, user)
        if cohort.organization_id in roles.admin_of:
            return Decision.ALLOW
        if self.instructors and cohort.id in roles.instructs:
            return Decision.ALLOW
        return Decision.FORBID if cohort.organization_id in roles.member_of else Decision.NOT_FOUND


SIGNED_IN = SignedIn()
ANONYMOUS = Anonymous()
SITE_ADMIN = SiteAdmin()
STAFF = Staff()
LEARNER = Learner()
ORG_ADMIN = OrganizationAdmin()
COHORT_STAFF = CohortRole(instructors=True)
COHORT_MANAGER = CohortRole(instructors=False)
STAFF_FOR_LEARNER = CohortRole(instructors=True, learner_arg="user_id")
MANAGER_FOR_LEARNER = CohortRole(instructors=False, learner_arg="user_id")
