"""How fast the everyday pages are under load, beside a bare Flask "hello" (issue 14 point 4).

Builds a throw-away database (SQLite in a temporary directory; with --database-url that
PostgreSQL database, made afresh and dropped at the end, if it is not there yet or a
benchmark made it: any other database of that name is refused, never dropped), loads the
course and the demo organization with its learners' months of activity (``flask lms demo``),
then starts, side by side under the same gunicorn settings (``-w 2``, sync workers):

  hello      a bare Flask app answering "Hello, World!" (bench/hello.py): the floor
  the app    ``wsgi:app`` on that database

signs in as a demo learner and drives --clients concurrent clients (threads, one HTTP
connection a request, as gunicorn's sync workers close each; offering the encodings a browser
offers over HTTPS, so each page leaves as it would for a learner: --accept-encoding) for
--duration seconds each,
in --rounds turns with the targets taking turns (a slow spell of a shared machine then falls
on all of them), against hello, the learner home (/home) and the progress page
(/progress), and a second floor: the app's /healthz signed in, a request that loads its
signed-in user and renders nothing (what every signed-in page costs before its own work).
It prints requests/s, p50 and p95 of each, the pages' requests/s as a % of hello's, beside
the targets (>= 25% of hello, p95 <= 40 ms), each page's SQL statement count and size
(measured in-process, through the test client), and, on Linux, the CPU each request cost
each kind of process while it was measured: the server's gunicorn processes, PostgreSQL's
processes (every ``postgres`` process of the machine) and the client (this process).

    .venv/bin/python bench/everyday.py                       # SQLite, 15 s a target, 8 clients
    .venv/bin/python bench/everyday.py --duration 5 --database-url postgresql://postgres@127.0.0.1:5432/lms_bench_everyday
    .venv/bin/python bench/everyday.py --profile 200         # no load: cProfile of 200 views of each page

The client runs on the same machine as the servers and takes CPU from them (as it takes from
hello): the % of hello is the figure to compare between machines, not the requests/s.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import io
import os
import pstats
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from flask import Flask

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from config import normalise_database_url  # noqa: E402
from two_nodes import Process, drop_database, free_port, recreate_database, sign_in, start, stop_all, wait_until  # noqa: E402

LEARNER = 1  # learner01@demo.lms: months of activity from the demo's profiles
PAGES = (("learner home", "/home"), ("progress page", "/progress"))
SIGNED_IN = ("signed in, no page", "/healthz")  # the app's own floor: the session read, the user loaded, nothing rendered
KEPT, BUILT = "kept", "built"  # served from the page cache (lms.web.page_cache) / built on every view (PAGE_CACHE_SIZE=0)
TARGET_SHARE = 25.0    # % of hello's requests/s
TARGET_P95_MS = 40.0
# Every request, the sign-in's and the load's, names the same browser, as a real one does.
# Flask-Login's session protection compares the address and User-Agent with the sign-in's; a
# client that sent another (http.client sends none) had its session marked not fresh on every
# request, so the app signed and set the session cookie again on each one, and the benchmark,
# never storing it, measured that work on every view.
USER_AGENT = "lms-bench/1 (everyday.py)"
# What a browser offers over HTTPS, so each page leaves as it leaves for a learner (compressed
# at COMPRESS_MIN_SIZE bytes and over); ``--accept-encoding ''`` asks for every page as it is.
BROWSER_ENCODINGS = "gzip, deflate, br, zstd"

def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the database


def build(url: str, instance: Path) -> Flask:
    """Migrate, load the course, build the demo organization and its learners' activity."""
    from flask_migrate import upgrade

    from lms import create_app
    from lms.database import unit_of_work, utcnow
    from lms.demo.services import build_demo, demo_activity
    from lms.extensions import db

    app = create_app("development", {"SQLALCHEMY_DATABASE_URI": url}, instance_path=instance)
    with app.app_context():
        started = time.perf_counter()
        upgrade()
        loaded = app.test_cli_runner().invoke(args=["lms", "load-content"])
        if loaded.exit_code != 0:
            raise SystemExit(f"load-content failed: {loaded.output}")
        with unit_of_work(db.session):
            build_demo(db.session)
            report = demo_activity(db.session, utcnow())
        if db.engine.dialect.name == "postgresql":
            # The tables were just filled: have their statistics and visibility maps made now, not
            # by autovacuum in the middle of the first page's measurement (it took CPU from it).
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM (ANALYZE)")
        say(f"  course loaded, {report.learners} demo learners given {report.months} months of activity "
            f"({time.perf_counter() - started:.0f} s)")
    return app


# --------------------------------------------------------------------------- servers


