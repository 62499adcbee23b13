"""Security notices: a mail to a person whenever the way they sign in changes (their
password, their two-factor sign-in, their recovery codes) and whenever their password
signs in from a browser new to their account, so that someone who did not do it hears
of it and can act. Queued through the outbox with the caller's
unit of work: a change that rolls back mails nothing. A notice never holds a secret (no
code, no link that signs in): it says what changed, when (in the person's time zone) and
from which address, and where to go if it was not them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from lms.accounts.models import User
from lms.database import DbSession, zone_named
from lms.mail.models import OutboxMessage
from lms.mail.services import queue_mail


class SecurityChange(StrEnum):
    NEW_BROWSER = "new_browser"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET = "password_reset"
    TWO_FACTOR_ON = "two_factor_on"
    TWO_FACTOR_OFF = "two_factor_off"
    RECOVERY_CODES = "recovery_codes"
    TWO_FACTOR_RESET = "two_factor_reset"


@dataclass(frozen=True)
class _Wording:
    subject: str
    what: str  # completes "... was changed": the sentence's subject and verb


WORDING = {
    SecurityChange.NEW_BROWSER: _Wording("New sign-in to your account",
                                         "Your password was used to sign in to your account from a browser that "
                                         "had not signed in to it before"),
    SecurityChange.PASSWORD_CHANGED: _Wording("Your password was changed",
                                              "The password of your account was changed on your account page"),
    SecurityChange.PASSWORD_RESET: _Wording("Your password was reset",
                                            "The password of your account was reset with a link mailed to you"),
    SecurityChange.TWO_FACTOR_ON: _Wording("Two-factor sign-in is on",
                                           "Two-factor sign-in was turned on for your account"),
    SecurityChange.TWO_FACTOR_OFF: _Wording("Two-factor sign-in is off",
                                            "Two-factor sign-in was turned off for your account"),
    SecurityChange.RECOVERY_CODES: _Wording("New recovery codes were made",
                                            "New two-factor recovery codes were made for your account; the old ones "
                                            "no longer work"),
    SecurityChange.TWO_FACTOR_RESET: _Wording("Your two-factor sign-in was reset",
                                              "A site admin reset the two-factor sign-in of your account (its key, "
                                              "recovery codes and remembered devices are gone)"),
}


def _local(when: datetime, zone: str) -> str:
    local = when.astimezone(zone_named(zone))
    return local.strftime("%d %b %Y at %H:%M ") + (local.tzname() or "")


def notice_body(user: User, change: SecurityChange, when: datetime, ip: str | None, account_link: str,
                reset_link: str) -> str:
    where = f" from the address {ip}" if ip else ""
    return (f"Hello {user.name},\n\n"
            f"{WORDING[change].what}, on {_local(when, user.timezone)}{where}.\n\n"
            "If that was you, there is nothing to do.\n\n"
            "If it was not, someone else may be able to sign in as you. Choose a new password now:\n"
            f"{reset_link}\n"
            f"then check your account page ({account_link}) and tell your program's staff.\n")


def tell_of_change(session: DbSession, user: User, change: SecurityChange, when: datetime, ip: str | None,
                   account_link: str, reset_link: str) -> OutboxMessage:
    """Queue the notice of ``change`` to ``user``'s address."""
    return queue_mail(session, user.email, WORDING[change].subject,
                      notice_body(user, change, when, ip, account_link, reset_link))
