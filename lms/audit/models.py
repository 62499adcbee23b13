"""The audit log's one table and the actions it records.

Rows are only ever inserted: no code path updates or deletes one, and the migration puts a
trigger on the table that refuses UPDATE and DELETE on SQLite and PostgreSQL alike.
``actor_id`` and ``organization_id`` are plain indexed integers, not foreign keys: the log
keeps naming who acted and where even when that row is later erased or anonymised."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from lms.database import UTCDateTime, enum_type, utcnow
from lms.extensions import Model

TABLE = "audit_log"
TARGET_LENGTH = 200
IP_LENGTH = 45  # the longest textual IPv6 address (with an embedded IPv4 one)


class AuditAction(StrEnum):
    """What was done. Adding a member needs a migration that replaces the CHECK constraint."""

    # Site administration (the admin console, commands)
    USER_DEACTIVATED = "user_deactivated"
    USER_REACTIVATED = "user_reactivated"
    RESET_LINK_SENT = "reset_link_sent"
    SESSIONS_ENDED = "sessions_ended"
    ADMIN_GRANTED = "admin_granted"
    TWO_FACTOR_RESET = "two_factor_reset"
    TWO_FACTOR_POLICY_CHANGED = "two_factor_policy_changed"
    SSO_CONFIGURED = "sso_configured"
    DATA_EXPORTED = "data_exported"
    LEARNER_ERASED = "learner_erased"
    UPLOADS_PURGED = "uploads_purged"
    BACKUP_WRITTEN = "backup_written"
    BACKUP_RESTORED = "backup_restored"
    MAIL_RETRIED = "mail_retried"
    # Organizations and cohorts
    ORGANIZATION_CREATED = "organization_created"
    ORGANIZATION_EDITED = "organization_edited"
    COHORT_CREATED = "cohort_created"
    COHORT_EDITED = "cohort_edited"
    COHORT_ARCHIVED = "cohort_archived"
    COHORT_UNARCHIVED = "cohort_unarchived"
    # Enrolment
    LEARNER_ENROLLED = "learner_enrolled"
    LEARNER_INVITED = "learner_invited"
    INVITATION_RESENT = "invitation_resent"
    INVITATION_WITHDRAWN = "invitation_withdrawn"
    STAFF_INVITED = "staff_invited"  # an instructor of a cohort or an administrator of an organization, on their acceptance
    ENROLMENT_IMPORTED = "enrolment_imported"
    LEARNER_MOVED = "learner_moved"
    ENROLMENT_ENDED = "enrolment_ended"
    # Grading
    GRADE_SAVED = "grade_saved"
    GRADE_RELEASED = "grade_released"
    GRADE_RETURNED = "grade_returned"
    REGRADED = "regraded"
    ITEM_WITHDRAWN = "item_withdrawn"
    OVERRIDE_GRANTED = "override_granted"
    OVERRIDE_REVOKED = "override_revoked"
    EXTENSION_GRANTED = "extension_granted"
    TIME_ALLOWANCE_SET = "time_allowance_set"
    # Integrations and operations (never the token or secret itself)
    API_TOKEN_CREATED = "api_token_created"
    API_TOKEN_REVOKED = "api_token_revoked"
    WEBHOOK_CREATED = "webhook_created"
    WEBHOOK_PAUSED = "webhook_paused"
    WEBHOOK_RESUMED = "webhook_resumed"
    WEBHOOK_SECRET_ROTATED = "webhook_secret_rotated"
    CERTIFICATE_REVOKED = "certificate_revoked"
    JOB_RUN = "job_run"
    JOB_RETRIED = "job_retried"
    LTI_LINK_REMOVED = "lti_link_removed"  # a platform's user no longer signs in as the account (``check-lti-links``)


class AuditEntry(Model):
    """One action: who (``actor_id``; None for the system or an anonymous link), what
    (``action`` on ``target``, e.g. ``user:12``), when, from where (``ip``), in which
    organization, and the state before and after (small JSON objects, None when there is
    no before or after, e.g. on creation)."""

    __tablename__ = TABLE
    __table_args__ = (
        Index("ix_audit_log_created_at", "created_at"),
        Index("ix_audit_log_organization_id_created_at", "organization_id", "created_at"),
        Index("ix_audit_log_actor_id_created_at", "actor_id", "created_at"),
        Index("ix_audit_log_action_created_at", "action", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(default=None)
    action: Mapped[AuditAction] = mapped_column(enum_type(AuditAction, length=40, name="action"))
    organization_id: Mapped[int | None] = mapped_column(default=None)
    target: Mapped[str] = mapped_column(String(TARGET_LENGTH), default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)
    ip: Mapped[str | None] = mapped_column(String(IP_LENGTH), default=None)