def gunicorn(name: str, app: str, env: dict[str, str], folder: Path, workers: int, chdir: Path) -> tuple[Process, int]:
    port = free_port()
    return start(name, [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
                        "--graceful-timeout", "5", "--chdir", str(chdir), app], env, folder), port


@dataclass(frozen=True)
class Server:
    port: int
    group: int  # its process group (gunicorn's master and workers): started in its own session


@contextmanager
def servers(url: str, folder: Path, workers: int) -> Iterator[tuple[Server, Server, Server]]:
    """hello, the app, and the app with its page cache off, each under ``gunicorn -w workers``
    (sync workers)."""
    env = {**os.environ, "LMS_ENV": "development", "DATABASE_URL": url, "SECRET_KEY": secrets.token_urlsafe(48),
           "FLASK_APP": "wsgi", "LMS_INSTANCE_PATH": str(folder / "instance")}
    env.pop("TEST_DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    processes: list[Process] = []
    try:
        floor, floor_port = gunicorn("hello", "hello:app", env, folder, workers, BASE_DIR / "bench")
        processes.append(floor)
        app, app_port = gunicorn("app", "wsgi:app", env, folder, workers, BASE_DIR)
        processes.append(app)
        built, built_port = gunicorn("app-built", "wsgi:app", {**env, "PAGE_CACHE_SIZE": "0"}, folder, workers, BASE_DIR)
        processes.append(built)
        for port, path in ((floor_port, "/"), (app_port, "/healthz"), (built_port, "/healthz")):
            wait_until(lambda port=port, path=path: requests.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code == 200,
                       60, f"gunicorn on port {port}", processes)
        yield (Server(floor_port, floor.popen.pid), Server(app_port, app.popen.pid), Server(built_port, built.popen.pid))
    finally:
        stop_all(processes)


def signed_in_cookie(port: int, email: str, password: str) -> str:
    """The Cookie header of a session signed in as ``email``."""
    browser = requests.Session()
    browser.headers["User-Agent"] = USER_AGENT
    if sign_in(browser, f"http://127.0.0.1:{port}", email, password).status_code != 302:
        raise SystemExit(f"could not sign in as {email}")
    # The first page after signing in gives the session its CSRF secret (signing in makes a new
    # one, lms.accounts.views.fresh_session_on_sign_in): a browser keeps the cookie it sets.
    browser.get(f"http://127.0.0.1:{port}/home")
    return "; ".join(f"{c.name}={c.value}" for c in browser.cookies)


def steady(port: int, path: str, cookie: str) -> None:
    """Refuse to measure a signed-in target whose answer sets a cookie: the load's clients keep
    the sign-in's cookie, as a browser keeps one that does not change, so each request would
    pay for signing a new one that nobody stores."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Cookie": cookie, "User-Agent": USER_AGENT})
    answer = conn.getresponse()
    answer.read()
    conn.close()
    if answer.status != 200 or answer.getheader("Set-Cookie"):
        raise SystemExit(f"{path} answered {answer.status} setting {answer.getheader('Set-Cookie')!r}: "
                         "the benchmark's requests would not be a signed-in browser's steady state")


# --------------------------------------------------------------------------- load


@dataclass(frozen=True)
class Load:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]  # ms

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def combined(loads: list[Load]) -> Load:
    """One target's rounds as one measure."""
    return Load(sum(load.requests for load in loads), sum(load.errors for load in loads),
                sum(load.seconds for load in loads), [ms for load in loads for ms in load.latencies])


def drive(port: int, path: str, cookie: str, clients: int, seconds: float, encodings: str = BROWSER_ENCODINGS) -> Load:
    """``clients`` threads asking for ``path`` as fast as answers come, for ``seconds``,
    accepting ``encodings`` (the answers are read as sent, not decoded)."""
    headers = {"User-Agent": USER_AGENT, **({"Cookie": cookie} if cookie else {}),
               **({"Accept-Encoding": encodings} if encodings else {})}
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(n: int) -> None:
        start.wait()
        mine = latencies[n]
        while True:
            began = time.perf_counter()
            if began >= stop_at[0]:
                return
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", path, headers=headers)
                answer = conn.getresponse()
                answer.read()
                conn.close()
                ok = answer.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
            if ok:
                mine.append((time.perf_counter() - began) * 1000)
            else:
                errors[n] += 1

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = [ms for mine in latencies for ms in mine]
    return Load(len(every), sum(errors), elapsed, every)


# --------------------------------------------------------------------------- CPU by kind of process

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Cpu:
    """CPU milliseconds used so far: by one server's processes (its gunicorn master and
    workers: a process group), by the database server's processes, by this process (the
    client). None where /proc cannot tell (not Linux)."""

    server: float | None
    database: float | None
    client: float

    def __sub__(self, other: Cpu) -> Cpu:
        def less(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else a - b

        return Cpu(less(self.server, other.server), less(self.database, other.database), self.client - other.client)

    def __add__(self, other: Cpu) -> Cpu:
        def more(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else a + b

        return Cpu(more(self.server, other.server), more(self.database, other.database), self.client + other.client)


def cpu_now(group: int) -> Cpu:
    """The CPU used so far by process group ``group`` (a server started in its own session),
    by every ``postgres`` process, and by this process, from /proc (Linux)."""
    own = os.times()
    client = (own.user + own.system) * 1000
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return Cpu(None, None, client)
    server = database = 0.0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()  # state, ppid, pgrp, ... utime (11), stime (12)
        used = (int(fields[11]) + int(fields[12])) * 1000 / CLOCK_TICKS
        if int(fields[2]) == group:
            server += used
        elif name == "postgres":
            database += used
    return Cpu(server, database, client)


# --------------------------------------------------------------------------- in-process measures


def statements_and_size(app: Flask, email: str, password: str) -> dict[str, tuple[int, int]]:
    """Each page's SQL statements and bytes, through the test client: kept (the second view
    of an unchanged page) and built (the page cache emptied first)."""
    from lms.extensions import db
    from lms.web.page_cache import cache_of

    client = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        engine = db.engine
    # Each request in its own app context, as under gunicorn (an outer one would share ``g``,
    # and the signed-in user Flask-Login keeps there, between requests).
    if client.post("/login", data={"email": email, "password": password}).status_code != 302:
        raise SystemExit(f"could not sign in as {email} in-process")
    found: dict[str, tuple[int, int]] = {}
    for how in (KEPT, BUILT):
        for name, path in PAGES:
            client.get(path)
            if how == BUILT:
                cache_of(app).clear()
            statements: list[str] = []

            def count(*args: Any, into: list[str] = statements) -> None:
                into.append(args[2])

            sa.event.listen(engine, "before_cursor_execute", count)
            page = client.get(path)
            sa.event.remove(engine, "before_cursor_execute", count)
            if page.status_code != 200:
                raise SystemExit(f"{path} answered {page.status_code} in-process")
            found[f"{name} ({how})"] = (len(statements), len(page.data))
    return found


def profile(app: Flask, email: str, password: str, views: int) -> None:
    """cProfile of ``views`` views of each page through the test client, the top of each printed,
    after each page's statements and its ms a view without the profiler (in-process, no load);
    each page kept (served from the page cache) and built (the cache emptied before each view)."""
    from lms.web.page_cache import cache_of

    counts = statements_and_size(app, email, password)
    client = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    client.post("/login", data={"email": email, "password": password})
    cache = cache_of(app)

    def view(path: str, how: str) -> None:
        if how == BUILT:
            cache.clear()
        client.get(path)

    for how in (KEPT, BUILT):
        for name, path in PAGES:
            label = f"{name} ({how})"
            view(path, how)
            began = time.perf_counter()
            for _ in range(views):
                view(path, how)
            plain = (time.perf_counter() - began) * 1000 / views
            print(f"===== {label} ({path}): {counts[label][0]} statements, {counts[label][1]:,} bytes, "
                  f"{plain:.1f} ms a view in-process without the profiler ({views} views)")
            profiler = cProfile.Profile()
            began = time.perf_counter()
            profiler.enable()
            for _ in range(views):
                view(path, how)
            profiler.disable()
            each = (time.perf_counter() - began) * 1000 / views
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
            print(f"===== {label} ({path}): {each:.1f} ms a view under the profiler, {views} views")
            print(out.getvalue())


# --------------------------------------------------------------------------- main


def run(url: str, folder: Path, args: argparse.Namespace) -> None:
    from lms.demo.services import DEMO_PASSWORD, learner_email

    email = learner_email(LEARNER)
    app = build(url, folder / "setup")
    if args.profile:
        profile(app, email, DEMO_PASSWORD, args.profile)
        return
    counts = statements_and_size(app, email, DEMO_PASSWORD)
    with app.app_context():
        from lms.extensions import db

        db.engine.dispose()
    say(f"Starting gunicorn -w {args.workers} three times (hello, the app, the app with PAGE_CACHE_SIZE=0) ...")
    with servers(url, folder, args.workers) as (floor, lms, built):
        cookie = signed_in_cookie(lms.port, email, DEMO_PASSWORD)
        targets = [("hello (bare Flask)", floor, "/", ""), (f"{SIGNED_IN[0]} ({SIGNED_IN[1]})", lms, SIGNED_IN[1], cookie)] + [
            (f"{name} ({how})", server, path, cookie) for how, server in ((KEPT, lms), (BUILT, built)) for name, path in PAGES]
        for _name, server, path, who in targets:
            if who:
                steady(server.port, path, who)
            # warm up: templates, caches, connections
            drive(server.port, path, who, args.clients, min(2.0, args.duration), args.accept_encoding)
        # The targets take turns, --rounds times, so that a slower spell of this shared machine
        # falls on all of them rather than on whichever was measured then.
        each = args.duration / args.rounds
        rounds: list[list[Load]] = []
        used = {name: Cpu(0.0, 0.0, 0.0) for name, *_rest in targets}
        for number in range(1, args.rounds + 1):
            say(f"  round {number} of {args.rounds}: each target {each:g} s at {args.clients} clients ...")
            loads = []
            for name, server, path, who in targets:
                before = cpu_now(server.group)
                loads.append(drive(server.port, path, who, args.clients, each, args.accept_encoding))
                used[name] = used[name] + (cpu_now(server.group) - before)
            rounds.append(loads)
    results = [(name, combined([loads[index] for loads in rounds])) for index, (name, *_rest) in enumerate(targets)]
    spread = {name: [loads[index].per_second / loads[0].per_second * 100 for loads in rounds]
              for index, (name, *_rest) in enumerate(targets)}
    floor_rate = results[0][1].per_second
    print(f"Everyday pages under gunicorn -w {args.workers} (sync), {args.clients} concurrent clients, "
          f"{args.duration:g} s each, {args.database}; signed in as {email}; "
          f"Accept-Encoding: {args.accept_encoding or '(none)'}")
    print(f"  {'':<30} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'errors':>7} {'% of hello':>11}  "
          f"target (>= {TARGET_SHARE:g}%, p95 <= {TARGET_P95_MS:g} ms)   statements, size")
    for name, load in results:
        share = load.per_second / floor_rate * 100
        is_page = name in counts
        verdict = ""
        if is_page:
            met = share >= TARGET_SHARE and load.percentile(95) <= TARGET_P95_MS
            verdict = "met" if met else ("NOT met: " + ", ".join(
                part for part, bad in (("share", share < TARGET_SHARE), ("p95", load.percentile(95) > TARGET_P95_MS)) if bad))
        extra = f"{counts[name][0]} statements, {counts[name][1] // 1024} KiB" if is_page else ""
        print(f"  {name:<30} {load.per_second:8.1f} {load.percentile(50):8.1f} {load.percentile(95):8.1f} {load.errors:7d} "
              f"{share:10.1f}%  {verdict:<40} {extra}")
    if args.rounds > 1:
        print(f"  % of hello in each round ({args.rounds} rounds of {args.duration / args.rounds:g} s a target): "
              + "; ".join(f"{name} " + " / ".join(f"{share:.1f}" for share in spread[name]) for name, _load in results[1:]))
    print_cpu(results, used, args.database)


def print_cpu(results: list[tuple[str, Load]], used: dict[str, Cpu], database: str) -> None:
    """Each target's CPU ms a request, by kind of process, beside hello's."""
    if any(cpu.server is None for cpu in used.values()):
        print("  (CPU by process: /proc is not there to read)")
        return
    print(f"  CPU a request while each was measured, ms: {'':<3} {'server':>8} {'database':>9} {'client':>8} {'all':>8}")
    for name, load in results:
        cpu, count = used[name], max(load.requests, 1)
        parts = [cpu.server or 0.0, cpu.database or 0.0, cpu.client]
        print(f"  {name:<44} " + " ".join(f"{part / count:8.2f}" for part in parts) + f" {sum(parts) / count:8.2f}")
    if database == "SQLite":
        print("  (SQLite runs inside the server's processes; the database column is whatever else PostgreSQL did meanwhile)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load on each target (default 15)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="the targets take turns this many times, --duration split between them (default 3)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--accept-encoding", default=BROWSER_ENCODINGS,
                        help=f"the clients' Accept-Encoding (default {BROWSER_ENCODINGS!r}, a browser's over HTTPS; '': none)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each server (default 2)")
    parser.add_argument("--database-url", default=None,
                        help="run on this PostgreSQL database instead of SQLite: made afresh and dropped at the end, "
                             "so name one of its own (a database no benchmark made is refused, never dropped)")
    parser.add_argument("--profile", type=int, default=0, metavar="VIEWS",
                        help="no load: profile VIEWS views of each page in-process and print the top functions")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="lms-bench-everyday-"))
    try:
        if args.database_url:
            args.database = "PostgreSQL"
            recreate_database(args.database_url)
            try:
                run(normalise_database_url(args.database_url), folder, args)
            finally:
                drop_database(args.database_url)
        else:
            args.database = "SQLite"
            run(f"sqlite:///{folder / 'bench.sqlite3'}", folder, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
