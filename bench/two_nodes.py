"""Two app nodes behind HAProxy, sharing one PostgreSQL database and one Redis.

Starts, on this machine, what would run on three: HAProxy (Debian's package, installed with
apt-get when missing) in front of two gunicorn nodes, each with an instance folder of its own
(nothing shared on disk), and one worker per node (``flask lms worker``, or ``flask lms
mail-worker`` where that is the only one). Everything they share: DATABASE_URL (a database
of their own, created afresh), REDIS_URL, SECRET_KEY and FILE_STORAGE=database. A local
SMTP server receives the mail. Then it proves, printing each result:

  sign-in      signed in through node 1, the session is valid on node 2
  upload       a file uploaded through node 1 downloads through node 2, same sha256
  rate limit   failed sign-ins alternating between the nodes: the 31st is refused (429) by
               both, as LOGIN_LIMIT_PER_ADDRESS (30 per minute) is counted in Redis
  job once     password-reset mails requested through both nodes, two workers waiting: each
               is delivered exactly once (SMTP count, outbox status and attempts)
  traffic      --duration seconds of mixed traffic (pages, downloads, draft saves, sign-in
               pages) from --clients concurrent clients through HAProxy: 0 errors, figures

and exits 1 if any proof fails. Everything it starts is stopped, the database dropped
(``--keep`` keeps it and prints where it is).

    .venv/bin/python bench/two_nodes.py                               # 60 s at 32 clients
    .venv/bin/python bench/two_nodes.py --duration 10 --clients 16
    .venv/bin/python bench/two_nodes.py --database-url postgresql://postgres@127.0.0.1:5432/lms_two_nodes \\
        --redis-url redis://127.0.0.1:6379/12

The database named by --database-url is DROPPED and created again, if it is one a
benchmark made (its comment says so: ``BENCH_DATABASE``); any other database of that name is
left alone and the run refused. The Redis database number of --redis-url is FLUSHED. Give
both to this script alone.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any

import redis
import requests
import sqlalchemy as sa
from dateutil.relativedelta import relativedelta

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from config import normalise_database_url  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/lms_two_nodes"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
ASSIGNMENT = "mlops-case-coldwatch"  # month 1: open for upload in a cohort five months in
PASSWORD = "two-nodes-password-1"
LEARNERS = 8
FILE = b"%PDF-1.4\n" + bytes(range(256)) * 800 + b"\n%%EOF\n"  # 200 KB: a chunk of 256 KiB, most of one
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
ATTACHMENT_LINK = re.compile(r'href="/attachments/(\d+)"')
TIMEOUT = 30.0


class Unavailable(RuntimeError):
    """HAProxy (or another piece) cannot be had on this machine."""


# --------------------------------------------------------------------------- pieces


def ensure_haproxy() -> str:
    """The haproxy binary; installed with apt-get (Debian's package) when missing."""
    found = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if Path(p).exists()), None)
    if found:
        return found
    if not shutil.which("apt-get"):
        raise Unavailable("haproxy is not installed and there is no apt-get to install it")
    sudo = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if sudo is None:
        raise Unavailable("haproxy is not installed, and installing it needs root (no sudo)")
    print("Installing Debian's haproxy (apt-get)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "haproxy"]):
        done = subprocess.run([*sudo, *command], env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise Unavailable(f"could not install haproxy: {' '.join(command)}: {done.stderr.strip()[-300:]}")
    found = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if not found:
        raise Unavailable("apt-get installed haproxy but no haproxy binary was found")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The comment a benchmark puts on each database it makes; only a database carrying it is ever
# dropped (``everyday.py --database-url .../test`` once dropped the test suite's database).
BENCH_DATABASE = "made by an lms benchmark (bench/): dropped and made again by each run"


class NotABenchDatabase(SystemExit):
    """The named database exists and no benchmark made it: it is left as it is."""


def _made_by_a_bench(conn: sa.Connection, name: str) -> bool | None:
    """None when there is no database ``name``; else whether a benchmark made it."""
    found = conn.execute(sa.text("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :name"),
                         {"name": name}).first()
    return None if found is None else found[0] == BENCH_DATABASE


def recreate_database(url: str) -> None:
    """Drop the database ``url`` names if a benchmark made it, and make it afresh (marked as
    a benchmark's); refuse, touching nothing, when a database of that name is someone else's."""
    target = sa.engine.make_url(normalise_database_url(url))
    if target.get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be a PostgreSQL URL: the nodes share it")
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            ours = _made_by_a_bench(conn, target.database or "")
            if ours is False:
                raise NotABenchDatabase(
                    f'The database "{target.database}" exists and no benchmark made it, so it is not dropped: name a '
                    f"database of the benchmark's own (e.g. lms_bench_everyday), which it makes, drops and makes again.")
            if ours:
                conn.execute(sa.text(f'DROP DATABASE "{target.database}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
            conn.execute(sa.text(f"COMMENT ON DATABASE \"{target.database}\" IS '{BENCH_DATABASE}'"))
    finally:
        admin.dispose()


def drop_database(url: str) -> None:
    """Drop the database ``url`` names if a benchmark made it (else leave it be)."""
    target = sa.engine.make_url(normalise_database_url(url))
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if _made_by_a_bench(conn, target.database or ""):
                conn.execute(sa.text(f'DROP DATABASE "{target.database}" WITH (FORCE)'))
    finally:
        admin.dispose()


def learner_email(n: int) -> str:
    return f"learner{n}@two-nodes.example"


def prepare(database_url: str, instance: Path) -> tuple[str, list[str]]:
    """Migrate, load the course, and add an organization with a cohort five months in, an
    instructor and LEARNERS learners (password PASSWORD). Returns the app's worker command."""
    from flask_migrate import upgrade

    from lms import create_app
    from lms.accounts.services import create_user
    from lms.cohorts.enrolment import enrol
    from lms.cohorts.models import Cohort, Pace
    from lms.cohorts.services import create_organization
    from lms.database import unit_of_work
    from lms.extensions import db
    from lms.learning.services import opens_at

    app = create_app("development", {"SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url)}, instance_path=instance)
    with app.app_context():
        upgrade()
        loaded = app.test_cli_runner().invoke(args=["lms", "load-content"])
        if loaded.exit_code != 0:
            raise SystemExit(f"load-content failed: {loaded.output}")
        with unit_of_work(db.session):
            organization = create_organization(db.session, "Two Nodes Ltd")
            start = datetime.now(UTC).date() - relativedelta(months=5)
            instructor = create_user(db.session, "instructor@two-nodes.example", "Ines Instructor", PASSWORD)
            cohort = Cohort(organization=organization, name="Two nodes", start_date=start, timezone="UTC")
            cohort.instructors.append(instructor)
            db.session.add(cohort)
            db.session.flush()
            for n in range(1, LEARNERS + 1):
                user = create_user(db.session, learner_email(n), f"Learner {n}", PASSWORD)
                enrol(db.session, cohort, user, opens_at(cohort, cohort.start_date), Pace.CATCH_UP)
        commands = app.cli.commands["lms"].commands  # type: ignore[attr-defined]
        worker = ["lms", "worker"] if "worker" in commands else ["lms", "mail-worker"]
        db.engine.dispose()
    return worker[1], worker


class Smtp:
    """A local SMTP server that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[bytes] = []
        self.recipients: list[list[str]] = []  # each message's envelope recipients
        self.lock = threading.Lock()
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
                with outer.lock:
                    outer.messages.append(envelope.content)
                    outer.recipients.append(list(envelope.rcpt_tos))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> Smtp:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def count(self, recipient: str | None = None) -> int:
        """Messages received (for ``recipient`` only, when given)."""
        with self.lock:
            return len(self.messages) if recipient is None else sum(recipient in r for r in self.recipients)

    def subjects(self) -> list[str]:
        with self.lock:
            return [str(message_from_bytes(m)["Subject"]) for m in self.messages]


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def stop_all(processes: list[Process]) -> None:
    """SIGTERM to all at once (gunicorn and the workers finish what they are doing), then wait."""
    for process in processes:
        if process.popen.poll() is None:
            process.popen.send_signal(signal.SIGTERM)
    for process in processes:
        process.stop()


def start(name: str, command: list[str], env: dict[str, str], folder: Path) -> Process:
    log = folder / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return Process(name, popen, log)


def wait_until(check: Callable[[], bool], seconds: float, what: str, processes: list[Process]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for process in processes:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} exited ({process.popen.returncode}) while waiting for {what}:\n{process.tail()}")
        try:
            if check():
                return
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {seconds:.0f} s waiting for {what}")


HAPROXY_CONFIG = """\
global
    maxconn 2048

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 10s
    # A node busy with a burst still answers its health check, later: not marked down for it.
    timeout check 10s
    default-server inter 2s fall 5 rise 1
    option http-keep-alive
    # A connection to a node that the node closed meanwhile: send the request again rather
    # than close the client's connection (the nodes keep idle connections longer than this
    # pool does, so it should not happen; this is the belt to those braces).
    retries 3
    retry-on conn-failure empty-response

frontend lms
    bind 127.0.0.1:{port}
    default_backend nodes

backend nodes
    balance roundrobin
    option forwardfor
    option httpchk GET /healthz
    http-response set-header X-Node %[srv_name]
{servers}
"""


@dataclass
class Cluster:
    proxy: str
    nodes: list[str]
    database_url: str
    redis_url: str
    smtp: Smtp
    worker: str
    folder: Path
    processes: list[Process] = field(default_factory=list)


@contextmanager
def cluster(database_url: str, redis_url: str, *, workers_per_node: int = 2, threads: int = 4,
            keep: bool = False) -> Iterator[Cluster]:
    haproxy = ensure_haproxy()
    redis.Redis.from_url(redis_url, socket_connect_timeout=3).flushdb()
    recreate_database(database_url)
    folder = Path(tempfile.mkdtemp(prefix="lms-two-nodes-"))
    processes: list[Process] = []
    with ExitStack() as stack:
        if keep:
            stack.callback(print, f"Kept the database {database_url} and the logs in {folder}")
        else:
            stack.callback(shutil.rmtree, folder, True)
            stack.callback(drop_database, database_url)
        stack.callback(stop_all, processes)
        began = time.monotonic()
        worker, worker_command = prepare(database_url, folder / "setup")
        print(f"Database ready (migrated, course loaded, {LEARNERS} learners) in {time.monotonic() - began:.1f} s", flush=True)
        smtp = stack.enter_context(Smtp())
        shared = {
            "LMS_ENV": "development",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "FILE_STORAGE": "database",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(smtp.port),
            "MAIL_SECURITY": "none",
            "FLASK_APP": "wsgi",
            "TRUSTED_PROXIES": "1",  # HAProxy's X-Forwarded-For names the client
        }
        ports = [free_port(), free_port()]
        for n, port in enumerate(ports, start=1):
            instance = folder / f"node{n}"  # each node's own disk: nothing on it is shared
            instance.mkdir()
            env = {**os.environ, **shared, "LMS_INSTANCE_PATH": str(instance)}
            env.pop("TEST_DATABASE_URL", None)
            processes.append(start(f"node{n}", [sys.executable, "-m", "gunicorn", "--workers", str(workers_per_node),
                                                "--worker-class", "gthread", "--threads", str(threads),
                                                "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5",
                                                # idle connections kept longer than HAProxy's pool keeps them (5 s),
                                                # so HAProxy never sends on a connection the node is closing
                                                "--keep-alive", "30", "wsgi:app"], env, folder))
            processes.append(start(f"worker{n}", [sys.executable, "-m", "flask", *worker_command], env, folder))
        proxy_port = free_port()
        config = folder / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(port=proxy_port, servers="\n".join(
            f"    server node{n} 127.0.0.1:{port} check" for n, port in enumerate(ports, start=1))))
        processes.append(start("haproxy", [haproxy, "-f", str(config), "-db"], dict(os.environ), folder))
        nodes = [f"http://127.0.0.1:{port}" for port in ports]
        proxy = f"http://127.0.0.1:{proxy_port}"
        for url in (*nodes,):
            wait_until(lambda url=url: requests.get(f"{url}/healthz", timeout=2).status_code == 200, 60, f"{url}/healthz", processes)

        def both_up() -> bool:
            seen = {requests.get(f"{proxy}/healthz", timeout=2).headers.get("X-Node") for _ in range(4)}
            return seen == {"node1", "node2"}

        wait_until(both_up, 30, "HAProxy to send to both nodes", processes)
        yield Cluster(proxy, nodes, database_url, redis_url, smtp, worker, folder, processes)


# --------------------------------------------------------------------------- clients


def csrf_of(response: requests.Response) -> str:
    found = CSRF.search(response.text)
    if not found:
        raise AssertionError(f"{response.url}: no CSRF token in the page ({response.status_code})")
    return found.group(1)


def sign_in(session: requests.Session, base: str, email: str, password: str = PASSWORD) -> requests.Response:
    token = csrf_of(session.get(f"{base}/login", timeout=TIMEOUT))
    return session.post(f"{base}/login", data={"email": email, "password": password, "csrf_token": token},
                        allow_redirects=False, timeout=TIMEOUT)


def upload(session: requests.Session, base: str, name: str, data: bytes) -> int:
    """Save a draft with ``data`` attached; the new attachment's id."""
    page = session.get(f"{base}/assignments/{ASSIGNMENT}/work", timeout=TIMEOUT)
    before = set(ATTACHMENT_LINK.findall(page.text))
    saved = session.post(f"{base}/assignments/{ASSIGNMENT}/work", data={"csrf_token": csrf_of(page), "body": "Plan attached.",
                                                                      "action": "save"},
                         files={"file": (name, data, "application/pdf")}, allow_redirects=False, timeout=TIMEOUT)
    if saved.status_code != 302:
        raise AssertionError(f"upload through {base} answered {saved.status_code}")
    after = set(ATTACHMENT_LINK.findall(session.get(f"{base}/assignments/{ASSIGNMENT}/work", timeout=TIMEOUT).text))
    new = after - before
    if len(new) != 1:
        raise AssertionError(f"expected one new attachment, found {sorted(new)}")
    return int(new.pop())


@dataclass
class Proof:
    name: str
    ok: bool
    detail: str


def query(c: Cluster, sql: str, **params: Any) -> list[Any]:
    engine = sa.create_engine(normalise_database_url(c.database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params).all())
    finally:
        engine.dispose()


def prove_sign_in(c: Cluster) -> Proof:
    browser = requests.Session()
    signed = sign_in(browser, c.nodes[0], learner_email(1))
    if signed.status_code != 302:
        return Proof("sign-in", False, f"sign-in on node 1 answered {signed.status_code}")
    home = browser.get(f"{c.nodes[1]}/", allow_redirects=False, timeout=TIMEOUT)
    account = browser.get(f"{c.nodes[1]}/account", allow_redirects=False, timeout=TIMEOUT)
    ok = home.status_code == 200 and account.status_code == 200 and learner_email(1) in account.text
    anonymous = requests.get(f"{c.nodes[1]}/account", allow_redirects=False, timeout=TIMEOUT)
    ok = ok and anonymous.status_code == 302
    browser.close()
    return Proof("sign-in", ok, f"signed in on node 1; node 2 serves its home page ({home.status_code}) and account page "
                                f"({account.status_code}, naming {learner_email(1)}); without the cookie node 2 answers "
                                f"{anonymous.status_code} (to the sign-in page)")


def prove_upload(c: Cluster) -> Proof:
    browser = requests.Session()
    sign_in(browser, c.nodes[0], learner_email(1))
    data = os.urandom(300_000)  # more than one chunk
    attachment = upload(browser, c.nodes[0], "through-node1.pdf", data)
    got = browser.get(f"{c.nodes[1]}/attachments/{attachment}", timeout=TIMEOUT)
    ok = got.status_code == 200 and hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
    rows = query(c, "SELECT count(*) FROM stored_files")[0][0]
    on_disk = [p for p in c.folder.glob("node*/uploads/**/*") if p.is_file()]
    ok = ok and not on_disk
    browser.close()
    return Proof("upload", ok, f"attachment {attachment} ({len(data):,} bytes) uploaded through node 1, downloaded through "
                               f"node 2: {got.status_code}, sha256 {'equal' if ok else 'DIFFERENT'}; "
                               f"{rows} files in the database, {len(on_disk)} on the nodes' disks")


def prove_rate_limit(c: Cluster) -> Proof:
    link = redis.Redis.from_url(c.redis_url)
    for key in link.scan_iter("*accounts.login*"):  # this proof counts from zero
        link.delete(key)
    link.close()
    browser = requests.Session()
    tokens = [csrf_of(browser.get(f"{node}/login", timeout=TIMEOUT)) for node in c.nodes]
    accepted = Counter[str]()
    refused_at = None
    for attempt in range(1, 41):
        n = attempt % 2  # node 2, node 1, node 2, ...
        answer = browser.post(f"{c.nodes[n]}/login", data={"email": f"nobody{attempt}@two-nodes.example", "password": "wrong",
                                                           "csrf_token": tokens[n]}, allow_redirects=False, timeout=TIMEOUT)
        if answer.status_code == 429:
            refused_at = (attempt, f"node{n + 1}")
            break
        accepted[f"node{n + 1}"] += 1
    other = None
    if refused_at:
        n = 0 if refused_at[1] == "node2" else 1
        other = browser.post(f"{c.nodes[n]}/login", data={"email": "nobody-else@two-nodes.example", "password": "wrong",
                                                          "csrf_token": tokens[n]}, allow_redirects=False, timeout=TIMEOUT).status_code
    browser.close()
    ok = refused_at is not None and refused_at[0] == 31 and other == 429
    where = f"attempt {refused_at[0]} refused (429) by {refused_at[1]}" if refused_at else "never refused"
    return Proof("rate limit", ok, f"failed sign-ins alternating between the nodes: {accepted['node1']} accepted by node 1, "
                                   f"{accepted['node2']} by node 2, {where}, and the other node refuses the next too ({other}); "
                                   "limit 30 per minute per address, counted in Redis")


def prove_job_once(c: Cluster, requests_count: int = 4) -> Proof:
    browser = requests.Session()
    tokens = [csrf_of(browser.get(f"{node}/password/forgot", timeout=TIMEOUT)) for node in c.nodes]
    # Two learners, each asking twice: an account is mailed at most FORGOT_PASSWORD_LINKS_PER_HOUR
    # (3) links an hour, so four asks for one account would send three by design.
    # Counted for these learners only: the proofs before signed learner 1 in from new browsers,
    # and the notices of those sign-ins may still be on their way.
    recipients = [learner_email(2), learner_email(3)]

    def received() -> int:
        return sum(c.smtp.count(r) for r in recipients)

    before = received()
    for i in range(requests_count):
        n = i % 2
        email = recipients[(i // 2) % len(recipients)]
        answer = browser.post(f"{c.nodes[n]}/password/forgot", data={"email": email, "csrf_token": tokens[n]},
                              allow_redirects=False, timeout=TIMEOUT)
        if answer.status_code != 302:
            return Proof("job once", False, f"password reset request on node {n + 1} answered {answer.status_code}")
    browser.close()
    deadline = time.monotonic() + 30
    while received() - before < requests_count and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # a duplicate would arrive meanwhile
    got = received() - before
    rows = [row for r in recipients
            for row in query(c, "SELECT status, attempts FROM outbox_messages WHERE recipient = :r", r=r)]
    sent_once = [r for r in rows if r.status == "sent" and r.attempts == 1]
    ok = got == requests_count and len(rows) == requests_count and len(sent_once) == requests_count
    return Proof("job once", ok, f"{requests_count} reset mails for {len(recipients)} learners queued through both nodes "
                                 f"(RQ on Redis), two workers (`flask lms {c.worker}`, one per node) waiting: {got} received "
                                 f"by SMTP, outbox {len(sent_once)}/{len(rows)} sent at the first attempt")


# --------------------------------------------------------------------------- traffic


@dataclass
class Traffic:
    seconds: float
    clients: int
    latencies: list[float] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    nodes: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    def lines(self) -> list[str]:
        rate = self.requests / self.seconds if self.seconds else 0.0
        return [
            f"{self.requests:,} requests in {self.seconds:.1f} s from {self.clients} clients: {rate:,.0f} requests/s, "
            f"{self.error_count} errors",
            f"latency ms: median {statistics.median(self.latencies) * 1000:.1f}, p95 {self.percentile(0.95):.1f}, "
            f"p99 {self.percentile(0.99):.1f}, max {max(self.latencies) * 1000:.1f}" if self.latencies else "no requests",
            "served by: " + ", ".join(f"{node} {count:,}" for node, count in sorted(self.nodes.items())),
            "mix: " + ", ".join(f"{kind} {count:,}" for kind, count in self.kinds.most_common()),
        ]


def traffic(c: Cluster, seconds: float, clients: int) -> Traffic:
    """``clients`` threads, each with a learner's session (LEARNERS learners signed in once
    through HAProxy), sending a mix of requests through HAProxy for ``seconds``."""
    cookies, files, tokens = [], [], []
    for n in range(1, LEARNERS + 1):
        browser = requests.Session()
        if sign_in(browser, c.proxy, learner_email(n)).status_code != 302:
            raise AssertionError(f"{learner_email(n)} could not sign in")
        files.append(upload(browser, c.proxy, f"learner{n}.pdf", FILE))
        tokens.append(csrf_of(browser.get(f"{c.proxy}/assignments/{ASSIGNMENT}/work", timeout=TIMEOUT)))
        cookies.append(browser.cookies.get_dict())
        browser.close()
    result = Traffic(seconds, clients)
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    mix: list[tuple[str, int]] = [("home", 25), ("coursework", 15), ("work page", 15), ("download", 20), ("save draft", 10),
                                  ("sign-in page", 10), ("health", 5)]
    names, weights = [k for k, _ in mix], [w for _, w in mix]

    def client(i: int) -> None:
        learner = i % LEARNERS
        rng = random.Random(i)
        browser = requests.Session()
        browser.cookies.update(cookies[learner])
        anonymous = requests.Session()
        latencies: list[float] = []
        kinds: Counter[str] = Counter()
        nodes: Counter[str] = Counter()
        errors: list[str] = []
        try:
            while time.monotonic() < stop_at:
                kind = rng.choices(names, weights)[0]
                began = time.perf_counter()
                try:
                    if kind == "home":
                        answer, expected = browser.get(f"{c.proxy}/", allow_redirects=False, timeout=TIMEOUT), 200
                    elif kind == "coursework":
                        answer, expected = browser.get(f"{c.proxy}/coursework", allow_redirects=False, timeout=TIMEOUT), 200
                    elif kind == "work page":
                        answer, expected = browser.get(f"{c.proxy}/assignments/{ASSIGNMENT}/work", allow_redirects=False,
                                                       timeout=TIMEOUT), 200
                    elif kind == "download":
                        answer, expected = browser.get(f"{c.proxy}/attachments/{files[learner]}", timeout=TIMEOUT), 200
                        if answer.status_code == 200 and answer.content != FILE:
                            errors.append(f"download of attachment {files[learner]}: wrong bytes")
                    elif kind == "save draft":
                        answer, expected = browser.post(f"{c.proxy}/assignments/{ASSIGNMENT}/work",
                                                        data={"csrf_token": tokens[learner], "body": f"Draft {rng.random()}",
                                                              "action": "save"}, allow_redirects=False, timeout=TIMEOUT), 302
                    elif kind == "sign-in page":
                        answer, expected = anonymous.get(f"{c.proxy}/login", timeout=TIMEOUT), 200
                    else:
                        answer, expected = anonymous.get(f"{c.proxy}/healthz", timeout=TIMEOUT), 200
                except requests.RequestException as exc:
                    errors.append(f"{kind}: {type(exc).__name__}: {exc}")
                    latencies.append(time.perf_counter() - began)
                    continue
                latencies.append(time.perf_counter() - began)
                kinds[kind] += 1
                nodes[answer.headers.get("X-Node", "?")] += 1
                if answer.status_code != expected:
                    errors.append(f"{kind}: {answer.status_code} from {answer.headers.get('X-Node', '?')}")
        finally:
            browser.close()
            anonymous.close()
            with lock:
                result.latencies += latencies
                result.kinds.update(kinds)
                result.nodes.update(nodes)
                result.error_count += len(errors)
                result.errors += errors[:5]

    threads = [threading.Thread(target=client, args=(i,), name=f"client{i}") for i in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - began
    return result


# --------------------------------------------------------------------------- the run


@dataclass
class Outcome:
    proofs: list[Proof]
    traffic: Traffic | None

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.proofs) and self.traffic is not None and self.traffic.error_count == 0


def run(database_url: str, redis_url: str, seconds: float, clients: int, *, keep: bool = False, workers_per_node: int = 2,
        out: Callable[[str], None] = print) -> Outcome:
    began = time.monotonic()
    with cluster(database_url, redis_url, keep=keep, workers_per_node=workers_per_node) as c:
        out(f"HAProxy {c.proxy} -> node1 {c.nodes[0]}, node2 {c.nodes[1]} (gunicorn, {workers_per_node} workers x 4 threads each); "
            f"workers: flask lms {c.worker} x2; PostgreSQL {sa.engine.make_url(database_url).database}; Redis {redis_url}; "
            f"FILE_STORAGE=database; ready after {time.monotonic() - began:.1f} s")
        proofs = []
        for prove in (prove_sign_in, prove_upload, prove_job_once):
            proofs.append(prove(c))
            out(f"[{'ok' if proofs[-1].ok else 'FAILED'}] {proofs[-1].name}: {proofs[-1].detail}")
        result = traffic(c, seconds, clients)
        for line in result.lines():
            out(f"[{'ok' if result.error_count == 0 else 'FAILED'}] traffic: {line}")
        for error in result.errors[:10]:
            out(f"    {error}")
        proofs.append(prove_rate_limit(c))  # last: it leaves this address refused for a minute
        out(f"[{'ok' if proofs[-1].ok else 'FAILED'}] {proofs[-1].name}: {proofs[-1].detail}")
        failing = [p.name for p in c.processes if p.popen.poll() is not None]
        if failing:
            proofs.append(Proof("processes", False, f"exited during the run: {', '.join(failing)}"))
            out(f"[FAILED] processes: {proofs[-1].detail}")
    return Outcome(proofs, result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("TWO_NODES_DATABASE_URL", DEFAULT_DATABASE_URL),
                        help="a PostgreSQL database for this run alone: dropped and created again (default %(default)s)")
    parser.add_argument("--redis-url", default=os.environ.get("TWO_NODES_REDIS_URL", DEFAULT_REDIS_URL),
                        help="a Redis database for this run alone: flushed (default %(default)s)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of mixed traffic (default 60)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    args = parser.parse_args(argv)
    try:
        outcome = run(args.database_url, args.redis_url, args.duration, args.clients, keep=args.keep)
    except Unavailable as exc:
        print(f"Cannot run: {exc}", file=sys.stderr)
        return 2
    print("All proofs hold." if outcome.ok else "Some proofs FAILED.")
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
