"""Background jobs (issue 14 points 3 and 6): exports stream row by row, and a cohort past
EXPORT_BACKGROUND_ABOVE learners gets its export as a job with progress and a download;
jobs run inline without Redis, are retried with backoff, failed with their error and
retried from the site admin's page; with the real Redis (127.0.0.1:6379, database 11) a
real ``flask lms worker`` process runs the jobs (each once), retries through RQ's
scheduler and delivers the mail the request queued."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import select

from lms.cohorts.models import Cohort
from lms.database import unit_of_work, utcnow
from lms.extensions import db
from lms.job_kinds import JOB_KINDS
from lms.jobs import runner, services
from lms.jobs.kinds import JobKind, Work
from lms.jobs.models import Job, JobStatus
from lms.jobs.outbox import Worker
from lms.mail.models import MailStatus, OutboxMessage
from tests.test_faults import Inbox, free_port

REDIS_TEST_URL = "redis://127.0.0.1:6379/11"


def job(job_id: int) -> Job:
    db.session.expire_all()
    found = db.session.get(Job, job_id)
    assert found is not None
    db.session.rollback()  # no read transaction left open (SQLite, another process writes)
    return found


def jobs() -> list[Job]:
    db.session.expire_all()
    found = list(db.session.scalars(select(Job).order_by(Job.id)))
    db.session.rollback()
    return found


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture()
def cohort(loaded: Flask, world: Any, enrol_learner: Callable[..., Any], tmp_path: Path) -> Any:
    """Cohort A with three learners; its instructor signs in."""
    enrol_learner(world.cohort_a, name="=Formula Fan")
    enrol_learner(world.cohort_a, name="Zoë Ünicode")
    return world.cohort_a


def rows(body: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body)))


# --------------------------------------------------------------------------- exports


def test_small_exports_stream_and_large_ones_become_jobs_with_the_same_file(
    app: Flask, client: Any, login: Callable[..., Any], world: Any, cohort: Any,
) -> None:
    login(client, world.instructor_a)
    urls = {"competency.csv": f"/cohorts/{cohort.id}/competency.csv?sort=name&dir=desc",
            "competency.json": f"/cohorts/{cohort.id}/competency.json", "grades.csv": f"/cohorts/{cohort.id}/grades.csv",
            "gradebook.json": f"/cohorts/{cohort.id}/gradebook.json", "gradebook.csv": f"/cohorts/{cohort.id}/gradebook.csv?show=all"}
    streamed = {}
    for name, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200 and response.is_streamed, name
        streamed[name] = response.get_data(as_text=True)
    assert len(rows(streamed["competency.csv"])) == 4  # the header and three learners
    assert "'=Formula Fan" in streamed["competency.csv"]  # formula-safe, as before
    assert [r["name"] for r in json.loads(streamed["competency.json"])["rows"]] == sorted(
        ["=Formula Fan", "Learner A", "Zoë Ünicode"], key=str.lower)

    app.config["EXPORT_BACKGROUND_ABOVE"] = 2  # three learners: past the threshold
    offer = client.get(urls["competency.csv"])
    page = offer.get_data(as_text=True)
    assert offer.status_code == 200 and "Prepare the export" in page and not offer.is_streamed
    assert f'action="/cohorts/{cohort.id}/exports/competency.csv"' in page and 'name="sort" value="name"' in page
    for name in urls:
        source, fmt = name.split(".")
        args = {"sort": "name", "dir": "desc"} if name == "competency.csv" else ({"show": "all"} if name == "gradebook.csv" else {})
        asked = client.post(f"/cohorts/{cohort.id}/exports/{source}.{fmt}", data=args)
        assert asked.status_code == 302 and "/jobs/" in asked.headers["Location"], name
        page = client.get(asked.headers["Location"]).get_data(as_text=True)  # no Redis: it ran inline, after the commit
        assert "Ready." in page and "Download" in page, name
        made = jobs()[-1]
        assert made.status is JobStatus.DONE and made.attempts == 1 and made.requested_by_id == world.instructor_a.id
        assert made.progress_done == made.progress_total == len(cohort_rows(streamed[name], fmt)) + 1
        # its line counts what the file lists, whatever the format (not the file's chunks)
        count = len(cohort_rows(streamed[name], fmt))
        noun = ("piece of work handed in" if count == 1 else "pieces of work handed in") if source == "grades" else (
            "learner" if count == 1 else "learners")
        assert made.result == f"{made.file_name}: {count} {noun}", name
        assert f"{count} {noun}" in page, name
        download = client.get(f"/jobs/{made.id}/download")
        assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
        body = download.get_data(as_text=True)
        if fmt == "json":
            assert json.loads(body) == json.loads(streamed[name]), name
        else:
            assert body == streamed[name], name
    assert client.post(f"/cohorts/{cohort.id}/exports/competency.xlsx").status_code == 404
    assert client.post(f"/cohorts/{cohort.id}/exports/nothing.csv").status_code == 404
    other = app.test_client()
    login(other, world.instructor_b)
    assert other.get(f"/jobs/{jobs()[0].id}").status_code == 404  # another person's export


def test_a_running_export_shows_its_progress_to_its_requester_and_site_admins_only(
    app: Flask, client: Any, login: Callable[..., Any], world: Any, cohort: Any,
) -> None:
    """While the job runs its page refreshes itself and shows how many rows are made; once
    done, a download link; the requester and site admins see it, other staff get a 404."""
    from sqlalchemy import update

    app.config["EXPORT_BACKGROUND_ABOVE"] = 2
    login(client, world.instructor_a)
    asked = client.post(f"/cohorts/{cohort.id}/exports/gradebook.json")
    made = jobs()[-1]
    assert asked.headers["Location"].endswith(f"/jobs/{made.id}") and made.status is JobStatus.DONE
    with app.app_context():  # as a worker would leave it half-way
        db.session.execute(update(Job).where(Job.id == made.id).values(status=JobStatus.RUNNING, progress_done=2,
                                                                        progress_total=4))
        db.session.commit()
    page = client.get(f"/jobs/{made.id}").get_data(as_text=True)
    assert "Being made: 2 of 4 rows" in page and 'value="50"' in page and 'http-equiv="refresh"' in page
    assert "Download" not in page and client.get(f"/jobs/{made.id}/download").status_code == 404
    admin = app.test_client()
    login(admin, world.admin)
    assert "Being made: 2 of 4 rows" in admin.get(f"/jobs/{made.id}").get_data(as_text=True)
    assert "50%" in admin.get("/admin/jobs").get_data(as_text=True)
    with app.app_context():
        db.session.execute(update(Job).where(Job.id == made.id).values(status=JobStatus.DONE, progress_done=4))
        db.session.commit()
    page = client.get(f"/jobs/{made.id}").get_data(as_text=True)
    assert "Ready." in page and f'href="/jobs/{made.id}/download"' in page and 'http-equiv="refresh"' not in page
    assert json.loads(client.get(f"/jobs/{made.id}/download").get_data(as_text=True))["columns"][0] == "learner"
    assert admin.get(f"/jobs/{made.id}/download").status_code == 200
    other = app.test_client()
    login(other, world.instructor_b)
    assert other.get(f"/jobs/{made.id}").status_code == 404 and other.get(f"/jobs/{made.id}/download").status_code == 404
    assert app.test_client().get(f"/jobs/{made.id}").status_code in (302, 401)  # signed out: to the sign-in page


def test_an_export_is_no_longer_its_requesters_once_they_leave_the_cohort(
    app: Flask, client: Any, login: Callable[..., Any], world: Any, cohort: Any,
) -> None:
    """The file of a cohort's export (its learners' names, emails and grades) stayed
    downloadable by the instructor who asked for it after they were taken off the cohort,
    for as long as it was kept: it is theirs only while they are the cohort's staff."""
    app.config["EXPORT_BACKGROUND_ABOVE"] = 2
    login(client, world.instructor_a)
    client.post(f"/cohorts/{cohort.id}/exports/gradebook.csv")
    made = jobs()[-1]
    assert made.status is JobStatus.DONE and client.get(f"/jobs/{made.id}/download").status_code == 200
    with app.app_context():
        taught = db.session.get(Cohort, cohort.id)
        taught.instructors = [i for i in taught.instructors if i.id != world.instructor_a.id]
        db.session.commit()
    assert client.get(f"/jobs/{made.id}").status_code == 404
    assert client.get(f"/jobs/{made.id}/download").status_code == 404
    admin = app.test_client()
    login(admin, world.admin)
    assert admin.get(f"/jobs/{made.id}/download").status_code == 200


