"""API tokens: only the SHA-256 of the secret is kept (the secret is shown once). A
personal token (``organization_id`` None) sees what its owner sees in the web app; an
organization token, created by one of its admins, sees that organization only."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.cohorts.models import Organization
from lms.database import UTCDateTime, utcnow
from lms.extensions import Model


class Scope(StrEnum):
    READ_PEOPLE = "read:people"            # organizations, cohorts, learners, enrolments
    WRITE_ENROLMENTS = "write:enrolments"  # invite learners to a cohort
    READ_CURRICULUM = "read:curriculum"    # levels, modules, objectives, metrics
    READ_COMPETENCY = "read:competency"    # mastery, evidence, KPI figures, certificates
    READ_GRADES = "read:grades"            # quiz attempts, submissions and released grades


SCOPE_LABELS: dict[Scope, str] = {
    Scope.READ_PEOPLE: "Read organizations, cohorts, learners and enrolments (and your own profile)",
    Scope.WRITE_ENROLMENTS: "Invite learners to cohorts",
    Scope.READ_CURRICULUM: "Read the curriculum (levels, modules, objectives, metrics)",
    Scope.READ_COMPETENCY: "Read mastery, evidence, KPI figures and certificates (yours, or as staff)",
    Scope.READ_GRADES: "Read quiz attempts, submissions and released grades (yours, or as staff)",
}


class ApiToken(Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True, default=None)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))  # the secret's first characters, to recognise it in lists
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    user: Mapped[User] = relationship(lazy="raise")
    organization: Mapped[Organization | None] = relationship(lazy="raise")

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
