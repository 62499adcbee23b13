"""Faults (issue 17 point 8): mail against real SMTP servers started here (aiosmtpd on
127.0.0.1: plain, STARTTLS and implicit TLS with a certificate made by openssl, one that
refuses every recipient, one that accepts the connection and never answers), delivery
never slowing the request, retries with backoff and the site admin's outbox page; the
database unreachable (503 page, JSON 503 under /api/); Redis unreachable (warning, mail
delivered by the process itself) and a real Redis with the RQ worker."""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from flask import Flask, jsonify
from redis import Redis
from rq import Queue
from sqlalchemy import select, text
from werkzeug.serving import make_server

from lms.accounts.models import PasswordResetToken, User
from lms.accounts.signin_guard import DEVICE_COOKIE, device_cookie_value
from lms.database import utcnow
from lms.extensions import db
from lms.jobs.outbox import CLAIM_SIZE, JOB_SIZE, Backoff, deliver
from lms.mail import jobs as mail_jobs
from lms.mail import services as mail
from lms.mail.models import MailStatus, OutboxMessage
from lms.web.access import PUBLIC
from tests.conftest import PASSWORD


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Inbox:
    """An aiosmtpd handler keeping what it receives; ``refuse`` answers 550 to every recipient."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.received: list[tuple[str, list[str], str]] = []

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if self.refuse:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content.decode() if isinstance(envelope.content, bytes) else str(envelope.content)
        self.received.append((str(envelope.mail_from), list(envelope.rcpt_tos), content))
        return "250 Message accepted"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl; the suite has no cryptography package)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., tuple[Inbox, int]]]:
    controllers: list[Controller] = []

    def start(refuse: bool = False, **kwargs: Any) -> tuple[Inbox, int]:
        inbox, port = Inbox(refuse), free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return inbox, port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def hanging_port() -> Iterator[int]:
    """Accepts TCP connections (the kernel's backlog) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.fixture
def build(app: Flask, make_app: Callable[..., Flask]) -> Iterator[Callable[..., Flask]]:
    built: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        built.append(make_app(**overrides))
        return built[-1]

    yield make
    for made in built:
        with made.app_context():
            db.session.remove()
            db.engine.dispose()


def smtp_config(port: int, security: str, **more: Any) -> dict[str, Any]:
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port, "MAIL_SECURITY": security, "MAIL_TIMEOUT": 2,
            "MAIL_FROM": "lms@example.org", **more}


def messages() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def queue(*recipients: str) -> None:
    for recipient in recipients:
        mail.queue_mail(db.session, recipient, f"Hello {recipient}", "See https://lms.example.org/x\n")
    db.session.commit()


# --------------------------------------------------------------------------- transport security


