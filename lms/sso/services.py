"""Saving an organization's single sign-on settings, and deciding who a checked ID token
signs in.

Who is signed in: the account already linked to the provider's (issuer, subject) for this
organization; else, on a first sign-in, the account with the token's email when the
provider says it is verified, its domain is one the organization allows and the account
belongs to the organization or holds an open invitation of it; else a new account, only
when the organization allows creating them (and none has the address). Nobody who belongs to another
organization only, no site admin and no deactivated account is ever signed in this way."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from lms.accounts.models import User
from lms.accounts.services import MAX_NAME_CHARS, TIMEZONES, AccountError, create_user, find_user, tidy_name
from lms.audit.models import AuditAction
from lms.audit.services import record_from
from lms.cohorts.invitations import InvitedZone, ZoneSource, accept_open_invitation, open_invitation, open_invitation_zone
from lms.cohorts.models import Invitation, Organization
from lms.cohorts.roles import Outsider, outsider_to, roles_of
from lms.cohorts.services import CohortError
from lms.database import DbSession, utcnow
from lms.sso.models import DOMAINS_LENGTH, ISSUER_LENGTH, SsoConfig, SsoIdentity
from lms.sso.oidc import Client, Identity

DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class SsoSettingsError(Exception):
    """The settings were refused; the message says why."""


class Refusal(Exception):
    """The checked identity may not sign in here; the message says why."""


# Secrets ---------------------------------------------------------------------------------

def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"lms.sso.client-secret:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_secret(secret_key: str, secret: str) -> str:
    return _fernet(secret_key).encrypt(secret.encode()).decode()


def decrypt_secret(secret_key: str, encrypted: str) -> str:
    try:
        return _fernet(secret_key).decrypt(encrypted.encode()).decode()
    except InvalidToken as exc:
        raise SsoSettingsError("The stored client secret cannot be read (was SECRET_KEY changed?): "
                               "an organization admin must enter it again.") from exc


# Settings --------------------------------------------------------------------------------

def config_of(session: DbSession, org_id: int) -> SsoConfig | None:
    return session.scalar(select(SsoConfig).where(SsoConfig.organization_id == org_id))


def parse_domains(text: str) -> list[str]:
    domains = sorted({part.strip().lower().lstrip("@") for part in re.split(r"[\s,;]+", text) if part.strip()})
    bad = [domain for domain in domains if not DOMAIN.match(domain)]
    if bad:
        raise SsoSettingsError(f"Not a domain name: {', '.join(bad)}.")
    if len(" ".join(domains)) > DOMAINS_LENGTH:
        raise SsoSettingsError("Too many allowed domains.")
    return domains


def _issuer_problem(issuer: str) -> str | None:
    if len(issuer) > ISSUER_LENGTH:
        return "The issuer is too long."
    if not re.match(r"^https://[^\s/?#]+[^\s?#]*$", issuer) and not re.match(
            r"^http://(localhost|127\.0\.0\.1)(:\d+)?(/[^\s?#]*)?$", issuer):
        return "The issuer must be an https:// address without query or fragment (e.g. https://login.example.org)."
    return None


def _state(config: SsoConfig) -> dict[str, Any]:
    """What the audit log keeps (never the secret)."""
    return {"issuer": config.issuer, "client_id": config.client_id, "allowed_domains": config.domains,
            "create_accounts": config.create_accounts, "enabled": config.enabled}


@dataclass(frozen=True)
class Settings:
    issuer: str
    client_id: str
    client_secret: str | None  # None or "": keep the stored one
    allowed_domains: str
    create_accounts: bool
    enabled: bool


def save_settings(session: DbSession, org: Organization, settings: Settings, *, revision: int | None,
                  secret_key: str, actor_id: int) -> SsoConfig:
    """Create or change ``org``'s settings. ``revision`` is the one the form was shown
    with (None when there was none yet): a change made meanwhile is refused, not overwritten."""
    issuer = settings.issuer.strip()
    client_id = settings.client_id.strip()
    problem = _issuer_problem(issuer)
    if problem:
        raise SsoSettingsError(problem)
    if not client_id or len(client_id) > 255:
        raise SsoSettingsError("A client id (at most 255 characters) is required.")
    domains = parse_domains(settings.allowed_domains)
    if not domains:
        raise SsoSettingsError("Name at least one email domain whose people sign in through this provider.")
    taken = _domains_of_others(session, org.id, domains)
    if taken:
        raise SsoSettingsError(f"Another organization already signs in people of {', '.join(taken)}.")
    config = session.scalar(select(SsoConfig).where(SsoConfig.organization_id == org.id).with_for_update())
    if config is None:
        if revision is not None:
            raise SsoSettingsError("These settings were removed meanwhile; reload the page.")
        if not settings.client_secret:
            raise SsoSettingsError("A client secret is required.")
        config = SsoConfig(organization_id=org.id, issuer=issuer, client_id=client_id,
                           client_secret_encrypted=encrypt_secret(secret_key, settings.client_secret),
                           allowed_domains=" ".join(domains), create_accounts=settings.create_accounts,
                           enabled=settings.enabled, revision=1, updated_at=utcnow())
        session.add(config)
        try:
            session.flush()
        except IntegrityError as exc:
            raise SsoSettingsError("Someone else saved these settings meanwhile; reload the page.") from exc
        before = None
    else:
        if revision != config.revision:
            raise SsoSettingsError("Someone else changed these settings meanwhile; reload the page to see them.")
        before = _state(config)
        config.issuer, config.client_id = issuer, client_id
        config.allowed_domains = " ".join(domains)
        config.create_accounts, config.enabled = settings.create_accounts, settings.enabled
        if settings.client_secret:
            config.client_secret_encrypted = encrypt_secret(secret_key, settings.client_secret)
        config.revision += 1
        config.updated_at = utcnow()
        session.flush()
    after = _state(config) | {"client_secret_changed": bool(settings.client_secret)}
    record_from(session, actor_id=actor_id, action=AuditAction.SSO_CONFIGURED, organization_id=org.id,
                target=f"organization:{org.id}", before=before, after=after)
    return config


def _domains_of_others(session: DbSession, org_id: int, domains: list[str]) -> list[str]:
    wanted = set(domains)
    others = session.scalars(select(SsoConfig.allowed_domains).where(SsoConfig.organization_id != org_id))
    return sorted(wanted & {domain for row in others for domain in row.split()})


def client_of(config: SsoConfig, secret_key: str, allow_local: bool = False) -> Client:
    """The provider's client; ``allow_local``: its calls may reach local and private addresses
    (development and tests only, ``SSO_ALLOW_LOCAL``)."""
    return Client(issuer=config.issuer, client_id=config.client_id,
                  client_secret=decrypt_secret(secret_key, config.client_secret_encrypted), allow_local=allow_local)


def config_for_email(session: DbSession, email: str) -> SsoConfig | None:
    """The enabled settings whose allowed domains hold ``email``'s domain."""
    domain = email.strip().lower().rpartition("@")[2]
    if not domain:
        return None
    for config in session.scalars(select(SsoConfig).where(SsoConfig.enabled.is_(True))):
        if domain in config.domains:
            return config
    return None


