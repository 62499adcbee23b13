"""Who may call each API route. A request under /api/v1 is authenticated by its bearer
token before the policy runs (lms/api/auth.py); the rule then asks three things: does the
token carry the route's scope, does an organization token stay inside its organization,
and may the token's owner see this in the web app (the same rule as the page)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import g

from lms.accounts.models import User
from lms.api.models import ApiToken, Scope
from lms.cohorts.access import COHORT_MANAGER, COHORT_STAFF, SIGNED_IN, STAFF, STAFF_FOR_LEARNER
from lms.cohorts.models import Cohort
from lms.cohorts.roles import roles_of
from lms.extensions import db
from lms.web.access import AccessRule, Decision

TOKEN_KEY = "api_token"


def current_token() -> ApiToken | None:
    token = g.get(TOKEN_KEY)
    return token if isinstance(token, ApiToken) else None


def organization_of(view_args: Mapping[str, Any]) -> int | None:
    """The organization a route's arguments point at (None: no one in particular)."""
    if "cohort_id" in view_args:
        cohort = db.session.get(Cohort, view_args["cohort_id"])
        return cohort.organization_id if cohort is not None else None
    return None


class TokenRule(AccessRule):
    """``inner`` (the web app's rule) for the token's owner, with ``scope`` required."""

    def __init__(self, scope: Scope, inner: AccessRule) -> None:
        self.scope, self.inner = scope, inner
        self.label = f"a token with {scope.value}, for {inner.label}"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        token = current_token()
        if user is None or token is None:  # lms/api/auth.py answered 401 before; never reached
            return Decision.FORBID
        if token.organization_id is not None:
            if not user.is_admin and token.organization_id not in roles_of(db.session, user).admin_of:
                return Decision.FORBID
            target = organization_of(view_args)
            if target is not None and target != token.organization_id:
                return Decision.NOT_FOUND
        decision = self.inner.decide(user, view_args)
        if decision is Decision.ALLOW and self.scope.value not in token.scopes:
            return Decision.FORBID
        if decision is Decision.ANSWER:  # a page for people (lms.cohorts.moved): the API answers its own 404
            return Decision.NOT_FOUND
        return Decision.FORBID if decision is Decision.LOGIN else decision

    def reason(self, user: Any, view_args: Mapping[str, Any]) -> str | None:
        token = current_token()
        if token is not None and token.organization_id is not None and user is not None and not user.is_admin \
                and token.organization_id not in roles_of(db.session, user).admin_of:
            return "The organization token's owner is no longer an admin of the organization."
        if token is not None and self.scope.value not in token.scopes:
            return f"The token lacks the scope {self.scope.value}."
        return "The token's owner may not see this."


PEOPLE_STAFF = TokenRule(Scope.READ_PEOPLE, STAFF)
PEOPLE_OF_COHORT = TokenRule(Scope.READ_PEOPLE, COHORT_STAFF)
ENROL = TokenRule(Scope.WRITE_ENROLMENTS, COHORT_MANAGER)
CURRICULUM = TokenRule(Scope.READ_CURRICULUM, SIGNED_IN)
COMPETENCY_OF_COHORT = TokenRule(Scope.READ_COMPETENCY, COHORT_STAFF)
COMPETENCY_OF_LEARNER = TokenRule(Scope.READ_COMPETENCY, STAFF_FOR_LEARNER)
GRADES_OF_COHORT = TokenRule(Scope.READ_GRADES, COHORT_STAFF)


class OwnDataRule(TokenRule):
    """The "me" endpoints: the token owner's own data, for anyone signed in, with ``scope``.
    Personal tokens only: an organization token speaks for its organization, not a person."""

    def __init__(self, scope: Scope) -> None:
        super().__init__(scope, SIGNED_IN)
        self.label = f"a personal token with {scope.value} (its owner's own data)"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        token = current_token()
        if token is not None and token.organization_id is not None:
            return Decision.FORBID
        return super().decide(user, view_args)

    def reason(self, user: Any, view_args: Mapping[str, Any]) -> str | None:
        token = current_token()
        if token is not None and token.organization_id is not None:
            return "The /me endpoints take a personal token (an organization token is not a person)."
        return super().reason(user, view_args)


OWN_PROFILE = OwnDataRule(Scope.READ_PEOPLE)
OWN_COMPETENCY = OwnDataRule(Scope.READ_COMPETENCY)
OWN_GRADES = OwnDataRule(Scope.READ_GRADES)
