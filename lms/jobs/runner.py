"""Where jobs run.

- With ``REDIS_URL`` set, a queued job's id goes to the RQ queue ``jobs`` once the work
  that queued it has committed, and ``flask lms worker`` (RQ workers, any number, on any
  machine) runs it; a failed try is put back on the queue after its backoff (RQ's
  scheduler, which the worker runs).
- Without Redis (or while it does not answer) the job runs inline, in the process that
  queued it, right after the commit; a failed try waits for ``flask lms run-jobs`` (cron),
  which runs whatever is due.

Either way ``run_job`` claims the job first (a conditional write), so a job is run by
one runner at a time and never twice for one queueing."""

from __future__ import annotations

import logging
import math
import traceback
from collections.abc import Iterable, Sequence
from datetime import timedelta

from flask import Flask, current_app
from redis.exceptions import RedisError
from rq import Queue

from lms.database import DbSession, unit_of_work, utcnow
from lms.extensions import db
from lms.jobs import services
from lms.jobs.kinds import JobKind, Work
from lms.jobs.models import Job
from lms.jobs.outbox import redis_link

log = logging.getLogger("lms.jobs")

QUEUE = "jobs"
KINDS_KEY = "lms.jobs.kinds"


def install_kinds(app: Flask, kinds: Iterable[JobKind]) -> None:
    """The app's job kinds (``lms/job_kinds.py``), by name."""
    app.extensions[KINDS_KEY] = {kind.name: kind for kind in kinds}


def kinds(app: Flask) -> dict[str, JobKind]:
    found: dict[str, JobKind] = app.extensions.get(KINDS_KEY, {})
    return found


def periodic(app: Flask) -> list[JobKind]:
    """The kinds cron queues (``from_command``), by their label: what a site admin may run now."""
    return sorted((k for k in kinds(app).values() if k.from_command), key=lambda k: k.label)


def kind(app: Flask, name: str) -> JobKind:
    found = kinds(app).get(name)
    if found is None:
        raise services.JobError(f"Unknown job kind {name!r}.")
    return found


def describe(exc: BaseException) -> str:
    """The error kept on the job: the exception and where it was raised (last frames); a
    ``JobError`` (a refusal, not a fault) is its message alone."""
    if isinstance(exc, services.JobError):
        return str(exc)
    frames = traceback.format_exception(exc, limit=-3)
    return "".join(frames).strip()


def run_job(job_id: int) -> str:
    """Run one job if it is due (inside an app context); returns what happened."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    session = db.session
    backoff = services.Backoff.from_config(app.config)
    now = utcnow()
    with unit_of_work(session):
        taken = services.claim(session, job_id, now, backoff.lease)
        later = None if taken else services.waiting_until(session, job_id, now)
    if later is not None:  # queued for a later try, and woken early (another node's clock, RQ's rounding)
        schedule(app, job_id, later - now)
        return "not due"
    if not taken:
        return "not due"
    job = session.get(Job, job_id)
    assert job is not None
    name, params = job.kind, dict(job.params)
    work = Work(app=app, session=session, job_id=job_id, params=params, now=now,
                every=float(app.config.get("JOBS_PROGRESS_EVERY", 0.5)), lease=backoff.lease)
    try:
        summary = kind(app, name).run(work)
    except Exception as exc:  # any failure of a job is recorded on it and retried, never lost
        session.rollback()
        log.warning("job %s (%s) failed: %s", job_id, name, exc)
        with unit_of_work(session):
            wait = services.fail(session, job_id, utcnow(), describe(exc), backoff,
                                 refused=isinstance(exc, services.JobError))  # no later try could work
        if wait is not None:
            schedule(app, job_id, wait)
        return f"failed: {exc}"
    with unit_of_work(session):
        services.finish(session, job_id, utcnow(), summary, work.file)
    return summary


def rq_job(job_id: int) -> str:
    """The RQ job (run by ``flask lms worker``, inside the app's context)."""
    try:
        return run_job(job_id)
    finally:
        db.session.remove()


def _queue(app: Flask) -> Queue | None:
    link = redis_link(app)
    if link is None or not link.usable():
        return None
    return Queue(QUEUE, connection=link.connection)


def _timeout(app: Flask) -> int:
    return int(app.config.get("JOBS_TIMEOUT", 3600))


def schedule(app: Flask, job_id: int, wait: timedelta) -> None:
    """Put a failed job back on the RQ queue after its backoff; without Redis it waits
    for ``flask lms run-jobs``.

    RQ keeps a scheduled job's time in whole seconds, rounded down, so it would wake the
    job up to a second before its ``next_attempt_at``, when it is not yet due; it is asked
    for one whole second more than the wait, rounded up."""
    queue = _queue(app)
    if queue is None:
        return
    late = timedelta(seconds=math.ceil(max(wait, timedelta()).total_seconds()) + 1)
    try:
        queue.enqueue_in(late, rq_job, job_id, job_timeout=_timeout(app))
    except RedisError as exc:
        link = redis_link(app)
        if link is not None:
            link.failed(exc)


def dispatch(app: Flask, ids: Sequence[int]) -> None:
    """Committed jobs go to the RQ queue, or run here and now without Redis."""
    if not ids:
        return
    queue = _queue(app)
    if queue is not None:
        try:
            for job_id in ids:
                queue.enqueue(rq_job, job_id, job_timeout=_timeout(app))
            return
        except RedisError as exc:
            link = redis_link(app)
            if link is not None:
                link.failed(exc)
    for job_id in ids:
        run_job(job_id)


def dispatch_after_commit(session: DbSession) -> None:
    """The request's work has committed: the jobs it queued go to the workers (or run)."""
    dispatch(current_app._get_current_object(), services.take_pending(session))  # type: ignore[attr-defined]
