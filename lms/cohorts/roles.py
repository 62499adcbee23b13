"""Who is who: a person's roles across the platform, organization administrators, and the
cohorts a staff member works on."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

from sqlalchemy import literal_column, or_, select, union_all
from sqlalchemy.orm import joinedload

from lms.accounts.models import User
from lms.audit.models import AuditAction
from lms.audit.services import record_from
from lms.cohorts.invitations import invite_organization_admin, open_invitations_of
from lms.cohorts.models import Cohort, Enrolment, Invitation, Organization, cohort_instructors, organization_admins
from lms.cohorts.services import (
    CohortError,
    CohortSummary,
    LinkFor,
    organization_cohorts,
    organization_state,
    summaries,
)
from lms.database import DbSession


@dataclass(frozen=True)
class Roles:
    """What one person is, across the platform."""

    is_admin: bool = False
    admin_of: frozenset[int] = frozenset()           # organization ids
    instructs: frozenset[int] = frozenset()          # cohort ids
    enrolment: Enrolment | None = None               # the active one
    member_of: frozenset[int] = frozenset()          # organizations they belong to in any role

    @property
    def is_staff(self) -> bool:
        return self.is_admin or bool(self.admin_of) or bool(self.instructs)


class _Tie(IntEnum):
    """What a row of ``roles_of``'s one query of ids says."""

    ADMIN_OF = 1     # an organization the person administers
    INSTRUCTS = 2    # a cohort they teach
    MEMBER_OF = 3    # the organization of a cohort they are or were enrolled in, or teach
    INSIDE = 4       # the organization of a cohort they are enrolled in now, or teach


@dataclass(frozen=True)
class Ties:
    """Which organizations a person administers, which cohorts they teach, and which
    organizations they belong to in any role: what a cohort's or organization's access rule
    asks (``roles_of`` adds the active enrolment)."""

    admin_of: frozenset[int]
    instructs: frozenset[int]
    member_of: frozenset[int]
    # Those they belong to now (administer, teach in, or learn in: an ended enrolment is no
    # tie): only these are told a page of theirs is forbidden; anyone else is told it is
    # not found, whether or not it exists, so another organization's ids say nothing.
    inside: frozenset[int] = frozenset()


def ties_of(session: DbSession, user: User) -> Ties:
    """One statement: the organizations administered, the cohorts taught, the organizations
    belonged to (administered, or of a cohort they are or were enrolled in, or teach) and
    those belonged to now (``inside``: an ended enrolment left out)."""
    taught = select(cohort_instructors.c.cohort_id).where(cohort_instructors.c.user_id == user.id)
    rows = session.execute(union_all(
        select(literal_column(str(_Tie.ADMIN_OF.value)), organization_admins.c.organization_id)
        .where(organization_admins.c.user_id == user.id),
        select(literal_column(str(_Tie.INSTRUCTS.value)), cohort_instructors.c.cohort_id).where(cohort_instructors.c.user_id == user.id),
        select(literal_column(str(_Tie.MEMBER_OF.value)), Cohort.organization_id).where(or_(
            Cohort.id.in_(select(Enrolment.cohort_id).where(Enrolment.user_id == user.id)), Cohort.id.in_(taught))),
        select(literal_column(str(_Tie.INSIDE.value)), Cohort.organization_id).where(or_(
            Cohort.id.in_(select(Enrolment.cohort_id).where(Enrolment.user_id == user.id, Enrolment.active)),
            Cohort.id.in_(taught))),
    )).all()
    ids: dict[_Tie, set[int]] = {tie: set() for tie in _Tie}
    for tie, found in rows:
        ids[_Tie(tie)].add(found)
    admin_of = frozenset(ids[_Tie.ADMIN_OF])
    return Ties(admin_of=admin_of, instructs=frozenset(ids[_Tie.INSTRUCTS]), member_of=admin_of | frozenset(ids[_Tie.MEMBER_OF]),
                inside=admin_of | frozenset(ids[_Tie.INSIDE]))


def roles_of(session: DbSession, user: User) -> Roles:
    """Two statements: the ties (``ties_of``), and the active enrolment with its cohort."""
    ties = ties_of(session, user)
    enrolment = session.scalar(
        select(Enrolment).where(Enrolment.user_id == user.id, Enrolment.active)
        .options(joinedload(Enrolment.cohort, innerjoin=True)))
    return Roles(is_admin=user.is_admin, admin_of=ties.admin_of, instructs=ties.instructs, enrolment=enrolment,
                 member_of=ties.member_of)


class Outsider(StrEnum):
    """Why an organization cannot vouch for an existing account (``outsider_to``)."""

    OTHER_ORGANIZATION = "other_organization"  # belongs to other organizations only
    NO_TIE = "no_tie"                          # belongs to none, and holds no open invitation of this one


