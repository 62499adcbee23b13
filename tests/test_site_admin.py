"""The site admin's console as one place: every admin page carries the same tabs (the
background jobs among them, which no page linked to before), the home page says what
failed or waits, and a periodic job (the mail delivery, the stored trends, ...) can be
run from the jobs page or the mail page instead of waiting for cron."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import delete, func, select

from lms.database import unit_of_work, utcnow
from lms.extensions import db
from lms.jobs import runner, services
from lms.jobs.models import Job, JobStatus
from lms.mail.models import MailStatus, OutboxMessage
from lms.mail.services import queue_mail
from lms.progress.models import ProgressItem, ProgressLearner

TABS = {"/admin/users": "Users", "/admin/organizations": "Organizations", "/admin/audit": "Audit log",
        "/admin/mail": "Mail", "/admin/jobs": "Background jobs", "/admin/lti": "LTI platforms"}


def section(html: str, element_id: str) -> str:
    found = re.search(rf'<section class="card" id="{element_id}">(.*?)</section>', html, re.S)
    assert found is not None, f"no section {element_id}"
    return found.group(1)


def tabs_of(html: str) -> dict[str, bool]:
    """The admin tabs a page shows: their address, and whether it is marked as this page."""
    nav = re.search(r'<nav class="admin-tabs"[^>]*>(.*?)</nav>', html, re.S)
    assert nav is not None, "no admin tabs"
    return {href: bool(current) for href, current in re.findall(r'<a href="([^"]+)"( aria-current="page")?>', nav.group(1))}


def all_jobs() -> list[Job]:
    db.session.expire_all()
    found = list(db.session.scalars(select(Job).order_by(Job.id)))
    db.session.rollback()
    return found


def queue_waiting_mail(count: int) -> list[int]:
    """Messages queued by work that did not deliver them (as the demo's, or a process that
    stopped between its commit and the delivery)."""
    with unit_of_work(db.session):
        ids = [queue_mail(db.session, f"waiting{n}@example.com", f"Waiting {n}", "Body").id for n in range(count)]
    db.session.info.clear()  # nothing delivers them after this commit
    return ids


def test_every_site_admin_page_carries_the_tabs_and_marks_its_own(
        app: Flask, client: Any, login: Callable[..., Any], make_user: Callable[..., Any]) -> None:
    login(client, make_user(admin=True))
    for address, label in TABS.items():
        response = client.get(address)
        assert response.status_code == 200, address
        shown = tabs_of(response.get_data(as_text=True))
        assert set(shown) == set(TABS), address
        assert [href for href, current in shown.items() if current] == [address], address
        assert f' aria-current="page">{label}</a>' in response.get_data(as_text=True), address


def test_the_site_admins_home_says_what_failed_and_what_waits(
        app: Flask, client: Any, login: Callable[..., Any], make_user: Callable[..., Any],
        count_queries: Callable[[Callable[[], Any]], int]) -> None:
    admin = make_user(admin=True)
    login(client, admin)
    calm = section(client.get("/home").get_data(as_text=True), "admin-home")
    assert "none failed, 0 queued, 0 running" in " ".join(calm.split())
    assert "none failed, 0 waiting to be sent" in " ".join(calm.split())
    assert "Something failed" not in calm and 'href="/admin/jobs"' in calm and 'href="/admin/mail"' in calm
    statements = count_queries(lambda: client.get("/home"))

    queue_waiting_mail(3)
    with unit_of_work(db.session):
        for n in range(2):
            broken = services.queue_job(db.session, "deliver-mail", {}, label=f"broken {n}")
            broken.status, broken.error = JobStatus.FAILED, "RuntimeError: the relay said no"
        failed_mail = queue_mail(db.session, "gone@example.com", "Lost", "Body")
        failed_mail.status = MailStatus.FAILED
        services.queue_job(db.session, "keep-trends", {}, label="waiting")
    db.session.info.clear()
    html = client.get("/home").get_data(as_text=True)
    panel = " ".join(section(html, "admin-home").split())
    assert "Something failed and waits for you" in panel
    assert "<strong>2 failed</strong>, 1 queued, 0 running" in panel
    assert "<strong>1 message failed</strong>, 3 waiting to be sent" in panel
    assert count_queries(lambda: client.get("/home")) == statements  # counted in SQL, whatever the numbers


def test_learners_without_a_kept_schedule_are_named_until_the_rebuild_job_runs(
        loaded: Flask, client: Any, login: Callable[..., Any], make_user: Callable[..., Any],
        make_cohort: Callable[..., Any], enrol_learner: Callable[..., Any]) -> None:
    """The reminders, the certificate check and the heat map read the kept schedule state: a
    site upgraded from before it was kept has learners without it, who would silently get
    nothing. The admin's home says how many, and the rebuild job from the jobs page mends it."""
    cohort = make_cohort(months_ago=2)
    learners = [enrol_learner(cohort) for _ in range(3)]
    login(client, make_user(admin=True))
    assert 'id="unkept-learners"' not in client.get("/home").get_data(as_text=True)
    with unit_of_work(db.session):  # as before the state was kept
        db.session.execute(delete(ProgressLearner).where(ProgressLearner.user_id.in_([u.id for u in learners[:2]])))
        db.session.execute(delete(ProgressItem).where(ProgressItem.user_id.in_([u.id for u in learners[:2]])))
    db.session.info.clear()
    panel = " ".join(section(client.get("/home").get_data(as_text=True), "admin-home").split())
    assert "<strong>2 learners without a kept schedule</strong>" in panel and 'href="/admin/jobs"' in panel
    assert client.post("/admin/jobs/run", data={"kind": "rebuild-progress"}).status_code == 302
    assert 'id="unkept-learners"' not in client.get("/home").get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ProgressLearner)
                             .where(ProgressLearner.user_id.in_([u.id for u in learners]))) == 3