def test_export_files_expire_after_the_keeping_days(
    app: Flask, client: Any, login: Callable[..., Any], world: Any, cohort: Any,
) -> None:
    """``expire-exports`` deletes the files of jobs done more than EXPORT_KEEP_DAYS ago from
    the file storage and marks them expired: the requester's page and the admin's board say
    so, the download is gone; a newer file is kept; run again, it does nothing more."""
    from datetime import timedelta

    from sqlalchemy import update

    from lms.database import utcnow
    from lms.storage.backends import file_storage

    app.config["EXPORT_BACKGROUND_ABOVE"] = 2
    login(client, world.instructor_a)
    made = []
    for source in ("grades", "gradebook"):
        asked = client.post(f"/cohorts/{cohort.id}/exports/{source}.csv")
        assert asked.status_code == 302
        made.append(jobs()[-1])
    old, new = made
    assert old.status is JobStatus.DONE and old.file_path and new.file_path
    with app.app_context():
        assert file_storage().open(old.file_path) is not None
        db.session.execute(update(Job).where(Job.id == old.id).values(finished_at=utcnow() - timedelta(days=8)))
        db.session.execute(update(Job).where(Job.id == new.id).values(finished_at=utcnow() - timedelta(days=6)))
        db.session.commit()
    page = client.get(f"/jobs/{old.id}").get_data(as_text=True)
    assert "kept until" in page and "Download" in page

    cli = app.test_cli_runner()
    result = cli.invoke(args=["lms", "queue-job", "expire-exports"])
    assert result.exit_code == 0 and ": done." in result.output, result.output
    assert jobs()[-1].result == "Expired 1 job; deleted 1 file."
    gone, kept = job(old.id), job(new.id)
    assert gone.status is JobStatus.EXPIRED and gone.file_path == "" and gone.file_name
    assert kept.status is JobStatus.DONE and kept.file_path == new.file_path
    with app.app_context():
        assert file_storage().open(old.file_path) is None and file_storage().open(new.file_path) is not None
    page = client.get(f"/jobs/{old.id}").get_data(as_text=True)
    assert "Expired" in page and "Download" not in page
    assert client.get(f"/jobs/{old.id}/download").status_code == 404
    assert client.get(f"/jobs/{new.id}/download").status_code == 200
    admin = app.test_client()
    login(admin, world.admin)
    board = admin.get("/admin/jobs").get_data(as_text=True)
    assert f"Expired: its file {gone.file_name} was deleted." in board and "1 expired" in board

    app.config["EXPORT_KEEP_DAYS"] = 5  # shorter: the newer file goes too, the old one is not counted again
    assert ": done." in cli.invoke(args=["lms", "queue-job", "expire-exports"]).output
    assert jobs()[-1].result == "Expired 1 job; deleted 1 file."
    assert job(new.id).status is JobStatus.EXPIRED


