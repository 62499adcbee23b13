"""Absolute links follow LMS_BASE_URL, never a request's Host header (lms/web/site_url.py).

A "forgot password" sent with ``Host: evil.example`` mailed the victim a valid reset link to
evil.example. With BASE_URL set, every absolute URL the site builds is under it, and a
request naming a host other than BASE_URL's (or LMS_TRUSTED_HOSTS) gets 400."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from lms import create_app
from lms.extensions import db
from lms.mail.models import OutboxMessage
from tests.conftest import World, sent_body
from tests.test_notifications import CASE, course, grade_form  # noqa: F401 (course: a fixture)

BASE = "https://lms.example.org"
FORGED = {"Host": "evil.example"}


def mails(recipient: str) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == recipient)
                                   .order_by(OutboxMessage.id)))


def links(body: str) -> list[str]:
    return re.findall(r"https?://[^\s)>\"']+", body)


@pytest.fixture()
def based(app: Flask) -> Flask:
    """BASE_URL set, every host still let in: the links alone must not follow the Host header
    (a site may list several names in LMS_TRUSTED_HOSTS)."""
    app.config.update(BASE_URL=BASE, TRUSTED_HOSTS=None)
    return app


def test_forgot_password_with_a_forged_host_mails_a_link_under_base_url(based: Flask, client, make_user) -> None:
    make_user(email="ada@example.com", name="Ada Lovelace")
    assert client.post("/password/forgot", data={"email": "ada@example.com"}, headers=FORGED).status_code == 302
    [message] = mails("ada@example.com")
    found = links(sent_body(message))
    assert found and all(link.startswith(f"{BASE}/") for link in found), found
    assert any(link.startswith(f"{BASE}/password/reset/") for link in found)
    assert "evil.example" not in message.body


def forged(app: Flask) -> FlaskClient:
    """A client whose every request names evil.example (its cookies are kept for that host)."""
    client = app.test_client()
    client.environ_base["HTTP_HOST"] = FORGED["Host"]
    return client


def test_an_invitation_sent_with_a_forged_host_links_to_base_url(based: Flask, world: World, login) -> None:
    client = forged(based)
    login(client, world.org_admin_a)
    sent = client.post(f"/cohorts/{world.cohort_a.id}/invitations",
                       data={"email": "viaform@example.com", "name": "Via Form"})
    assert sent.status_code == 302 and sent.headers["Location"] == f"/cohorts/{world.cohort_a.id}"
    db.session.expire_all()
    [message] = mails("viaform@example.com")
    assert re.search(rf"{re.escape(BASE)}/invitations/[A-Za-z0-9_-]+", sent_body(message)), sent_body(message)
    assert "evil.example" not in message.body


def test_without_base_url_links_follow_the_request(app: Flask, client, make_user) -> None:
    """Development and tests without LMS_BASE_URL: the request's address, as before."""
    make_user(email="ada@example.com")
    client.post("/password/forgot", data={"email": "ada@example.com"})
    [message] = mails("ada@example.com")
    assert "http://localhost/password/reset/" in sent_body(message)


def test_certificate_and_badge_ids_use_base_url(based: Flask, client) -> None:
    issuer = client.get("/badges/issuer.json", headers=FORGED).get_json(force=True)
    assert issuer["id"].startswith(f"{BASE}/") and issuer["url"].startswith(BASE), issuer
    page = client.get("/badges/v3/verify", headers=FORGED).get_data(as_text=True)
    assert f"{BASE}/badges/v3/verify.json" in page and "evil.example" not in page


def test_a_notification_mail_links_to_base_url(based: Flask, course, login) -> None:  # noqa: F811
    learner, _, work = course["hand_in"]("Lia Learner")
    teacher = forged(based)
    login(teacher, course["teacher"])
    url = f"/cohorts/{work.cohort_id}/submissions/{work.id}"
    assert teacher.post(url, data=grade_form(work, "release")).status_code == 302
    [mail] = [m for m in mails(learner.email) if CASE in m.body]
    assert f"{BASE}/assignments/{CASE}/feedback" in mail.body and "evil.example" not in mail.body


def test_trusted_hosts_default_to_base_url_and_a_forged_host_gets_400(make_app: Callable[..., Flask]) -> None:
    app = make_app(BASE_URL=BASE + "/")
    try:
        assert app.config["BASE_URL"] == BASE and app.config["TRUSTED_HOSTS"] == ["lms.example.org"]
        client = app.test_client()
        assert client.get("/login", headers={"Host": "lms.example.org"}).status_code == 200
        refused = client.get("/", headers=FORGED)
        assert refused.status_code == 400 and "does not answer to that host" in refused.get_data(as_text=True)
        assert client.post("/password/forgot", data={"email": "a@example.com"}, headers=FORGED).status_code == 400
        assert client.get("/login", headers=FORGED).status_code == 400
        # The balancer's health check names the node's own address: it is answered.
        assert client.get("/healthz", headers={"Host": "10.0.0.5:8000"}).get_data(as_text=True) == "ok"
        outside = app.create_url_adapter(None)  # outside a request (commands, jobs) too
        assert outside is not None
        assert outside.build("accounts.forgot_password", force_external=True) == f"{BASE}/password/forgot"
    finally:
        with app.app_context():
            db.engine.dispose()


def test_behind_a_proxy_a_forged_forwarded_host_gets_400(make_app: Callable[..., Flask]) -> None:
    app = make_app(BASE_URL=BASE, TRUSTED_PROXIES=1)
    try:
        client = app.test_client()
        proxied = {"Host": "10.0.0.5:8000", "X-Forwarded-Proto": "https"}
        assert client.get("/login", headers={**proxied, "X-Forwarded-Host": "lms.example.org"}).status_code == 200
        assert client.get("/login", headers={**proxied, "X-Forwarded-Host": "evil.example"}).status_code == 400
    finally:
        with app.app_context():
            db.engine.dispose()


def test_trusted_hosts_from_the_environment(make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMS_TRUSTED_HOSTS", "lms.example.org, .example.net")
    app = make_app(BASE_URL=BASE)
    try:
        client = app.test_client()
        assert client.get("/login", headers={"Host": "www.example.net"}).status_code == 200
        assert client.get("/login", headers=FORGED).status_code == 400
    finally:
        with app.app_context():
            db.engine.dispose()


def test_production_refuses_to_start_without_base_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.delenv("LMS_BASE_URL", raising=False)
    with pytest.raises(RuntimeError, match="No LMS_BASE_URL"):
        create_app("production", instance_path=tmp_path)
    monkeypatch.setenv("LMS_BASE_URL", "https://lms.example.org/some/path")
    with pytest.raises(RuntimeError, match="the site's origin"):
        create_app("production", instance_path=tmp_path)
