"""Administrative actions outside the admin console are in the audit log too: API tokens
created and revoked, webhook endpoints created, paused, resumed and given a new secret,
certificates revoked, jobs run or retried from /admin/jobs. Each entry says who, what and
in which organization, is found by the audit page's filters and its CSV export, and never
holds the token or secret itself."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from flask import Flask
from sqlalchemy import select, update

from lms.api.models import ApiToken
from lms.audit.models import AuditAction, AuditEntry
from lms.certificates import services as certificates
from lms.database import unit_of_work, utcnow
from lms.extensions import db
from lms.jobs import services as jobs
from lms.jobs.models import Job, JobStatus
from lms.webhooks import services as webhooks
from lms.webhooks.models import WebhookEndpoint
from tests.conftest import PASSWORD, World
from tests.test_certificates import complete


def audited(*actions: AuditAction) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action.in_(actions)).order_by(AuditEntry.id)))


def as_text(entry: AuditEntry) -> str:
    return json.dumps([entry.before, entry.after, entry.target])


def csv_rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_api_tokens_created_and_revoked_are_audited_without_the_secret(app: Flask, world: World, client, login) -> None:
    login(client, world.org_admin_a)
    made = client.post(f"/organizations/{world.org_a.id}/api-tokens",
                       data={"password": PASSWORD, "name": "HR sync", "scopes": ["read:people"]})
    assert made.status_code == 200
    secret = re.search(rb"(lms_[A-Za-z0-9_-]{40,})", made.data).group(1).decode()
    token = db.session.scalar(select(ApiToken))
    assert client.post(f"/organizations/{world.org_a.id}/api-tokens/{token.id}/revoke", data={}).status_code == 302
    assert client.post(f"/organizations/{world.org_a.id}/api-tokens/{token.id}/revoke", data={}).status_code == 302
    created, revoked = audited(AuditAction.API_TOKEN_CREATED, AuditAction.API_TOKEN_REVOKED)  # the second revoke: nothing
    for entry in (created, revoked):
        assert (entry.actor_id, entry.organization_id, entry.target) == (world.org_admin_a.id, world.org_a.id,
                                                                          f"api_token:{token.id}")
        assert secret not in as_text(entry) and token.token_hash not in as_text(entry)
        assert entry.ip == "127.0.0.1"
    assert created.action is AuditAction.API_TOKEN_CREATED and created.after["name"] == "HR sync"
    assert created.after["prefix"] == token.prefix and created.after["scopes"] == ["read:people"]
    assert revoked.before["revoked_at"] is None and revoked.after["revoked_at"] is not None
    # a personal token is audited too, under no organization
    client.post("/logout")
    login(client, world.instructor_a)
    assert client.post("/account/api-tokens", data={"password": PASSWORD, "name": "Mine", "scopes": ["read:grades"]}).status_code == 200
    personal = audited(AuditAction.API_TOKEN_CREATED)[-1]
    assert personal.actor_id == world.instructor_a.id and personal.organization_id is None


def test_webhook_endpoint_changes_are_audited_without_the_secret(app: Flask, world: World, client, login) -> None:
    org = world.org_a
    login(client, world.org_admin_a)
    made = client.post(f"/organizations/{org.id}/webhooks",
                       data={"url": "https://hooks.example.org/lms", "events": ["grade.released"], "description": "HR"})
    assert made.status_code == 201
    endpoint = db.session.scalar(select(WebhookEndpoint))
    secrets = [webhooks.decrypt_secret(app.config["SECRET_KEY"], endpoint.secret_encrypted)]
    assert client.post(f"/organizations/{org.id}/webhooks/{endpoint.id}/active", data={"to": "pause"}).status_code == 302
    assert client.post(f"/organizations/{org.id}/webhooks/{endpoint.id}/active", data={"to": "resume"}).status_code == 302
    assert client.post(f"/organizations/{org.id}/webhooks/{endpoint.id}/secret", data={"confirm": "yes"}).status_code == 200
    db.session.expire_all()
    secrets.append(webhooks.decrypt_secret(app.config["SECRET_KEY"], endpoint.secret_encrypted))
    found = audited(AuditAction.WEBHOOK_CREATED, AuditAction.WEBHOOK_PAUSED, AuditAction.WEBHOOK_RESUMED,
                    AuditAction.WEBHOOK_SECRET_ROTATED)
    assert [e.action for e in found] == [AuditAction.WEBHOOK_CREATED, AuditAction.WEBHOOK_PAUSED,
                                         AuditAction.WEBHOOK_RESUMED, AuditAction.WEBHOOK_SECRET_ROTATED]
    for entry in found:
        assert (entry.actor_id, entry.organization_id, entry.target) == (world.org_admin_a.id, org.id, f"webhook:{endpoint.id}")
        assert not any(s in as_text(entry) or s.removeprefix("whsec_") in as_text(entry) for s in secrets)
        assert endpoint.secret_encrypted not in as_text(entry)
    assert found[0].after == {"url": "https://hooks.example.org/lms", "description": "HR", "events": ["grade.released"],
                              "active": True}
    assert (found[1].before["active"], found[1].after["active"]) == (True, False)
    # the audit page and its CSV export find them by action and organization
    client.post("/logout")
    login(client, world.admin)
    page = client.get(f"/admin/audit?action=webhook_paused&organization={org.id}").get_data(as_text=True)
    assert "Webhook paused" in page.partition('id="audit-log"')[2] and f"webhook:{endpoint.id}" in page
    rows = csv_rows(client.get(f"/admin/audit/export.csv?organization={org.id}&target=webhook:{endpoint.id}"))
    assert sorted(r["action"] for r in rows) == ["webhook_created", "webhook_paused", "webhook_resumed",
                                                 "webhook_secret_rotated"]
    assert {r["actor_email"] for r in rows} == {world.org_admin_a.email}
    assert not any(s in json.dumps(rows) for s in secrets)


def test_a_certificate_revocation_is_audited(app: Flask, loaded, make_user, make_org, make_cohort, enrol_learner, client,
                                             login) -> None:
    admin = make_user(name="Olivia Org")
    org = make_org("Acme", admins=[admin])
    cohort = make_cohort(org, "Acme 1", months_ago=5)
    learner = enrol_learner(cohort, name="Ada Lovelace")
    complete(cohort, learner)
    [certificate] = certificates.issue_due(db.session, cohort, learner.id, utcnow())
    db.session.commit()
    login(client, admin)
    assert client.post(f"/badges/v3/manage/{certificate.code}", data={"reason": "Issued in error"}).status_code == 302
    [entry] = audited(AuditAction.CERTIFICATE_REVOKED)
    assert (entry.actor_id, entry.organization_id, entry.target) == (admin.id, org.id, f"certificate:{certificate.id}")
    assert entry.after["reason"] == "Issued in error" and entry.after["learner_id"] == learner.id
    client.post("/logout")
    login(client, make_user(admin=True))
    rows = csv_rows(client.get("/admin/audit/export.csv?action=certificate_revoked"))
    assert [(r["actor_email"], r["organization"], r["target"]) for r in rows] == [
        (admin.email, "Acme", f"certificate:{certificate.id}")]


def test_jobs_run_and_retried_from_the_jobs_page_are_audited(app: Flask, client, login, make_user) -> None:
    admin = make_user(admin=True)
    login(client, admin)
    assert client.post("/admin/jobs/run", data={"kind": "keep-trends"}).status_code == 302
    run = db.session.scalar(select(Job).where(Job.kind == "keep-trends"))
    with unit_of_work(db.session):
        failed = jobs.queue_job(db.session, "rebuild-search", {}, label="Rebuild the search index")
    db.session.info.clear()
    with unit_of_work(db.session):
        db.session.execute(update(Job).where(Job.id == failed.id).values(status=JobStatus.FAILED, attempts=5, error="boom"))
    assert client.post(f"/admin/jobs/{failed.id}/retry", data={}).status_code == 302
    ran, retried = audited(AuditAction.JOB_RUN, AuditAction.JOB_RETRIED)
    assert (ran.action, ran.actor_id, ran.organization_id, ran.target) == (AuditAction.JOB_RUN, admin.id, None, f"job:{run.id}")
    assert ran.after["kind"] == "keep-trends" and ran.after["new"] is True
    assert (retried.action, retried.actor_id, retried.target) == (AuditAction.JOB_RETRIED, admin.id, f"job:{failed.id}")
    assert retried.before["status"] == "failed" and retried.before["attempts"] == 5 and retried.before["error"] == "boom"
    rows = csv_rows(client.get("/admin/audit/export.csv?action=job_retried"))
    assert [r["target"] for r in rows] == [f"job:{failed.id}"]
