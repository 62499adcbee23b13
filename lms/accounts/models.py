from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.database import UTCDateTime, utcnow
from lms.extensions import Model

# An erased account's address (lms.privacy): RFC 2606's .invalid is never a real mailbox.
ERASED_DOMAIN = "erased.invalid"


def erased_email(user_id: int) -> str:
    return f"erased-{user_id}@{ERASED_DOMAIN}"


class User(UserMixin, Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, so uniqueness is case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    is_admin: Mapped[bool] = mapped_column(default=False)
    # Bumped on password change: signs out every other session and remember-me cookie.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Set by a site admin (the admin console): a deactivated user cannot sign in.
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    @property
    def is_active(self) -> bool:
        """Flask-Login's "may sign in": false once deactivated (``login_user`` refuses then)."""
        return self.deactivated_at is None

    def get_id(self) -> str:
        """Flask-Login's id of the signed-in person, kept in the session and in the "Keep me
        signed in" cookie (its "alternative tokens"): the user, their session version and,
        when the sign-in has a device row (``lms.accounts.devices``), that row's token."""
        token = getattr(self, "_sign_in_token", None)
        return f"{self.id}:{self.session_version}" + (f":{token}" if token else "")

    def carry_sign_in(self, token: str | None) -> None:
        """The device token this object signs in with, or was loaded for (not a column)."""
        self._sign_in_token = token

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    @property
    def erased(self) -> bool:
        """Erased by lms.privacy: closed for good, never to be reactivated."""
        return self.email == erased_email(self.id)

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class PasswordResetToken(Model):
    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    user: Mapped[User] = relationship()


class LoginUnlockToken(Model):
    """A one-time link mailed when failed sign-ins lock an account; only its hash is kept."""

    __tablename__ = "login_unlock_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    user: Mapped[User] = relationship()


class SignInDevice(Model):
    """One sign-in on one device (``lms.accounts.devices``): its session and, with "Keep me
    signed in", its remember cookie carry the row's id and a secret whose hash only is kept.
    Ended by signing out there, from the account page, or by a password change or reset."""

    __tablename__ = "sign_in_devices"
    # Ids are never used twice, on SQLite too: a device's end is marked by its id
    # (``lms.accounts.sign_ins.end_device``), and a reused id would end a new sign-in.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    remembered: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Coarse: written at sign-in and by a request that writes anyway, at most every SEEN_EVERY.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    user_agent: Mapped[str] = mapped_column(String(120), default="")  # a summary: "Firefox on Linux"
    ip_prefix: Mapped[str] = mapped_column(String(64), default="")    # 203.0.113.0/24, 2001:db8:1::/48

    def live(self, now: datetime) -> bool:
        return self.ended_at is None and self.expires_at > now