def test_plain_relay_gets_the_message_without_starttls(session: Any, smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    inbox, port = smtp_server()
    queue("ada@example.com")
    assert mail.deliver_pending(session, mail.transport_for(smtp_config(port, "none"))) == 1
    [(sender, recipients, content)] = inbox.received
    assert sender == "lms@example.org" and recipients == ["ada@example.com"] and "Subject: Hello ada@example.com" in content
    [message] = messages()
    assert message.status is MailStatus.SENT and message.attempts == 1 and message.transport == "smtp" and message.error == ""


def test_starttls_upgrades_and_checks_the_certificate(session: Any, smtp_server: Callable[..., tuple[Inbox, int]],
                                                      certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox, port = smtp_server(tls_context=context, require_starttls=True)
    queue("ada@example.com")
    # A certificate no authority we trust signed: refused, kept for a retry.
    assert mail.deliver_pending(session, mail.transport_for(smtp_config(port, "starttls"))) == 0
    [message] = messages()
    assert message.status is MailStatus.PENDING and "CERTIFICATE_VERIFY_FAILED" in message.error and inbox.received == []
    # Trusting it (MAIL_CA_FILE): delivered over the upgraded connection.
    later = utcnow() + timedelta(minutes=5)
    assert mail.deliver_pending(session, mail.transport_for(smtp_config(port, "starttls", MAIL_CA_FILE=str(cert))), now=later) == 1
    assert [r for _, r, _ in inbox.received] == [["ada@example.com"]]
    # A relay that requires STARTTLS refuses the message sent in the clear.
    queue("bob@example.com")
    assert mail.deliver_pending(session, mail.transport_for(smtp_config(port, "none"))) == 0
    assert "STARTTLS" in messages()[-1].error


def test_implicit_tls(session: Any, smtp_server: Callable[..., tuple[Inbox, int]], certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox, port = smtp_server(ssl_context=context)
    queue("ada@example.com")
    assert mail.deliver_pending(session, mail.transport_for(smtp_config(port, "tls", MAIL_CA_FILE=str(cert)))) == 1
    assert len(inbox.received) == 1


def test_security_and_timeouts_come_from_the_environment(make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIL_SECURITY", "none")
    monkeypatch.setenv("MAIL_TIMEOUT", "3.5")
    monkeypatch.delenv("MAIL_PORT", raising=False)
    app = make_app()
    assert (app.config["MAIL_SECURITY"], app.config["MAIL_PORT"], app.config["MAIL_TIMEOUT"]) == ("none", 25, 3.5)
    monkeypatch.setenv("MAIL_SECURITY", "tls")
    assert make_app().config["MAIL_PORT"] == 465
    monkeypatch.setenv("MAIL_SECURITY", "ssl-please")
    with pytest.raises(RuntimeError, match="MAIL_SECURITY='ssl-please': choose one of starttls, tls, none"):
        make_app()
    monkeypatch.setenv("MAIL_SECURITY", "starttls")
    monkeypatch.setenv("MAIL_TIMEOUT", "soon")
    with pytest.raises(RuntimeError, match="MAIL_TIMEOUT='soon' is not a number"):
        make_app()


# --------------------------------------------------------------------------- failures and backoff


def test_a_refusing_server_is_retried_with_backoff_then_given_up(session: Any, smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    inbox, port = smtp_server(refuse=True)
    transport = mail.transport_for(smtp_config(port, "none", MAIL_MAX_ATTEMPTS=3))
    queue("ada@example.com")
    start = utcnow()
    assert mail.deliver_pending(session, transport, now=start) == 0
    [message] = messages()
    assert message.status is MailStatus.PENDING and message.attempts == 1 and "550" in message.error
    assert message.next_attempt_at == start + timedelta(minutes=1)
    assert mail.deliver_pending(session, transport, now=start + timedelta(seconds=30)) == 0  # not due yet
    assert messages()[0].attempts == 1
    assert mail.deliver_pending(session, transport, now=start + timedelta(minutes=1)) == 0
    assert messages()[0].next_attempt_at == start + timedelta(minutes=1 + 2)  # doubled
    assert mail.deliver_pending(session, transport, now=start + timedelta(minutes=3)) == 0
    [message] = messages()
    assert message.status is MailStatus.FAILED and message.attempts == 3 and message.next_attempt_at is None
    assert mail.deliver_pending(session, transport, now=start + timedelta(days=9)) == 0  # given up: no more tries
    assert messages()[0].attempts == 3 and inbox.received == []


def test_two_deliverers_never_send_one_message_twice(session: Any) -> None:
    queue("ada@example.com", "bob@example.com")
    now = utcnow()
    first = mail.claim(session, now, timedelta(minutes=5))
    session.commit()
    assert [m.recipient for m in first] == ["ada@example.com", "bob@example.com"]
    assert mail.claim(session, now, timedelta(minutes=5)) == []  # leased to the first
    session.commit()
    # A deliverer that died with its lease: the messages come back once it ran out.
    assert len(mail.claim(session, now + timedelta(minutes=6), timedelta(minutes=5))) == 2


# --------------------------------------------------------------------------- a long run


class Watching(mail.Transport):
    """Sends nothing; at each message notes the others' leases (read on a connection of its
    own) and moves ``clock`` on by ``step`` seconds, as a slow relay would; ``before`` runs
    first, with the message's number (from 1)."""

    name = "watching"

    def __init__(self, step: float = 0.0, before: Callable[[int], None] | None = None) -> None:
        super().__init__({})
        self.step, self.before = step, before
        self.time = 0.0
        self.sent: list[str] = []
        self.leases: list[dict[str, Any]] = []  # at each send: recipient -> next_attempt_at of the pending

    def clock(self) -> float:
        return self.time

    def send(self, message: mail.Letter) -> None:
        if self.before:
            self.before(len(self.sent) + 1)
        with db.engine.connect() as connection:
            rows = connection.execute(select(OutboxMessage.recipient, OutboxMessage.next_attempt_at)
                                      .where(OutboxMessage.status == MailStatus.PENDING))
            self.leases.append({recipient: at for recipient, at in rows if recipient != message.recipient})
        self.sent.append(message.recipient)
        self.time += self.step


def deliver_all(session: Any, transport: Watching, **kwargs: Any) -> int:
    return deliver(session, mail.MailOutbox(transport), clock=transport.clock, **kwargs)


def test_a_run_holds_a_claim_of_rows_at_a_time_never_all_that_are_due(session: Any) -> None:
    """A relay sending a message a second takes 120 s for 120 messages, past the 60 s lease:
    had the run leased all 120 at once, the next minute's run would take those still waiting
    and send them a second time."""
    queue(*(f"learner{n:03}@example.com" for n in range(120)))
    transport = Watching()
    assert deliver_all(session, transport) == 120
    assert transport.sent == [f"learner{n:03}@example.com" for n in range(120)]  # each once, oldest first
    leased = [sum(at is not None for at in others.values()) + 1 for others in transport.leases]
    assert max(leased) == CLAIM_SIZE and leased[0] == leased[CLAIM_SIZE] == CLAIM_SIZE and leased[2 * CLAIM_SIZE] == 120 - 2 * CLAIM_SIZE
    assert {m.status for m in messages()} == {MailStatus.SENT}


def test_a_slow_run_leases_again_what_it_still_holds_when_half_the_lease_has_gone(session: Any) -> None:
    queue("ada@example.com", "bob@example.com", "cy@example.com", "dee@example.com")
    transport = Watching(step=20)  # seconds a message; the lease is 60 s
    assert deliver_all(session, transport) == 4
    first, second, third, _ = transport.leases
    assert first["dee@example.com"] == second["dee@example.com"]  # 20 s in: left as it was
    assert third["dee@example.com"] > second["dee@example.com"]  # 40 s in: leased again
    assert set(third) == {"dee@example.com"}


def test_rows_another_deliverer_took_once_the_lease_ran_out_are_not_sent_twice(session: Any, app: Flask) -> None:
    queue("ada@example.com", "bob@example.com", "cy@example.com")
    taken: list[str] = []

    def another_deliverer(number: int) -> None:
        if number == 1:  # this run is stuck on its first message so long that its lease runs out elsewhere
            with app.app_context():
                other = db.session
                rest = list(other.scalars(select(OutboxMessage.id).where(OutboxMessage.recipient != "ada@example.com")))
                taken.extend(m.recipient for m in mail.claim(other, utcnow() + timedelta(minutes=2), timedelta(minutes=5), ids=rest))
                other.commit()

    transport = Watching(step=40, before=another_deliverer)
    assert deliver_all(session, transport) == 1
    assert taken == ["bob@example.com", "cy@example.com"] and transport.sent == ["ada@example.com"]


def test_a_run_tries_each_due_message_once_and_a_halting_run_gives_back_the_rest(session: Any) -> None:
    queue(*(f"l{n}@example.com" for n in range(7)))

    class Refusing(Watching):
        def send(self, message: mail.Letter) -> None:
            if message.recipient == "l2@example.com":
                raise smtplib.SMTPRecipientsRefused({message.recipient: (550, b"no")})
            super().send(message)

    transport = Refusing()
    outbox = mail.MailOutbox(transport, Backoff(first=timedelta(0)))  # due again at once: still tried once this run
    outbox.claim_size = 3
    assert deliver(session, outbox, clock=transport.clock) == 6
    assert [(m.recipient, m.attempts, m.status) for m in messages()][1:4] == [
        ("l1@example.com", 1, MailStatus.SENT), ("l2@example.com", 1, MailStatus.PENDING), ("l3@example.com", 1, MailStatus.SENT)]
    queue(*(f"m{n}@example.com" for n in range(4)))
    halting = Refusing()
    ids = [m.id for m in messages() if m.recipient.startswith(("l2", "m"))]
    halting_outbox = mail.MailOutbox(halting, Backoff(first=timedelta(0)))
    halting_outbox.claim_size = 3
    assert deliver(session, halting_outbox, ids=ids, stop_on_failure=True, clock=halting.clock) == 0
    rest = [m for m in messages() if m.recipient.startswith("m")]
    assert halting.sent == [] and all(m.attempts == 0 and m.next_attempt_at is None for m in rest)  # due again at once
    assert deliver(session, halting_outbox, ids=ids[1:], clock=halting.clock) == 4
    assert halting.sent == [f"m{n}@example.com" for n in range(4)]


def live(app: Flask) -> Iterator[int]:
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(10)


def post_forgot(port: int, email: str) -> tuple[int, float]:
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", "/password/forgot", body=f"email={email}",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    response = connection.getresponse()
    response.read()
    elapsed = time.monotonic() - started
    connection.close()
    return response.status, elapsed


def wait_for(check: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_hanging_server_never_slows_the_request(build: Callable[..., Flask], make_user: Callable[..., Any],
                                                  hanging_port: int) -> None:
    make_user(email="ada@example.com")
    db.session.commit()
    queue("earlier@example.com")  # an earlier message that is due: never retried in a request
    # The request must answer well inside MAIL_TIMEOUT; the margin is wide because a busy CI
    # machine can take a second or two over a live server's first request (a 2.3 s first
    # request failed a like bound once).
    app = build(**smtp_config(hanging_port, "none", MAIL_TIMEOUT=6))
    server = live(app)
    port = next(server)
    try:
        status, elapsed = post_forgot(port, "ada@example.com")
        assert status == 302
        assert elapsed < 4, f"the request waited {elapsed:.1f}s for the mail server"
        # The server process tries it once the response is out, gives up after MAIL_TIMEOUT.
        wait_for(lambda: any(m.attempts for m in messages()), seconds=30)
        earlier, reset = messages()
        assert reset.recipient == "ada@example.com" and reset.status is MailStatus.PENDING
        assert "timed out" in reset.error.lower() and reset.next_attempt_at is not None
        assert earlier.attempts == 0  # not the request's: left to the worker / deliver-mail
    finally:
        next(server, None)


def test_a_refused_message_in_a_request_is_recorded_after_the_response(
    build: Callable[..., Flask], make_user: Callable[..., Any], smtp_server: Callable[..., tuple[Inbox, int]],
) -> None:
    make_user(email="ada@example.com")
    db.session.commit()
    _, port = smtp_server(refuse=True)
    client = build(**smtp_config(port, "none")).test_client()
    response = client.post("/password/forgot", data={"email": "ada@example.com"})
    assert response.status_code == 302
    assert messages()[0].attempts == 0  # the response is answered before any attempt
    response.close()  # the server closes it once sent: now the message is tried
    [message] = messages()
    assert message.attempts == 1 and "550" in message.error and message.status is MailStatus.PENDING


def test_deliver_mail_command_sends_what_is_due(build: Callable[..., Flask], smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    inbox, port = smtp_server()
    queue("ada@example.com", "bob@example.com")
    db.session.execute(text("UPDATE outbox_messages SET next_attempt_at = :later, attempts = 1 WHERE recipient = 'bob@example.com'"),
                       {"later": (utcnow() + timedelta(hours=1)).replace(tzinfo=None)})
    db.session.commit()
    app = build(**smtp_config(port, "none"))
    with app.app_context():  # the command runs in the current app context when there is one
        result = app.test_cli_runner().invoke(args=["lms", "deliver-mail"])
    assert result.exit_code == 0, result.output
    assert "Delivered 1 email." in result.output
    assert [r for _, r, _ in inbox.received] == [["ada@example.com"]]


# --------------------------------------------------------------------------- the site admin's page


def test_site_admin_sees_failed_mail_and_retries_it(build: Callable[..., Flask], make_user: Callable[..., Any],
                                                     smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    admin = make_user(email="root@example.com", admin=True)
    queue("ada@example.com", "bob@example.com")
    db.session.execute(text("UPDATE outbox_messages SET status = 'failed', attempts = 8, error = 'SMTPRecipientsRefused: 550 no'"))
    db.session.commit()
    inbox, port = smtp_server()
    site = build(**smtp_config(port, "none"))
    client = site.test_client()
    # from a browser the admin signed in with before: no "new sign-in" notice joins the queue
    client.set_cookie(DEVICE_COOKIE, device_cookie_value(site.config["SECRET_KEY"], admin.id, "admins-laptop"))
    assert client.post("/login", data={"email": "root@example.com", "password": PASSWORD}).status_code == 302
    page = client.get("/admin/mail")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "ada@example.com" in body and "SMTPRecipientsRefused: 550 no" in body
    ada = messages()[0]
    response = client.post(f"/admin/mail/{ada.id}/retry")
    assert response.status_code == 302
    response.close()
    ada, bob = messages()
    assert ada.status is MailStatus.SENT and bob.status is MailStatus.FAILED
    response = client.post("/admin/mail/retry-failed")
    response.close()
    assert [m.status for m in messages()] == [MailStatus.SENT, MailStatus.SENT]
    assert sorted(r[0] for _, r, _ in inbox.received) == ["ada@example.com", "bob@example.com"]
    assert "No message has failed." in client.get("/admin/mail").get_data(as_text=True)


# --------------------------------------------------------------------------- database and Redis unreachable


def test_database_unreachable_answers_503_never_a_traceback(build: Callable[..., Flask]) -> None:
    closed = free_port()
    app = build(SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://lms@127.0.0.1:{closed}/lms")

    def probe() -> Any:
        return jsonify(count=db.session.scalar(text("SELECT 1")))

    app.add_url_rule("/api/_probe", "api_probe", probe)
    app.extensions["lms.access_policy"].update(api_probe=PUBLIC)
    client = app.test_client()
    page = client.get("/")  # the program page reads the database
    html = page.get_data(as_text=True)
    assert page.status_code == 503 and page.headers["Retry-After"] == "30"
    assert "Temporarily unavailable" in html and "Traceback" not in html and "psycopg" not in html
    api = client.get("/api/_probe")
    assert api.status_code == 503 and api.is_json
    assert api.get_json()["error"] == "Temporarily unavailable" and "database" in api.get_json()["reason"]


def test_redis_unreachable_mail_falls_back_with_a_warning(
    build: Callable[..., Flask], make_user: Callable[..., Any], smtp_server: Callable[..., tuple[Inbox, int]],
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logging.getLogger("lms.mail"), "disabled", False)
    make_user(email="ada@example.com")
    db.session.commit()
    inbox, port = smtp_server()
    client = build(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", **smtp_config(port, "none")).test_client()
    with caplog.at_level("WARNING", logger="lms.mail"):
        response = client.post("/password/forgot", data={"email": "ada@example.com"})
        response.close()
    assert response.status_code == 302
    assert any("Redis at redis://127.0.0.1" in r.getMessage() and "unreachable" in r.getMessage() for r in caplog.records)
    assert [r for _, r, _ in inbox.received] == [["ada@example.com"]]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: listening(port), 10)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def test_with_redis_the_rq_worker_delivers(
    build: Callable[..., Flask], make_user: Callable[..., Any], smtp_server: Callable[..., tuple[Inbox, int]], redis_url: str,
) -> None:
    make_user(email="ada@example.com")
    db.session.commit()
    inbox, port = smtp_server()
    app = build(REDIS_URL=redis_url, **smtp_config(port, "none"))
    response = app.test_client().post("/password/forgot", data={"email": "ada@example.com"})
    response.close()
    assert inbox.received == [] and messages()[0].status is MailStatus.PENDING  # queued for the worker
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["lms", "mail-worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert [r for _, r, _ in inbox.received] == [["ada@example.com"]]
    assert messages()[0].status is MailStatus.SENT


def test_many_messages_go_to_the_worker_in_jobs_of_a_bounded_size(build: Callable[..., Flask], redis_url: str) -> None:
    """A reminders run may queue thousands of messages in one unit of work: one job for all
    would outlast its timeout (and hold a list of every id); they go ``JOB_SIZE`` a job."""
    app = build(REDIS_URL=redis_url, MAIL_SERVER="127.0.0.1")
    ids = list(range(2 * JOB_SIZE + 7, 0, -1))
    assert mail_jobs.COURIER.enqueue(app, ids)
    queued = Queue(mail_jobs.QUEUE, connection=Redis.from_url(redis_url)).get_jobs()
    assert [job.args for job in queued] == [(list(range(1, JOB_SIZE + 1)),), (list(range(JOB_SIZE + 1, 2 * JOB_SIZE + 1)),),
                                           (list(range(2 * JOB_SIZE + 1, 2 * JOB_SIZE + 8)),)]
    assert {job.func_name for job in queued} == {"lms.mail.jobs.deliver_job"} and {job.timeout for job in queued} == {600}

def test_redis_unreachable_sign_in_limits_fall_back_to_memory(
    build: Callable[..., Flask], make_user: Callable[..., Any], caplog: pytest.LogCaptureFixture,
) -> None:
    make_user(email="ada@example.com")
    db.session.commit()
    client = build(RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0", LOGIN_SLOWDOWN="2 per minute").test_client()
    try:
        with caplog.at_level("WARNING"):
            answers = [client.post("/login", data={"email": "ada@example.com", "password": "wrong"}).status_code for _ in range(3)]
        slowed = client.post("/login", data={"email": "ada@example.com", "password": PASSWORD}).get_data(as_text=True)
    finally:
        build()  # the limiter is shared: bind it back to memory for the suite's teardown
    assert 500 not in answers and answers[0] == 200
    assert any("falling back to in-memory storage" in r.getMessage().lower() for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert "wait" in slowed.lower()  # still counted, in memory: past two failures a minute the next try waits


# --------------------------------------------------------------------------- a worker killed mid-burst


def children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(status.parent.name))
    return sorted(found)


def test_a_worker_killed_during_a_burst_loses_no_acknowledged_write(
    app: Flask, database_url: str, instance_dir: Path, make_user: Callable[..., Any], tmp_path: Path,
) -> None:
    """gunicorn with two workers on 127.0.0.1; 40 password-reset requests (each writes a token
    and a message) from 8 threads; one worker is killed with SIGKILL mid-burst. Every request
    answered with its redirect has its rows; the others may or may not."""
    count = 40
    emails = [f"burst{n}@example.com" for n in range(count)]
    for email in emails:
        make_user(email=email)
    db.session.commit()
    port = free_port()
    env = {**os.environ, "LMS_ENV": "testing", "TEST_DATABASE_URL": database_url, "DATABASE_URL": database_url,
           "LMS_INSTANCE_PATH": str(instance_dir), "GUNICORN_CMD_ARGS": ""}
    log_file = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "--timeout", "20",
                               "--graceful-timeout", "2", "wsgi:app"], env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: listening(port) and len(children(server.pid)) == 2, 30)
        time.sleep(0.5)  # let both workers import the app
        victim = children(server.pid)[0]
        answered: list[tuple[str, int | None]] = []
        lock = threading.Lock()

        def request(email: str) -> None:
            try:
                status, _ = post_forgot(port, email)
            except (OSError, http.client.HTTPException):
                status = None  # the connection died with the worker: not acknowledged
            with lock:
                answered.append((email, status))
                if len(answered) == count // 3:
                    os.kill(victim, signal.SIGKILL)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(request, emails))
        wait_for(lambda: victim not in children(server.pid), 10)  # killed (and reaped by the master)
        acknowledged = [email for email, status in answered if status == 302]
        assert len(acknowledged) >= count // 2, answered
        db.session.expire_all()
        try:
            users = {email: user_id for email, user_id in db.session.execute(select(User.email, User.id).where(User.email.in_(acknowledged)))}
            with_token = set(db.session.scalars(select(PasswordResetToken.user_id).where(PasswordResetToken.user_id.in_(users.values()))))
            mailed = set(db.session.scalars(select(OutboxMessage.recipient).where(OutboxMessage.recipient.in_(acknowledged))))
        finally:
            db.session.rollback()  # no read transaction left open on SQLite for the snapshot restore
        assert [e for e in acknowledged if users[e] not in with_token or e not in mailed] == []
    finally:
        server.terminate()
        server.wait(15)
        log_file.close()
