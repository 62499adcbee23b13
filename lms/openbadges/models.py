"""Open Badges 3.0: the issuer's Ed25519 signing key. A certificate's revocation (the bit set
in the published status list) is the certificate's own: ``lms.certificates.models.CredentialRevocation``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
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
