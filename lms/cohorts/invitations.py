"""Invitations: a learner or an instructor is invited by email to a cohort, an
administrator to an organization, and takes their place through a single-use, expiring
link, as a new person or signed in. Only flushes; the caller commits.

Consent: an invitation is the only way into a cohort from outside the organization's
own rosters. Whoever the address belongs to (nobody yet, a learner or a member of staff of
another organization, a site admin), the inviting staff see the same thing: an invitation
is sent; the account is made, or enrolled, only when its owner accepts, and a conflict
(already a learner elsewhere) is told to them, not to the staff. The only problems the
staff are told about are in their own organization's data: already a learner of one of
its cohorts, already invited to this cohort.

Staff alike (``InvitationRole``): nobody becomes an instructor of a cohort or an
administrator of an organization unasked. The organization invites them by address, told
the same whoever the address belongs to (no name, nothing of whether it has an account),
and they become staff when they accept; a conflict (a learner of the cohort they are to
teach) is told to them then."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from blinker import Namespace
from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, update

from lms.accounts.models import User
from lms.accounts.services import (
    AccountError,
    create_user,
    find_user,
    hash_token,
    new_token,
    normalise_email,
    person_name,
    set_password,
    update_profile,
)
from lms.audit.models import AuditAction
from lms.audit.services import record_from
from lms.cohorts.enrolment import INSTRUCTOR_NOT_LEARNER, active_enrolment, enrol, teaches
from lms.cohorts.models import (
    Cohort,
    Enrolment,
    Invitation,
    InvitationRole,
    Organization,
    Pace,
    cohort_instructors,
    organization_admins,
)
from lms.cohorts.services import CohortError, LinkFor, add_instructor, organization_state
from lms.database import DbSession, rowcount, utcnow, zone_named
from lms.mail.services import queue_mail

# An invitation works this long after it is sent, and an invitation to a cohort at least
# this long after the cohort's first day begins (``expires_for``).
INVITATION_LIFETIME = timedelta(days=14)

events = Namespace()
# Sent with ``session=``, ``now=`` and ``user=`` when a person accepts a learner's
# invitation (the sender) and is a learner of its cohort; features above (webhooks) listen
# to it. An instructor's or an administrator's acceptance sends nothing: it enrols nobody.
invitation_accepted = events.signal("invitation-accepted")


def has_started(cohort: Cohort, now: datetime | None = None) -> bool:
    """Whether someone joining now joins late (the cohort's first day is past, in its
    time zone), so that the manager chooses their pace."""
    return (now or utcnow()).astimezone(ZoneInfo(cohort.timezone)).date() > cohort.start_date


def expires_for(cohort: Cohort | None, now: datetime) -> datetime:
    """When an invitation sent (or sent again) ``now`` stops working: ``INVITATION_LIFETIME``
    after sending or, for an invitation to a cohort (a learner's, an instructor's), that long
    after the cohort's first day begins in its time zone, whichever is later, so that people
    invited weeks ahead can still accept in the cohort's first days."""
    expires = now + INVITATION_LIFETIME
    if cohort is not None:
        starts = datetime.combine(cohort.start_date, time(), zone_named(cohort.timezone)).astimezone(UTC)
        expires = max(expires, starts + INVITATION_LIFETIME)
    return expires


def until_text(moment: datetime, zone: str | None) -> str:
    """An invitation's expiry as its reader's clock reads it: "20 January 2027 at 00:00 CET"."""
    local = moment.astimezone(zone_named(zone))
    return f"{local:%d %B %Y} at {local:%H:%M} {local.tzname() or ''}".rstrip()


def _reader_zones(session: DbSession, emails: Sequence[str]) -> dict[str, str]:
    """The time zones of the accounts these addresses already have (one statement): an
    invitation's mail gives its expiry in its reader's zone, else in the cohort's."""
    if not emails:
        return {}
    return {email: zone for email, zone in session.execute(select(User.email, User.timezone)
                                                           .where(User.email.in_(list(emails)))) if zone}


def _open(cohort: Cohort, role: InvitationRole = InvitationRole.LEARNER) -> None:
    if cohort.archived:
        raise CohortError(f"{cohort.name} is archived; it takes no new {role.label}s.")


