"""Accounts: creating people, checking passwords, reset tokens. Flush only."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import available_timezones

from blinker import Namespace
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from lms.accounts import devices
from lms.accounts.models import LoginUnlockToken, PasswordResetToken, User
from lms.database import DbSession, rowcount, utcnow

MIN_PASSWORD_LENGTH = 10
RESET_TOKEN_LIFETIME = timedelta(hours=2)
UNLOCK_TOKEN_LIFETIME = timedelta(hours=24)
TIMEZONES = frozenset(available_timezones())
events = Namespace()
# Sent once a person's password was changed or reset, with ``session=``, ``now=`` and
# ``revoke_api_tokens=`` (they asked that their personal API tokens stop working too); the
# sender is the user. The API revokes the tokens (``lms.api.wiring``); a receiver that revokes
# tokens returns how many, so the person is told only of tokens that were there (``_replaced``).
password_replaced = events.signal("password-replaced")
# A dummy hash so a login for an unknown email costs as much as a real one.
_DUMMY_HASH = generate_password_hash("not a real password")


class AccountError(ValueError):
    """A problem a person can fix; the message is shown to them."""


# A person's name: at most this many characters, and at least one letter or digit once the
# characters nobody sees are taken out (see ``person_name``).
MAX_NAME_CHARS = 200
# Unicode categories taken out of a name: controls (Cc: NUL, escape; the whitespace ones,
# newline and tab, become spaces first), format characters (Cf: zero-width spaces, joiners,
# direction overrides such as U+202E) and lone surrogates (Cs, which no database can store).
_INVISIBLE = frozenset({"Cc", "Cf", "Cs"})
# ... except the zero-width non-joiner and joiner, which Persian and many Indic names need
# between their letters to be spelled right (a name of nothing else is still refused).
_JOINERS = frozenset({"\u200c", "\u200d"})


def tidy_name(raw: str) -> str:
    """``raw`` as a name is kept: the invisible characters (``_INVISIBLE``) removed, every
    run of whitespace one ordinary space, the ends stripped; "" when no letter or digit (of
    any script) is left, so a blank or invisible name never reads as one."""
    kept = "".join(ch for ch in raw if ch.isspace() or ch in _JOINERS or unicodedata.category(ch) not in _INVISIBLE)
    name = " ".join(kept.split())
    return name if any(unicodedata.category(ch)[0] in "LN" for ch in name) else ""


def person_name(raw: str) -> str:
    """The one rule for a person's name, whichever way it is set (account settings, an
    invitation's acceptance, staff added by an administrator, single sign-on, LTI, the
    command line): ``tidy_name``, refused when nothing readable is left or it is too long."""
    name = tidy_name(raw)
    if not name:
        raise AccountError("A name is required." if not raw.strip()
                           else "A name needs at least one letter or digit (invisible characters are not kept).")
    if len(name) > MAX_NAME_CHARS:
        raise AccountError(f"A name can have at most {MAX_NAME_CHARS} characters.")
    return name


def normalise_email(raw: str) -> str:
    """Validate an address's form (no DNS look-up) and lower-case it."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(f"{raw.strip() or 'An empty value'} is not a valid email address: {exc}") from exc


