"""Who may use each route. ``lms/policy.py`` is the one declarative table (endpoint ->
rule); ``enforce_access`` applies it before every request and refuses any endpoint the
table does not name (fail closed). Rules are small classes: features that know about
people and cohorts define their own."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, abort, current_app, g, request


class Decision(enum.Enum):
    ALLOW = "allow"
    LOGIN = "login"          # anonymous: send to the login page
    FORBID = "forbid"        # signed in, but not allowed: 403
    NOT_FOUND = "not_found"  # not allowed to know it exists: 404
    ANSWER = "answer"        # the rule answers itself (``AccessRule.answer``): a page saying why, not a bare refusal


class AccessRule(ABC):
    """Decides whether ``user`` (None when anonymous) may use a route with ``view_args``."""

    label: str = ""

    @abstractmethod
    def decide(self, user: Any, view_args: Mapping[str, Any]) -> Decision: ...

    def reason(self, user: Any, view_args: Mapping[str, Any]) -> str | None:
        """A message for the 403 page; None for the generic one."""
        return None

    def answer(self, user: Any, view_args: Mapping[str, Any]) -> Any:
        """The response when ``decide`` says ``Decision.ANSWER``: the route is not run."""
        abort(404)


class Public(AccessRule):
    label = "anyone"

    def decide(self, user: Any, view_args: Mapping[str, Any]) -> Decision:
        return Decision.ALLOW


PUBLIC = Public()
POLICY_KEY = "lms.access_policy"
HELD_KEY = "lms_access_held"  # g: what this request's access rule read, held for its view
T = TypeVar("T")


def hold(found: T) -> T:
    """Keep ``found`` (a row a rule read, such as the route's cohort) referenced for the rest
    of the request: the ORM session's identity map holds its objects weakly, so the view's
    own ``session.get`` of the same row would otherwise read it again."""
    g.setdefault(HELD_KEY, []).append(found)
    return found


def install_policy(app: Flask, policy: Mapping[str, AccessRule]) -> None:
    app.extensions[POLICY_KEY] = dict(policy)
    app.before_request(enforce_access)


def rule_for(app: Flask, endpoint: str) -> AccessRule | None:
    if endpoint == "static" or endpoint.endswith(".static"):
        return PUBLIC
    policy: Mapping[str, AccessRule] = app.extensions.get(POLICY_KEY, {})  # what install_policy stored
    return policy.get(endpoint)


IDENTITY_KEY = "lms.identity"


@dataclass(frozen=True)
class Identity:
    """Who is asking and where anonymous users sign in: the accounts feature provides
    both through ``set_identity`` in its ``init_app``; until then nobody is signed in."""

    current_user: Callable[[], Any] = lambda: None
    login_redirect: Callable[[], Any] = lambda: abort(401)


def set_identity(app: Flask, identity: Identity) -> None:
    app.extensions[IDENTITY_KEY] = identity


def identity() -> Identity:
    found = current_app.extensions.get(IDENTITY_KEY)
    return found if isinstance(found, Identity) else Identity()


def requesting_user() -> Any:
    """The signed-in user of this request, or None."""
    return identity().current_user()


def enforce_access() -> Any:
    """``before_request`` hook: apply the endpoint's declared rule."""
    endpoint = request.endpoint
    if endpoint is None:  # no route matched: let the 404/405 handlers answer
        return None
    url_rule = request.url_rule
    if request.method == "OPTIONS" and url_rule is not None and getattr(url_rule, "provide_automatic_options", False):
        return None  # Flask answers it with the Allow header alone: nothing to protect (no credentials are sent)
    rule = rule_for(current_app, endpoint)
    if rule is None:
        current_app.logger.error("route %s has no access rule in the policy; refusing", endpoint)
        abort(403)
    user = requesting_user()
    view_args = request.view_args or {}
    decision = rule.decide(user, view_args)
    if decision is Decision.ALLOW:
        return None
    if decision is Decision.LOGIN:
        return identity().login_redirect()
    if decision is Decision.NOT_FOUND:
        abort(404)
    if decision is Decision.ANSWER:
        return rule.answer(user, view_args)
    abort(403, description=rule.reason(user, view_args))