def _cohort_of(invitation: Invitation) -> Cohort:
    """The cohort of a learner's or an instructor's invitation."""
    if invitation.cohort is None:
        raise CohortError("This invitation is to an organization, not to a cohort.")
    return invitation.cohort


def own_problems(session: DbSession, cohort: Cohort, addresses: Sequence[str],
                 now: datetime | None = None) -> dict[str, str]:
    """Why an address cannot be invited to ``cohort``, judged only on what the cohort's
    organization already sees: its own learners, the cohort's instructors (who cannot learn
    in the cohort they teach), and live invitations to this cohort. Accounts of other
    organizations (learners, staff, site admins) and unknown addresses get no entry: they
    are invited alike. Three statements, whatever the number of addresses."""
    now = now or utcnow()
    if not addresses:
        return {}
    problems: dict[str, str] = {}
    for email, cohort_id, cohort_name in session.execute(
            select(User.email, Cohort.id, Cohort.name).join(Enrolment, Enrolment.user_id == User.id)
            .join(Cohort, Cohort.id == Enrolment.cohort_id)
            .where(User.email.in_(list(addresses)), Enrolment.active,
                   Cohort.organization_id == cohort.organization_id)):
        problems[email] = ("already a learner of this cohort" if cohort_id == cohort.id
                           else f"already a learner of {cohort_name}: move them from there instead")
    for email in session.scalars(
            select(User.email).join(cohort_instructors, cohort_instructors.c.user_id == User.id)
            .where(cohort_instructors.c.cohort_id == cohort.id, User.email.in_(list(addresses)))):
        problems.setdefault(email, INSTRUCTOR_NOT_LEARNER)
    for email in session.scalars(select(Invitation.email).where(
            Invitation.cohort_id == cohort.id, Invitation.role == InvitationRole.LEARNER, Invitation.email.in_(list(addresses)),
            Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None), Invitation.expires_at > now)):
        problems.setdefault(email, "already invited to this cohort: send the invitation again from the cohort page")
    return problems


def invited_to(invitation: Invitation) -> str:
    """What the invitation offers, as its mail and its page say it."""
    org = invitation.organization.name
    if invitation.role is InvitationRole.ORGANIZATION_ADMIN:
        return f"be an administrator of {org}"
    cohort = _cohort_of(invitation).name
    if invitation.role is InvitationRole.INSTRUCTOR:
        return f"teach the cohort {cohort} of {org} as one of its instructors"
    return f"join the cohort {cohort} of {org}"


def _invitation_mail(session: DbSession, invitation: Invitation, link: str, zone: str | None) -> None:
    """The invitation's mail; its expiry in ``zone`` (the reader's, if their address has an
    account), else in the cohort's zone, else in UTC."""
    zone = zone or (invitation.cohort.timezone if invitation.cohort else None)
    subject = {InvitationRole.LEARNER: "Join {place}", InvitationRole.INSTRUCTOR: "Teach {place}",
               InvitationRole.ORGANIZATION_ADMIN: "Administer {place}"}[invitation.role].format(
        place=invitation.cohort.name if invitation.cohort else invitation.organization.name)
    queue_mail(session, invitation.email, f"{subject} on the AI Operations program",
               f"Hello{(' ' + invitation.name) if invitation.name else ''},\n\n"
               f"You are invited to {invited_to(invitation)} on the AI Operations program. "
               f"Nothing changes for you until you accept. Accept here by {until_text(invitation.expires_at, zone)}, "
               f"when this link stops working:\n{link}\n", one_time=[link])


