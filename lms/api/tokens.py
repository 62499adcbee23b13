"""API tokens: create (the secret returned once, its hash kept), list, revoke, and find
the token a request presents. Services flush, never commit."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from lms.accounts.models import User
from lms.api.models import ApiToken, Scope
from lms.audit.models import AuditAction
from lms.audit.services import record_from
from lms.cohorts.models import Organization
from lms.cohorts.roles import roles_of
from lms.database import DbSession, insert_unless_there, utcnow

SECRET_PREFIX = "lms_"
NAME_MAX = 100
LAST_USED_EVERY = 60  # seconds: last-used time is written at most once a minute per token


class TokenError(ValueError):
    """A token request refused, with a message for the person; ``field`` names the form's
    field the message belongs under."""

    def __init__(self, message: str, field: str = "name") -> None:
        super().__init__(message)
        self.field = field


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored ("" when ``made`` is False: it was shown when it was made)
    made: bool = True  # False: the same form had been sent before (a reload, a double click) and made ``token``


def parse_scopes(values: Iterable[str]) -> list[str]:
    chosen = []
    for value in values:
        try:
            chosen.append(Scope(value).value)
        except ValueError as exc:
            raise TokenError(f"Unknown scope {value!r}.", field="scopes") from exc
    if not chosen:
        raise TokenError("Choose at least one scope.", field="scopes")
    return sorted(set(chosen))


def create_token(session: DbSession, owner: User, name: str, scopes: Iterable[str], expires_at: datetime | None,
                 organization: Organization | None = None, now: datetime | None = None,
                 form_token: str | None = None) -> NewToken:
    """A token of ``owner``; with ``organization``, an organization token (its admins and
    site admins only) limited to that organization's data. ``form_token`` is the one-time
    value of the form it came from: the same form sent again (a reload, a double click, at
    once too) finds the token it made (``made`` False, no secret: that was shown once) and
    makes none."""
    now = now or utcnow()
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise TokenError(f"Give the token a name of 1 to {NAME_MAX} characters.")
    if expires_at is not None and expires_at <= now:
        raise TokenError("The expiry must be in the future.", field="expires_on")
    if organization is not None and not owner.is_admin and organization.id not in roles_of(session, owner).admin_of:
        raise TokenError("Only the organization's admins create its tokens.")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    values = {"user_id": owner.id, "organization_id": organization.id if organization else None, "name": name,
              "prefix": secret[:12], "token_hash": hash_secret(secret), "scopes": parse_scopes(scopes),
              "created_at": now, "expires_at": expires_at, "form_token": form_token or None}
    if form_token:
        # Another request sending the same form at this moment has this one wait for it,
        # then find its token: one row, and this answer says so.
        made = insert_unless_there(session, ApiToken, values, ("user_id", "form_token"))
        token = session.scalars(select(ApiToken).where(ApiToken.user_id == owner.id, ApiToken.form_token == form_token)
                                .execution_options(populate_existing=True)).one()
        if not made:
            return NewToken(token=token, secret="", made=False)
    else:
        token = ApiToken(**values)
        session.add(token)
        session.flush()
    record_from(session, action=AuditAction.API_TOKEN_CREATED, organization_id=token.organization_id,
                target=f"api_token:{token.id}", before=None, after=_audited(token), actor_id=owner.id)
    return NewToken(token=token, secret=secret)


def _audited(token: ApiToken) -> dict[str, object]:
    """What the audit log keeps of a token: never the secret or its hash, only its prefix."""
    return {"name": token.name, "prefix": token.prefix, "owner_id": token.user_id, "scopes": list(token.scopes),
            "expires_at": token.expires_at, "revoked_at": token.revoked_at}


def personal_tokens(session: DbSession, owner: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == owner.id, ApiToken.organization_id.is_(None))
                                .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def organization_tokens(session: DbSession, organization: Organization) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.organization_id == organization.id)
                                .options(selectinload(ApiToken.user))
                                .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def revoke_token(session: DbSession, token: ApiToken, now: datetime | None = None, actor_id: int | None = None) -> None:
    """Revoking twice is harmless: the first time stands (and is the one audited). The
    actor is the request's signed-in person unless ``actor_id`` names one."""
    if token.revoked_at is None:
        before = _audited(token)
        token.revoked_at = now or utcnow()
        session.flush()
        record_from(session, action=AuditAction.API_TOKEN_REVOKED, organization_id=token.organization_id,
                    target=f"api_token:{token.id}", before=before, after=_audited(token), actor_id=actor_id)


def revoke_personal_tokens(session: DbSession, owner: User, now: datetime | None = None) -> int:
    """Revoke every personal token of ``owner`` still usable, each audited as revoked by
    them; how many. Organization tokens they made stay (they serve the organization)."""
    now = now or utcnow()
    revoked = 0
    for token in personal_tokens(session, owner):
        if token.usable(now):
            revoke_token(session, token, now, actor_id=owner.id)
            revoked += 1
    return revoked


def on_password_replaced(sender: User, *, session: DbSession, now: datetime, revoke_api_tokens: bool,
                         **_extra: object) -> int:
    """``lms.accounts.services.password_replaced``: the person asked that their personal
    tokens stop working with the old password. How many were revoked."""
    return revoke_personal_tokens(session, sender, now) if revoke_api_tokens else 0


@dataclass(frozen=True)
class Presented:
    """What a request's bearer token turned out to be."""

    token: ApiToken | None
    problem: str | None  # why it is refused (None: usable)


def find_token(session: DbSession, secret: str, now: datetime | None = None) -> Presented:
    """The token for ``secret`` and whether it may be used now (one statement)."""
    now = now or utcnow()
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        return Presented(None, "The bearer token is not an API token of this platform.")
    row = session.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                          .where(ApiToken.token_hash == hash_secret(secret))).first()
    if row is None:
        return Presented(None, "The bearer token is unknown.")
    token, user = row
    if token.revoked_at is not None:
        return Presented(token, "The token was revoked.")
    if token.expires_at is not None and token.expires_at <= now:
        return Presented(token, "The token has expired.")
    if not user.is_active:
        return Presented(token, "The token's owner is deactivated.")
    return Presented(token, None)


def note_use(session: DbSession, token_id: int, now: datetime | None = None) -> None:
    """Record the last-used time (a conditional write, at most once a minute)."""
    now = now or utcnow()
    session.execute(update(ApiToken).where(ApiToken.id == token_id)
                    .where((ApiToken.last_used_at.is_(None)) | (ApiToken.last_used_at < now - timedelta(seconds=LAST_USED_EVERY)))
                    .values(last_used_at=now))
