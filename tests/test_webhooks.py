"""Webhooks (issue 15 point 3): an organization admin registers endpoints, each event is
POSTed to a real HTTP receiver on 127.0.0.1, signed as Standard Webhooks says, retried with
exponential backoff (the receiver answers 500, then 200), logged with status code and
attempts, redelivered by the admin; through the RQ queue when Redis is configured."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.catalog.models import Level, Objective
from lms.certificates.models import Certificate
from lms.certificates.services import certificate_issued
from lms.cohorts.invitations import accept_invitation_as, invite_learner
from lms.coursework.services import dates_for, get_assignment, start_submission, submit
from lms.database import utcnow
from lms.extensions import db
from lms.grading.services import rubric_for, save_grade
from lms.jobs.outbox import ANSWER_BYTES, Worker
from lms.learning.services import build_schedule
from lms.progress.models import EvidenceSourceName
from lms.progress.services import record
from lms.web import addresses
from lms.web.addresses import PublicHTTPConnection, PublicHTTPSConnection, guard, public_addresses
from lms.webhooks import services
from lms.webhooks.jobs import QUEUE
from lms.webhooks.models import SUBSCRIBABLE, DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from lms.webhooks.receivers import queue_at_risk
from tests.conftest import PASSWORD
from tests.races import race, second_waits_for_first
from tests.receivers import running
from tests.redis_db import redis_database

REDIS_TEST_URL = "redis://127.0.0.1:6379/14"


# --------------------------------------------------------------------------- a real receiver


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers the next scripted
    status (200 once the script is used up)."""

    port: int = 0
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    delay: float = 0.0  # seconds to wait before answering (a slow or hanging endpoint)
    reply: bytes = b"ok"  # the body of a success's answer
    stop: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.received]


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            with lock:
                state.received.append(Received(self.path, dict(self.headers.items()), body))
                status = state.answers.pop(0) if state.answers else 200
            if state.delay:
                state.stop.wait(state.delay)
            reply = b"boom" if status >= 400 else state.reply
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except OSError:  # the sender gave up waiting
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    with running(server, poll_interval=0.05):
        try:
            yield state
        finally:
            state.stop.set()  # a hanging answer gives up before the server stops


# --------------------------------------------------------------------------- helpers


@pytest.fixture()
def org_setup(app: Flask, loaded: Flask, make_user, make_org, make_cohort, enrol_learner) -> dict[str, Any]:
    admin = make_user(name="Olivia Org")
    instructor = make_user(name="Ines Instructor")
    org = make_org("Acme", admins=[admin])
    cohort = make_cohort(org, "Acme 1", months_ago=5, instructors=[instructor])
    learner = enrol_learner(cohort, name="Lea Learner", email="lea@example.com")
    return {"org": org, "admin": admin, "instructor": instructor, "cohort": cohort, "learner": learner}


def add_endpoint(app: Flask, org: Any, url: str, events: list[WebhookEvent]) -> tuple[WebhookEndpoint, str]:
    endpoint, secret = services.create_endpoint(db.session, org.id, url, [e.value for e in events], "test",
                                                app.config["SECRET_KEY"], None, True)
    db.session.commit()
    return endpoint, secret