def _send(session: DbSession, org: Organization, cohort: Cohort | None, role: InvitationRole,
          people: list[tuple[str, str]], invited_by_id: int | None, link_for: LinkFor, now: datetime,
          pace: Pace = Pace.CATCH_UP) -> list[Invitation]:
    """Invite already checked, normalised addresses to a place: an earlier unanswered
    invitation of the same address to the same place and role is replaced (its link stops
    working). Audited; nobody is enrolled or made staff and no account is made or changed."""
    session.execute(update(Invitation).where(
        Invitation.organization_id == org.id,
        Invitation.cohort_id.is_(None) if cohort is None else Invitation.cohort_id == cohort.id,
        Invitation.role == role, Invitation.email.in_([email for email, _ in people]),
        Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None)).values(revoked_at=now))
    sent = []
    zones = _reader_zones(session, [email for email, _ in people])
    for email, name in people:
        token, digest = new_token()
        invitation = Invitation(organization=org, cohort=cohort, role=role, email=email, name=name.strip(), token_hash=digest,
                                invited_by_id=invited_by_id, created_at=now, expires_at=expires_for(cohort, now), pace=pace)
        session.add(invitation)
        session.flush()
        where = f"cohort:{cohort.id}" if cohort is not None else f"organization:{org.id}"
        if role is InvitationRole.LEARNER:
            record_from(session, action=AuditAction.LEARNER_INVITED, organization_id=org.id,
                        target=f"invitation:{invitation.id} {where}", before=None,
                        after={"expires_at": invitation.expires_at}, actor_id=invited_by_id)
        else:
            record_from(session, action=AuditAction.STAFF_INVITED, organization_id=org.id,
                        target=f"invitation:{invitation.id} {where}", before=None,
                        after={"role": role.value, "expires_at": invitation.expires_at}, actor_id=invited_by_id)
        _invitation_mail(session, invitation, link_for(token), zones.get(email))
        sent.append(invitation)
    return sent


def send_invitations(session: DbSession, cohort: Cohort, people: Iterable[tuple[str, str]], invited_by_id: int,
                     link_for: LinkFor, now: datetime, pace: Pace = Pace.CATCH_UP) -> list[Invitation]:
    """Invite already checked, normalised addresses (``(email, name)`` pairs): an earlier
    unanswered learner's invitation of the same address to this cohort is replaced (its
    link stops working). Nobody is enrolled and no account is made or changed."""
    _open(cohort)
    people = list(people)
    if not people:
        return []
    return _send(session, cohort.organization, cohort, InvitationRole.LEARNER, people, invited_by_id, link_for, now, pace)


def _address_and_name(email: str, name: str) -> tuple[str, str]:
    try:
        # the name is optional: the person types it when they accept
        return normalise_email(email), (person_name(name) if name.strip() else "")
    except AccountError as exc:
        raise CohortError(str(exc)) from exc


def invite_learner(session: DbSession, cohort: Cohort, email: str, name: str, invited_by: User,
                   link_for: LinkFor, now: datetime | None = None, pace: Pace = Pace.CATCH_UP) -> Invitation:
    """Invite one address; inviting it again replaces the earlier link."""
    now = now or utcnow()
    _open(cohort)
    address, name = _address_and_name(email, name)
    problem = own_problems(session, cohort, [address], now).get(address)
    if problem is not None and not problem.startswith("already invited"):
        raise CohortError(f"{address} is {problem}.")
    [invitation] = send_invitations(session, cohort, [(address, name)], invited_by.id, link_for, now, pace)
    return invitation


def invite_instructor(session: DbSession, cohort: Cohort, email: str, name: str, invited_by: User,
                      link_for: LinkFor, now: datetime | None = None) -> Invitation:
    """Invite one address to teach ``cohort``: they become one of its instructors when they
    accept. Whoever the address belongs to (nobody yet, staff or a learner of another
    organization, a site admin) the same invitation is sent; only the cohort's own people
    are told apart (already teaching it, or learning in it). Inviting it again replaces the
    earlier link."""
    now = now or utcnow()
    _open(cohort, InvitationRole.INSTRUCTOR)
    address, name = _address_and_name(email, name)
    teaching = select(cohort_instructors.c.user_id).where(cohort_instructors.c.cohort_id == cohort.id)
    learning = select(Enrolment.user_id).where(Enrolment.cohort_id == cohort.id, Enrolment.active)
    found = session.execute(select(User.id.in_(teaching), User.id.in_(learning)).where(User.email == address)).first()
    if found is not None and found[0]:
        raise CohortError(f"{address} already teaches {cohort.name}.")
    if found is not None and found[1]:
        raise CohortError(f"{address} is a learner of {cohort.name}, and a learner cannot teach their own cohort.")
    [invitation] = _send(session, cohort.organization, cohort, InvitationRole.INSTRUCTOR, [(address, name)], invited_by.id,
                         link_for, now)
    return invitation


