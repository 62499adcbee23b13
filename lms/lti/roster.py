"""Names and Role Provisioning: a context's members, read from the platform, become its
cohort's learners and instructors (accounts linked, found by email or made as at a launch).
Members the platform lists as inactive or deleted are left as they are here. The whole
roster is applied at once (``services.people``, ``services.join_all``): a fixed number of
statements whatever its size."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import requests
from pylti1p3.exception import LtiException
from pylti1p3.names_roles import NamesRolesProvisioningService
from pylti1p3.service_connector import ServiceConnector

from lms.accounts.models import User
from lms.database import DbSession
from lms.lti import services
from lms.lti.models import LtiContext
from lms.lti.tool import Refusal, TimeoutSession, registration_for


class RosterError(Exception):
    """The roster could not be read or applied; the message says why."""


@dataclass
class RosterSync:
    members: int = 0
    added_learners: int = 0
    added_instructors: int = 0
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"{self.members} members read: {self.added_learners} learners and "
                f"{self.added_instructors} instructors added to the cohort.")
        if self.skipped:
            text += f" {len(self.skipped)} skipped: " + "; ".join(self.skipped[:5]) + ("…" if len(self.skipped) > 5 else "")
        return text


def read_members(context: LtiContext, session: DbSession, secret_key: str) -> list[dict[str, object]]:
    if not context.memberships_url:
        raise RosterError("The platform has not offered its roster service (Names and Role Provisioning) for this course "
                          "yet: launch the tool from the course once, with the service enabled.")
    with TimeoutSession() as http:
        connector = ServiceConnector(registration_for(session, context.platform, secret_key), http)
        service = NamesRolesProvisioningService(connector, {"context_memberships_url": context.memberships_url})
        try:
            return [dict(m) for m in service.get_members()]
        except (LtiException, requests.RequestException, ValueError, KeyError, AssertionError) as exc:
            raise RosterError(f"The platform's roster could not be read: {exc}") from exc


def sync(session: DbSession, context: LtiContext, secret_key: str, now: datetime) -> RosterSync:
    """Read the roster and apply it to the context's cohort (flushes), by the rules of a
    launch, in a fixed number of statements whatever the roster's size. A member who may
    not join (a learner of another cohort, a learner's role for one of its instructors) is
    reported, and stays linked to their account when it may be."""
    cohort = context.cohort
    if cohort is None:
        raise RosterError("This course is not mapped to a cohort.")
    if cohort.archived:
        raise RosterError(f"The course is linked to {cohort.name}, which is archived.")
    members = read_members(context, session, secret_key)
    result = RosterSync(members=len(members))
    wanted: list[tuple[str, services.Member, services.Role]] = []
    for member in members:
        subject = str(member.get("user_id") or "")
        label = str(member.get("name") or member.get("email") or subject or "a member")
        if member.get("status", "Active") != "Active":
            continue
        roles = member.get("roles")
        role = services.role_of([r for r in roles if isinstance(r, str)] if isinstance(roles, list) else [])
        if role is None:
            result.skipped.append(f"{label} (neither learner nor instructor)")
            continue
        email = str(member.get("email") or "").strip().lower()
        name = str(member.get("name") or " ".join(str(member.get(k) or "") for k in ("given_name", "family_name"))).strip()
        wanted.append((label, services.Member(subject, email, None, name[:200]), role))
    try:
        found = services.people(session, context.platform, [m for _, m, _ in wanted], cohort=cohort)
    except Refusal as exc:
        raise RosterError(f"{exc} (the roster was not applied)") from exc
    labels: dict[int, str] = {}
    joining: list[tuple[User, services.Role]] = []
    for (label, _, role), answer in zip(wanted, found, strict=True):
        if isinstance(answer, Refusal):
            result.skipped.append(f"{label}: {answer}")
        else:
            labels.setdefault(answer.id, label)
            joining.append((answer, role))
    joined = services.join_all(session, cohort, joining, now)
    result.added_learners, result.added_instructors = len(joined.learners), len(joined.instructors)
    result.skipped.extend(f"{labels[user_id]}: {refusal}" for user_id, refusal in joined.refused.items())
    context.roster_synced_at = now
    session.flush()
    return result