def password_problem(password: str, email: str = "", name: str = "") -> str | None:
    """Why a password is too weak, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(set(password)) < 5:
        return "Use a less repetitive password."
    lowered = password.lower()
    local = email.split("@")[0].lower()
    compact_name = name.lower().replace(" ", "")
    if (local and len(local) >= 4 and local in lowered) or (len(compact_name) >= 4 and compact_name in lowered.replace(" ", "")):
        return "Do not build the password from your name or email address."
    if lowered in COMMON_PASSWORDS or lowered.rstrip("0123456789!") in COMMON_PASSWORDS:
        return "That password is too common; choose another."
    return None


COMMON_PASSWORDS = frozenset({
    "password", "password1", "passw0rd", "qwerty", "qwertyuiop", "letmein", "welcome",
    "iloveyou", "admin", "administrator", "changeme", "abc123", "123456789", "1234567890",
    "football", "baseball", "monkey", "dragon", "sunshine", "princess", "trustno1",
})


def hold_users(session: DbSession, user_ids: Iterable[int] | None) -> None:
    """Lock these users' rows (every user's: None), in id order, until the unit of work
    ends: what is worked out from a person's records and written back (their mastery,
    their kept schedule) is worked out by one request at a time, and the second, once the
    first has committed, reads what both wrote. Without it, on PostgreSQL, two requests at
    once each read only their own new records: the last to write lost the other's, or
    both inserted the same derived rows. FOR NO KEY UPDATE: rows that refer to the user
    (their foreign keys' checks) are written meanwhile as before. SQLite has one writer at
    a time already (the lock is not written there)."""
    query = select(User.id).order_by(User.id).with_for_update(key_share=True)
    session.execute(query if user_ids is None else query.where(User.id.in_(sorted(set(user_ids))))).all()


def find_user(session: DbSession, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def address_taken(address: str) -> AccountError:
    """Why no new account is made for ``address``: one has it."""
    return AccountError(f"An account with {address} already exists.")


def create_user(session: DbSession, email: str, name: str, password: str | None = None,
                timezone: str = "UTC", is_admin: bool = False) -> User:
    address = normalise_email(email)
    if find_user(session, address) is not None:
        raise address_taken(address)
    name = person_name(name)
    if timezone not in TIMEZONES:
        raise AccountError(f"Unknown time zone {timezone!r}.")
    user = User(email=address, name=name, timezone=timezone, is_admin=is_admin)
    if password is not None:
        set_password(user, password)
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    problem = password_problem(password, user.email, user.name)
    if problem:
        raise AccountError(problem)
    user.password_hash = generate_password_hash(password)
    user.session_version = (user.session_version or 0) + 1


def authenticate(session: DbSession, email: str, password: str, now: datetime | None = None) -> User | None:
    user = find_user(session, email)
    if user is None or user.password_hash is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    user.last_login_at = now or utcnow()
    session.flush()
    return user


def password_matches(user: User, password: str) -> bool:
    """Whether ``password`` is the person's own (asked again before an action that outlives
    the session, such as making an API token). False for an account without a password."""
    return user.password_hash is not None and check_password_hash(user.password_hash, password)


def change_password(session: DbSession, user: User, current: str, new: str, now: datetime | None = None, *,
                    keep_device: int | None = None, revoke_api_tokens: bool = False) -> int:
    """The person's new password; reset links mailed before stop working (one could be in a
    mailbox someone else reads, and would set the password again after the change), and
    so does every sign-in but ``keep_device`` (the device the change is made on). How many
    personal API tokens were revoked (asked with ``revoke_api_tokens``)."""
    now = now or utcnow()
    if user.password_hash is None or not check_password_hash(user.password_hash, current):
        raise AccountError("The current password is not correct.")
    set_password(user, new)
    void_reset_links(session, user.id, now)
    devices.end_all(session, user.id, now, keep=keep_device)
    session.flush()
    return _replaced(session, user, now, revoke_api_tokens)


def _replaced(session: DbSession, user: User, now: datetime, revoke_api_tokens: bool) -> int:
    """Tell the features that keep credentials of the person (``password_replaced``); how
    many personal API tokens they revoked."""
    answers = password_replaced.send(user, session=session, now=now, revoke_api_tokens=revoke_api_tokens)
    return sum(answer for _receiver, answer in answers if isinstance(answer, int))


def end_other_sign_ins(session: DbSession, user: User, keep_device: int | None, now: datetime | None = None) -> int:
    """"Sign out everywhere else": every sign-in of the person but ``keep_device`` ends, its
    remember cookie too, and so do sessions that have no device row (the session version
    moves on; the caller signs this device in again with it). How many rows ended."""
    ended = devices.end_all(session, user.id, now or utcnow(), keep=keep_device)
    user.session_version = (user.session_version or 0) + 1
    session.flush()
    return ended


def update_profile(session: DbSession, user: User, name: str, timezone: str) -> None:
    name = person_name(name)
    if timezone not in TIMEZONES:
        raise AccountError(f"Unknown time zone {timezone!r}.")
    user.name, user.timezone = name, timezone
    session.flush()


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A URL-safe secret and the hash that is stored in its place."""
    token = secrets.token_urlsafe(32)
    return token, _hash_token(token)


def hash_token(token: str) -> str:
    return _hash_token(token)


def issue_reset_token(session: DbSession, user: User, now: datetime | None = None,
                      lifetime: timedelta = RESET_TOKEN_LIFETIME) -> str:
    """A single-use link token; also how people created by an admin set their first password."""
    now = now or utcnow()
    token, digest = new_token()
    session.add(PasswordResetToken(user=user, token_hash=digest, created_at=now, expires_at=now + lifetime))
    session.flush()
    return token


def reset_links_since(session: DbSession, user: User, since: datetime) -> int:
    """How many reset links were made for ``user`` since ``since`` (used or not)."""
    return session.scalar(select(func.count(PasswordResetToken.id)).where(
        PasswordResetToken.user_id == user.id, PasswordResetToken.created_at > since)) or 0