def invite_organization_admin(session: DbSession, org: Organization, email: str, name: str, invited_by_id: int | None,
                              link_for: LinkFor, now: datetime | None = None) -> Invitation:
    """Invite one address to administer ``org`` (a site admin's action): they become one of
    its administrators when they accept, making their account then if they have none.
    Inviting it again replaces the earlier link."""
    now = now or utcnow()
    address, name = _address_and_name(email, name)
    if session.scalar(select(exists().where(organization_admins.c.organization_id == org.id,
                                            organization_admins.c.user_id == User.id, User.email == address))):
        raise CohortError(f"{address} is already an administrator of {org.name}.")
    [invitation] = _send(session, org, None, InvitationRole.ORGANIZATION_ADMIN, [(address, name)], invited_by_id, link_for, now)
    return invitation


def _unanswered(cohort: Cohort) -> tuple[ColumnElement[bool], ...]:
    """Invited, not joined: neither accepted nor withdrawn, expired ones included (they can
    be sent again), learners' and instructors'. Someone who became a learner (or an
    instructor) of the cohort otherwise is not listed."""
    learns = exists().where(Enrolment.cohort_id == Invitation.cohort_id, Enrolment.active,
                            Enrolment.user_id == User.id, User.email == Invitation.email)
    teaches = exists().where(cohort_instructors.c.cohort_id == Invitation.cohort_id,
                             cohort_instructors.c.user_id == User.id, User.email == Invitation.email)
    joined = or_(and_(Invitation.role == InvitationRole.LEARNER, learns),
                 and_(Invitation.role == InvitationRole.INSTRUCTOR, teaches))
    return (Invitation.cohort_id == cohort.id, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None), ~joined)


@dataclass(frozen=True)
class InvitedPage:
    """One page of the cohort's invitations not answered, oldest first, and how many there are."""

    invitations: list[Invitation]
    page: int
    total: int


