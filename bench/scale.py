"""The volume build and the pages at volume on PostgreSQL (issue 14 point 5).

In two private schemas of the given PostgreSQL database, in one run:

  big     ``flask lms demo --learners N --cohorts C`` (the real command, in a subprocess
          under ``/usr/bin/time -v``: its wall time, CPU time and peak memory), then
          ``flask lms demo --learners 500 --cohorts C+1``, which leaves cohorts 1..C as
          they are and adds cohort C+1 with 500 learners;
  small   the floor: ``flask lms demo --learners 500 --cohorts 1``, the same 500-learner
          cohort in an otherwise empty database (cohort 1 starts as many months ago as
          cohort C+1 when C is a multiple of 10).

Then, in each, the median of --runs runs (after a warm-up) of the 500-learner cohort's heat
map page (GET as the organization admin through the test client: the server's whole work),
built (the kept pages emptied before each run) and kept (viewed again: its stamp read),
and in the big one the organization comparison of its cohorts
(``lms.competency.services.compare``, and its page). Prints the figures beside their floor
and goal. Time figures on a shared machine are pessimistic: the build's CPU time is printed
beside its wall time.

    .venv/bin/python bench/scale.py --database-url postgresql://postgres@127.0.0.1:5432/h_scale --learners 5000 --cohorts 20
    .venv/bin/python bench/scale.py --database-url ... --learners 500 --cohorts 10 --keep   # 5,500 learners
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:  # this worktree's code, not an installed copy's
    sys.path.insert(0, str(BASE_DIR))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from config import normalise_database_url  # noqa: E402
from lms import create_app  # noqa: E402
from lms.cohorts.models import Cohort, Organization  # noqa: E402
from lms.competency.lines import lines_of  # noqa: E402
from lms.competency.services import compare  # noqa: E402
from lms.database import utcnow  # noqa: E402
from lms.demo.benchmark import cohort_name  # noqa: E402
from lms.demo.services import DEMO_PASSWORD, ORGANIZATION  # noqa: E402
from lms.extensions import db  # noqa: E402
from lms.progress.models import Evidence, Mastery  # noqa: E402
from lms.web.page_cache import cache_of  # noqa: E402

ORG_ADMIN = "orgadmin@demo.lms"
SMALL = 500  # learners in the cohort whose heat map is timed
FLASK = str(Path(sys.executable).with_name("flask"))


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def schema_url(url: str, schema: str, fresh: bool) -> str:
    """``url`` with connections using ``schema`` (recreated empty when ``fresh``)."""
    url = normalise_database_url(url)
    if fresh:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def flask(url: str, *args: str, timed: bool = False) -> tuple[str, dict[str, str]]:
    """Run ``flask <args>`` on the database at ``url``; its output and (``timed``) the
    figures ``/usr/bin/time -v`` gives."""
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "lms"}
    command = (["/usr/bin/time", "-v"] if timed else []) + [FLASK, *args]
    done = subprocess.run(command, cwd=BASE_DIR, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    figures = dict(line.strip().rsplit(": ", 1) for line in done.stderr.splitlines()
                   if timed and line.startswith("\t") and ": " in line)
    return done.stdout, figures


def prepare(url: str) -> None:
    flask(url, "db", "upgrade")
    flask(url, "lms", "load-content")


def median_ms(action: Callable[[], Any], runs: int) -> float:
    action()  # warm up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def pages(url: str, number: int, runs: int, with_comparison: bool) -> dict[str, Any]:
    """The heat map of cohort ``number`` (and the organization comparison), timed."""
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": url})
    client = app.test_client()
    found: dict[str, Any] = {}
    with app.app_context():
        if client.post("/login", data={"email": ORG_ADMIN, "password": DEMO_PASSWORD}).status_code != 302:
            raise SystemExit(f"Could not sign in as {ORG_ADMIN}.")
    with app.app_context():
        cohort = db.session.scalar(select(Cohort).where(Cohort.name == cohort_name(number)))
        org = db.session.scalar(select(Organization).where(Organization.name == ORGANIZATION))
        assert cohort is not None and org is not None
        found["evidence"] = db.session.scalar(select(func.count()).select_from(Evidence))
        found["mastery"] = db.session.scalar(select(func.count()).select_from(Mastery))
        found["cohorts"] = len(org.cohorts)
        heat_url = f"/cohorts/{cohort.id}/competency"
        if client.get(heat_url).status_code != 200:
            raise SystemExit(f"{heat_url} did not answer 200.")
        kept, lines = cache_of(app), lines_of(app)  # built: nothing of the page held, its learners' lines neither
        found["heat map built"] = median_ms(lambda: (kept.clear(), lines.clear(), client.get(heat_url).get_data()), runs)
        client.get(heat_url)
        found["heat map"] = median_ms(lambda: client.get(heat_url).get_data(), runs)
        if with_comparison:
            now = utcnow()
            found["compare"] = median_ms(lambda: (compare(db.session, org, now), db.session.rollback()), runs)
            org_url = f"/organizations/{org.id}/competency"
            found["organization page"] = median_ms(lambda: client.get(org_url).get_data(), runs)
        db.session.remove()
        db.engine.dispose()
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database (private schemas are made in it)")
    parser.add_argument("--learners", type=int, default=5000, help="learners per cohort in the big build")
    parser.add_argument("--cohorts", type=int, default=20, help="cohorts in the big build")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="measure the schemas an earlier run built, build nothing")
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("This benchmark is for PostgreSQL: give --database-url postgresql://...")
    big = schema_url(args.database_url, "lms_bench_scale_big", fresh=not args.keep)
    small = schema_url(args.database_url, "lms_bench_scale_small", fresh=not args.keep)
    build: dict[str, str] = {}
    if not args.keep:
        say(f"Big: {args.learners} learners x {args.cohorts} cohorts ...")
        prepare(big)
        flask(big, "lms", "demo")
        out, build = flask(big, "lms", "demo", "--learners", str(args.learners), "--cohorts", str(args.cohorts), timed=True)
        say(out)
        flask(big, "lms", "demo", "--learners", str(SMALL), "--cohorts", str(args.cohorts + 1))
        say("Small: the 500-learner cohort alone ...")
        prepare(small)
        flask(small, "lms", "demo", "--learners", str(SMALL), "--cohorts", "1")
    if args.cohorts % 10:
        say("Note: cohort C+1 starts on a different month than cohort 1 unless C is a multiple of 10.")
    say("Timing pages ...")
    at_volume = pages(big, args.cohorts + 1, args.runs, with_comparison=True)
    alone = pages(small, 1, args.runs, with_comparison=False)
    learners = args.learners * args.cohorts
    print(f"Scale on PostgreSQL: {learners:,} generated learners ({args.cohorts} cohorts of {args.learners}) "
          f"+ {SMALL} in cohort {args.cohorts + 1}; {at_volume['evidence']:,} evidence rows, "
          f"{at_volume['mastery']:,} mastery rows")
    if build:
        wall = build["Elapsed (wall clock) time (h:mm:ss or m:ss)"]
        cpu = float(build["User time (seconds)"]) + float(build["System time (seconds)"])
        peak = int(build["Maximum resident set size (kbytes)"]) / 1024
        print(f"  build (flask lms demo --learners {args.learners} --cohorts {args.cohorts}): {wall} wall, "
              f"{cpu:.0f} s CPU in the command (PostgreSQL's own work not counted), peak {peak:.0f} MB "
              f"(goal: < 20 min, < 1 GB)")
    for name, what in (("heat map", "kept (its stamp read)"), ("heat map built", "built (the kept pages emptied)")):
        ratio = at_volume[name] / alone[name]
        print(f"  heat map, {SMALL} learners, {what}: {at_volume[name]:.1f} ms at volume vs {alone[name]:.1f} ms in an "
              f"otherwise empty database (the floor): {ratio:.2f}x (goal: <= 1.5x)")
    print(f"  organization comparison, {at_volume['cohorts']} cohorts: compare() {at_volume['compare']:.0f} ms, "
          f"page {at_volume['organization page']:.0f} ms (goal: < 1000 ms)")


if __name__ == "__main__":
    main()