def cohort_rows(body: str, fmt: str) -> list[Any]:
    return json.loads(body)["rows"] if fmt == "json" else rows(body)[1:]


def test_the_audit_export_streams_in_chunks(app: Flask, client: Any, login: Callable[..., Any], world: Any,
                                            count_queries: Callable[..., int], monkeypatch: pytest.MonkeyPatch) -> None:
    from lms.admin import log
    from lms.audit.models import AuditAction
    from lms.audit.services import record

    for n in range(7):
        record(db.session, actor_id=world.admin.id, action=AuditAction.COHORT_EDITED, organization_id=world.org_a.id,
               target=f"cohort:{n}", before=None, after={"n": n}, ip=None)
    db.session.commit()
    login(client, world.admin)
    whole = client.get("/admin/audit/export.csv").get_data(as_text=True)
    monkeypatch.setattr(log.stream_rows, "__kwdefaults__", {"chunk": 3})  # three statements for seven entries
    response = client.get("/admin/audit/export.csv")
    assert response.is_streamed
    chunked = response.get_data(as_text=True)
    assert chunked == whole and len(rows(chunked)) >= 8
    assert [r[5] for r in rows(chunked)[1:8]] == ["cohort_edited"] * 7
    data = client.get("/admin/audit/export.json").get_json()
    assert len(data["rows"]) == len(rows(chunked)) - 1 and data["rows"][0]["target"] == "cohort:6"