def deliveries() -> list[WebhookDelivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def deliver(app: Flask, now: datetime | None = None) -> int:
    return services.deliver_pending(db.session, app.config, now=now)


def release_a_grade(setup: dict[str, Any]) -> Any:
    """The learner hands in the MLOps hands-on work and the instructor releases a grade."""
    work = start_submission(db.session, get_assignment(db.session, "cs-hands-on-own-operation"), setup["learner"].id,
                            setup["cohort"].id, utcnow())
    work.draft_body = "My plan."
    submit(db.session, work, dates_for(work.assignment, build_schedule(db.session, setup["cohort"], setup["learner"].id, utcnow())),
           utcnow())
    rubric = rubric_for(db.session, work, None)
    grade = save_grade(db.session, work, setup["instructor"], {c.id: c.levels[0].id for c in rubric.criteria}, {}, "Well done.",
                       None, "release", utcnow())
    db.session.commit()
    return grade


# --------------------------------------------------------------------------- signatures and URLs


def test_signature_follows_standard_webhooks_and_verifies() -> None:
    secret = services.new_secret()
    assert secret.startswith("whsec_") and len(services.signing_key(secret)) == 24
    now = utcnow()
    stamp = int(now.timestamp())
    signature = services.sign(secret, "msg_1", stamp, '{"a":1}')
    headers = {"Webhook-Id": "msg_1", "Webhook-Timestamp": str(stamp), "Webhook-Signature": signature}
    assert signature.startswith("v1,")
    assert services.verify(secret, headers, '{"a":1}', now)
    assert not services.verify(secret, headers, '{"a":2}', now)                                # tampered body
    assert not services.verify(services.new_secret(), headers, '{"a":1}', now)                 # another secret
    assert not services.verify(secret, headers | {"Webhook-Id": "msg_2"}, '{"a":1}', now)      # another id
    assert not services.verify(secret, headers, '{"a":1}', now + timedelta(minutes=6))         # replayed later
    # several signatures (a rotation): one that matches is enough
    assert services.verify(secret, headers | {"Webhook-Signature": f"v1,bm9wZQ== {signature}"}, '{"a":1}', now)


@pytest.mark.parametrize(("url", "local", "problem"), [
    ("https://hooks.example.org/lms", False, None),
    ("http://hooks.example.org/lms", False, "must use https"),
    ("http://127.0.0.1:8000/hook", False, "must use https"),
    ("http://127.0.0.1:8000/hook", True, None),
    ("http://10.0.0.5/hook", True, "must use https"),
    ("https://10.0.0.5/hook", False, "not a local or private address"),
    ("https://127.0.0.1/hook", False, "not a local or private address"),
    ("https://user:pw@hooks.example.org/", False, "no user name"),
    ("hooks.example.org", False, "with a host"),
    ("https://[::1/", False, "not a valid URL"),
])
def test_endpoint_urls(url: str, local: bool, problem: str | None) -> None:
    if problem is None:
        assert services.check_url(url, local) == url
    else:
        with pytest.raises(services.WebhookError, match=problem):
            services.check_url(url, local)


# --------------------------------------------------------------------------- the admin's pages


def test_admin_registers_an_endpoint_and_sees_the_secret_once(org_setup: dict[str, Any], client: Any, login: Any,
                                                              receiver: Receiver) -> None:
    org = org_setup["org"]
    login(client, org_setup["admin"])
    page = client.get(f"/organizations/{org.id}/webhooks")
    assert page.status_code == 200 and "No endpoint yet" in page.get_data(as_text=True)
    refused = client.post(f"/organizations/{org.id}/webhooks", data={"url": "http://hooks.example.org/x", "events": ["grade.released"]})
    assert refused.status_code == 400 and "must use https" in refused.get_data(as_text=True)
    none_chosen = client.post(f"/organizations/{org.id}/webhooks", data={"url": receiver.url()})
    assert none_chosen.status_code == 400 and "Choose at least one event" in none_chosen.get_data(as_text=True)
    made = client.post(f"/organizations/{org.id}/webhooks",
                       data={"url": receiver.url(), "events": ["grade.released", "certificate.issued"], "description": "HR"})
    body = made.get_data(as_text=True)
    assert made.status_code == 201
    [endpoint] = db.session.scalars(select(WebhookEndpoint)).all()
    secret = services.decrypt_secret(client.application.config["SECRET_KEY"], endpoint.secret_encrypted)
    assert secret in body and secret not in endpoint.secret_encrypted
    assert endpoint.events == ["grade.released", "certificate.issued"]
    assert secret not in client.get(f"/organizations/{org.id}/webhooks").get_data(as_text=True)
    # a new secret replaces it (once confirmed: the list's button asks first), shown once again
    rotated = client.post(f"/organizations/{org.id}/webhooks/{endpoint.id}/secret", data={"confirm": "yes"})
    db.session.expire_all()
    fresh = services.decrypt_secret(client.application.config["SECRET_KEY"], endpoint.secret_encrypted)
    assert rotated.status_code == 200 and fresh != secret and fresh in rotated.get_data(as_text=True)
    # paused, then resumed
    assert 'name="to" value="pause"' in client.get(f"/organizations/{org.id}/webhooks").get_data(as_text=True)
    paused = client.post(f"/organizations/{org.id}/webhooks/{endpoint.id}/active", data={"to": "pause"},
                         follow_redirects=True)
    db.session.expire_all()
    assert endpoint.active is False
    # the admin is told that events meanwhile are not sent later (they are not queued)
    assert "Events that happen while it is paused are not sent to it, not even once you resume" in paused.get_data(as_text=True)
    # pause pressed again from a page shown before (another tab): it stays paused
    again = client.post(f"/organizations/{org.id}/webhooks/{endpoint.id}/active", data={"to": "pause"},
                        follow_redirects=True)
    assert "was already paused: nothing was changed" in again.get_data(as_text=True)
    db.session.expire_all()
    assert endpoint.active is False
    assert 'name="to" value="resume"' in again.get_data(as_text=True)
    client.post(f"/organizations/{org.id}/webhooks/{endpoint.id}/active", data={"to": "resume"})
    db.session.expire_all()
    assert endpoint.active is True
    # a post that does not say what it asks for changes nothing
    client.post(f"/organizations/{org.id}/webhooks/{endpoint.id}/active")
    db.session.expire_all()
    assert endpoint.active is True


def test_a_url_is_one_endpoint_per_organization(app: Flask, org_setup: dict[str, Any], make_org, client: Any,
                                                login: Any) -> None:
    org = org_setup["org"]
    url = "https://hooks.example.org/lms"
    login(client, org_setup["admin"])
    assert client.post(f"/organizations/{org.id}/webhooks", data={"url": url, "events": ["grade.released"]}).status_code == 201
    again = client.post(f"/organizations/{org.id}/webhooks",
                        data={"url": f"  {url} ", "events": ["certificate.issued"], "description": "again"})
    page = again.get_data(as_text=True)
    assert again.status_code == 400 and f"{url} is already an endpoint of this organization" in page
    assert 'value="again"' in page  # the form is kept
    [endpoint] = db.session.scalars(select(WebhookEndpoint)).all()
    assert endpoint.events == ["grade.released"]
    # another organization may register the same URL
    other = make_org("Other")
    theirs, _ = add_endpoint(app, other, url, [WebhookEvent.GRADE_RELEASED])
    assert theirs.url == url and db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 2


def test_a_url_registered_twice_at_once_is_one_endpoint(app: Flask, org_setup: dict[str, Any]) -> None:
    org_id, url = org_setup["org"].id, "https://hooks.example.org/race"
    db.session.commit()

    def register(session: Session) -> str:
        try:
            endpoint, _secret = services.create_endpoint(session, org_id, url, ["grade.released"], "", app.config["SECRET_KEY"],
                                                         None, True)
        except services.WebhookError as exc:
            return str(exc)
        return f"made {endpoint.id}"

    first, second = second_waits_for_first(app, register, register)
    assert first.startswith("made") and "is already an endpoint of this organization" in second
    [endpoint] = db.session.scalars(select(WebhookEndpoint)).all()
    assert first == f"made {endpoint.id}"


def test_another_organizations_endpoint_is_not_found_under_ones_own(app: Flask, org_setup: dict[str, Any], make_org, client: Any,
                                                                    login: Any) -> None:
    other = make_org("Other")
    theirs, _ = add_endpoint(app, other, "https://hooks.example.org/other", [WebhookEvent.GRADE_RELEASED])
    [delivery] = services.queue_event(db.session, [theirs], WebhookEvent.GRADE_RELEASED, "k", {}, utcnow())
    db.session.commit()
    org = org_setup["org"]
    login(client, org_setup["admin"])
    assert client.get(f"/organizations/{org.id}/webhooks/{theirs.id}").status_code == 404
    assert client.post(f"/organizations/{org.id}/webhooks/{theirs.id}/secret").status_code == 404
    assert client.post(f"/organizations/{org.id}/webhooks/deliveries/{delivery.id}/redeliver").status_code == 404


# --------------------------------------------------------------------------- events, signatures, retries


def test_a_released_grade_is_delivered_signed(app: Flask, org_setup: dict[str, Any], receiver: Receiver) -> None:
    endpoint, secret = add_endpoint(app, org_setup["org"], receiver.url(), [WebhookEvent.GRADE_RELEASED])
    grade = release_a_grade(org_setup)
    [delivery] = deliveries()
    assert delivery.event is WebhookEvent.GRADE_RELEASED and delivery.status is DeliveryStatus.PENDING
    assert deliver(app) == 1
    [got] = receiver.received
    assert got.path == "/hook" and got.headers["Content-Type"] == "application/json"
    assert got.headers["Webhook-Id"] == delivery.message_id
    assert services.verify(secret, got.headers, got.body)
    payload = json.loads(got.body)
    assert payload["type"] == "grade.released"
    data = payload["data"]
    assert data["grade"]["id"] == grade.id and data["grade"]["score"] == grade.score
    assert data["learner"]["email"] == "lea@example.com" and data["cohort"]["name"] == "Acme 1"
    assert data["submission"]["assignment"]["key"] == "cs-hands-on-own-operation"
    [done] = deliveries()
    assert done.status is DeliveryStatus.DELIVERED and done.attempts == 1 and done.response_status == 200 and done.error == ""
    assert done.response_excerpt == "ok"  # the receiver's answer is kept, as a failure's is
    # a draft save sends nothing; nothing is sent twice
    assert deliver(app) == 0 and len(receiver.received) == 1


def test_a_failing_endpoint_is_retried_with_backoff(app: Flask, org_setup: dict[str, Any], receiver: Receiver) -> None:
    receiver.answers = [500, 503]
    _, secret = add_endpoint(app, org_setup["org"], receiver.url(), [WebhookEvent.GRADE_RELEASED])
    release_a_grade(org_setup)
    start = utcnow()
    assert deliver(app, start) == 0
    [delivery] = deliveries()
    assert delivery.status is DeliveryStatus.PENDING and delivery.attempts == 1 and delivery.response_status == 500
    assert delivery.error == "HTTP 500: boom"
    assert delivery.next_attempt_at == start + timedelta(seconds=60)
    assert deliver(app, start + timedelta(seconds=30)) == 0 and len(receiver.received) == 1  # not due yet
    assert deliver(app, start + timedelta(seconds=61)) == 0  # 503
    [delivery] = deliveries()
    assert delivery.attempts == 2 and delivery.next_attempt_at == start + timedelta(seconds=61 + 120)  # doubled
    assert deliver(app, start + timedelta(seconds=200)) == 1
    [delivery] = deliveries()
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.attempts == 3 and delivery.response_status == 200
    # the same id and body each time, each attempt signed with its own timestamp
    assert {r.headers["Webhook-Id"] for r in receiver.received} == {delivery.message_id}
    assert len({r.headers["Webhook-Timestamp"] for r in receiver.received}) == 3
    for got in receiver.received:
        stamp = datetime.fromtimestamp(int(got.headers["Webhook-Timestamp"]), start.tzinfo)
        assert got.body == delivery.body and services.verify(secret, got.headers, got.body, stamp)


def test_a_success_keeps_a_bounded_excerpt_of_the_answer_and_the_log_shows_it(
        app: Flask, org_setup: dict[str, Any], receiver: Receiver, client: Any, login: Any) -> None:
    """A failure's answer was kept (in its error) and shown; a success's was dropped, so an
    admin could not see what the receiver said (say, "queued as job 42" or a warning).
    Its start is kept now, at most ANSWER_BYTES of it, and the delivery log shows it."""
    receiver.answers = [500]
    receiver.reply = ("accepted: " + "é" * 400).encode()
    endpoint, _ = add_endpoint(app, org_setup["org"], receiver.url(), [WebhookEvent.GRADE_RELEASED])
    release_a_grade(org_setup)
    start = utcnow()
    assert deliver(app, start) == 0
    [delivery] = deliveries()
    assert delivery.error == "HTTP 500: boom" and delivery.response_excerpt == ""
    assert deliver(app, start + timedelta(minutes=2)) == 1
    [delivery] = deliveries()
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.error == ""
    assert delivery.response_excerpt.startswith("accepted: éé")
    assert len(delivery.response_excerpt.encode()) <= ANSWER_BYTES + 3  # a cut character is one replacement mark
    login(client, org_setup["admin"])
    log = client.get(f"/organizations/{org_setup['org'].id}/webhooks/{endpoint.id}").get_data(as_text=True)
    assert "HTTP 200: accepted: éé" in log


def test_gives_up_after_the_last_attempt_and_the_admin_redelivers(app: Flask, org_setup: dict[str, Any], receiver: Receiver,
                                                                  client: Any, login: Any) -> None:
    app.config["WEBHOOK_MAX_ATTEMPTS"] = 2
    receiver.answers = [500, 500]
    endpoint, _ = add_endpoint(app, org_setup["org"], receiver.url(), [WebhookEvent.GRADE_RELEASED])
    release_a_grade(org_setup)
    start = utcnow()
    deliver(app, start)
    deliver(app, start + timedelta(minutes=2))
    [delivery] = deliveries()
    assert delivery.status is DeliveryStatus.FAILED and delivery.attempts == 2 and delivery.next_attempt_at is None
    assert deliver(app, start + timedelta(days=1)) == 0 and len(receiver.received) == 2
    org = org_setup["org"]
    login(client, org_setup["admin"])
    log = client.get(f"/organizations/{org.id}/webhooks/{endpoint.id}").get_data(as_text=True)
    assert delivery.message_id in log and "HTTP 500: boom" in log and "failed" in log
    response = client.post(f"/organizations/{org.id}/webhooks/deliveries/{delivery.id}/redeliver")
    assert response.status_code == 302
    assert len(receiver.received) == 2  # the response goes first ...
    response.close()                    # ... then the process sends it
    [delivery] = deliveries()
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.attempts == 1 and len(receiver.received) == 3
    # the tries before the redelivery are still counted
    assert delivery.earlier_attempts == 2
    log = client.get(f"/organizations/{org.id}/webhooks/{endpoint.id}").get_data(as_text=True)
    assert "<td>3\n      <small class=\"muted\">(1 since redelivered)</small></td>" in log


def test_the_log_says_when_a_waiting_delivery_goes(app: Flask, org_setup: dict[str, Any], receiver: Receiver, client: Any,
                                                  login: Any) -> None:
    """A delivery queued and not tried yet goes with the next sending (due now), not at no
    time at all; one to a paused endpoint waits for the resume."""
    endpoint, _ = add_endpoint(app, org_setup["org"], receiver.url(), [WebhookEvent.GRADE_RELEASED])
    release_a_grade(org_setup)
    [delivery] = deliveries()
    assert delivery.status is DeliveryStatus.PENDING and delivery.attempts == 0 and delivery.next_attempt_at is None
    org = org_setup["org"]
    login(client, org_setup["admin"])
    url = f"/organizations/{org.id}/webhooks/{endpoint.id}"
    assert "<td>due now</td>" in client.get(url).get_data(as_text=True)
    client.post(f"/organizations/{org.id}/webhooks/{endpoint.id}/active", data={"to": "pause"})
    assert "<td>when resumed</td>" in client.get(url).get_data(as_text=True)


def test_the_log_counts_its_deliveries_in_plain_english(app: Flask, org_setup: dict[str, Any], receiver: Receiver,
                                                       client: Any, login: Any) -> None:
    """One delivery is "1 delivery", not "The latest 1 deliveries"; none says so once."""
    endpoint, _ = add_endpoint(app, org_setup["org"], receiver.url(), [WebhookEvent.GRADE_RELEASED])
    org = org_setup["org"]
    login(client, org_setup["admin"])
    url = f"/organizations/{org.id}/webhooks/{endpoint.id}"
    empty = " ".join(client.get(url).get_data(as_text=True).split())
    assert "The latest 0" not in empty and "Nothing has been sent to this endpoint yet." in empty
    release_a_grade(org_setup)
    one = " ".join(client.get(url).get_data(as_text=True).split())
    assert "1 deliveries" not in one and "1 delivery, newest first" in one


def test_an_unreachable_endpoint_is_logged_with_the_error(app: Flask, org_setup: dict[str, Any]) -> None:
    add_endpoint(app, org_setup["org"], "http://127.0.0.1:9/hook", [WebhookEvent.GRADE_RELEASED])
    release_a_grade(org_setup)
    assert deliver(app) == 0
    [delivery] = deliveries()
    assert delivery.response_status is None and "ConnectionError" in delivery.error and delivery.status is DeliveryStatus.PENDING
    # said as a person reads it, not as requests nests it ("HTTPConnectionPool(host=...): Max retries exceeded ...")
    assert delivery.error == "ConnectionError: could not connect to 127.0.0.1:9: Connection refused"


def test_a_host_name_resolving_to_a_local_address_is_refused_at_delivery(app: Flask, org_setup: dict[str, Any],
                                                                        receiver: Receiver,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A name checked at registration may point at the site's own network by delivery time
    (SSRF): without WEBHOOK_ALLOW_LOCAL_HTTP it is resolved again and refused, the reason kept."""
    add_endpoint(app, org_setup["org"], f"http://localhost:{receiver.port}/hook", [WebhookEvent.GRADE_RELEASED])
    release_a_grade(org_setup)
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_LOCAL_HTTP", False)
    start = utcnow()
    assert deliver(app, start) == 0
    assert receiver.received == []
    [delivery] = deliveries()
    assert delivery.status is DeliveryStatus.PENDING and delivery.attempts == 1 and delivery.response_status is None
    assert delivery.error.startswith("Refused: localhost resolves to ") and "local or private address" in delivery.error
    assert delivery.next_attempt_at == start + timedelta(seconds=60)  # an attempt like any other: retried, then failed
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_LOCAL_HTTP", True)  # development: allowed
    assert deliver(app, start + timedelta(seconds=61)) == 1 and len(receiver.received) == 1


def test_a_name_that_changes_between_the_check_and_the_connection_is_refused(app: Flask, org_setup: dict[str, Any],
                                                                            receiver: Receiver,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the check before the attempt saw a public address (here: skipped), the
    connection's own look-up gets 127.0.0.1; the connection checks what it connects to."""
    add_endpoint(app, org_setup["org"], f"http://localhost:{receiver.port}/hook", [WebhookEvent.GRADE_RELEASED])
    release_a_grade(org_setup)
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_LOCAL_HTTP", False)
    monkeypatch.setattr(services, "refuse_private_host", lambda url: None)
    assert deliver(app) == 0 and receiver.received == []
    [delivery] = deliveries()
    assert "ConnectionError" in delivery.error and "Refused: localhost resolves to " in delivery.error


def test_the_guarded_connection_goes_to_the_address_it_checked(app: Flask, org_setup: dict[str, Any], receiver: Receiver,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the check passes, the connection is made to the very address checked (here a
    stand-in check lets 127.0.0.1 through for a name that does not resolve at all)."""
    endpoint, _ = add_endpoint(app, org_setup["org"], receiver.url(), [WebhookEvent.GRADE_RELEASED])
    endpoint.url = f"http://hooks.invalid:{receiver.port}/hook"  # (registration wants https for a name)
    db.session.commit()
    release_a_grade(org_setup)
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_LOCAL_HTTP", False)
    monkeypatch.setattr(services, "refuse_private_host", lambda url: None)
    monkeypatch.setattr(addresses, "public_addresses", lambda host, port: ["127.0.0.1"] if host == "hooks.invalid" else [])
    assert deliver(app) == 1 and receiver.received[0].headers["Host"] == f"hooks.invalid:{receiver.port}"


def test_the_guarded_session_connects_through_checked_connections() -> None:
    with requests.Session() as http:
        guard(http)
        for url, kind in (("http://example.org/", PublicHTTPConnection), ("https://example.org/", PublicHTTPSConnection)):
            assert http.get_adapter(url).poolmanager.connection_from_url(url).ConnectionCls is kind
    assert public_addresses("93.184.215.14", 443) == ["93.184.215.14"]


@pytest.mark.parametrize(("url", "refused"), [
    ("https://127.0.0.1/hook", True),
    ("https://10.1.2.3/hook", True),
    ("http://169.254.169.254/latest/meta-data", True),  # link-local: a cloud's metadata service
    ("https://[::1]/hook", True),
    ("https://[::ffff:192.168.0.1]/hook", True),
    ("https://93.184.215.14/hook", False),
])
def test_delivery_time_address_check(url: str, refused: bool) -> None:
    if refused:
        with pytest.raises(services.WebhookError, match="local or private address"):
            services.refuse_private_host(url)
    else:
        services.refuse_private_host(url)


def test_a_hanging_endpoint_costs_one_timeout(app: Flask, org_setup: dict[str, Any], receiver: Receiver) -> None:
    app.config["WEBHOOK_TIMEOUT"] = 0.3
    receiver.delay = 5
    add_endpoint(app, org_setup["org"], receiver.url(), [WebhookEvent.GRADE_RELEASED])
    release_a_grade(org_setup)
    started = time.monotonic()
    assert deliver(app) == 0
    assert time.monotonic() - started < 3
    [delivery] = deliveries()
    assert "Timeout" in delivery.error and delivery.response_status is None and delivery.status is DeliveryStatus.PENDING


def test_a_paused_endpoint_gets_nothing(app: Flask, org_setup: dict[str, Any], receiver: Receiver) -> None:
    endpoint, _ = add_endpoint(app, org_setup["org"], receiver.url(), [WebhookEvent.GRADE_RELEASED])
    endpoint.active = False
    db.session.commit()
    release_a_grade(org_setup)
    assert deliveries() == [] and receiver.received == []


def test_mastery_level_changes_are_sent_when_the_named_level_moves(app: Flask, org_setup: dict[str, Any], receiver: Receiver) -> None:
    _, secret = add_endpoint(app, org_setup["org"], receiver.url(), [WebhookEvent.MASTERY_LEVEL_CHANGED])
    learner = org_setup["learner"]
    ko1 = db.session.scalar(select(Objective).where(Objective.key == "KO1"))
    assert ko1 is not None
    # None -> 3.4: the quiz's 3.6 is at mastery, held just under it as the only evidence.
    record(db.session, learner.id, ko1.id, EvidenceSourceName.QUIZ, "q:1", 0.9, utcnow())
    record(db.session, learner.id, ko1.id, EvidenceSourceName.QUIZ, "q:2", 0.7, utcnow())  # 3.08: same named level
    db.session.commit()
    assert deliver(app) == 1
    [payload] = receiver.bodies()
    assert payload["type"] == "mastery.level_changed"
    data = payload["data"]
    assert data["objective"]["code"] == "KO1" and data["before"] == {"level": None, "name": "no evidence"}
    assert data["after"] == {"level": pytest.approx(3.4), "name": "proficient"}
    assert data["learner"]["email"] == "lea@example.com"
    assert services.verify(secret, receiver.received[0].headers, receiver.received[0].body)


def test_certificates_and_accepted_invitations_are_sent(app: Flask, org_setup: dict[str, Any], receiver: Receiver,
                                                        make_user) -> None:
    add_endpoint(app, org_setup["org"], receiver.url(), [WebhookEvent.CERTIFICATE_ISSUED, WebhookEvent.ENROLMENT_ACCEPTED])
    level = db.session.scalar(select(Level).where(Level.key == "foundation"))
    certificate = Certificate(user_id=org_setup["learner"].id, level=level, code="abc", issued_at=utcnow(),
                              holder_name=org_setup["learner"].name)
    db.session.add(certificate)
    db.session.flush()
    certificate_issued.send(certificate, session=db.session, now=utcnow())
    newcomer = make_user(email="new@example.com", name="Nia New")
    tokens: list[str] = []
    invite_learner(db.session, org_setup["cohort"], "new@example.com", "Nia", org_setup["admin"], lambda t: tokens.append(t) or t)
    accept_invitation_as(db.session, tokens[0], newcomer, utcnow())
    db.session.commit()
    assert deliver(app) == 2
    by_type = {b["type"]: b["data"] for b in receiver.bodies()}
    assert by_type["certificate.issued"]["certificate"]["level"]["key"] == "foundation"
    assert by_type["certificate.issued"]["learner"]["email"] == "lea@example.com"
    assert by_type["enrolment.accepted"]["learner"]["email"] == "new@example.com"
    assert by_type["enrolment.accepted"]["cohort"]["name"] == "Acme 1"


def test_learners_newly_at_risk_are_sent_once(app: Flask, loaded, make_user, make_org, make_cohort, enrol_learner,
                                              receiver: Receiver) -> None:
    org = make_org("Late Org")
    cohort = make_cohort(org, "Late 1", months_ago=7)
    enrol_learner(cohort, name="Ed Idle", email="ed@example.com")  # seven months in, nothing done
    add_endpoint(app, org, receiver.url(), [WebhookEvent.LEARNER_AT_RISK])
    now = utcnow()
    assert queue_at_risk(db.session, now) == 1
    assert queue_at_risk(db.session, now) == 0  # the same risk is not news twice
    db.session.commit()
    assert deliver(app) == 1
    [payload] = receiver.bodies()
    assert payload["type"] == "learner.at_risk" and payload["data"]["learner"]["email"] == "ed@example.com"
    assert payload["data"]["reasons"] and payload["data"]["since"]


def test_send_reminders_looks_for_learners_newly_at_risk(app: Flask, loaded, make_org, make_cohort, enrol_learner) -> None:
    org = make_org("Late Org")
    enrol_learner(make_cohort(org, "Late 1", months_ago=7), name="Ed Idle", email="ed@example.com")
    add_endpoint(app, org, "https://hooks.example.org/risk", [WebhookEvent.LEARNER_AT_RISK])
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["lms", "send-reminders"])
    assert result.exit_code == 0, result.output
    [delivery] = deliveries()
    assert delivery.event is WebhookEvent.LEARNER_AT_RISK and json.loads(delivery.body)["data"]["learner"]["email"] == "ed@example.com"


def test_other_organizations_events_are_not_sent(app: Flask, org_setup: dict[str, Any], make_org, receiver: Receiver) -> None:
    add_endpoint(app, make_org("Elsewhere"), receiver.url(), list(SUBSCRIBABLE))
    release_a_grade(org_setup)
    assert deliveries() == []


# --------------------------------------------------------------------------- commands and the queue


def test_deliver_webhooks_command_sends_what_is_due(app: Flask, org_setup: dict[str, Any], receiver: Receiver) -> None:
    add_endpoint(app, org_setup["org"], receiver.url(), [WebhookEvent.GRADE_RELEASED])
    release_a_grade(org_setup)
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["lms", "deliver-webhooks"])
    assert result.exit_code == 0, result.output
    assert "Delivered 1 webhook." in result.output and len(receiver.received) == 1


@pytest.fixture()
def redis_db() -> Iterator[str]:
    yield from redis_database(REDIS_TEST_URL)


def test_with_redis_a_requests_deliveries_go_through_the_rq_worker(app: Flask, org_setup: dict[str, Any], receiver: Receiver,
                                                                  redis_db: str, client: Any, login: Any) -> None:
    endpoint, secret = add_endpoint(app, org_setup["org"], receiver.url(), [WebhookEvent.GRADE_RELEASED])
    [delivery] = services.queue_event(db.session, [endpoint], WebhookEvent.GRADE_RELEASED, "k", {"x": 1}, utcnow())
    db.session.commit()
    deliver(app)  # delivered once
    app.config["REDIS_URL"] = redis_db
    try:
        login(client, org_setup["admin"])
        response = client.post(f"/organizations/{org_setup['org'].id}/webhooks/deliveries/{delivery.id}/redeliver")
        response.close()
        assert len(receiver.received) == 1  # queued, not sent by the process
        connection = redis.Redis.from_url(redis_db)
        try:
            with app.app_context():
                Worker([QUEUE], connection=connection).work(burst=True)
        finally:
            connection.close()
    finally:
        app.config["REDIS_URL"] = ""
        app.extensions.pop("lms.mail.redis", None)
    assert len(receiver.received) == 2 and services.verify(secret, receiver.received[1].headers, receiver.received[1].body)
    [done] = deliveries()
    assert done.status is DeliveryStatus.DELIVERED


def test_the_delivery_log_takes_a_fixed_number_of_statements(app: Flask, org_setup: dict[str, Any], client: Any, login: Any,
                                                             count_queries: Callable[[Callable[[], Any]], int]) -> None:
    endpoint, _ = add_endpoint(app, org_setup["org"], "https://hooks.example.org/x", [WebhookEvent.GRADE_RELEASED])
    url = f"/organizations/{org_setup['org'].id}/webhooks/{endpoint.id}"
    login(client, org_setup["admin"])

    def add(n: int) -> None:
        for _ in range(n):
            services.queue_event(db.session, [endpoint], WebhookEvent.GRADE_RELEASED, f"k{len(deliveries())}", {}, utcnow())
        db.session.commit()

    add(1)
    few = count_queries(lambda: client.get(url))
    add(6)
    assert count_queries(lambda: client.get(url)) == few


def test_a_rotated_secret_still_signs_beside_the_new_one_for_the_overlap(app: Flask, org_setup: dict[str, Any], client: Any,
                                                                         login: Any, receiver: Receiver) -> None:
    """After "New secret", a receiver still checking with the old secret keeps accepting
    deliveries for WEBHOOK_SECRET_OVERLAP_HOURS: each carries both signatures in
    Webhook-Signature (space-separated, as Standard Webhooks allows); the page says until
    when. After the overlap only the new secret signs."""
    org = org_setup["org"]
    endpoint, old = add_endpoint(app, org, receiver.url(), [WebhookEvent.GRADE_RELEASED])
    login(client, org_setup["admin"])
    rotated = client.post(f"/organizations/{org.id}/webhooks/{endpoint.id}/secret", data={"confirm": "yes"})
    db.session.expire_all()
    new = services.decrypt_secret(app.config["SECRET_KEY"], endpoint.secret_encrypted)
    until = endpoint.previous_secret_until
    assert rotated.status_code == 200 and new != old and until is not None
    assert timedelta(hours=23, minutes=59) < until - utcnow() <= timedelta(hours=24)
    page = rotated.get_data(as_text=True)
    assert "signed with the\n     previous secret as well" in page and "switch your receiver to the new" in page
    assert "The\n      previous secret signs too until" in client.get(f"/organizations/{org.id}/webhooks").get_data(as_text=True)
    release_a_grade(org_setup)
    assert deliver(app) == 1
    [got] = receiver.received
    assert len(got.headers["Webhook-Signature"].split(" ")) == 2
    assert services.verify(new, got.headers, got.body) and services.verify(old, got.headers, got.body)
    # a delivery after the overlap: the new secret only
    [delivery] = deliveries()
    services.redeliver(db.session, delivery)
    db.session.commit()
    later = until + timedelta(seconds=1)
    assert deliver(app, now=later) == 1
    last = receiver.received[-1]
    assert len(last.headers["Webhook-Signature"].split(" ")) == 1
    assert services.verify(new, last.headers, last.body, later) and not services.verify(old, last.headers, last.body, later)


def test_new_secret_asks_first_and_says_what_will_happen(app: Flask, org_setup: dict[str, Any], client: Any,
                                                         login: Any) -> None:
    """"New secret" is a confirmation on the list (a <details>, no script), saying that the
    secret in use keeps signing for the overlap; a POST without the confirmation (an old page,
    a form from elsewhere) changes nothing and shows the confirmation page instead."""
    org = org_setup["org"]
    endpoint, old = add_endpoint(app, org, "https://hooks.example.org/rotate", [WebhookEvent.GRADE_RELEASED])
    login(client, org_setup["admin"])
    listed = " ".join(client.get(f"/organizations/{org.id}/webhooks").get_data(as_text=True).split())
    assert '<details class="confirm webhook-rotate"> <summary class="button secondary">New secret</summary>' in listed
    assert "Give https://hooks.example.org/rotate a new signing secret?" in listed
    assert "For the next 24 hours, each delivery is signed with the current secret as well" in listed
    assert '<input type="hidden" name="confirm" value="yes">' in listed
    key = app.config["SECRET_KEY"]
    asked = client.post(f"/organizations/{org.id}/webhooks/{endpoint.id}/secret")
    page = " ".join(asked.get_data(as_text=True).split())
    db.session.expire_all()
    assert asked.status_code == 200 and services.decrypt_secret(key, endpoint.secret_encrypted) == old
    assert endpoint.previous_secret_encrypted is None
    assert "Give https://hooks.example.org/rotate a new signing secret?" in page and "Keep the current secret" in page
    assert client.post(f"/organizations/{org.id}/webhooks/{endpoint.id}/secret", data={"confirm": "no"}).status_code == 200
    db.session.expire_all()
    assert services.decrypt_secret(key, endpoint.secret_encrypted) == old
    # confirmed: rotated; asking again within the overlap says the oldest stops signing now
    assert client.post(f"/organizations/{org.id}/webhooks/{endpoint.id}/secret", data={"confirm": "yes"}).status_code == 200
    db.session.expire_all()
    assert services.decrypt_secret(key, endpoint.secret_encrypted) != old
    again = " ".join(client.post(f"/organizations/{org.id}/webhooks/{endpoint.id}/secret").get_data(as_text=True).split())
    assert "The secret before the current one, still signing until" in again and "stops signing now" in again
    # without an overlap it says the current secret stops at once
    app.config["WEBHOOK_SECRET_OVERLAP_HOURS"] = 0
    none = " ".join(client.get(f"/organizations/{org.id}/webhooks").get_data(as_text=True).split())
    assert "The current secret stops signing at once" in none


def test_no_overlap_configured_drops_the_old_secret_at_once(app: Flask, org_setup: dict[str, Any], receiver: Receiver) -> None:
    app.config["WEBHOOK_SECRET_OVERLAP_HOURS"] = 0
    endpoint, old = add_endpoint(app, org_setup["org"], receiver.url(), [WebhookEvent.GRADE_RELEASED])
    new = services.rotate_secret(db.session, endpoint, app.config["SECRET_KEY"], timedelta(0), utcnow())
    db.session.commit()
    release_a_grade(org_setup)
    assert deliver(app) == 1
    [got] = receiver.received
    assert services.verify(new, got.headers, got.body) and not services.verify(old, got.headers, got.body)


# --------------------------------------------------------------------------- the add form sent twice


def _form_token(page: str) -> str:
    found = re.search(r'id="form_token" name="form_token" type="hidden" value="([0-9a-f]+)"', page)
    assert found, "the endpoint form carries a one-time value"
    return found.group(1)


def test_a_reloaded_endpoint_form_adds_one_endpoint_and_never_shows_the_secret_again(org_setup: dict[str, Any], client: Any,
                                                                                     login: Any) -> None:
    org = org_setup["org"]
    login(client, org_setup["admin"])
    url = f"/organizations/{org.id}/webhooks"
    form = {"url": "https://hooks.example.org/reload", "events": ["grade.released"],
            "form_token": _form_token(client.get(url).get_data(as_text=True))}
    made = client.post(url, data=form)
    assert made.status_code == 201 and "webhook-secret-value" in made.get_data(as_text=True)
    [endpoint] = db.session.scalars(select(WebhookEndpoint)).all()
    secret = services.decrypt_secret(client.application.config["SECRET_KEY"], endpoint.secret_encrypted)
    again = client.post(url, data=form)  # the reload
    page = again.get_data(as_text=True)
    assert again.status_code == 200 and secret not in page and "webhook-secret-value" not in page
    assert "The endpoint https://hooks.example.org/reload had already been added from this form" in page
    assert "nothing more was added" in page and f'href="{url}#webhook-endpoints-list"' in page
    assert "is already an endpoint of this organization" not in page  # not an error: it was this form
    assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 1
    # a new form with the same URL is refused as before (the URL is taken)
    form["form_token"] = _form_token(page)
    assert client.post(url, data=form).status_code == 400


def test_an_endpoint_form_sent_twice_at_once_adds_one_endpoint(app: Flask, org_setup: dict[str, Any], login: Any) -> None:
    """A double click: two real connections at once, the same form. One endpoint; the
    other answer says it was already added, with no secret; never a 500."""
    org = org_setup["org"]
    clients = [app.test_client(), app.test_client()]
    for c in clients:
        login(c, org_setup["admin"])
    url = f"/organizations/{org.id}/webhooks"
    form = {"url": "https://hooks.example.org/twice", "events": ["grade.released"],
            "form_token": _form_token(clients[0].get(url).get_data(as_text=True))}
    answers = race([lambda c=c: c.post(url, data=form) for c in clients])  # type: ignore[misc]
    assert sorted(a.status_code for a in answers) == [200, 201]
    loser = next(a for a in answers if a.status_code == 200).get_data(as_text=True)
    assert "had already been added from this form" in loser and "webhook-secret-value" not in loser
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 1


def test_the_same_form_at_once_waits_and_finds_the_endpoint(app: Flask, org_setup: dict[str, Any]) -> None:
    """The service, on two connections held open at once: the second waits for the first,
    then finds the endpoint that form added (no secret), not an error."""
    org_id, admin_id = org_setup["org"].id, org_setup["admin"].id
    db.session.commit()

    def register(session: Session) -> str:
        endpoint, secret = services.create_endpoint(session, org_id, "https://hooks.example.org/held", ["grade.released"], "",
                                                    app.config["SECRET_KEY"], admin_id, True, form_token="f" * 32)
        return f"{'made' if secret else 'found'} {endpoint.id}"

    first, second = second_waits_for_first(app, register, register)
    [endpoint] = db.session.scalars(select(WebhookEndpoint)).all()
    assert (first, second) == (f"made {endpoint.id}", f"found {endpoint.id}") and endpoint.form_token == "f" * 32


def test_a_malformed_one_time_value_adds_nothing(org_setup: dict[str, Any], client: Any, login: Any) -> None:
    org = org_setup["org"]
    login(client, org_setup["admin"])
    refused = client.post(f"/organizations/{org.id}/webhooks",
                          data={"url": "https://hooks.example.org/bad", "events": ["grade.released"], "form_token": "<x>"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "This form carried a malformed one-time value, so nothing was made." in page
    assert _form_token(page) and 'value="https://hooks.example.org/bad"' in page
    assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


# --------------------------------------------------------------------------- the test event


def test_send_test_event_delivers_a_signed_ping_and_the_page_says_how_it_went(app: Flask, org_setup: dict[str, Any],
                                                                             client: Any, login: Any,
                                                                             receiver: Receiver) -> None:
    """"Send test event" on an endpoint's page: a ping through the same delivery as every
    event (queued, sent after the response, signed with the same headers), whatever events
    the endpoint takes; the page it lands on says the receiver's answer, the log lists it."""
    org = org_setup["org"]
    endpoint, secret = add_endpoint(app, org, receiver.url(), [WebhookEvent.CERTIFICATE_ISSUED])
    login(client, org_setup["admin"])
    page_url = f"/organizations/{org.id}/webhooks/{endpoint.id}"
    assert ">Send test event</button>" in client.get(page_url).get_data(as_text=True)
    sent = client.post(f"{page_url}/test")
    [delivery] = deliveries()
    assert sent.status_code == 302 and sent.location == f"{page_url}?test={delivery.id}"
    assert delivery.event is WebhookEvent.PING and delivery.status is DeliveryStatus.PENDING
    assert receiver.received == []  # the response goes first ...
    sent.close()                    # ... then the process sends it, as any delivery
    [got] = receiver.received
    assert got.headers["Webhook-Id"] == delivery.message_id and got.headers["User-Agent"] == services.USER_AGENT
    assert services.verify(secret, got.headers, got.body) and got.body == delivery.body
    body = json.loads(got.body)
    assert body["type"] == "ping" and body["data"]["test"] is True
    assert body["data"]["endpoint"] == {"id": endpoint.id, "url": receiver.url()}
    assert body["data"]["organization"] == {"id": org.id, "name": "Acme"}
    [done] = deliveries()
    assert done.status is DeliveryStatus.DELIVERED and done.response_status == 200
    page = " ".join(client.get(sent.location).get_data(as_text=True).split())
    assert "The test event was delivered.</strong> The endpoint answered HTTP 200: <code>ok</code> (1 try)" in page
    assert f"<td><code>{done.message_id}</code></td> <td><code>ping</code></td>" in page and "<td>delivered</td>" in page
    # each press is a delivery of its own (a new Webhook-Id)
    client.post(f"{page_url}/test").close()
    assert len(receiver.received) == 2 and len({r.headers["Webhook-Id"] for r in receiver.received}) == 2


def test_a_test_event_the_receiver_refuses_says_its_answer(app: Flask, org_setup: dict[str, Any], client: Any, login: Any,
                                                          receiver: Receiver) -> None:
    receiver.answers = [500]
    org = org_setup["org"]
    endpoint, _ = add_endpoint(app, org, receiver.url(), [WebhookEvent.GRADE_RELEASED])
    login(client, org_setup["admin"])
    sent = client.post(f"/organizations/{org.id}/webhooks/{endpoint.id}/test")
    sent.close()
    [delivery] = deliveries()
    assert delivery.status is DeliveryStatus.PENDING and delivery.attempts == 1 and delivery.next_attempt_at is not None
    page = " ".join(client.get(sent.location).get_data(as_text=True).split())
    assert "The test event was not delivered yet.</strong> The endpoint's answer: HTTP 500: boom." in page
    assert "It is tried again at" in page
    # another endpoint's page, or another delivery's id, says nothing of it
    other, _ = add_endpoint(app, org, "https://hooks.example.org/other", [WebhookEvent.GRADE_RELEASED])
    elsewhere = client.get(f"/organizations/{org.id}/webhooks/{other.id}?test={delivery.id}").get_data(as_text=True)
    assert "The test event" not in elsewhere
    for bad in ["x", "0", "-1", "99999999999"]:
        answer = client.get(f"/organizations/{org.id}/webhooks/{endpoint.id}?test={bad}")
        assert answer.status_code == 200 and "The test event" not in answer.get_data(as_text=True)


def test_a_paused_endpoint_is_sent_no_test_event(app: Flask, org_setup: dict[str, Any], client: Any, login: Any,
                                                receiver: Receiver) -> None:
    org = org_setup["org"]
    endpoint, _ = add_endpoint(app, org, receiver.url(), [WebhookEvent.GRADE_RELEASED])
    services.set_active(db.session, endpoint, False)
    db.session.commit()
    login(client, org_setup["admin"])
    page_url = f"/organizations/{org.id}/webhooks/{endpoint.id}"
    assert "resume it on the" in client.get(page_url).get_data(as_text=True)
    refused = client.post(f"{page_url}/test", follow_redirects=True)
    assert "Nothing was sent: " + receiver.url() + " is paused: resume it to send it a test event." in refused.get_data(as_text=True)
    assert deliveries() == [] and receiver.received == []


def test_endpoints_cannot_subscribe_to_the_test_event(org_setup: dict[str, Any], client: Any, login: Any) -> None:
    org = org_setup["org"]
    login(client, org_setup["admin"])
    page = client.get(f"/organizations/{org.id}/webhooks").get_data(as_text=True)
    assert 'value="ping"' not in page
    refused = client.post(f"/organizations/{org.id}/webhooks", data={"url": "https://hooks.example.org/p", "events": ["ping"]})
    assert refused.status_code == 400 and db.session.scalars(select(WebhookEndpoint)).all() == []
    with pytest.raises(services.WebhookError, match="Unknown events: ping"):
        services.read_events(["ping", "grade.released"])


@pytest.fixture()
def csrf_client(app: Flask, make_app: Callable[..., Flask]) -> Iterator[Any]:
    strict = make_app(WTF_CSRF_ENABLED=True, WEBHOOK_ALLOW_LOCAL_HTTP=True)
    yield strict.test_client()
    with strict.app_context():
        db.session.remove()
        db.engine.dispose()


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found, "the page carries a CSRF token"
    return found.group(1)


def test_the_test_event_and_new_secret_need_the_csrf_token(app: Flask, org_setup: dict[str, Any], csrf_client: Any,
                                                            receiver: Receiver) -> None:
    org = org_setup["org"]
    endpoint, secret = add_endpoint(app, org, receiver.url(), [WebhookEvent.GRADE_RELEASED])
    admin = org_setup["admin"]
    token = _csrf(csrf_client.get("/login").get_data(as_text=True))
    assert csrf_client.post("/login", data={"email": admin.email, "password": PASSWORD, "csrf_token": token}).status_code == 302
    page_url = f"/organizations/{org.id}/webhooks/{endpoint.id}"
    assert csrf_client.post(f"{page_url}/test").status_code == 400
    forged = csrf_client.post(f"{page_url}/secret", data={"confirm": "yes"})
    assert forged.status_code == 400
    assert deliveries() == [] and receiver.received == []
    db.session.expire_all()
    assert services.decrypt_secret(app.config["SECRET_KEY"], endpoint.secret_encrypted) == secret
    token = _csrf(csrf_client.get(page_url).get_data(as_text=True))
    csrf_client.post(f"{page_url}/test", data={"csrf_token": token}).close()
    [delivery] = deliveries()
    assert delivery.event is WebhookEvent.PING and delivery.status is DeliveryStatus.DELIVERED and len(receiver.received) == 1
