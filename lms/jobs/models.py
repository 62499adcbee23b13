from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lms.database import UTCDateTime, enum_type, utcnow
from lms.extensions import Model


class JobStatus(StrEnum):
    QUEUED = "queued"    # waiting: due at next_attempt_at (now when empty)
    RUNNING = "running"  # claimed by a runner until lease_until
    DONE = "done"
    FAILED = "failed"    # gave up after max_attempts tries; a site admin may retry it
    EXPIRED = "expired"  # done, and its file deleted after EXPORT_KEEP_DAYS (``expire-exports``)


class Job(Model):
    """One piece of background work of a registered kind (``lms.jobs.kinds``).

    ``active_key`` is set while the job is queued or running and cleared when it ends: its
    unique constraint keeps one live job per key (the same export asked for twice, a
    nightly job queued by two nodes), whatever races."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    label: Mapped[str] = mapped_column(String(300), default="")
    key: Mapped[str] = mapped_column(String(200), default="")
    active_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    status: Mapped[JobStatus] = mapped_column(enum_type(JobStatus, length=10, name="status"), default=JobStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)  # since it was queued, or last retried by a site admin
    max_attempts: Mapped[int] = mapped_column(default=5)
    # The tries made before a site admin last retried it (a retry starts a fresh set of
    # max_attempts; its pages still count every try).
    earlier_attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(Text, default="")  # the last attempt's error
    result: Mapped[str] = mapped_column(Text, default="")  # a one-line summary once done
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int] = mapped_column(default=0)
    # A file the job made (an export), kept under the upload directory: its relative path,
    # the name it is downloaded as, and its type.
    file_path: Mapped[str] = mapped_column(String(300), default="")
    file_name: Mapped[str] = mapped_column(String(300), default="")
    file_type: Mapped[str] = mapped_column(String(100), default="")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    @property
    def percent(self) -> int | None:
        if not self.progress_total:
            return None
        return min(100, round(100 * self.progress_done / self.progress_total))
