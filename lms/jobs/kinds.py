"""What a job kind is: a small class with a ``name`` and ``run(work)``, registered in the
assembly module ``lms/job_kinds.py`` (``JOB_KINDS``), which ``create_app`` installs.

A kind's ``run`` must be idempotent: a job is retried after a failure and may be run
again after a worker died mid-way (its lease ran out), so running it twice must leave the
same state as once (deliver what is still due, notice what was not noticed yet, rebuild
from the source of truth, overwrite the file it makes)."""

from __future__ import annotations

import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from flask import Flask
from sqlalchemy import update

from lms.database import DbSession, utcnow
from lms.extensions import db
from lms.jobs.models import Job, JobStatus
from lms.storage.backends import file_storage

EXPORTS_FOLDER = "exports"


@dataclass
class Work:
    """What a running job is given: the app (configuration), a session (commit through
    ``unit_of_work``), its parameters and a way to report progress and keep a file."""

    app: Flask
    session: DbSession
    job_id: int
    params: Mapping[str, Any]
    now: datetime
    every: float = 0.5  # seconds between progress writes
    _last: float = field(default=0.0, repr=False)
    file: tuple[str, str, str] | None = None  # (relative path, download name, mimetype)
    lease: timedelta | None = None  # how long a runner holds the job; each progress write renews it

    def progress(self, done: int, total: int, *, force: bool = False) -> None:
        """Record how far the job got. Written on a connection of its own (not the job's
        session, whose loaded objects a commit would expire), at most every ``every`` s.
        It also renews the job's lease: a job still reporting progress when its first lease
        would run out (a rebuild at volume) is never taken for one whose worker died and run
        a second time beside itself."""
        moment = time.monotonic()
        if not force and moment - self._last < self.every:
            return
        self._last = moment
        values: dict[str, Any] = {"progress_done": done, "progress_total": total}
        if self.lease is not None:
            values["lease_until"] = utcnow() + self.lease
        with db.engine.begin() as connection:
            connection.execute(update(Job).where(Job.id == self.job_id, Job.status == JobStatus.RUNNING).values(**values))

    def write_file(self, name: str, mimetype: str, chunks: Iterable[str], total: int) -> int:
        """Write ``chunks`` (one per row, after a header) to a new file in the file storage
        (lms/storage: the upload folder's ``exports/``, or the database, so any node serves
        it) as they are made; nobody reads half a file. Reports progress; the file is the
        job's result once the job is done. Returns the chunks written."""
        relative = f"{EXPORTS_FOLDER}/job-{self.job_id}-{secrets.token_hex(8)}{Path(name).suffix}"
        written = 0

        def encoded() -> Iterator[bytes]:
            nonlocal written
            for chunk in chunks:
                yield chunk.encode("utf-8")
                written += 1
                self.progress(min(written, total), total)

        file_storage(self.app).write(relative, encoded())
        self.progress(total, total, force=True)
        self.file = (relative, name, mimetype)
        return written


class JobKind(ABC):
    name: ClassVar[str]
    label: ClassVar[str]
    # Tries before the job is marked failed (each retry waits longer: JOBS_RETRY_FIRST doubling).
    max_attempts: ClassVar[int] = 5
    # Periodic work cron may queue with ``flask lms queue-job NAME`` (no parameters).
    from_command: ClassVar[bool] = False

    def describe(self, params: Mapping[str, Any]) -> str:
        """The job's line on the admin page."""
        return self.label

    @abstractmethod
    def run(self, work: Work) -> str:
        """Do the work (commit through ``unit_of_work``); return a one-line summary."""
