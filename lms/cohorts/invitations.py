"""Invitations: a learner is invited by email to a cohort and joins through a single-use,
expiring link, as a new person or signed in. Only flushes; the caller commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from lms.accounts.models import User
from lms.accounts.services import AccountError, create_user, find_user, hash_token, new_token, normalise_email, set_password
from lms.cohorts.enrolment import active_enrolment, enrol, enrolled_where
from lms.cohorts.models import Cohort, Invitation
from lms.cohorts.services import CohortError, LinkFor
from lms.database import DbSession, utcnow
from lms.mail.services import queue_mail

INVITATION_LIFETIME = timedelta(days=14)


def _invitation_mail(session: DbSession, invitation: Invitation, link: str) -> None:
    queue_mail(session, invitation.email, f"Join {invitation.cohort.name} on the AI Operations program",
               f"Hello{(' ' + invitation.name) if invitation.name else ''},\n\n"
               f"You are invited to the cohort {invitation.cohort.name} of {invitation.cohort.organization.name}. "
               f"Accept here within {INVITATION_LIFETIME.days} days:\n{link}\n")


def invite_learner(session: DbSession, cohort: Cohort, email: str, name: str, invited_by: User,
                   link_for: LinkFor, now: datetime | None = None) -> Invitation:
    now = now or utcnow()
    if cohort.archived:
        raise CohortError(f"{cohort.name} is archived; it takes no new learners.")
    try:
        address = normalise_email(email)
    except AccountError as exc:
        raise CohortError(str(exc)) from exc
    existing = find_user(session, address)
    if existing is not None:
        current = active_enrolment(session, existing.id)
        if current is not None:
            raise CohortError(f"{address} is already enrolled in {enrolled_where(current.cohort, cohort)}.")
    for pending in session.scalars(select(Invitation).where(
            Invitation.cohort_id == cohort.id, Invitation.email == address,
            Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))):
        pending.revoked_at = now  # a new invitation replaces the old link
    token, digest = new_token()
    invitation = Invitation(cohort=cohort, email=address, name=name.strip(), token_hash=digest,
                            invited_by_id=invited_by.id, created_at=now, expires_at=now + INVITATION_LIFETIME)
    session.add(invitation)
    session.flush()
    _invitation_mail(session, invitation, link_for(token))
    return invitation


def pending_invitations(session: DbSession, cohort: Cohort, now: datetime | None = None) -> list[Invitation]:
    now = now or utcnow()
    return list(session.scalars(select(Invitation).where(
        Invitation.cohort_id == cohort.id, Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None), Invitation.expires_at > now).order_by(Invitation.created_at)))


@dataclass(frozen=True)
class InvitationCheck:
    invitation: Invitation | None
    problem: str | None
    existing_user: User | None = None


def check_invitation(session: DbSession, token: str, now: datetime | None = None) -> InvitationCheck:
    now = now or utcnow()
    invitation = session.scalar(select(Invitation).where(Invitation.token_hash == hash_token(token)))
    if invitation is None or invitation.revoked_at is not None:
        return InvitationCheck(None, "This invitation link is not valid. Ask your organization for a new one.")
    if invitation.accepted_at is not None:
        return InvitationCheck(None, "This invitation has already been accepted. Sign in instead.")
    if invitation.expires_at <= now:
        return InvitationCheck(None, "This invitation has expired. Ask your organization for a new one.")
    if invitation.cohort.archived:
        return InvitationCheck(None, "This cohort is archived and takes no new learners.")
    return InvitationCheck(invitation, None, find_user(session, invitation.email))


def accept_invitation(session: DbSession, token: str, name: str, password: str,
                      now: datetime | None = None) -> User:
    """A new person sets their name and password and joins the cohort."""
    now = now or utcnow()
    check = check_invitation(session, token, now)
    if check.invitation is None:
        raise CohortError(check.problem or "Invalid invitation.")
    user = check.existing_user
    try:
        if user is None:
            user = create_user(session, check.invitation.email, name, password)
        elif user.has_password:
            raise CohortError("You already have an account: sign in, then open the invitation link again.")
        else:  # created by an import, never signed in yet
            user.name = name.strip() or user.name
            set_password(user, password)
    except AccountError as exc:
        raise CohortError(str(exc)) from exc
    _join(session, check.invitation, user, now)
    return user


def accept_invitation_as(session: DbSession, token: str, user: User, now: datetime | None = None) -> None:
    """A signed-in person whose email the invitation names joins the cohort."""
    now = now or utcnow()
    check = check_invitation(session, token, now)
    if check.invitation is None:
        raise CohortError(check.problem or "Invalid invitation.")
    if check.invitation.email != user.email:
        raise CohortError(f"This invitation is for {check.invitation.email}; you are signed in as {user.email}.")
    _join(session, check.invitation, user, now)


def _join(session: DbSession, invitation: Invitation, user: User, now: datetime) -> None:
    enrolment = active_enrolment(session, user.id)
    if enrolment is None:
        enrol(session, invitation.cohort, user, now)
    elif enrolment.cohort_id != invitation.cohort_id:
        raise CohortError("You are already enrolled in another cohort; ask your organization to move you.")
    invitation.accepted_at = now
    session.flush()
