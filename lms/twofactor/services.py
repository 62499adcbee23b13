"""Two-factor sign-in: enrolment, checking codes (TOTP, never the same time step twice;
single-use recovery codes), remembered devices, who must use it, the organization
setting and a site admin's reset. Services flush only; the caller's unit of work commits.

The TOTP secret is kept encrypted (Fernet, with a key derived from the app's secret key
and passed in by the caller); recovery codes and device tokens only as SHA-256 hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from lms.accounts.models import User
from lms.accounts.services import hold_users
from lms.audit.models import AuditAction
from lms.audit.services import Origin, record
from lms.cohorts.models import Cohort, cohort_instructors, organization_admins
from lms.database import DbSession, rowcount, utcnow
from lms.twofactor.models import RecoveryCode, RememberedDevice, TwoFactorCredential, TwoFactorPolicy

ISSUER = "LMS"
RECOVERY_CODES = 10
DEVICE_DAYS = 30
STEP_SECONDS = 30
# A code from the step before or after the current one is accepted (clocks drift).
DRIFT_STEPS = 1
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


class TwoFactorError(ValueError):
    """A problem the person can fix; the message is shown to them."""


# --------------------------------------------------------------------------- the secret at rest


def cipher_key(secret_key: str) -> bytes:
    """The Fernet key for TOTP secrets, derived from the app's ``SECRET_KEY``."""
    digest = hashlib.sha256(b"lms.two-factor.secret:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def _encrypt(key: bytes, secret: str) -> str:
    return Fernet(key).encrypt(secret.encode()).decode()


def _decrypt(key: bytes, stored: str) -> str:
    try:
        return Fernet(key).decrypt(stored.encode()).decode()
    except InvalidToken as exc:  # the secret key changed: the person must be reset
        raise TwoFactorError("Your two-factor secret cannot be read; ask a site admin to reset it.") from exc


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --------------------------------------------------------------------------- state


def credential(session: DbSession, user_id: int) -> TwoFactorCredential | None:
    return session.scalar(select(TwoFactorCredential).where(TwoFactorCredential.user_id == user_id))


def is_enrolled(session: DbSession, user_id: int) -> bool:
    found = credential(session, user_id)
    return found is not None and found.confirmed_at is not None


@dataclass(frozen=True)
class Status:
    enrolled: bool
    required: bool
    recovery_codes_left: int
    devices: list[RememberedDevice]


def status(session: DbSession, user: User, enforced: bool, now: datetime | None = None) -> Status:
    now = now or utcnow()
    left = session.scalar(select(func.count()).select_from(RecoveryCode)
                          .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0
    devices = list(session.scalars(select(RememberedDevice).where(
        RememberedDevice.user_id == user.id, RememberedDevice.revoked_at.is_(None), RememberedDevice.expires_at > now)
        .order_by(RememberedDevice.created_at.desc())))
    return Status(is_enrolled(session, user.id), enforced and required_for(session, user), left, devices)


def required_for(session: DbSession, user: User) -> bool:
    """Site admins and organization admins must use two-factor sign-in; instructors too
    when an organization they teach in requires it."""
    if user.is_admin:
        return True
    if session.scalar(select(exists().where(organization_admins.c.user_id == user.id))):
        return True
    return bool(session.scalar(select(exists().where(
        cohort_instructors.c.user_id == user.id,
        cohort_instructors.c.cohort_id == Cohort.id,
        TwoFactorPolicy.organization_id == Cohort.organization_id,
        TwoFactorPolicy.require_for_instructors.is_(True)))))


# --------------------------------------------------------------------------- enrolment


ENROLMENT_SECONDS = 900  # a set-up page's key must be confirmed within 15 minutes


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str
    token: str  # the secret encrypted for the set-up form (nothing is stored until it is confirmed)


def new_enrolment(session: DbSession, user: User, key: bytes) -> Enrolment:
    """A new secret for ``user``, shown once as a QR code and text; it travels in the
    set-up form encrypted, and is stored only when a code from it confirms it."""
    if credential(session, user.id) is not None:
        raise TwoFactorError("Two-factor sign-in is already on for your account.")
    secret = pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff")
    return Enrolment(secret=secret, uri=uri, qr_svg=svg, token=_encrypt(key, f"{user.id}:{secret}"))


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp, current = pyotp.TOTP(secret), int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _spend_step(session: DbSession, found: TwoFactorCredential, step: int) -> bool:
    """Accept ``step`` only if no later or equal step was accepted before (a conditional
    write: of two requests with the same code at once, one wins)."""
    done = session.execute(update(TwoFactorCredential)
                           .where(TwoFactorCredential.id == found.id, TwoFactorCredential.last_step < step)
                           .values(last_step=step).execution_options(synchronize_session=False))
    session.refresh(found)
    return bool(rowcount(done))


def confirm_enrolment(session: DbSession, user: User, token: str, code: str, key: bytes,
                      now: datetime | None = None) -> list[str]:
    """Turn two-factor sign-in on with a code from the set-up form's secret; returns the
    recovery codes (shown once, only their hashes are kept)."""
    now = now or utcnow()
    try:
        plain_token = Fernet(key).decrypt(token.encode(), ttl=ENROLMENT_SECONDS).decode()
    except (InvalidToken, ValueError) as exc:
        raise TwoFactorError("This set-up page has expired: start again with a new key.") from exc
    owner, _, secret = plain_token.partition(":")
    if owner != str(user.id) or not secret:
        raise TwoFactorError("This set-up page is not yours: start again with a new key.")
    if credential(session, user.id) is not None:
        raise TwoFactorError("Two-factor sign-in is already on for your account.")
    step = _matching_step(secret, code, now)
    if step is None:
        raise TwoFactorError("That code is not right. Check your phone's clock and type the current code.")
    try:
        with session.begin_nested():  # two set-up pages confirmed at once: one wins
            session.add(TwoFactorCredential(user_id=user.id, secret_encrypted=_encrypt(key, secret), created_at=now,
                                            confirmed_at=now, last_step=step))
    except IntegrityError as exc:
        raise TwoFactorError("Two-factor sign-in is already on for your account.") from exc
    return new_recovery_codes(session, user, now)


def new_recovery_codes(session: DbSession, user: User, now: datetime | None = None) -> list[str]:
    """Replace ``user``'s recovery codes with ten new ones. The person's row is locked first,
    so of two replacements at once (two tabs, a double click) the second waits and deletes
    the first's set: only the set last shown stands."""
    now = now or utcnow()
    hold_users(session, [user.id])
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        session.add(RecoveryCode(user_id=user.id, code_hash=_recovery_hash(user.id, raw), created_at=now))
    session.flush()
    return codes


def replace_recovery_codes(session: DbSession, user: User, code: str, key: bytes,
                           now: datetime | None = None) -> list[str]:
    """The person makes new recovery codes (theirs are spent or lost), confirming with a
    current code or one of the old recovery codes; the old ones stop working."""
    now = now or utcnow()
    if not is_enrolled(session, user.id):
        raise TwoFactorError("Two-factor sign-in is off for your account: set it up first.")
    if verify(session, user, code, key, now) is None:
        raise TwoFactorError("That code is not right.")
    return new_recovery_codes(session, user, now)


def _recovery_hash(user_id: int, raw: str) -> str:
    return _hash(f"{user_id}:{raw}")


# --------------------------------------------------------------------------- the second step


class Outcome:
    TOTP = "totp"
    RECOVERY = "recovery"


def verify(session: DbSession, user: User, code: str, key: bytes, now: datetime | None = None) -> str | None:
    """Check a code at sign-in: a TOTP code not used before, or an unused recovery code
    (then spent). Returns which kind matched (``Outcome``), or None."""
    now = now or utcnow()
    found = credential(session, user.id)
    if found is None or found.confirmed_at is None:
        return None
    compact = "".join(code.split()).lower().replace("-", "")
    if compact.isdigit():
        step = _matching_step(_decrypt(key, found.secret_encrypted), compact, now)
        return Outcome.TOTP if step is not None and _spend_step(session, found, step) else None
    if len(compact) != 10:
        return None
    spent = session.execute(update(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _recovery_hash(user.id, compact),
        RecoveryCode.used_at.is_(None)).values(used_at=now).execution_options(synchronize_session=False))
    return Outcome.RECOVERY if rowcount(spent) else None


def disable(session: DbSession, user: User, code: str, key: bytes, enforced: bool,
            now: datetime | None = None) -> None:
    """The person turns it off themselves (with a current code), unless their role requires it."""
    if enforced and required_for(session, user):
        raise TwoFactorError("Your role requires two-factor sign-in; it cannot be turned off.")
    if verify(session, user, code, key, now) is None:
        raise TwoFactorError("That code is not right.")
    _remove(session, user.id, now or utcnow())


def _remove(session: DbSession, user_id: int, now: datetime) -> dict[str, int]:
    codes = session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))) or 0
    devices = rowcount(session.execute(update(RememberedDevice).where(
        RememberedDevice.user_id == user_id, RememberedDevice.revoked_at.is_(None)).values(revoked_at=now)
        .execution_options(synchronize_session=False)))
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    session.execute(delete(TwoFactorCredential).where(TwoFactorCredential.user_id == user_id))
    session.flush()
    return {"recovery_codes_left": int(codes), "remembered_devices": int(devices)}