def test_other_people_see_no_site_admin_panel(
        app: Flask, client: Any, login: Callable[..., Any], make_user: Callable[..., Any]) -> None:
    login(client, make_user())
    html = client.get("/home").get_data(as_text=True)
    assert 'id="admin-home"' not in html and 'class="admin-tabs"' not in html


def test_the_admin_sends_the_waiting_mail_from_the_mail_page(
        app: Flask, client: Any, login: Callable[..., Any], make_user: Callable[..., Any]) -> None:
    admin = make_user(admin=True)
    waiting = queue_waiting_mail(3)
    login(client, admin)
    page = client.get("/admin/mail").get_data(as_text=True)
    assert "3 messages waiting to be sent" in page
    assert 'action="/admin/jobs/run"' in page and 'name="kind" value="deliver-mail"' in page

    response = client.post("/admin/jobs/run", data={"kind": "deliver-mail"})
    assert response.status_code == 302
    [made] = all_jobs()
    assert response.headers["Location"] == f"/jobs/{made.id}"
    assert (made.kind, made.status, made.requested_by_id, made.result) == (
        "deliver-mail", JobStatus.DONE, admin.id, "Delivered 3 emails.")  # without Redis: run once the request committed
    db.session.expire_all()
    statuses = set(db.session.scalars(select(OutboxMessage.status).where(OutboxMessage.id.in_(waiting))))
    assert statuses == {MailStatus.SENT}

    job_page = client.get(f"/jobs/{made.id}").get_data(as_text=True)
    assert "Job " + str(made.id) + " (deliver the outbox&#39;s due mail) was run; how it went is below." in job_page
    assert "Delivered 3 emails." in job_page and 'href="/admin/jobs"' in job_page
    after = client.get("/admin/mail").get_data(as_text=True)
    assert "0 messages waiting to be sent" in after and 'action="/admin/jobs/run"' not in after


def test_the_jobs_page_runs_any_periodic_kind_once_at_a_time(
        app: Flask, client: Any, login: Callable[..., Any], make_user: Callable[..., Any]) -> None:
    login(client, make_user(admin=True))
    board = client.get("/admin/jobs").get_data(as_text=True)
    offered = re.findall(r'<option value="([^"]*)"', board.split('class="actions jobs-run"')[1].split("</form>")[0])
    assert offered[0] == "" and sorted(offered[1:]) == sorted(k.name for k in runner.periodic(app))
    assert "export" not in offered

    assert client.post("/admin/jobs/run", data={"kind": "keep-trends"}).status_code == 302
    [kept] = all_jobs()
    assert kept.kind == "keep-trends" and kept.status is JobStatus.DONE

    with unit_of_work(db.session):  # cron's job of the kind, queued and not run yet
        live, new = services.queue_periodic(db.session, "rebuild-search", "Rebuild the search index", 5)
    db.session.info.clear()
    assert new
    response = client.post("/admin/jobs/run", data={"kind": "rebuild-search"}, follow_redirects=True)
    assert f"Job {live.id} (rebuild the search index) was already queued: nothing new was queued." in response.get_data(
        as_text=True)
    assert len(all_jobs()) == 2


def test_a_job_that_is_not_periodic_or_no_job_is_refused_with_the_reason(
        app: Flask, client: Any, login: Callable[..., Any], make_user: Callable[..., Any]) -> None:
    login(client, make_user(admin=True))
    for data, message in (({"kind": "export"}, "Not a valid choice"), ({"kind": "nonsense"}, "Not a valid choice"),
                          ({"kind": ""}, "Choose the job to run."), ({}, "Choose the job to run.")):
        response = client.post("/admin/jobs/run", data=data)
        page = response.get_data(as_text=True)
        assert response.status_code == 400 and message in page and "<h1>Background jobs</h1>" in page, data
    assert all_jobs() == []


def test_the_job_page_shows_a_failed_jobs_error_to_the_site_admin_only(
        app: Flask, client: Any, login: Callable[..., Any], make_user: Callable[..., Any]) -> None:
    asker = make_user()
    with unit_of_work(db.session):
        failed = services.queue_job(db.session, "deliver-mail", {}, label="Deliver", requested_by_id=asker.id)
        failed.status, failed.error, failed.finished_at = JobStatus.FAILED, "RuntimeError: the relay said no", utcnow()
    db.session.info.clear()
    login(client, asker)
    assert "the relay said no" not in client.get(f"/jobs/{failed.id}").get_data(as_text=True)
    client.post("/logout")
    login(client, make_user(admin=True))
    assert "the relay said no" in client.get(f"/jobs/{failed.id}").get_data(as_text=True)
