"""Registered platforms (LMSs) with their deployments, the courses (contexts) they launch
from mapped to cohorts, the platform accounts linked to ours, and the grade passback queue.

The tool's own RSA key (``LtiToolKey``) signs deep-linking answers and service-token
requests; its private half is stored encrypted with a key derived from SECRET_KEY."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.cohorts.models import Cohort
from lms.database import UTCDateTime, enum_type, utcnow
from lms.extensions import Model

URL_LENGTH = 1000
TARGET_LENGTH = 160  # "quiz:<key>", "assignment:<key>", "lesson:<key>", "module:<key>"


class LtiToolKey(Model):
    __tablename__ = "lti_tool_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LtiPlatform(Model):
    """A platform registration: one (issuer, client id) pair, as the platform gave them."""

    __tablename__ = "lti_platforms"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[str] = mapped_column(String(URL_LENGTH))
    auth_token_url: Mapped[str] = mapped_column(String(URL_LENGTH))
    key_set_url: Mapped[str] = mapped_column(String(URL_LENGTH))
    # Moodle and Canvas vouch for the email addresses they send: a first launch then
    # finds an existing account by email. Off: a first launch always makes a new account.
    trust_emails: Mapped[bool] = mapped_column(default=True)
    revision: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deployments: Mapped[list[LtiDeployment]] = relationship(back_populates="platform", order_by="LtiDeployment.deployment_id",
                                                            cascade="all, delete-orphan")


class LtiDeployment(Model):
    __tablename__ = "lti_deployments"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    platform: Mapped[LtiPlatform] = relationship(back_populates="deployments")


class LtiContext(Model):
    """A course of the platform; launches from it land in ``cohort`` (mapped by a site admin).
    The service endpoints are the latest the platform sent in a launch."""

    __tablename__ = "lti_contexts"
    __table_args__ = (UniqueConstraint("platform_id", "context_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id"))
    context_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255), default="")
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohorts.id"), index=True, default=None)
    lineitems_url: Mapped[str | None] = mapped_column(String(URL_LENGTH), default=None)
    ags_scopes: Mapped[str] = mapped_column(String(URL_LENGTH), default="")
    memberships_url: Mapped[str | None] = mapped_column(String(URL_LENGTH), default=None)
    roster_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    platform: Mapped[LtiPlatform] = relationship()
    cohort: Mapped[Cohort | None] = relationship()


class LtiAccount(Model):
    """The platform's user (its ``sub``) who is ``user`` here."""

    __tablename__ = "lti_accounts"
    __table_args__ = (UniqueConstraint("platform_id", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id"))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user: Mapped[User] = relationship()
    platform: Mapped[LtiPlatform] = relationship()


class LtiResourceLink(Model):
    """A placement in the platform's course: what it launches and its line item, if any."""

    __tablename__ = "lti_resource_links"
    __table_args__ = (UniqueConstraint("lti_context_id", "resource_link_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lti_context_id: Mapped[int] = mapped_column(ForeignKey("lti_contexts.id"))
    resource_link_id: Mapped[str] = mapped_column(String(255))
    target: Mapped[str] = mapped_column(String(TARGET_LENGTH), default="")
    lineitem_url: Mapped[str | None] = mapped_column(String(URL_LENGTH), default=None)


class LtiLineItem(Model):
    """A line item this tool found or created in a context's gradebook for one target."""

    __tablename__ = "lti_line_items"
    __table_args__ = (UniqueConstraint("lti_context_id", "target"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lti_context_id: Mapped[int] = mapped_column(ForeignKey("lti_contexts.id"))
    target: Mapped[str] = mapped_column(String(TARGET_LENGTH))
    url: Mapped[str] = mapped_column(String(URL_LENGTH))


class LtiNonce(Model):
    """A launch's nonce, kept until it expires: a replayed id_token is refused."""

    __tablename__ = "lti_nonces"
    __table_args__ = (UniqueConstraint("platform_id", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id"))
    nonce: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ScoreStatus(StrEnum):
    PENDING = "pending"  # to be sent (again)
    SENT = "sent"
    FAILED = "failed"    # gave up after the last retry; a site admin may retry


class LtiScore(Model):
    """The latest score of one learner on one target, for one platform course. A regrade
    rewrites the row (``revision`` goes up) and makes it pending again; the sender marks it
    sent only if the revision it sent is still the row's."""

    __tablename__ = "lti_scores"
    __table_args__ = (UniqueConstraint("lti_context_id", "target", "lti_account_id"),
                      Index("ix_lti_scores_status_next_attempt_at", "status", "next_attempt_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    lti_context_id: Mapped[int] = mapped_column(ForeignKey("lti_contexts.id"))
    lti_account_id: Mapped[int] = mapped_column(ForeignKey("lti_accounts.id"))
    target: Mapped[str] = mapped_column(String(TARGET_LENGTH))
    label: Mapped[str] = mapped_column(String(200))
    score_given: Mapped[float] = mapped_column(Float)
    score_maximum: Mapped[float] = mapped_column(Float)
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[ScoreStatus] = mapped_column(enum_type(ScoreStatus, length=10, name="status"), default=ScoreStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revision: Mapped[int] = mapped_column(default=1)
    context: Mapped[LtiContext] = relationship()
    account: Mapped[LtiAccount] = relationship()
