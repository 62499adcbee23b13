"""Time and peak memory of the cohort exports, at two cohort sizes side by side.

For each size (--sizes, default 500 and 5000 learners) and each database (SQLite in a
temporary directory, and with --database-url a private schema of that PostgreSQL
database), builds a fresh database with the demo organization and one generated cohort of
that many learners with months of activity (``lms.demo.benchmark``, as ``flask lms demo
--learners N`` does), then measures, signed in as the organization's admin:

  raw query         the export's own rows read in one statement and dropped (the floor):
                    the cohort's handed-in work joined to its learners
  grades CSV        GET /cohorts/<id>/grades.csv, the streamed body read and dropped
  gradebook CSV     GET /cohorts/<id>/gradebook.csv, likewise
  heat map CSV      GET /cohorts/<id>/competency.csv (lms/competency, for comparison)
  grades job        POST /cohorts/<id>/exports/grades.csv: the export made by a background
                    job into a file (inline here, as without Redis)
  gradebook job     likewise for the gradebook

Each is timed (once, or the median of --runs after a warm-up), then run once more under tracemalloc
for its peak of Python memory. Exports that read a chunk of learners at a time should
keep about the same peak at both sizes; one that builds every row first grows with them.

    .venv/bin/python bench/exports.py                       # SQLite, 500 and 5,000 learners
    .venv/bin/python bench/exports.py --sizes 200 1000 --runs 1
    .venv/bin/python bench/exports.py --database-url postgresql://postgres@127.0.0.1:5432/h_exports
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench.heatmap import ORG_ADMIN, drop_pg_schema, load_course, median_ms, pg_url, say  # noqa: E402
from lms import create_app  # noqa: E402
from lms.accounts.models import User  # noqa: E402
from lms.cohorts.models import Cohort  # noqa: E402
from lms.coursework.models import Submission, SubmissionStatus  # noqa: E402
from lms.database import utcnow  # noqa: E402
from lms.demo.benchmark import build_benchmark, cohort_name  # noqa: E402
from lms.demo.services import DEMO_PASSWORD, build_demo  # noqa: E402
from lms.extensions import db  # noqa: E402
from lms.jobs.models import Job  # noqa: E402

# (name, ms, peak MiB, note)
Result = tuple[str, float, float, str]


def build(app: Flask, learners: int) -> int:
    with app.app_context():
        say("  creating the schema and loading the course ...")
        upgrade()
        load_course()
        now = utcnow()
        build_demo(db.session)
        db.session.commit()
        say(f"  generating a cohort of {learners} learners with their activity ...")
        started = time.perf_counter()
        build_benchmark(db.session, learners, 1, now, tick=lambda _n: None)
        db.session.commit()
        cohort = db.session.scalar(select(Cohort).where(Cohort.name == cohort_name(1)))
        assert cohort is not None
        say(f"  built in {time.perf_counter() - started:.0f}s")
        return cohort.id


def peak_mib(action: Callable[[], Any]) -> float:
    """The peak of Python memory allocated while ``action`` runs, above what was held before."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        action()
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def timed(action: Callable[[], Any], runs: int) -> float:
    """One run's time with ``runs`` 1 (the exports before it warmed the caches), else the median after a warm-up."""
    if runs > 1:
        return median_ms(action, runs)
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def drain(client: Any, url: str) -> int:
    """GET ``url`` and read its streamed body, dropping each piece: the bytes sent."""
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}.")
    size = 0
    for piece in response.iter_encoded():
        size += len(piece)
    response.close()
    return size