# --------------------------------------------------------------------------- inline jobs, retries, the admin page


class Flaky(JobKind):
    """Fails until it has been tried ``params["fails"]`` times; idempotent (counts tries)."""

    name, label = "flaky", "A flaky job"
    max_attempts = 3
    tries: ClassVar[list[int]] = []
    mended: ClassVar[bool] = False

    def run(self, work: Work) -> str:
        Flaky.tries.append(work.job_id)
        if not Flaky.mended and Flaky.tries.count(work.job_id) <= int(work.params.get("fails", 0)):
            raise RuntimeError(f"try {Flaky.tries.count(work.job_id)} broke")
        work.progress(1, 1, force=True)
        return "worked"


@pytest.fixture()
def flaky(app: Flask) -> Iterator[Flask]:
    runner.install_kinds(app, [*JOB_KINDS, Flaky()])
    Flaky.tries.clear()
    Flaky.mended = False
    yield app
    runner.install_kinds(app, JOB_KINDS)


def queue(app: Flask, kind: str, params: dict[str, Any], **more: Any) -> int:
    with app.app_context():
        with unit_of_work(db.session):
            made = services.queue_job(db.session, kind, params, label=kind, **more)
        made_id = made.id
        runner.dispatch(app, services.take_pending(db.session))
        db.session.remove()
    return made_id


def test_inline_jobs_retry_with_backoff_fail_with_the_error_and_the_admin_retries(
    flaky: Flask, client: Any, login: Callable[..., Any], make_user: Callable[..., Any],
) -> None:
    app = flaky
    app.config.update(JOBS_RETRY_FIRST=600)
    waiting = queue(app, "flaky", {"fails": 1}, max_attempts=3)
    first = job(waiting)
    assert first.status is JobStatus.QUEUED and first.attempts == 1 and "try 1 broke" in first.error
    assert 590 <= (first.next_attempt_at - first.finished_at).total_seconds() <= 600  # type: ignore[operator]
    cli = app.test_cli_runner()
    assert "Ran 0 jobs" in cli.invoke(args=["lms", "run-jobs"]).output  # not due before its backoff

    app.config.update(JOBS_RETRY_FIRST=0.05)  # the next failures wait 0.05 s, then 0.1 s
    broken = queue(app, "flaky", {"fails": 5}, max_attempts=2)
    assert job(broken).status is JobStatus.QUEUED
    time.sleep(0.1)
    assert "Ran 1 job" in cli.invoke(args=["lms", "run-jobs"]).output
    failed = job(broken)
    assert failed.status is JobStatus.FAILED and failed.attempts == 2 and "RuntimeError: try 2 broke" in failed.error

    admin = make_user(admin=True)
    login(client, admin)
    page = client.get("/admin/jobs").get_data(as_text=True)
    assert "try 2 broke" in page and f"/admin/jobs/{broken}/retry" in page and f"/admin/jobs/{waiting}/retry" in page
    Flaky.mended = True  # the next try works
    assert client.post(f"/admin/jobs/{broken}/retry").status_code == 302
    done = job(broken)
    assert done.status is JobStatus.DONE and done.attempts == 1 and done.result == "worked" and done.error == ""
    assert done.earlier_attempts == 2  # the tries before the retry are kept, and counted on the page
    assert "3 <small class=\"muted\">(1 / 2 since retried)</small>" in " ".join(
        client.get("/admin/jobs").get_data(as_text=True).split())
    assert client.post(f"/admin/jobs/{broken}/retry").status_code == 302  # done: nothing to retry
    assert job(broken).attempts == 1
    assert "Recently done" in client.get("/admin/jobs").get_data(as_text=True)


