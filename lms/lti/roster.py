"""Names and Role Provisioning: a context's members, read from the platform, become its
cohort's learners and instructors (accounts linked, found by email or made as at a launch).
Members the platform lists as inactive or deleted are left as they are here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import requests
from pylti1p3.exception import LtiException
from pylti1p3.names_roles import NamesRolesProvisioningService
from pylti1p3.service_connector import ServiceConnector
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lms.database import DbSession
from lms.lti import services
from lms.lti.models import LtiAccount, LtiContext
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
    """Read the roster and apply it to the context's cohort (flushes)."""
    cohort = context.cohort
    if cohort is None:
        raise RosterError("This course is not mapped to a cohort.")
    members = read_members(context, session, secret_key)
    result = RosterSync(members=len(members))
    subjects = [str(m.get("user_id")) for m in members if m.get("user_id")]
    accounts = {a.subject: a for a in session.scalars(select(LtiAccount).where(
        LtiAccount.platform_id == context.platform_id, LtiAccount.subject.in_(subjects)).options(
        selectinload(LtiAccount.user)))} if subjects else {}
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
        try:
            with session.begin_nested():
                user = services.person(session, context.platform, subject, email, None, name[:200], accounts,
                                       cohort=cohort)
                if services.join(session, cohort, user, role, now):
                    if role is services.Role.INSTRUCTOR:
                        result.added_instructors += 1
                    else:
                        result.added_learners += 1
        except Refusal as exc:
            result.skipped.append(f"{label}: {exc}")
    context.roster_synced_at = now
    session.flush()
    return result