def measure(app: Flask, cohort_id: int, runs: int) -> list[Result]:
    """Each download and job request in an app context of its own, as a server runs it (an
    app context held around them would keep the request's session open while the body is
    streamed, which no server does)."""
    client = app.test_client()
    if client.post("/login", data={"email": ORG_ADMIN, "password": DEMO_PASSWORD}).status_code != 302:
        raise SystemExit(f"Could not sign in as {ORG_ADMIN}.")
    results: list[Result] = []
    raw = (select(Submission.id, Submission.assignment_id, Submission.status, User.name, User.email)
           .join(User, User.id == Submission.user_id)
           .where(Submission.cohort_id == cohort_id, Submission.status != SubmissionStatus.DRAFT))

    def read_raw() -> int:
        with app.app_context():
            count = len(db.session.execute(raw).all())
            db.session.rollback()
            return count

    rows = read_raw()
    results.append(("raw query (the floor: the work handed in, with its learners)", timed(read_raw, runs),
                    peak_mib(read_raw), f"{rows:,} rows"))
    for name, path in (("grades CSV", "grades.csv"), ("gradebook CSV", "gradebook.csv"),
                       ("heat map CSV (lms/competency)", "competency.csv")):
        url = f"/cohorts/{cohort_id}/{path}"
        say(f"  {name} ...")
        size = drain(client, url)
        ms = timed(lambda url=url: drain(client, url), runs)  # type: ignore[misc]
        results.append((name, ms, peak_mib(lambda url=url: drain(client, url)),  # type: ignore[misc]
                        f"{size / 2**20:.1f} MiB sent"))
    app.config["EXPORT_BACKGROUND_ABOVE"] = 0  # every export a job (run inline: no Redis)
    for name, source in (("grades job (into a file)", "grades"), ("gradebook job (into a file)", "gradebook")):
        url = f"/cohorts/{cohort_id}/exports/{source}.csv"

        def ask(url: str = url) -> None:
            response = client.post(url)
            if response.status_code != 302:
                raise SystemExit(f"{url} answered {response.status_code}.")

        say(f"  {name} ...")
        ms = timed(ask, runs)
        peak = peak_mib(ask)
        with app.app_context():
            job = db.session.scalars(select(Job).order_by(Job.id.desc()).limit(1)).one()
            results.append((name, ms, peak, f"{job.status.value}: {job.result}"))
    app.config["EXPORT_BACKGROUND_ABOVE"] = 10**9
    return results


Measure = Callable[[Flask, int, int], list[Any]]  # (app, the cohort's id, runs) -> a row of figures per measure


def run(url: str, workdir: Path, learners: int, runs: int, measure: Measure = measure) -> list[Any]:
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": url, "EXPORT_BACKGROUND_ABOVE": 10**9,
                                           "UPLOAD_DIR": str(workdir / "uploads")},
                     instance_path=workdir / "instance")
    try:
        cohort_id = build(app, learners)
        return measure(app, cohort_id, runs)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def one_size(size: int, runs: int, database_url: str | None, measure: Measure = measure) -> dict[str, list[Any]]:
    """``measure`` on one generated cohort of ``size`` learners, on SQLite and (with
    ``database_url``) PostgreSQL: the figures by column ("SQLite 500", "PG 500")."""
    columns: dict[str, list[Any]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-sizes-"))
    try:
        say(f"SQLite, {size} learners ...")
        columns[f"SQLite {size}"] = run(f"sqlite:///{workdir / 'bench.sqlite3'}", workdir, size, runs, measure)
        if database_url:
            say(f"PostgreSQL, {size} learners ...")
            try:
                columns[f"PG {size}"] = run(pg_url(database_url), workdir, size, runs, measure)
            finally:
                drop_pg_schema(database_url)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return columns


def sizes_apart(script: str, sizes: list[int], runs: int, database_url: str | None) -> dict[str, list[tuple[Any, ...]]]:
    """Run ``script --one SIZE`` for each size in a fresh process (nothing cached by one app
    reaches the next) and gather the columns each prints as JSON."""
    columns: dict[str, list[tuple[Any, ...]]] = {}
    for size in sizes:
        command = [sys.executable, script, "--one", str(size), "--runs", str(runs)]
        if database_url:
            command += ["--database-url", database_url]
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
        columns |= {label: [tuple(r) for r in results] for label, results in json.loads(done.stdout).items()}
    return columns


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000], help="learners per cohort (default 500 5000)")
    parser.add_argument("--runs", type=int, default=1, help="timed runs of each measure (default 1: no warm-up)")
    parser.add_argument("--database-url", default=None,
                        help="also run on this PostgreSQL database (a private schema is created and dropped)")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # a size, in a process of its own
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(one_size(args.one, args.runs, args.database_url)))
        return
    columns = sizes_apart(__file__, args.sizes, args.runs, args.database_url)
    names = [name for name, _ms, _peak, _note in next(iter(columns.values()))]
    width = max(len(n) for n in names)
    print(f"Export benchmark: one generated cohort per size; {'median of ' + str(args.runs) if args.runs > 1 else 'one'} "
          "timed run; peak = tracemalloc's, one more run")
    print(f"  {'':<{width}}  " + "  ".join(f"{label:>22}" for label in columns))
    for index, name in enumerate(names):
        cells = "  ".join(f"{columns[label][index][1]:8.0f} ms {columns[label][index][2]:7.1f} MiB" for label in columns)
        print(f"  {name:<{width}}  {cells}")
        for label in columns:
            note = columns[label][index][3]
            if note:
                print(f"  {'':<{width}}    {label}: {note}")


if __name__ == "__main__":
    main()
