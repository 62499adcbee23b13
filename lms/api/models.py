"""API tokens: only the SHA-256 of the secret is kept (the secret is shown once). A
personal token (``organization_id`` None) sees what its owner sees in the web app; an
organization token, created by one of its admins, sees that organization only."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.cohorts.models import Organization
from lms.database import UTCDateTime, enum_type, utcnow
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


FORM_TOKEN_LENGTH = 64


class ApiToken(Model):
    """``form_token`` is the one-time value of the page form that made it (None when the
    API made it): the same form sent again (a reload, a double click) finds this token
    instead of making another."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("user_id", "form_token", name="uq_api_tokens_user_id_form_token"),)

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
    form_token: Mapped[str | None] = mapped_column(String(FORM_TOKEN_LENGTH), default=None)

    user: Mapped[User] = relationship(lazy="raise")
    organization: Mapped[Organization | None] = relationship(lazy="raise")

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class RemovedKind(StrEnum):
    """What left one of the API's lists, named after the list (and so its scope)."""

    GRADE = "grade"        # a released grade taken back (a draft again, the work returned) or deleted: /grades
    SUBMISSION = "submission"  # handed-in work carried to another cohort with its learner: /submissions
    EVIDENCE = "evidence"  # an evidence row deleted, or replaced by a regrade: /evidence
    LEARNER = "learner"    # an enrolment ended, or the learner moved to another cohort: /learners
    ATTEMPT = "attempt"    # a quiz attempt still running or waiting for a grade, carried to another cohort: /quiz-attempts
    MASTERY = "mastery"    # a mastery row deleted (its evidence gone, or every row rebuilt): /me/mastery
    # (a moved learner's own work goes with them: its submissions and released grades are
    # recorded as leaving the old cohort's lists, "submission" and "grade")
    # A learner's own lists (/me) lose rows only when they are deleted or taken back; a
    # "submission" there is a draft or handed-in work deleted.


class ApiRemoval(Model):
    """A tombstone: an item an API list gave out stopped being listed, and when, so an
    incremental sync (``updated_since``) learns of it too. ``object_id`` is the id the list
    gave out (a grade's, an evidence row's, a learner's user id); ``cohort_id`` the cohort
    whose list held it (an evidence row, each cohort its learner was enrolled in then), or
    None for the learner's own list (/me/...; ``organization_id`` None too).
    Written in the unit of work that removed the item (``lms.api.removals``); rows older
    than ``API_REMOVALS_KEPT_DAYS`` are pruned (``flask lms prune-removals``)."""

    __tablename__ = "api_removals"
    __table_args__ = (Index("ix_api_removals_cohort_kind_time", "cohort_id", "kind", "removed_at", "id"),
                      Index("ix_api_removals_learner_kind_time", "learner_id", "kind", "removed_at", "id"),
                      Index("ix_api_removals_removed_at", "removed_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[RemovedKind] = mapped_column(enum_type(RemovedKind, length=20, name="kind"))
    object_id: Mapped[int] = mapped_column()
    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohorts.id"))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    removed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