def unanswered_page(session: DbSession, cohort: Cohort, page: int, per_page: int) -> InvitedPage:
    """One page of the cohort's invitations not answered (``_unanswered``; out of range: the nearest page) and their
    number: two statements, however many were invited (an import sends up to 2,000)."""
    total = session.scalar(select(func.count()).select_from(Invitation).where(*_unanswered(cohort))) or 0
    page = min(max(page, 1), max((total + per_page - 1) // per_page, 1))
    found = list(session.scalars(select(Invitation).where(*_unanswered(cohort))
                                 .order_by(Invitation.created_at, Invitation.id).offset((page - 1) * per_page).limit(per_page)))
    return InvitedPage(found, page, int(total))


def unanswered_admin_invitations(session: DbSession, org: Organization) -> list[Invitation]:
    """The organization's administrators invited, not joined (expired ones included): one statement."""
    administers = exists().where(organization_admins.c.organization_id == Invitation.organization_id,
                                 organization_admins.c.user_id == User.id, User.email == Invitation.email)
    return list(session.scalars(select(Invitation).where(
        Invitation.organization_id == org.id, Invitation.role == InvitationRole.ORGANIZATION_ADMIN,
        Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None), ~administers)
        .order_by(Invitation.created_at, Invitation.id)))


def resend_invitation(session: DbSession, invitation: Invitation, link_for: LinkFor,
                      now: datetime | None = None) -> Invitation:
    """A new link (the old one stops working) with a new expiry, mailed again."""
    now = now or utcnow()
    if invitation.accepted_at is not None:
        raise CohortError(f"{invitation.email} has already joined; there is nothing to send again.")
    if invitation.revoked_at is not None:
        raise CohortError(f"The invitation of {invitation.email} was withdrawn or replaced; invite them again.")
    if invitation.cohort is not None:
        _open(invitation.cohort, invitation.role)
    token, digest = new_token()
    before = {"expires_at": invitation.expires_at}
    invitation.token_hash, invitation.expires_at = digest, expires_for(invitation.cohort, now)
    invitation.resent_at = now
    session.flush()
    record_from(session, action=AuditAction.INVITATION_RESENT, organization_id=invitation.organization_id,
                target=f"invitation:{invitation.id} {_where(invitation)}", before=before,
                after={"expires_at": invitation.expires_at})
    _invitation_mail(session, invitation, link_for(token), _reader_zones(session, [invitation.email]).get(invitation.email))
    return invitation


def withdraw_invitation(session: DbSession, invitation: Invitation, now: datetime | None = None) -> Invitation:
    """The link stops working; the person is told nothing and nothing else changes."""
    if invitation.accepted_at is not None:
        raise CohortError(f"{invitation.email} has already joined; "
                          + ("move or remove them as a learner instead." if invitation.role is InvitationRole.LEARNER
                             else "take them off the staff instead."))
    if invitation.revoked_at is not None:
        raise CohortError(f"The invitation of {invitation.email} was already withdrawn.")
    invitation.revoked_at = now or utcnow()
    session.flush()
    record_from(session, action=AuditAction.INVITATION_WITHDRAWN, organization_id=invitation.organization_id,
                target=f"invitation:{invitation.id} {_where(invitation)}", before={"revoked_at": None},
                after={"revoked_at": invitation.revoked_at})
    return invitation


def _where(invitation: Invitation) -> str:
    """The place an invitation is to, as the audit log names it."""
    return f"cohort:{invitation.cohort_id}" if invitation.cohort_id is not None else f"organization:{invitation.organization_id}"


@dataclass(frozen=True)
class InvitationCheck:
    invitation: Invitation | None
    problem: str | None
    existing_user: User | None = None
    accepted: Invitation | None = None  # the link's invitation when it was accepted already


def check_invitation(session: DbSession, token: str, now: datetime | None = None) -> InvitationCheck:
    now = now or utcnow()
    invitation = session.scalar(select(Invitation).where(Invitation.token_hash == hash_token(token)))
    if invitation is None or invitation.revoked_at is not None:
        return InvitationCheck(None, "This invitation link is not valid. Ask your organization for a new one.")
    if invitation.accepted_at is not None:
        return InvitationCheck(None, "This invitation has already been accepted. Sign in instead.", accepted=invitation)
    if invitation.expires_at <= now:
        return InvitationCheck(None, "This invitation has expired. Ask your organization for a new one.")
    if invitation.cohort is not None and invitation.cohort.archived:
        return InvitationCheck(None, f"This cohort is archived and takes no new {invitation.role.label}s.")
    return InvitationCheck(invitation, None, find_user(session, invitation.email))


def accept_invitation(session: DbSession, token: str, name: str, password: str,
                      now: datetime | None = None, timezone: str | None = None) -> User:
    """A new person sets their name, password and time zone (None: ``invited_zone``) and
    takes the place they are invited to."""
    now = now or utcnow()
    check = check_invitation(session, token, now)
    if check.invitation is None:
        raise CohortError(check.problem or "Invalid invitation.")
    user = check.existing_user
    zone = timezone or invited_zone(session, check.invitation).zone
    try:
        if user is None:
            user = create_user(session, check.invitation.email, name, password, timezone=zone)
        elif user.has_password:
            raise CohortError("You already have an account: sign in, then open the invitation link again.")
        else:  # made by an administrator (staff welcome, or an older import), never signed in yet
            user.name = person_name(name)
            set_password(user, password)
            update_profile(session, user, user.name, zone)
    except AccountError as exc:
        raise CohortError(str(exc)) from exc
    _take_place(session, check.invitation, user, now)
    return user


class ZoneSource(StrEnum):
    """Where the time zone a new account starts on comes from (an invitation's acceptance,
    or an account made at a first single sign-on: lms.sso)."""

    COHORT = "cohort"              # the cohort's (a learner's or an instructor's invitation)
    ORGANIZATION = "organization"  # the zone most of the organization's cohorts are on (an administrator's)
    NONE = "none"                  # UTC: an administrator's, of an organization with no cohort
    PROVIDER = "provider"          # the person's own, as their organization's sign-in provider gave it
    DEFAULT = "default"            # UTC: no provider's zone and no open invitation to take one from


@dataclass(frozen=True)
class InvitedZone:
    zone: str
    source: ZoneSource
    cohort: str = ""  # the cohort's name, when the zone is a cohort's


def invited_zone(session: DbSession, invitation: Invitation) -> InvitedZone:
    """The time zone a new account starts on unless its owner chooses another: its cohort's
    (the clock its months open on); for an organization's administrator, the zone most of
    the organization's cohorts are on (``organization_zone``), else UTC. One statement for
    an administrator's invitation, none for a cohort's. The one rule for an acceptance with a
    password and an account made at a first single sign-on (``open_invitation_zone``)."""
    if invitation.cohort is not None:
        return InvitedZone(invitation.cohort.timezone, ZoneSource.COHORT, invitation.cohort.name)
    zone = organization_zone(session, invitation.organization_id)
    return InvitedZone(zone, ZoneSource.ORGANIZATION) if zone else InvitedZone("UTC", ZoneSource.NONE)


def zone_reason(invited: InvitedZone, organization: str) -> str:
    """Why a new account starts on ``invited.zone``, as the pages say it after the zone
    ("Preselected: Asia/Tokyo, <reason>.")."""
    match invited.source:
        case ZoneSource.COHORT:
            return f"the time zone of {invited.cohort}" if invited.cohort else "the time zone of your cohort"
        case ZoneSource.ORGANIZATION:
            return f"the most common time zone of the cohorts of {organization}"
        case ZoneSource.NONE:
            return f"as {organization} has no cohort to take a time zone from"
        case ZoneSource.PROVIDER:
            return f"the time zone the sign-in provider of {organization} gave for you"
        case ZoneSource.DEFAULT:
            return f"as neither the sign-in provider of {organization} nor an invitation gave a time zone"


def organization_zone(session: DbSession, organization_id: int) -> str | None:
    """The time zone most of the organization's cohorts are on: its open cohorts counted
    first (then the archived ones, then by name, so a tie always gives the same zone).
    None when it has no cohort. One statement."""
    open_ = func.sum(case((Cohort.archived_at.is_(None), 1), else_=0))
    return session.scalar(select(Cohort.timezone).where(Cohort.organization_id == organization_id)
                          .group_by(Cohort.timezone)
                          .order_by(open_.desc(), func.count(Cohort.id).desc(), Cohort.timezone).limit(1))


def open_invitation_zone(session: DbSession, email: str, organization_id: int,
                         now: datetime | None = None) -> InvitedZone | None:
    """The time zone an account made for ``email`` another way than by accepting (single
    sign-on) starts on: that of its newest open invitation to ``organization_id``, by the
    acceptance's rule (``invited_zone``: the cohort's, or for an administrator the zone most
    of the organization's cohorts are on). An invitation to an archived cohort is passed
    over. None when there is no open invitation."""
    invitation = open_invitation(session, email, organization_id, now)
    return None if invitation is None else invited_zone(session, invitation)


def open_invitation(session: DbSession, email: str, organization_id: int,
                    now: datetime | None = None) -> Invitation | None:
    """The newest open invitation of ``email`` to ``organization_id`` (an invitation to an
    archived cohort passed over): the one a first single sign-on takes up. One statement."""
    now = now or utcnow()
    return session.scalar(
        select(Invitation).outerjoin(Cohort, Invitation.cohort_id == Cohort.id)
        .where(Invitation.email == email.strip().lower(), Invitation.organization_id == organization_id,
               Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None), Invitation.expires_at > now,
               or_(Invitation.cohort_id.is_(None), Cohort.archived_at.is_(None)))
        .order_by(Invitation.created_at.desc(), Invitation.id.desc()).limit(1))


