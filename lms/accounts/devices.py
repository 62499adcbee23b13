"""Where a person is signed in: one ``SignInDevice`` row per sign-in on a device.

Flask-Login keeps ``User.get_id()`` in the session and, with "Keep me signed in", in the
remember cookie (its "alternative tokens": the id need not be the user's id). Ours is
``<user id>:<session version>:<device id>.<secret>``; only the secret's SHA-256 is stored.
Before, the remember cookie carried the user's id and version alone: a stolen copy
signed its holder in until the password changed. Now a cookie signs in only while its
row is live (not ended, not expired), belongs to the user, and its secret matches
(compared in constant time). Ending a row: signing out on that device, "Sign out" or
"Sign out everywhere else" on the account page, a password change (every row but the
device's own) or reset (every row).

Rows are written by requests that may write: a sign-in sent by a form (the password,
the second step, an invitation, an LTI launch, single sign-on's "Continue", which the
provider's return shows and, for an account already linked, sends by itself). A sign-in
on a page view (which never writes) would get no row: that session keeps the short id
(user and version), is never remembered, and ends with a password change or "Sign out
everywhere else". A sign-in again of the person a session carries, on its live device (an
LTI launch repeated from the same browser), reuses the row (``resume``). The last-seen
time is written with a request that writes anyway, at most once every ``SEEN_EVERY``;
page views never write it. Rows ended or expired more than ``SIGN_IN_DEVICES_KEPT_DAYS``
ago are deleted by ``prune`` (``flask lms prune-sign-ins``, the ``prune-sign-ins`` job).
Services flush, never commit."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from lms.accounts.models import SignInDevice, User
from lms.database import DbSession, rowcount

SEEN_EVERY = timedelta(minutes=15)
AGENT_CHARS = 120
DEFAULT_KEPT_DAYS = 30  # SIGN_IN_DEVICES_KEPT_DAYS when the configuration does not say


@dataclass(frozen=True)
class Carried:
    """What a Flask-Login id carries."""

    user_id: int
    version: int
    device_id: int | None  # None: a sign-in without a device row (see the module's note)
    secret: str | None

    @property
    def token(self) -> str | None:
        return None if self.device_id is None else f"{self.device_id}.{self.secret}"


def parse_id(value: str) -> Carried | None:
    """``value`` as ``Carried``, or None when it is not one of ours."""
    parts = str(value).split(":")
    if len(parts) not in (2, 3) or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    if len(parts) == 2:
        return Carried(int(parts[0]), int(parts[1]), None, None)
    device, _, secret = parts[2].partition(".")
    if not device.isdigit() or not secret:
        return None
    return Carried(int(parts[0]), int(parts[1]), int(device), secret)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chromium/", "Chromium"),
             ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
            ("CrOS", "ChromeOS"), ("Mac OS X", "macOS"), ("Linux", "Linux"))


def summarise_agent(user_agent: str | None) -> str:
    """A browser's User-Agent as a person reads it: "Firefox on Linux" (never the whole
    string, which identifies a browser more than a person needs)."""
    agent = user_agent or ""
    browser = next((name for mark, name in _BROWSERS if mark in agent), "")
    system = next((name for mark, name in _SYSTEMS if mark in agent), "")
    if browser and system:
        return f"{browser} on {system}"
    return (browser or system or ("Another program" if agent else "Unknown browser"))[:AGENT_CHARS]


def address_prefix(address: str | None) -> str:
    """The network an address is in, not the address: /24 for IPv4, /48 for IPv6."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return ""
    return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 48}", strict=False))


def begin(session: DbSession, user: User, *, remembered: bool, lifetime: timedelta, user_agent: str | None,
          address: str | None, now: datetime) -> str:
    """A new sign-in of ``user`` on a device: its row, and the token (``<id>.<secret>``)
    its session and remember cookie carry. The secret is not kept."""
    secret = secrets.token_urlsafe(32)
    device = SignInDevice(user_id=user.id, token_hash=_hash(secret), remembered=remembered, created_at=now,
                          last_seen_at=now, expires_at=now + lifetime, user_agent=summarise_agent(user_agent),
                          ip_prefix=address_prefix(address))
    session.add(device)
    session.flush()
    return f"{device.id}.{secret}"


