"""Certificates for completed levels, each with a public verification code, and their
revocations (one a certificate, for good): a revoked certificate is shown as revoked on its
public page, its Open Badges 2.0 assertion and 3.0 status list, the learner's page and the API."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.catalog.models import Level
from lms.database import UTCDateTime, utcnow
from lms.extensions import Model


class Certificate(Model):
    __tablename__ = "certificates"
    __table_args__ = (UniqueConstraint("user_id", "level_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    level_id: Mapped[int] = mapped_column(ForeignKey("levels.id"))
    code: Mapped[str] = mapped_column(String(40), unique=True)  # in the public verification URL
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The learner's name when it was issued: what the certificate and its badges show, so a
    # later rename leaves it as issued (erasure replaces it: lms/privacy).
    holder_name: Mapped[str] = mapped_column(String(200))
    user: Mapped[User] = relationship()
    level: Mapped[Level] = relationship()


class CredentialRevocation(Model):
    """A certificate revoked, when, by whom and why. Its Open Badges 3.0 credential's bit
    (the certificate id) is set in the revocation status list (lms/openbadges)."""

    __tablename__ = "credential_revocations"

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), unique=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    reason: Mapped[str] = mapped_column(String(500), default="")