def open_invitations_of(session: DbSession, emails: Collection[str], organization_ids: Collection[int],
                        now: datetime | None = None) -> set[tuple[str, int]]:
    """Which of ``emails`` hold an open invitation of which of ``organization_ids`` (to a
    cohort, or to administer it): the organization has asked that person in. One statement
    whatever their number (none when either is empty)."""
    if not emails or not organization_ids:
        return set()
    now = now or utcnow()
    rows = session.execute(
        select(Invitation.email, Invitation.organization_id).distinct()
        .where(Invitation.email.in_(sorted({e.strip().lower() for e in emails})),
               Invitation.organization_id.in_(sorted(set(organization_ids))),
               Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None), Invitation.expires_at > now))
    return {(email, organization_id) for email, organization_id in rows}


def accept_invitation_as(session: DbSession, token: str, user: User, now: datetime | None = None) -> None:
    """A signed-in person whose email the invitation names takes the place they are invited to."""
    now = now or utcnow()
    check = check_invitation(session, token, now)
    if check.invitation is None:
        raise CohortError(check.problem or "Invalid invitation.")
    if check.invitation.email != user.email:
        raise CohortError(f"This invitation is for {check.invitation.email}; you are signed in as {user.email}.")
    _take_place(session, check.invitation, user, now)