def test_a_refused_export_fails_at_once_with_its_reason(app: Flask, client: Any, login: Callable[..., Any],
                                                       make_user: Callable[..., Any]) -> None:
    """An export whose cohort has gone cannot work on any later try: it fails at the first,
    and the board and the job's page give the reason in words (no traceback), to the person
    who asked for it too."""
    asker = make_user()
    gone = queue(app, "export", {"source": "grades", "cohort_id": 999999, "format": "csv"}, max_attempts=5,
                 requested_by_id=asker.id)
    failed = job(gone)
    assert failed.status is JobStatus.FAILED and failed.attempts == 1
    assert failed.error == "The cohort no longer exists."
    login(client, make_user(admin=True))
    board = client.get("/admin/jobs").get_data(as_text=True)
    assert "The cohort no longer exists." in board and "Traceback" not in board
    login(client, asker)
    page = client.get(f"/jobs/{gone}").get_data(as_text=True)
    assert "The cohort no longer exists." in page and "after 1 try." in page


def test_queue_job_command_runs_inline_and_keeps_one_live_job_per_key(app: Flask, flaky: Flask) -> None:
    cli = app.test_cli_runner()
    result = cli.invoke(args=["lms", "queue-job", "deliver-mail"])
    assert result.exit_code == 0 and "done" in result.output, result.output
    assert [(j.kind, j.status, j.result, j.active_key) for j in jobs()] == [
        ("deliver-mail", JobStatus.DONE, "Delivered 0 emails.", None)]
    assert cli.invoke(args=["lms", "queue-job", "export"]).exit_code == 2  # needs parameters: not from the command line
    assert cli.invoke(args=["lms", "queue-job", "nonsense"]).exit_code == 2
    with app.app_context():
        one = services.queue_job(db.session, "flaky", {}, label="x", key="nightly")
        two = services.queue_job(db.session, "flaky", {}, label="x", key="nightly")
        assert one is two and services.take_pending(db.session) == [one.id]
        db.session.rollback()


def test_every_periodic_kind_runs_from_the_command_and_twice_gives_nothing_more(app: Flask, cohort: Any) -> None:
    """Each kind cron queues runs to the end; run again, it finds nothing left to do (idempotent)."""
    cli = app.test_cli_runner()
    periodic = sorted(name for name, kind in runner.kinds(app).items() if kind.from_command)
    assert periodic == ["check-certificates", "deliver-mail", "expire-exports", "keep-trends", "prune-removals",
                        "prune-sign-ins", "publish-announcements", "rebuild-mastery", "rebuild-progress", "rebuild-search", "send-reminders"]
    for name in periodic:
        for _ in range(2):
            result = cli.invoke(args=["lms", "queue-job", name])
            assert result.exit_code == 0 and ": done." in result.output, (name, result.output)
    finished = {(j.kind, j.result) for j in jobs() if j.status is JobStatus.DONE}
    assert len([j for j in jobs() if j.status is JobStatus.DONE]) == 2 * len(periodic)
    assert ("check-certificates", "Issued 0 certificates to the learners of 3 cohorts.") in finished
    assert ("deliver-mail", "Delivered 0 emails.") in finished


def test_a_job_is_claimed_once(app: Flask, flaky: Flask) -> None:
    made = queue(app, "flaky", {"fails": 0})
    with app.app_context():
        assert runner.run_job(made) == "not due"  # done already: running it again does nothing
        db.session.remove()
    assert job(made).attempts == 1 and Flaky.tries == [made]



