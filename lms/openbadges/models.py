"""Open Badges 3.0: the issuer's Ed25519 signing key and the revocations of certificates
(the bits set in the published status list)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lms.database import UTCDateTime, utcnow
from lms.extensions import Model


class BadgeIssuerKey(Model):
    """An Ed25519 key pair of the issuer: the private half Fernet-encrypted under a key
    derived from SECRET_KEY, the public half as a JWK. The newest signs; older ones stay
    published so credentials they signed still verify."""

    __tablename__ = "badge_issuer_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)  # the JWK thumbprint
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CredentialRevocation(Model):
    """A certificate's Open Badges 3.0 credential revoked: its bit (the certificate id) is
    set in the revocation status list."""

    __tablename__ = "credential_revocations"

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), unique=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    reason: Mapped[str] = mapped_column(String(500), default="")
