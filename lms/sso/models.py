"""An organization's OpenID Connect settings, and the identities linked to accounts.

The client secret is stored encrypted (``lms.sso.secrets``) and never shown back.
``revision`` makes saving the settings a conditional write: two admins editing at once
cannot overwrite each other silently."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.database import UTCDateTime, utcnow
from lms.extensions import Model

ISSUER_LENGTH = 500
DOMAINS_LENGTH = 1000


class SsoConfig(Model):
    __tablename__ = "sso_configs"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), unique=True)
    issuer: Mapped[str] = mapped_column(String(ISSUER_LENGTH))
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret_encrypted: Mapped[str] = mapped_column(Text)
    # Lower-case domains separated by single spaces, e.g. "example.org example.com".
    allowed_domains: Mapped[str] = mapped_column(String(DOMAINS_LENGTH), default="")
    create_accounts: Mapped[bool] = mapped_column(default=False)
    enabled: Mapped[bool] = mapped_column(default=True)
    revision: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def domains(self) -> list[str]:
        return self.allowed_domains.split()


class SsoIdentity(Model):
    """The provider's account (issuer, subject) that signs in ``user`` for the organization."""

    __tablename__ = "sso_identities"
    __table_args__ = (UniqueConstraint("organization_id", "issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    issuer: Mapped[str] = mapped_column(String(ISSUER_LENGTH))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user: Mapped[User] = relationship()