class Long(JobKind):
    """Reports progress, and meanwhile has another runner try to take it as abandoned just
    after its first lease would have run out (``taken``: whether that one got it)."""

    name, label = "long", "A long job"
    leases: ClassVar[list[Any]] = []
    taken: ClassVar[list[bool]] = []

    def run(self, work: Work) -> str:
        Long.leases.append(job(work.job_id).lease_until)
        work.progress(1, 2, force=True)
        Long.leases.append(job(work.job_id).lease_until)
        with work.app.app_context():
            Long.taken.append(services.claim(db.session, work.job_id, Long.leases[0] + timedelta(microseconds=1),
                                             timedelta(hours=2)))
            db.session.commit()
        return "done"


def test_a_job_reporting_progress_keeps_its_lease_and_is_never_taken_for_abandoned(app: Flask) -> None:
    runner.install_kinds(app, [*JOB_KINDS, Long()])
    Long.leases.clear()
    Long.taken.clear()
    try:
        made = queue(app, "long", {})
    finally:
        runner.install_kinds(app, JOB_KINDS)
    first, renewed = Long.leases
    assert renewed > first and Long.taken == [False]
    assert job(made).status is JobStatus.DONE and job(made).attempts == 1
    assert job(made).percent == 100  # done is all its work, whatever the last report said (1 of 2)

# --------------------------------------------------------------------------- Redis and a real worker


@pytest.fixture()
def redis_db() -> Iterator[str]:
    connection = Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1)
    try:
        connection.flushdb()
    except RedisError:
        connection.close()
        pytest.skip("no Redis at 127.0.0.1:6379")
    yield REDIS_TEST_URL
    connection.flushdb()
    connection.close()


@pytest.fixture()
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_with_redis_a_retry_is_never_woken_before_it_is_due_and_an_early_wake_puts_it_back(
    make_app: Callable[..., Flask], redis_db: str, world: Any,
) -> None:
    """RQ keeps a scheduled time in whole seconds, rounded down: a retry asked for in 0.2 s
    must not wake before its ``next_attempt_at``; and a job woken early anyway (another
    node's clock) is put back for when it is due, not dropped as "not due"."""
    web = make_app(REDIS_URL=redis_db)
    registry = Queue(runner.QUEUE, connection=Redis.from_url(redis_db)).scheduled_job_registry
    try:
        with web.app_context():
            with unit_of_work(db.session):
                made = services.queue_job(db.session, "deliver-mail", {}, label="mail")
                due = utcnow() + timedelta(seconds=0.2)
                made.next_attempt_at = due
            made_id = made.id
            services.take_pending(db.session)
            runner.schedule(web, made_id, timedelta(seconds=0.2))
            (rq_id,) = registry.get_job_ids()
            wakes = datetime.fromtimestamp(registry.get_scheduled_time(rq_id).timestamp(), UTC)
            assert wakes > due, (wakes, due)
            registry.remove(rq_id)

            with unit_of_work(db.session):
                db.session.get(Job, made_id).next_attempt_at = utcnow() + timedelta(seconds=30)
            assert runner.run_job(made_id) == "not due"
            (rq_id,) = registry.get_job_ids()
            wakes = datetime.fromtimestamp(registry.get_scheduled_time(rq_id).timestamp(), UTC)
            assert wakes >= job(made_id).next_attempt_at
            assert job(made_id).status is JobStatus.QUEUED and job(made_id).attempts == 0
            db.session.remove()
    finally:
        with web.app_context():
            db.session.remove()
            db.engine.dispose()


def test_with_redis_the_admin_is_told_a_job_was_queued_for_a_worker(
    make_app: Callable[..., Flask], redis_db: str, world: Any, login: Callable[..., Any],
) -> None:
    """Without Redis the admin's job runs before the page shows ("was run"); with it, it
    waits for a worker, and the page says so rather than showing it queued as if run."""
    web = make_app(REDIS_URL=redis_db)
    client = web.test_client()
    try:
        login(client, world.admin)
        page = client.post("/admin/jobs/run", data={"kind": "keep-trends"}, follow_redirects=True).get_data(as_text=True)
        assert "(keep each cohort&#39;s trend by month) was queued: a worker runs it." in page
        assert [j.status for j in jobs()] == [JobStatus.QUEUED]
    finally:
        with web.app_context():
            db.session.remove()
            db.engine.dispose()


