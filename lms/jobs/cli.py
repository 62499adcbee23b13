"""``flask lms worker`` (the RQ worker: background jobs and the mail queue), ``flask lms
queue-job KIND`` (cron queues the periodic kinds through it) and ``flask lms run-jobs``
(runs what is due here: the cron fallback without Redis, and jobs whose worker died)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from rq import Queue

from lms.database import unit_of_work, utcnow
from lms.extensions import db
from lms.jobs import runner, services
from lms.jobs.models import Job
from lms.jobs.outbox import Worker, redis_link
from lms.mail.jobs import QUEUE as MAIL_QUEUE


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop once the queues are empty.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run an RQ worker for the background jobs and the mail queue (needs REDIS_URL)."""
    link = redis_link(current_app)
    if link is None:
        raise click.UsageError("REDIS_URL is not set: jobs run inline after each request, "
                               "and `flask lms run-jobs` (cron) runs what is due.")
    queues = [Queue(runner.QUEUE, connection=link.connection), Queue(MAIL_QUEUE, connection=link.connection)]
    # The worker (an RQ SimpleWorker) runs jobs in this process, inside this app context; the scheduler puts
    # retried jobs back on the queue once their backoff has passed.
    Worker(queues, connection=link.connection).work(burst=burst, with_scheduler=True)


@click.command("queue-job")
@click.argument("kind")
@click.option("--key", default=None, help="Queue nothing if a job with this key is still queued or running.")
@with_appcontext
def queue_job_command(kind: str, key: str | None) -> None:
    """Queue a job of KIND (e.g. from cron: deliver-mail, send-reminders, check-certificates, rebuild-progress)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    known = runner.kinds(app)
    job_kind = known.get(kind)
    if job_kind is None or not job_kind.from_command:
        choices = ", ".join(sorted(k.name for k in runner.periodic(app)))
        raise click.BadParameter(f"{kind!r} is not a job kind to queue from here; choose one of {choices}", param_hint="KIND")
    session = db.session
    with unit_of_work(session):
        if key is None:
            job, _new = services.queue_periodic(session, kind, job_kind.describe({}), job_kind.max_attempts)
        else:
            job = services.queue_job(session, kind, {}, label=job_kind.describe({}), max_attempts=job_kind.max_attempts,
                                     key=key)
        job_id = job.id
    runner.dispatch(app, services.take_pending(session))
    session.expire_all()
    click.echo(f"Job {job_id} ({kind}): {session.get_one(Job, job_id).status.value}.")


@click.command("run-jobs")
@click.option("--limit", type=click.IntRange(min=1), default=100, help="Run at most this many jobs.")
@with_appcontext
def run_jobs_command(limit: int) -> None:
    """Run the jobs that are due (queued, past their backoff, or abandoned by a worker)."""
    session = db.session
    ids = services.due_ids(session, utcnow(), limit)
    session.rollback()
    for job_id in ids:
        click.echo(f"Job {job_id}: {runner.run_job(job_id)}")
    click.echo(f"Ran {len(ids)} job{'s' * (len(ids) != 1)}.")