# Who signs in ----------------------------------------------------------------------------

class Outcome(StrEnum):
    SIGN_IN = "sign_in"      # already linked: signed in at once
    LINK = "link"            # an existing account, linked on confirmation
    CREATE = "create"        # a new account, created on confirmation


@dataclass(frozen=True)
class Match:
    outcome: Outcome
    user: User | None
    email: str
    # A first sign-in (link or create) takes up the person's newest open invitation of the
    # organization, as accepting it with a password would: confirming says so.
    invitation: Invitation | None = None


OTHER_ORGANIZATION = "This account belongs to another organization: it cannot sign in through this one's provider."


def _check_account(user: User) -> None:
    if not user.is_active:
        raise Refusal("This account is deactivated. Ask your organization's administrator.")
    if user.is_admin:
        raise Refusal("Site administrators sign in with their password, not through an organization's provider.")


def _check_user(session: DbSession, config: SsoConfig, user: User) -> None:
    _check_account(user)
    member_of = roles_of(session, user).member_of
    if member_of and config.organization_id not in member_of:
        raise Refusal(OTHER_ORGANIZATION)


def match(session: DbSession, config: SsoConfig, identity: Identity) -> Match:
    """Who ``identity`` (already checked by ``oidc.finish``) signs in, without writing."""
    if not config.enabled:
        raise Refusal("Single sign-on is switched off for this organization.")
    linked = session.scalar(select(SsoIdentity).where(
        SsoIdentity.organization_id == config.organization_id, SsoIdentity.issuer == identity.issuer,
        SsoIdentity.subject == identity.subject))
    if linked is not None:
        _check_user(session, config, linked.user)
        return Match(Outcome.SIGN_IN, linked.user, linked.user.email)
    if not identity.email:
        raise Refusal("The provider did not share your email address, so no account can be found for you.")
    if not identity.email_verified:
        raise Refusal("The provider does not vouch for your email address (it is not verified there).")
    domain = identity.email.rpartition("@")[2]
    if domain not in config.domains:
        raise Refusal(f"Addresses at {domain} do not sign in through this organization's provider.")
    user = find_user(session, identity.email)
    if user is not None:
        _check_account(user)
        outsider = outsider_to(session, user, config.organization_id)
        if outsider is Outsider.OTHER_ORGANIZATION:
            raise Refusal(OTHER_ORGANIZATION)
        if outsider is Outsider.NO_TIE:
            # The organization's admins chose this provider and its domains: they vouch for
            # their own people, not for an account outside every organization (whose roles
            # ended, or that was never placed) that happens to have an address there.
            raise Refusal("This account does not belong to this organization: sign in with your password, "
                          "or ask the organization's administrator to invite you first.")
        if session.scalar(select(SsoIdentity.id).where(SsoIdentity.organization_id == config.organization_id,
                                                       SsoIdentity.user_id == user.id)) is not None:
            raise Refusal("This account is already linked to another account at the provider.")
        return Match(Outcome.LINK, user, user.email, open_invitation(session, user.email, config.organization_id))
    if not config.create_accounts:
        raise Refusal(f"There is no account for {identity.email}, and this organization does not create accounts "
                      "at first sign-in: ask your organization's administrator to invite you.")
    return Match(Outcome.CREATE, None, identity.email, open_invitation(session, identity.email, config.organization_id))