def test_with_redis_a_real_worker_runs_each_job_once_retries_and_delivers_mail(
    app: Flask, make_app: Callable[..., Flask], database_url: str, instance_dir: Path, redis_db: str,
    smtp: tuple[Inbox, int], world: Any, cohort: Any, login: Callable[..., Any], tmp_path: Path,
) -> None:
    inbox, smtp_port = smtp
    mail = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_port, "MAIL_SECURITY": "none"}
    web = make_app(REDIS_URL=redis_db, EXPORT_BACKGROUND_ABOVE=2, **mail)
    client = web.test_client()
    try:
        # Mail leaves the request: queued for the worker, not sent while the request waits.
        assert client.post("/password/forgot", data={"email": world.learner_a.email}).status_code == 302
        with web.app_context():
            assert [m.status for m in db.session.scalars(select(OutboxMessage))] == [MailStatus.PENDING]
            db.session.remove()
        assert inbox.received == []
        login(client, world.instructor_a)
        asked = client.post(f"/cohorts/{cohort.id}/exports/competency.csv")
        export_id = int(asked.headers["Location"].rsplit("/", 1)[1])
        assert job(export_id).status is JobStatus.QUEUED  # Redis is there: left for the worker
        # A job broken by a fault (its parameters lack the cohort) is retried; one refused (a
        # cohort gone) would fail at its first try (test_a_refused_export_fails_at_once_with_its_reason).
        gone = queue(web, "export", {"source": "grades", "format": "csv"}, max_attempts=2)
        # The same job put on the queue twice is still run once.
        Queue(runner.QUEUE, connection=Redis.from_url(redis_db)).enqueue(runner.rq_job, export_id)

        env = {**os.environ, "LMS_ENV": "testing", "TEST_DATABASE_URL": database_url, "DATABASE_URL": database_url,
               "LMS_INSTANCE_PATH": str(instance_dir), "REDIS_URL": redis_db, "FLASK_APP": "wsgi",
               "JOBS_RETRY_FIRST": "0.2", **{k: str(v) for k, v in mail.items()}}
        log_path = tmp_path / "worker.log"
        with log_path.open("w") as log_file:
            worker = subprocess.Popen([sys.executable, "-m", "flask", "lms", "worker"], env=env, stdout=log_file,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(lambda: job(export_id).status is JobStatus.DONE and job(gone).status is JobStatus.FAILED
                     and len(inbox.received) == 1, 60, "the worker")
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(5)
        log = log_path.read_text()
        assert worker.returncode == 0, log
        made, broken = job(export_id), job(gone)
        assert made.attempts == 1 and made.file_path and made.progress_done == made.progress_total == 4, log
        assert broken.attempts == 2 and "KeyError: 'cohort_id'" in broken.error  # retried after its backoff
        assert [r for _, r, _ in inbox.received] == [[world.learner_a.email]]
        download = client.get(f"/jobs/{export_id}/download")
        assert download.status_code == 200 and len(rows(download.get_data(as_text=True))) == 4
    finally:
        with web.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_worker_stops_within_seconds_even_when_its_listener_read_the_unsubscribe_first(redis_db: str) -> None:
    """The race that hung a warm shutdown (and the end of every ``--burst`` run that lost it) for
    a minute: the listener thread reads the reply to the worker's unsubscribe before it is told
    to stop. RQ's own SimpleWorker then waits out its listener's 60 s; ``Worker`` stops at once."""
    connection = Redis.from_url(redis_db)
    try:
        worker = Worker([Queue("stop-race", connection=connection)], connection=connection)
        worker.subscribe()
        assert worker.pubsub is not None
        worker.pubsub.unsubscribe()
        wait_for(lambda: not worker.pubsub.subscribed, 10, "the listener to read the unsubscribe's reply")
        time.sleep(0.1)  # it is waiting for the next message now
        began = time.monotonic()
        worker.unsubscribe()
        assert time.monotonic() - began < 5
    finally:
        connection.close()