def resume(session: DbSession, user: User, carried: Carried | None, *, remembered: bool, lifetime: timedelta,
           now: datetime) -> str | None:
    """A sign-in again of ``user`` on the device this session already carries (an LTI
    launch repeated from the same browser): when that device row is live, ``user``'s, and
    its secret matches, it is reused, seen now and kept at least ``lifetime`` more; its
    token is returned. None otherwise (a new row is then made by ``begin``)."""
    if carried is None or carried.device_id is None or carried.secret is None or carried.user_id != user.id:
        return None
    device = session.get(SignInDevice, carried.device_id)
    if (device is None or device.user_id != user.id or not device.live(now)
            or not hmac.compare_digest(device.token_hash, _hash(carried.secret))):
        return None
    device.last_seen_at, device.remembered = now, device.remembered or remembered
    device.expires_at = max(device.expires_at, now + lifetime)
    session.flush()
    return carried.token


def check(session: DbSession, carried: Carried, now: datetime) -> User | None:
    """The user a remember cookie's id signs in, or None: its device row is live and the
    user's, the secret matches, the session version is current and the user active (one
    statement)."""
    if carried.device_id is None or carried.secret is None:
        return None
    row = session.execute(select(SignInDevice, User).join(User, User.id == SignInDevice.user_id)
                          .where(SignInDevice.id == carried.device_id)).first()
    if row is None:
        return None
    device, user = row
    matches = hmac.compare_digest(device.token_hash, _hash(carried.secret))
    if not matches or device.user_id != carried.user_id or not device.live(now):
        return None
    return user if user.session_version == carried.version and user.is_active else None


def device_of(session: DbSession, user_id: int, device_id: int) -> SignInDevice | None:
    device = session.get(SignInDevice, device_id)
    return device if device is not None and device.user_id == user_id else None


def live_devices(session: DbSession, user_id: int, now: datetime) -> list[SignInDevice]:
    """The person's sign-ins not ended nor expired, the most recently seen first."""
    return list(session.scalars(select(SignInDevice)
                                .where(SignInDevice.user_id == user_id, SignInDevice.ended_at.is_(None),
                                       SignInDevice.expires_at > now)
                                .order_by(SignInDevice.last_seen_at.desc(), SignInDevice.id.desc())))


def end(session: DbSession, user_id: int, device_id: int, now: datetime) -> bool:
    """End one of the person's sign-ins; False when it was not theirs or had ended."""
    ended = session.execute(update(SignInDevice)
                            .where(SignInDevice.id == device_id, SignInDevice.user_id == user_id,
                                   SignInDevice.ended_at.is_(None))
                            .values(ended_at=now).execution_options(synchronize_session=False))
    _expire_loaded(session, user_id)
    return bool(rowcount(ended))


def end_all(session: DbSession, user_id: int, now: datetime, keep: int | None = None) -> int:
    """End every sign-in of the person (but ``keep``, the device's own); how many ended."""
    query = update(SignInDevice).where(SignInDevice.user_id == user_id, SignInDevice.ended_at.is_(None))
    if keep is not None:
        query = query.where(SignInDevice.id != keep)
    ended = session.execute(query.values(ended_at=now).execution_options(synchronize_session=False))
    _expire_loaded(session, user_id)
    return rowcount(ended)


def _expire_loaded(session: DbSession, user_id: int) -> None:
    for loaded in session.identity_map.values():  # what this session loaded reads the writes
        if isinstance(loaded, SignInDevice) and loaded.user_id == user_id:
            session.expire(loaded)


def note_seen(session: DbSession, device_id: int, now: datetime) -> None:
    """The device's last-seen time, unless written less than ``SEEN_EVERY`` ago (a
    conditional write)."""
    session.execute(update(SignInDevice)
                    .where(SignInDevice.id == device_id, SignInDevice.last_seen_at < now - SEEN_EVERY)
                    .values(last_seen_at=now).execution_options(synchronize_session=False))


def prune(session: DbSession, kept: timedelta, now: datetime) -> int:
    """Delete the sign-ins ended, or expired, more than ``kept`` ago (one statement); live
    ones and those ended or expired since stay. How many were deleted."""
    before = now - kept
    gone = session.execute(delete(SignInDevice)
                           .where(or_(SignInDevice.ended_at < before, SignInDevice.expires_at < before))
                           .execution_options(synchronize_session=False))
    return rowcount(gone)