@dataclass(frozen=True)
class TokenCheck:
    reset: PasswordResetToken | None
    problem: str | None


def check_reset_token(session: DbSession, token: str, now: datetime | None = None) -> TokenCheck:
    now = now or utcnow()
    reset = session.scalar(select(PasswordResetToken).where(PasswordResetToken.token_hash == _hash_token(token)))
    if reset is None:
        return TokenCheck(None, "This reset link is not valid. Ask for a new one.")
    if reset.used_at is not None:
        return TokenCheck(None, "This reset link has already been used. Ask for a new one.")
    if reset.expires_at <= now:
        return TokenCheck(None, "This reset link has expired. Ask for a new one.")
    return TokenCheck(reset, None)


@dataclass(frozen=True)
class PasswordReset:
    """Whose password a reset link set, and how many of their personal API tokens were
    revoked with it (0 when they asked for none, or had none)."""

    user: User
    revoked_tokens: int


def reset_password(session: DbSession, token: str, password: str, now: datetime | None = None, *,
                   revoke_api_tokens: bool = False) -> PasswordReset:
    """Set the password a reset link's owner chose; every sign-in of theirs ends."""
    now = now or utcnow()
    check = check_reset_token(session, token, now)
    if check.reset is None:
        raise AccountError(check.problem or "Invalid link.")
    user = check.reset.user
    set_password(user, password)
    # A conditional write: of two requests spending the same link at once, one wins (the
    # other's new password is refused, not set as well). Any other outstanding link for this
    # person stops working too.
    if not void_reset_links(session, user.id, now, check.reset.id):
        raise AccountError("This reset link has already been used. Ask for a new one.")
    devices.end_all(session, user.id, now)
    session.flush()
    return PasswordReset(user, _replaced(session, user, now, revoke_api_tokens))


def void_reset_links(session: DbSession, user_id: int, now: datetime, spending: int | None = None) -> bool:
    """Mark every outstanding reset link of the person used. With ``spending`` (one of them,
    the link being used), False when that one was used meanwhile (nothing is changed then)."""
    if spending is not None:
        spent = session.execute(update(PasswordResetToken)
                                .where(PasswordResetToken.id == spending, PasswordResetToken.used_at.is_(None))
                                .values(used_at=now).execution_options(synchronize_session=False))
        if not rowcount(spent):
            return False
    session.execute(update(PasswordResetToken)
                    .where(PasswordResetToken.user_id == user_id, PasswordResetToken.used_at.is_(None))
                    .values(used_at=now).execution_options(synchronize_session=False))
    for token in session.identity_map.values():  # what this session loaded reads the writes
        if isinstance(token, PasswordResetToken) and token.user_id == user_id:
            session.expire(token)
    return True


# --------------------------------------------------------------------------- unlock links


def issue_unlock_token(session: DbSession, user: User, now: datetime | None = None,
                       lifetime: timedelta = UNLOCK_TOKEN_LIFETIME) -> str:
    """A single-use link that lifts the sign-in lock failed tries put on ``user``."""
    now = now or utcnow()
    token, digest = new_token()
    session.add(LoginUnlockToken(user=user, token_hash=digest, created_at=now, expires_at=now + lifetime))
    session.flush()
    return token


@dataclass(frozen=True)
class UnlockCheck:
    unlock: LoginUnlockToken | None
    problem: str | None


def check_unlock_token(session: DbSession, token: str, now: datetime | None = None) -> UnlockCheck:
    now = now or utcnow()
    unlock = session.scalar(select(LoginUnlockToken).where(LoginUnlockToken.token_hash == _hash_token(token)))
    if unlock is None:
        return UnlockCheck(None, "This unlock link is not valid.")
    if unlock.used_at is not None:
        return UnlockCheck(None, "This unlock link has already been used.")
    if unlock.expires_at <= now:
        return UnlockCheck(None, "This unlock link has expired. Reset your password to sign in.")
    return UnlockCheck(unlock, None)


def use_unlock_token(session: DbSession, token: str, now: datetime | None = None) -> User:
    """Spend the link (and every other outstanding one for the same person); the caller
    clears the sign-in counters."""
    now = now or utcnow()
    check = check_unlock_token(session, token, now)
    if check.unlock is None:
        raise AccountError(check.problem or "Invalid link.")
    # A conditional write: of two requests spending the same link at once, one wins.
    spent = session.execute(
        update(LoginUnlockToken)
        .where(LoginUnlockToken.user_id == check.unlock.user_id, LoginUnlockToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not rowcount(spent):
        raise AccountError("This unlock link has already been used.")
    session.flush()
    return check.unlock.user