def new_account_zone(session: DbSession, config: SsoConfig, identity: Identity) -> InvitedZone:
    """The time zone an account made at a first sign-in starts on: the provider's
    ``zoneinfo`` when it names a zone known here; else that of the person's open invitation
    to this organization, by the rule an acceptance with a password follows
    (``lms.cohorts.invitations.invited_zone``: the cohort's, or for an administrator the zone
    most of the organization's cohorts are on); else UTC. An existing account's zone is never
    changed."""
    if identity.zoneinfo is not None and identity.zoneinfo in TIMEZONES:
        return InvitedZone(identity.zoneinfo, ZoneSource.PROVIDER)
    invited = open_invitation_zone(session, identity.email or "", config.organization_id)
    return invited or InvitedZone("UTC", ZoneSource.DEFAULT)


@dataclass(frozen=True)
class Confirmed:
    user: User
    zone: InvitedZone | None  # the zone a new account started on (None: the account was there)
    accepted: Invitation | None = None  # the invitation taken up
    refused: str | None = None  # why the person's invitation could not be taken up (they are signed in all the same)


def confirm(session: DbSession, config: SsoConfig, identity: Identity) -> Confirmed:
    """Link (and if allowed create) the account ``match`` found, checking again."""
    found = match(session, config, identity)
    user, zone = found.user, None
    if found.outcome is Outcome.CREATE:
        # The provider's name when it has a letter or digit, else the address's local part.
        name = tidy_name((identity.name or "")[:MAX_NAME_CHARS]) or found.email.partition("@")[0]
        zone = new_account_zone(session, config, identity)
        try:
            user = create_user(session, found.email, name, timezone=zone.zone)
        except AccountError as exc:
            raise Refusal(str(exc)) from exc
    assert user is not None
    if found.outcome is not Outcome.SIGN_IN:
        session.add(SsoIdentity(organization_id=config.organization_id, user_id=user.id, issuer=identity.issuer,
                                subject=identity.subject, created_at=utcnow()))
        try:
            session.flush()
        except IntegrityError as exc:
            raise Refusal("This sign-in was completed meanwhile in another tab; sign in again.") from exc
    accepted, refused = None, None
    if found.invitation is not None:
        # As accepting with a password does: the place the invitation offers is taken now
        # (else the person was signed in, but neither enrolled nor made staff). A conflict
        # (say, a learner of another cohort) is told; the sign-in stands.
        try:
            with session.begin_nested():
                accept_open_invitation(session, found.invitation, user)
            accepted = found.invitation
        except CohortError as exc:
            refused = str(exc)
    user.last_login_at = utcnow()
    session.flush()
    return Confirmed(user, zone, accepted, refused)