def accept_open_invitation(session: DbSession, invitation: Invitation, user: User, now: datetime | None = None) -> None:
    """``user``, whose email the invitation names, takes the place it offers: what a first
    single sign-on (lms/sso) confirmed by its owner does, as an acceptance with a password
    does for a new account."""
    now = now or utcnow()
    if invitation.email != user.email:
        raise CohortError(f"This invitation is for {invitation.email}; you are signed in as {user.email}.")
    if invitation.revoked_at is not None or invitation.expires_at <= now:
        raise CohortError("This invitation was withdrawn or has expired. Ask your organization for a new one.")
    _take_place(session, invitation, user, now)


def _take_place(session: DbSession, invitation: Invitation, user: User, now: datetime) -> None:
    """The owner's own action: only here does an invitation make someone a learner, an
    instructor or an administrator. The invitation is claimed first, by a conditional
    UPDATE: of two acceptances of one link at once (a double click) the second finds it
    taken and is refused, instead of adding the person twice."""
    claimed = session.execute(update(Invitation).where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None))
                              .values(accepted_at=now).execution_options(synchronize_session=False))
    if rowcount(claimed) != 1:
        raise CohortError("This invitation has already been accepted. Sign in instead.")
    if invitation.role is InvitationRole.INSTRUCTOR:
        _teach(session, invitation, user, now)
    elif invitation.role is InvitationRole.ORGANIZATION_ADMIN:
        _administer(session, invitation, user, now)
    else:
        _join(session, invitation, user, now)


def _teach(session: DbSession, invitation: Invitation, user: User, now: datetime) -> None:
    """The person becomes an instructor of the invitation's cohort, unless they learn in it."""
    cohort = _cohort_of(invitation)
    if session.scalar(select(exists().where(Enrolment.cohort_id == cohort.id, Enrolment.user_id == user.id,
                                            Enrolment.active))):
        raise CohortError(f"You are a learner of {cohort.name}, and a learner cannot teach their own cohort. Ask "
                          f"{cohort.organization.name} to end your enrolment in it first if you are to teach it; "
                          "this invitation stays valid until it expires.")
    add_instructor(session, cohort, user, actor_id=user.id)
    invitation.accepted_at = now
    session.flush()


def _administer(session: DbSession, invitation: Invitation, user: User, now: datetime) -> None:
    """The person becomes an administrator of the invitation's organization."""
    org = invitation.organization
    if user not in org.admins:
        before = organization_state(org)
        org.admins.append(user)
        session.flush()
        record_from(session, action=AuditAction.ORGANIZATION_EDITED, organization_id=org.id, target=f"organization:{org.id}",
                    before=before, after=organization_state(org), actor_id=user.id)
    invitation.accepted_at = now
    session.flush()


def _join(session: DbSession, invitation: Invitation, user: User, now: datetime) -> None:
    """The owner's own action: only here does an invitation become an enrolment, with the
    pace the manager chose. A conflict is told to the person accepting."""
    cohort = _cohort_of(invitation)
    if teaches(session, cohort.id, user.id):
        raise CohortError(f"You teach {cohort.name}, so you cannot also join it as a learner. Ask "
                          f"{cohort.organization.name} to take you off its instructors first if you mean to learn in it.")
    enrolment = active_enrolment(session, user.id)
    if enrolment is None:
        enrol(session, cohort, user, now, pace=invitation.pace, actor_id=user.id)  # their own action, as _teach's
    elif enrolment.cohort_id != invitation.cohort_id:
        current = enrolment.cohort
        raise CohortError(
            f"You are already a learner of {current.name} ({current.organization.name}), and a person is in one cohort "
            f"at a time. To join {cohort.name}, first ask {current.organization.name} to end your "
            f"enrolment there; this invitation stays valid until it expires.")
    invitation.accepted_at = now
    session.flush()
    invitation_accepted.send(invitation, session=session, now=now, user=user)