def reset(session: DbSession, user: User, origin: Origin, now: datetime | None = None) -> None:
    """A site admin turns ``user``'s two-factor sign-in off (lost phone and codes): the
    secret, recovery codes and remembered devices go; written to the audit log. A user
    whose role requires it sets it up again at their next sign-in."""
    now = now or utcnow()
    found = credential(session, user.id)
    if found is None:
        raise TwoFactorError(f"{user.name} has no two-factor sign-in to reset.")
    before = {"enrolled": found.confirmed_at is not None, **_remove(session, user.id, now)}
    record(session, actor_id=origin.actor_id, action=AuditAction.TWO_FACTOR_RESET, organization_id=None,
           target=f"user:{user.id}", before=before, after={"enrolled": False}, ip=origin.ip)


# --------------------------------------------------------------------------- remembered devices


def remember_device(session: DbSession, user: User, label: str, now: datetime | None = None) -> str:
    """A device token for the cookie; its hash is stored, valid for ``DEVICE_DAYS``."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    session.add(RememberedDevice(user_id=user.id, token_hash=_hash(token), label=label[:200], created_at=now,
                                 expires_at=now + timedelta(days=DEVICE_DAYS)))
    session.flush()
    return token


def remembered(session: DbSession, user: User, token: str, now: datetime | None = None) -> bool:
    """Is ``token`` a live remembered device of ``user``? Notes its use."""
    now = now or utcnow()
    device = session.scalar(select(RememberedDevice).where(RememberedDevice.token_hash == _hash(token)))
    if device is None or device.user_id != user.id or device.revoked_at is not None or device.expires_at <= now:
        return False
    device.last_used_at = now
    session.flush()
    return True


def forget_device(session: DbSession, user: User, device_id: int, now: datetime | None = None) -> bool:
    done = session.execute(update(RememberedDevice).where(
        RememberedDevice.id == device_id, RememberedDevice.user_id == user.id, RememberedDevice.revoked_at.is_(None))
        .values(revoked_at=now or utcnow()).execution_options(synchronize_session=False))
    return bool(rowcount(done))


# --------------------------------------------------------------------------- organization setting


def requires_instructors(session: DbSession, organization_id: int) -> bool:
    policy = session.get(TwoFactorPolicy, organization_id)
    return policy is not None and policy.require_for_instructors


def set_instructor_requirement(session: DbSession, organization_id: int, required: bool, origin: Origin,
                               now: datetime | None = None) -> bool:
    """Returns whether anything changed (audited when it did)."""
    now = now or utcnow()
    policy = session.get(TwoFactorPolicy, organization_id, with_for_update=True)
    before = policy is not None and policy.require_for_instructors
    if before == required:
        return False
    if policy is None:
        session.add(TwoFactorPolicy(organization_id=organization_id, require_for_instructors=required, updated_at=now))
    else:
        policy.require_for_instructors, policy.updated_at = required, now
    session.flush()
    record(session, actor_id=origin.actor_id, action=AuditAction.TWO_FACTOR_POLICY_CHANGED,
           organization_id=organization_id, target=f"organization:{organization_id}",
           before={"require_for_instructors": before}, after={"require_for_instructors": required}, ip=origin.ip)
    return True