def memberships(session: DbSession, user_ids: Collection[int]) -> dict[int, frozenset[int]]:
    """The organizations each of ``user_ids`` belongs to in any role (``Roles.member_of``:
    administered, or of a cohort they are or were enrolled in, or teach); someone in none is
    left out. One statement whatever their number."""
    if not user_ids:
        return {}
    ids = sorted(set(user_ids))
    rows = session.execute(union_all(
        select(organization_admins.c.user_id, organization_admins.c.organization_id)
        .where(organization_admins.c.user_id.in_(ids)),
        select(cohort_instructors.c.user_id, Cohort.organization_id)
        .join(Cohort, Cohort.id == cohort_instructors.c.cohort_id).where(cohort_instructors.c.user_id.in_(ids)),
        select(Enrolment.user_id, Cohort.organization_id)
        .join(Cohort, Cohort.id == Enrolment.cohort_id).where(Enrolment.user_id.in_(ids)),
    )).all()
    found: dict[int, set[int]] = {}
    for user_id, organization_id in rows:
        found.setdefault(user_id, set()).add(organization_id)
    return {user_id: frozenset(orgs) for user_id, orgs in found.items()}


def outsiders_to(session: DbSession, pairs: Collection[tuple[User, int]]) -> dict[tuple[int, int], Outsider]:
    """``outsider_to`` for many (account, organization id) pairs at once, in at most two
    statements whatever their number: the pairs (user id, organization id) that may not be
    linked, with why; a pair left out may."""
    member_of = memberships(session, {user.id for user, _ in pairs})
    untied = [(user, org_id) for user, org_id in pairs if not member_of.get(user.id)]
    invited = open_invitations_of(session, {user.email for user, _ in untied}, {org_id for _, org_id in untied})
    refused: dict[tuple[int, int], Outsider] = {}
    for user, org_id in pairs:
        orgs = member_of.get(user.id, frozenset())
        if org_id in orgs:
            continue
        if orgs:
            refused[(user.id, org_id)] = Outsider.OTHER_ORGANIZATION
        elif (user.email, org_id) not in invited:
            refused[(user.id, org_id)] = Outsider.NO_TIE
    return refused


def outsider_to(session: DbSession, user: User, organization_id: int) -> Outsider | None:
    """Whether an identity an organization's own sign-in service vouches for (its single
    sign-on provider, lms/sso; a platform launching into its cohorts, lms/lti) may be linked
    to the existing account ``user`` with the same email: only when the account belongs to
    that organization (in any role, ``Roles.member_of``), or belongs to none and holds an
    open invitation of it. Another organization's instructor, learner or administrator is
    never taken over by an address the first organization's service asserts. None: it may.
    At most two statements (``outsiders_to``)."""
    return outsiders_to(session, [(user, organization_id)]).get((user.id, organization_id))


def inside_cohort(session: DbSession, address: str, cohort_id: int | None) -> bool:
    """Whether the account of ``address`` (if any) is a current learner of the cohort, one of
    its instructors or an admin of its organization: one statement. Who rates a learner from
    outside (an expert, lms/expert; a stakeholder, lms/feedback) must not be: a classmate's
    or a teacher's rating would be evidence from inside the program, not an outsider's."""
    if cohort_id is None:
        return False
    learner = select(Enrolment.id).where(Enrolment.user_id == User.id, Enrolment.cohort_id == cohort_id, Enrolment.active)
    teacher = select(cohort_instructors.c.user_id).where(cohort_instructors.c.user_id == User.id,
                                                         cohort_instructors.c.cohort_id == cohort_id)
    admin = (select(organization_admins.c.user_id).join(Cohort, Cohort.organization_id == organization_admins.c.organization_id)
             .where(organization_admins.c.user_id == User.id, Cohort.id == cohort_id))
    return session.scalar(select(User.id).where(User.email == address, or_(learner.exists(), teacher.exists(),
                                                                         admin.exists()))) is not None


def add_organization_admin(session: DbSession, org: Organization, email: str, name: str, link_for: LinkFor,
                           now: datetime | None = None, invited_by_id: int | None = None) -> Invitation:
    """Invite ``email`` to administer ``org`` (a site admin's action): nobody is made an
    organization's administrator unasked, so an existing account is attached, and a new
    one made, only when its owner accepts (``invitations.invite_organization_admin``)."""
    return invite_organization_admin(session, org, email, name, invited_by_id, link_for, now)


def remove_organization_admin(session: DbSession, org: Organization, user_id: int) -> User:
    """Take away someone's administration of ``org`` (they left it, or changed roles); their
    account, and anything else they are on the platform, stay as they are."""
    user = next((admin for admin in org.admins if admin.id == user_id), None)
    if user is None:
        raise CohortError(f"That person is not an administrator of {org.name} (any more).")
    before = organization_state(org)
    org.admins.remove(user)
    session.flush()
    record_from(session, action=AuditAction.ORGANIZATION_EDITED, organization_id=org.id, target=f"organization:{org.id}",
                before=before, after=organization_state(org))
    return user


def instructor_cohorts(session: DbSession, user: User) -> list[CohortSummary]:
    return summaries(session, Cohort.id.in_(
        select(cohort_instructors.c.cohort_id).where(cohort_instructors.c.user_id == user.id)), include_archived=False)


def staff_cohorts(session: DbSession, user: User) -> list[Cohort]:
    """Every cohort this person works on: their organizations' (as admin) and the ones they teach."""
    roles = roles_of(session, user)
    rows = organization_cohorts(session, roles.admin_of) if roles.admin_of else []
    seen = {r.cohort.id for r in rows}
    rows += [r for r in instructor_cohorts(session, user) if r.cohort.id not in seen]
    return [r.cohort for r in rows]
