"""Queue jobs (flush only) and keep their rows: claim, finish, fail with backoff, retry.

A job runs in three steps, like a mail delivery, so that two runners never run one job
at once: ``claim`` marks it running with a lease by a write conditional on its still
being due (or its last runner's lease having run out), the kind does its work, and
``finish`` or ``fail`` writes the result. A failure is retried after ``Backoff.after``
until ``max_attempts``; then the job is failed and a site admin may retry it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from lms.audit.models import AuditAction
from lms.audit.services import Origin, record
from lms.database import DbSession, rowcount
from lms.jobs.models import Job, JobStatus

# session.info key: ids of the jobs this unit of work queued, dispatched once it committed
PENDING = "lms.jobs.pending"


class JobError(Exception):
    """A job that cannot be queued as asked."""


def _note_pending(session: DbSession, ids: Sequence[int]) -> None:
    session.info.setdefault(PENDING, []).extend(ids)


def take_pending(session: DbSession) -> list[int]:
    ids: list[int] = session.info.pop(PENDING, [])
    return ids


def queue_job(session: DbSession, kind: str, params: Mapping[str, Any], *, label: str, max_attempts: int = 5,
              requested_by_id: int | None = None, key: str | None = None) -> Job:
    """A new job, run once the caller's work has committed. With ``key``, a job with the
    same key still queued or running is given back instead (one live job per key)."""
    if key is not None:
        live = session.scalar(select(Job).where(Job.active_key == key))
        if live is not None:
            return live
    job = Job(kind=kind, params=dict(params), label=label[:300], key=key or "", active_key=key, max_attempts=max_attempts,
              requested_by_id=requested_by_id)
    try:
        with session.begin_nested():  # a savepoint: losing the race keeps the caller's work
            session.add(job)
    except IntegrityError:
        live = session.scalar(select(Job).where(Job.active_key == key))
        if live is None:
            raise
        return live
    _note_pending(session, [job.id])
    return job


def queue_periodic(session: DbSession, kind: str, label: str, max_attempts: int,
                   requested_by_id: int | None = None, *, by: Origin | None = None) -> tuple[Job, bool]:
    """A job of a periodic kind (no parameters), as cron queues it with ``flask lms
    queue-job`` or a site admin from the jobs page: one live job of the kind at a time
    (the key ``command:<kind>``). Also whether it is new: False when the kind's job was
    still queued or running, and that one is given back. ``by`` (a site admin's run from
    the jobs page) writes an audit entry naming the job and whether it was new."""
    job = queue_job(session, kind, {}, label=label, max_attempts=max_attempts, requested_by_id=requested_by_id,
                    key=f"command:{kind}")
    new = job.id in session.info.get(PENDING, [])
    if by is not None:
        record(session, actor_id=by.actor_id, action=AuditAction.JOB_RUN, organization_id=None, target=f"job:{job.id}",
               before=None, after={"kind": kind, "label": job.label, "new": new, "status": job.status}, ip=by.ip)
    return job, new


@dataclass(frozen=True)
class Backoff:
    """Wait ``first`` after the first failure, doubling up to ``longest``."""

    first: timedelta = timedelta(seconds=30)
    longest: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(hours=2)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Backoff:
        return cls(first=timedelta(seconds=float(config.get("JOBS_RETRY_FIRST", 30))),
                   longest=timedelta(seconds=float(config.get("JOBS_RETRY_LONGEST", 3600))),
                   lease=timedelta(seconds=float(config.get("JOBS_LEASE", 7200))))

    def after(self, attempts: int) -> timedelta:
        wait: timedelta = self.first * 2 ** min(30, max(0, attempts - 1))
        return min(self.longest, wait)


def _runnable(now: datetime) -> ColumnElement[bool]:
    return or_(and_(Job.status == JobStatus.QUEUED, or_(Job.next_attempt_at.is_(None), Job.next_attempt_at <= now)),
               and_(Job.status == JobStatus.RUNNING, Job.lease_until < now))


def claim(session: DbSession, job_id: int, now: datetime, lease: timedelta) -> bool:
    """Take the job for one attempt if it is due (or its runner's lease ran out): a write
    conditional on that, so one runner only gets it. Flushes only."""
    taken = session.scalar(
        update(Job).where(Job.id == job_id, _runnable(now))
        .values(status=JobStatus.RUNNING, attempts=Job.attempts + 1, started_at=now, lease_until=now + lease,
                progress_done=0, progress_total=0)
        .returning(Job.id).execution_options(synchronize_session=False))
    session.flush()
    return taken is not None


def waiting_until(session: DbSession, job_id: int, now: datetime) -> datetime | None:
    """When a queued job waiting for a later try is next due; None when it is not waiting
    (due now, running, or ended)."""
    due = session.scalar(select(Job.next_attempt_at).where(Job.id == job_id, Job.status == JobStatus.QUEUED))
    return due if due is not None and due > now else None


def finish(session: DbSession, job_id: int, now: datetime, result: str,
           file: tuple[str, str, str] | None = None) -> None:
    values: dict[str, Any] = {"status": JobStatus.DONE, "finished_at": now, "result": result[:2000], "error": "",
                              "active_key": None, "lease_until": None, "next_attempt_at": None,
                              # all its work done: the last progress report may have been skipped (at most one
                              # every few seconds), and a done job read "33%"
                              "progress_done": Job.progress_total}
    if file is not None:
        values |= {"file_path": file[0], "file_name": file[1][:300], "file_type": file[2][:100]}
    session.execute(update(Job).where(Job.id == job_id).values(**values).execution_options(synchronize_session=False))
    session.flush()


def fail(session: DbSession, job_id: int, now: datetime, error: str, backoff: Backoff, *,
         refused: bool = False) -> timedelta | None:
    """Record a failed attempt: queued again after the backoff (returned), or failed for
    good once its attempts are used up (None). ``refused``: the job cannot work as asked
    (a ``JobError``, whose message is for people): failed for good at once, the message
    kept as its result too, for whoever asked for it. Flushes only."""
    attempts, most = session.execute(select(Job.attempts, Job.max_attempts).where(Job.id == job_id)).one()
    values: dict[str, Any] = {"error": error[:4000], "result": error[:4000] if refused else "", "lease_until": None,
                              "finished_at": now}
    wait = None
    if refused or attempts >= most:
        values |= {"status": JobStatus.FAILED, "active_key": None, "next_attempt_at": None}
    else:
        wait = backoff.after(attempts)
        values |= {"status": JobStatus.QUEUED, "next_attempt_at": now + wait}
    session.execute(update(Job).where(Job.id == job_id).values(**values).execution_options(synchronize_session=False))
    session.flush()
    return wait


def retry(session: DbSession, job_id: int, *, by: Origin | None = None) -> bool:
    """A site admin's retry: a failed job (or one waiting for its next try) is due now with
    a fresh set of attempts (those made so far kept in ``earlier_attempts``: its pages count
    every try); it runs once the caller's work commits. False when the job is
    done, running, or another live job holds its key meanwhile. ``by`` (the admin) writes
    an audit entry when the job is retried, with its state before."""
    job = session.get(Job, job_id)
    if job is None or job.status not in (JobStatus.FAILED, JobStatus.QUEUED):
        return False
    key = job.key or None
    before = {"kind": job.kind, "label": job.label, "status": job.status, "attempts": job.attempts,
              "error": job.error[:500]}
    try:
        with session.begin_nested():
            changed = rowcount(session.execute(
                update(Job).where(Job.id == job_id, Job.status.in_([JobStatus.FAILED, JobStatus.QUEUED]))
                .values(status=JobStatus.QUEUED, attempts=0, earlier_attempts=Job.earlier_attempts + Job.attempts,
                        next_attempt_at=None, error="",
                        active_key=key if job.status is JobStatus.FAILED else Job.active_key)
                .execution_options(synchronize_session=False)))
    except IntegrityError:
        return False
    session.expire(job)
    if changed:
        _note_pending(session, [job_id])
        if by is not None:
            record(session, actor_id=by.actor_id, action=AuditAction.JOB_RETRIED, organization_id=None,
                   target=f"job:{job_id}", before=before, after={"status": JobStatus.QUEUED, "attempts": 0}, ip=by.ip)
    return bool(changed)


def expiring(session: DbSession, before: datetime, limit: int = 500) -> list[tuple[int, str]]:
    """(id, file path) of done jobs whose file was made before ``before``: what the
    ``expire-exports`` kind deletes, ``limit`` at a time."""
    return [(job_id, path) for job_id, path in session.execute(
        select(Job.id, Job.file_path).where(Job.status == JobStatus.DONE, Job.file_path != "", Job.finished_at < before)
        .order_by(Job.id).limit(limit))]


def expire(session: DbSession, job_id: int) -> bool:
    """Mark a done job's file as gone (its file deleted first): the job page and the admin's
    board say it expired, the download is a 404. Conditional on its still being done. Flushes only."""
    changed = rowcount(session.execute(
        update(Job).where(Job.id == job_id, Job.status == JobStatus.DONE)
        .values(status=JobStatus.EXPIRED, file_path="")
        .execution_options(synchronize_session=False)))
    session.flush()
    return bool(changed)


def due_ids(session: DbSession, now: datetime, limit: int = 100) -> list[int]:
    return list(session.scalars(select(Job.id).where(_runnable(now)).order_by(Job.id).limit(limit)))


@dataclass(frozen=True)
class Board:
    """The site admin's page: live jobs, failed ones, and the latest finished."""

    running: list[Job]
    queued: list[Job]
    failed: list[Job]
    done: list[Job]  # the latest finished, done or expired (their files deleted)
    counts: dict[JobStatus, int]


def counts(session: DbSession) -> dict[JobStatus, int]:
    """How many jobs are in each state (one statement)."""
    found = {status: 0 for status in JobStatus}
    return found | {JobStatus(s): n for s, n in session.execute(select(Job.status, func.count()).group_by(Job.status))}


def board(session: DbSession, limit: int = 100) -> Board:
    def of(status: JobStatus, *order: Any) -> list[Job]:
        return list(session.scalars(select(Job).where(Job.status == status).order_by(*order).limit(limit)))

    return Board(running=of(JobStatus.RUNNING, Job.started_at), queued=of(JobStatus.QUEUED, Job.next_attempt_at, Job.id),
                 failed=of(JobStatus.FAILED, Job.finished_at.desc(), Job.id.desc()),
                 done=list(session.scalars(select(Job).where(Job.status.in_([JobStatus.DONE, JobStatus.EXPIRED]))
                                           .order_by(Job.finished_at.desc(), Job.id.desc()).limit(20))),
                 counts=counts(session))
