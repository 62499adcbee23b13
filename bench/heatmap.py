"""How long the cohort competency heat map takes at volume.

For each database in one run (SQLite in a temporary directory, and with --database-url a
private schema of that PostgreSQL database), builds a fresh database, loads the course,
builds the demo organization and one generated cohort of --learners learners with months
of activity (``lms.demo.benchmark``, as ``flask lms demo --learners N`` does), tops its
evidence up to about --evidence rows with bulk inserts (never removes any), rebuilds
mastery and the schedule state, then times:

  grid query      the one aggregate statement the heat map runs for the mastery grid: the floor
  evidence query  for comparison: averaging the raw evidence per learner and objective
  service         ``competency.services.heat_map`` with every learner's complete row read
                  (a chunk of learners at a time), and with every row as the exports read
                  them (``mapped_rows``: the reasons' texts, no overdue item or date read)
  page            GET /cohorts/<id>/competency through the test client, as the org admin:
                  the server's whole work for the page (request, service, rendering),
                  built (the kept pages emptied before each run) and kept (viewed again
                  with nothing it shows changed: the cohort's stamp read, the page served);
                  and built with the service's share taken out (what the page costs were its
                  data free: the request, the stamp, the rendering); and served from another
                  process's page through Redis (--redis-url, PAGE_CACHE_REDIS_URL: a process
                  that does not hold the page finds it there instead of building it); and
                  kept, compressed as a browser over HTTPS asks (zstd), with its size as sent
  page's parts    each part of a built page timed on its own (a request's context of the org
                  admin's, nothing kept): the learners' lines, the distributions, the funnel,
                  the page's grid, the at-risk list's complete rows, the map's lines, the
                  rendering; and the page's own work (the parts a page of 100 learners needs
                  whatever the cohort's size: its grid, rows, lines and rendering) against the floor
  as served       the page with each request in an app context of its own, as a server runs
                  it: kept; built the first view after one learner's mastery changed (a
                  different learner each view, the others' lines kept by the process:
                  lms/competency/lines.py), page 1 by the mean and page 5 by an objective; and
                  built with nothing of it held by the process (its pages and lines forgotten)
  cohort page     GET /cohorts/<id>, likewise
  gradebook       GET /cohorts/<id>/gradebook (one page), and with ?show=overdue and
                  ?show=ungraded (filters that build the rows of the learners SQL says they
                  may show, then choose from their cells), likewise; and compressed (zstd)
  grading, home   as the cohort's instructor: GET /grading (the "to grade" tab), its
                  "released" tab (a page of 100 of the cohort's thousands), and /home (each
                  taught cohort's overdue and newly at-risk learners)
  trend page      GET /cohorts/<id>/competency/trend (the cohort's mastery at each month's end,
                  the months gone by replayed from their evidence, the running month its
                  mastery now): built with nothing kept, built by a process that kept nothing
                  once the ``keep-trends`` job stored the months gone by (after a restart, on
                  another node), built with the months gone by kept in the process (what a
                  view after new evidence this month costs), and kept, as the heat map
  organization    GET /organizations/<id>/competency (the cohorts side by side), likewise
  CSV export      GET /cohorts/<id>/competency.csv, likewise
  lesson reads    how many of 100 lesson reads (each a learner's next unread lesson) leave
                  the cohort's stamp as it was, so the heat map kept (rolled back)
  state           one learner's schedule state rewritten (what an event costs), and
                  ``flask lms rebuild-progress`` for everyone

The app runs with the garbage collector's threshold a server runs with (``GC_FIRST_GENERATION``,
config.py), and prints the median of --runs runs of each (after one warm-up run), the databases side
by side, with the page's time as a multiple of the grid query (its floor).

    .venv/bin/python bench/heatmap.py --database-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/heatmap.py --learners 200 --evidence 50000 --runs 3   # SQLite only
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:  # this worktree's code, not an installed copy's
    sys.path.insert(0, str(BASE_DIR))

import redis  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from flask import Flask, current_app, render_template  # noqa: E402
from flask_login import login_user  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from config import DevelopmentConfig, normalise_database_url  # noqa: E402
from lms import create_app  # noqa: E402
from lms.accounts.models import User  # noqa: E402
from lms.catalog.models import Lesson  # noqa: E402
from lms.catalog.services import active_objectives  # noqa: E402
from lms.cohorts.models import Cohort, Enrolment  # noqa: E402
from lms.competency import views as competency_views  # noqa: E402
from lms.competency.exports import EXPORTERS  # noqa: E402
from lms.competency.lines import lines_of  # noqa: E402
from lms.competency.render import heat_rows  # noqa: E402
from lms.competency.services import forget_finished_months, grid_query, heat_map, keep_trend  # noqa: E402
from lms.content.services import ContentSource, apply_content  # noqa: E402
from lms.database import utcnow  # noqa: E402
from lms.demo.benchmark import build_benchmark, cohort_name  # noqa: E402
from lms.demo.services import DEMO_PASSWORD, INSTRUCTOR_EMAIL, build_demo  # noqa: E402
from lms.extensions import db  # noqa: E402
from lms.learning.services import opens_at  # noqa: E402
from lms.progress import state  # noqa: E402
from lms.progress.models import Evidence, EvidenceSourceName, LessonRead, Mastery  # noqa: E402
from lms.progress.services import mark_read, rebuild  # noqa: E402
from lms.progress.sources import SOURCES  # noqa: E402
from lms.sections import parse_curriculum  # noqa: E402
from lms.web.page_cache import SHARED_PREFIX, Scope, SharedPages, cache_of, read_stamp  # noqa: E402

PG_SCHEMA = "lms_bench_heatmap"
ORG_ADMIN = "orgadmin@demo.lms"
BATCH = 5000


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pg_url(url: str) -> str:
    """A fresh private schema in the given PostgreSQL database; connections use it."""
    url = normalise_database_url(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {PG_SCHEMA}"))
    engine.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{PG_SCHEMA}"


def drop_pg_schema(url: str) -> None:
    engine = sa.create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
    engine.dispose()


def load_course() -> None:
    parsed = parse_curriculum(ContentSource(content_dir=BASE_DIR / "content", quizzes_dir=BASE_DIR / "quizzes"))
    if parsed.problems:
        raise SystemExit("The shipped content has problems: " + "; ".join(str(p) for p in parsed.problems))
    apply_content(db.session, parsed)
    db.session.commit()


def cohort_evidence(cohort: Cohort) -> int:
    return db.session.scalar(select(func.count()).select_from(Evidence).join(Enrolment, Enrolment.user_id == Evidence.user_id)
                             .where(Enrolment.cohort_id == cohort.id, Enrolment.ended_at.is_(None))) or 0


def top_up(cohort: Cohort, target: int, now: datetime) -> int:
    """Add instructor-rating-like evidence until the cohort has about ``target`` rows."""
    missing = target - cohort_evidence(cohort)
    if missing <= 0:
        return 0
    rng = random.Random("bench:heatmap")
    learners = list(db.session.scalars(select(Enrolment.user_id).where(Enrolment.cohort_id == cohort.id)))
    objectives = [o.id for o in active_objectives(db.session)]
    skill = {uid: min(max(rng.gauss(0.68, 0.15), 0.1), 0.98) for uid in learners}
    start = opens_at(cohort, cohort.start_date)
    span = (now - start).total_seconds()
    sources = [EvidenceSourceName.RATING, EvidenceSourceName.QUIZ, EvidenceSourceName.RUBRIC, EvidenceSourceName.PEER]
    rows = []
    for n in range(missing):
        uid = rng.choice(learners)
        source = rng.choice(sources)
        rows.append({"user_id": uid, "objective_id": rng.choice(objectives), "source": source,
                     "source_ref": f"bench:{n}", "level": round(min(max(rng.gauss(skill[uid], 0.12), 0.0), 1.0) * 4, 4),
                     "weight": SOURCES[source].weight, "note": "", "recorded_by_id": None,
                     "recorded_at": start + (now - start) * (rng.random() ** 0.8) if span > 0 else now})
    for first in range(0, len(rows), BATCH):
        db.session.execute(insert(Evidence), rows[first:first + BATCH])
    return missing


def median_ms(action: Callable[[], Any], runs: int, before: Callable[[], None] = lambda: None) -> float:
    before()
    action()  # warm up
    times = []
    for _ in range(runs):
        before()
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def build(app: Flask, learners: int, evidence: int) -> int:
    with app.app_context():
        say("Creating the schema and loading the course ...")
        upgrade()
        load_course()
        now = utcnow()
        build_demo(db.session)
        db.session.commit()
        say(f"Generating a cohort of {learners} learners with their activity ...")
        started = time.perf_counter()
        report = build_benchmark(db.session, learners, 1, now, tick=lambda _n: None)
        db.session.commit()
        cohort = db.session.scalar(select(Cohort).where(Cohort.name == cohort_name(1)))
        assert cohort is not None
        generated = cohort_evidence(cohort)
        added = top_up(cohort, evidence, now)
        if added:
            rebuild(db.session, now)
        state.rebuild(db.session, now)
        db.session.commit()
        say(f"  {report.learners} learners, {generated:,} evidence rows from their activity, {added:,} added; "
            f"{cohort_evidence(cohort):,} in all ({time.perf_counter() - started:.0f}s).")
        return cohort.id


BROWSER_OVER_HTTPS = {"Accept-Encoding": "gzip, deflate, br, zstd"}  # (to a plain-HTTP site, not localhost: gzip, deflate)
Result = tuple[str, float, str]  # what, ms (a count for the measures in COUNTS), a note
LESSON_READS = "lesson reads that leave the kept heat map kept"
COUNTS = frozenset({LESSON_READS})


def timed_get(client: Any, url: str, runs: int, before: Callable[[], None] = lambda: None,
              headers: dict[str, str] | None = None) -> tuple[float, int, int]:
    """The median time of GET ``url``, its statement count and its size (bytes, as sent:
    compressed when ``headers`` accept it); ``before`` each run (emptying the kept pages: the
    page built)."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    engine = db.engine
    before()
    sa.event.listen(engine, "before_cursor_execute", count)
    page = client.get(url, headers=headers)
    sa.event.remove(engine, "before_cursor_execute", count)
    if page.status_code != 200:
        raise SystemExit(f"{url} answered {page.status_code}.")
    return median_ms(lambda: client.get(url, headers=headers), runs, before), len(statements), len(page.data)


def without_service(client: Any, url: str, runs: int, before: Callable[[], None]) -> tuple[float, float]:
    """The built heat map page with its service's share taken out, and that share (medians, ms).
    Each view times the page and, within it, the heat map service with everything the page
    reads of it made (``competency.views._heat_map`` wrapped: the learners' lines, the page's
    rows, the at-risk list's complete rows and their reviews, the distributions, the funnel).
    What is left is the request (sign-in, the cohort's stamp read before and checked after)
    and the rendering: what the page would cost were its data free, the least any design that
    renders the page on a view can cost."""
    original = competency_views._heat_map
    shares: list[float] = []

    def timed(cohort: Cohort) -> Any:
        started = time.perf_counter()
        heat = original(cohort)
        _read = (heat.distributions, heat.funnel, heat.map_lines)
        for row in heat.at_risk_shown:
            heat.review_of(row)
        shares.append((time.perf_counter() - started) * 1000)
        return heat

    competency_views._heat_map = timed
    totals: list[float] = []
    try:
        for _ in range(runs + 1):  # the first warms up
            before()
            started = time.perf_counter()
            if client.get(url).status_code != 200:
                raise SystemExit(f"{url} failed with its service wrapped.")
            totals.append((time.perf_counter() - started) * 1000)
    finally:
        competency_views._heat_map = original
    if len(shares) != len(totals):
        raise SystemExit(f"{url}: the heat map service was not called once a view.")
    rest = [total - share for total, share in zip(totals[1:], shares[1:], strict=True)]
    return statistics.median(rest), statistics.median(shares[1:])


def one_page(cohort: Cohort, now: datetime, timed: Callable[[str, Callable[[], Any]], Any]) -> None:
    """Build the heat map page of ``cohort`` part by part, each part timed (``timed``)."""
    heat = timed("the learners' lines (one a learner, sorted; heat_map())",
                 lambda: heat_map(db.session, cohort, now, "mean", True, date_all=False))
    timed("the distributions (each objective's learners by band)", lambda: heat.distributions)
    timed("the funnel (the levels, from the kept state)", lambda: heat.funnel)
    timed("the page's grid (the mastery of its learners)", lambda: heat._page_grid)
    timed("the at-risk list's complete rows and reviews (15 learners)", lambda: [heat.review_of(row) for row in heat.at_risk_shown])
    timed("the map's lines (100 learners)", lambda: heat.map_lines)
    timed("the rendering (template and the rows' HTML)",
          lambda: render_template("competency/heat_map.html", heat=heat, exporters=EXPORTERS.values(), heat_rows=heat_rows))


def built_parts(app: Flask, cohort_id: int, runs: int, floor: float) -> list[Result]:
    """Each part of a built heat map page (sorted by the mean, highest first), timed on its
    own in a request's context of the org admin's (the page's own URL), every object of the
    session expired before each run: what the page's server time is made of. The last line
    adds up what a page of 100 learners costs whatever the cohort's size (its grid, the
    at-risk list's complete rows, the map's lines, the rendering): the least a page built on
    the view costs even were the whole cohort's figures (the lines, the distributions, the
    funnel) kept as they are written."""
    url = f"/cohorts/{cohort_id}/competency?sort=mean&dir=desc"
    times: dict[str, list[float]] = {}

    def timed(name: str, action: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = action()
        times.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        return result

    with app.test_request_context(url):
        admin = db.session.scalar(select(User).where(User.email == ORG_ADMIN))
        assert admin is not None
        login_user(admin)
        for _ in range(runs + 1):  # the first warms up
            db.session.expire_all()
            one_page(db.session.get_one(Cohort, cohort_id), utcnow(), timed)
            db.session.rollback()
    medians = {name: statistics.median(values[1:]) for name, values in times.items()}
    results: list[Result] = [(f"  built page's part: {name}", ms, f"{ms / floor:.1f}x the floor") for name, ms in medians.items()]
    own = sum(ms for name, ms in medians.items() if name.startswith(("the page's grid", "the at-risk", "the map's", "the rendering")))
    results.append(("  built page's own work (grid, at-risk rows, map's lines, rendering)", own,
                    f"{own / floor:.1f}x the floor: what a built page costs over the request whatever the cohort"))
    return results


def from_another_process(app: Flask, client: Any, url: str, runs: int, redis_url: str) -> tuple[float, int]:
    """The page at ``url`` as a process that does not hold it is served it from Redis, where
    another process put it (``lms.web.page_cache.SharedPages``): the app's own pages emptied
    before each view, its shared pages on ``redis_url`` for the length of the measure (the
    benchmark's own Redis database: its shared pages are deleted after)."""
    kept = cache_of(app)
    shared = SharedPages(redis_url, 900, str(app.config["SECRET_KEY"]))
    kept.shared = shared
    try:
        kept.clear()
        client.get(url)  # built, kept in the process and in Redis
        ms, statements, _size = timed_get(client, url, runs, kept.clear)
        if shared.hits < runs:
            raise SystemExit(f"{url} was not served from Redis ({shared.hits} of {runs + 1} views).")
        return ms, statements
    finally:
        kept.shared = None
        connection = redis.Redis.from_url(redis_url)
        names = list(connection.scan_iter(f"{SHARED_PREFIX}*"))
        if names:
            connection.delete(*names)
        connection.close()


def one_learner_changes(cohort_id: int) -> Callable[[], None]:
    """What runs before each view of "the first view after a change": one learner's mastery
    on one objective written (a level it did not have, committed, as a graded piece of work
    writes it), a different learner each time, so that the cohort's kept page no longer holds
    and that learner's line must be made again."""
    rows = db.session.execute(select(Mastery.id, Mastery.level).join(Enrolment, Enrolment.user_id == Mastery.user_id)
                              .where(Enrolment.cohort_id == cohort_id, Enrolment.active, Mastery.level.is_not(None))
                              .order_by(Mastery.user_id, Mastery.objective_id)).all()
    picked = rows[::11][:50]
    turn = [0]

    def change() -> None:
        mastery_id, level = picked[turn[0] % len(picked)]
        turn[0] += 1
        nudge = 0.01 if turn[0] // len(picked) % 2 == 0 else 0.0
        db.session.execute(sa.update(Mastery).where(Mastery.id == mastery_id).values(level=min(4.0, level + nudge) if nudge
                                                                                      else level))
        db.session.commit()

    return change


def served_ms(app: Flask, client: Any, url: str, runs: int, before: Callable[[], None]) -> tuple[float, int]:
    """The median time of GET ``url`` with each request in an app context of its own, as a
    server runs it (the other measures share one: what a request loads, the signed-in user
    among it, stays for the next), ``before`` each in one of its own; and the statements of
    one such request."""
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    times = []
    for turn in range(runs + 2):  # the first warms up, the second is counted
        with app.app_context():
            before()
        if turn == 1:
            sa.event.listen(engine, "before_cursor_execute", count)
        started = time.perf_counter()
        page = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        if turn == 1:
            sa.event.remove(engine, "before_cursor_execute", count)
        if page.status_code != 200:
            raise SystemExit(f"{url} answered {page.status_code}.")
        if turn > 1:
            times.append(elapsed)
    return statistics.median(times), len(statements)


def as_served(app: Flask, client: Any, cohort_id: int, runs: int) -> dict[str, tuple[float, int, str]]:
    """The heat map page viewed as a server serves it (``served_ms``): kept, the first view
    after one learner's mastery changed (the other learners' lines kept), and built with
    nothing of it held by the process."""
    url = f"/cohorts/{cohort_id}/competency?sort=mean&dir=desc"
    kept, lines = cache_of(app), lines_of(app)

    def forget() -> None:
        kept.clear()
        lines.clear()

    with app.app_context():
        change = one_learner_changes(cohort_id)
    result = {}
    ms, statements = served_ms(app, client, url, runs, lambda: None)
    result["heat map page kept, served (an app context a request)"] = (ms, statements, "")
    made = lines.built
    ms, statements = served_ms(app, client, url, runs, change)
    result["heat map page built after a learner's mastery changed, served"] = (
        ms, statements, f"; {(lines.built - made) / (runs + 2):.1f} learners' lines made again a view")
    ms, statements = served_ms(app, client, f"/cohorts/{cohort_id}/competency?sort=KO1&page=5", runs, change)
    result["  page 5 sorted by an objective, after a change, served"] = (ms, statements, "")
    ms, statements = served_ms(app, client, url, runs, forget)
    result["heat map page built with nothing held by the process, served"] = (ms, statements, "")
    return result


def measure(app: Flask, cohort_id: int, runs: int, redis_url: str = "") -> list[Result]:
    client = app.test_client()
    with app.app_context():
        response = client.post("/login", data={"email": ORG_ADMIN, "password": DEMO_PASSWORD})
        if response.status_code != 302:
            raise SystemExit(f"Could not sign in as {ORG_ADMIN} ({response.status_code}).")
    results: list[Result] = []
    served = as_served(app, client, cohort_id, runs)
    with app.app_context():
        cohort = db.session.get(Cohort, cohort_id)
        assert cohort is not None
        grid = grid_query([cohort_id])
        rows = len(db.session.execute(grid).all())
        floor = median_ms(lambda: db.session.execute(grid).all(), runs)
        results.append(("grid query (the floor: the heat map's one aggregate statement)", floor, f"{rows:,} mastery rows"))
        averages = (select(Evidence.user_id, Evidence.objective_id, func.avg(Evidence.level), func.count())
                    .join(Enrolment, Enrolment.user_id == Evidence.user_id)
                    .where(Enrolment.cohort_id == cohort_id, Enrolment.ended_at.is_(None))
                    .group_by(Evidence.user_id, Evidence.objective_id))
        results.append(("evidence query (AVG over raw evidence, for comparison)",
                        median_ms(lambda: db.session.execute(averages).all(), runs), f"{cohort_evidence(cohort):,} evidence rows"))
        now = utcnow()
        learners = len(heat_map(db.session, cohort, now).rows)

        def fresh() -> None:
            db.session.expire_all()

        service = median_ms(lambda: list(heat_map(db.session, db.session.get(Cohort, cohort_id), now).rows), runs, fresh)
        results.append(("heat map service, every row complete", service,
                        f"{learners} learners, {service / floor:.1f}x the floor"))
        mapped = median_ms(lambda: list(heat_map(db.session, db.session.get(Cohort, cohort_id), now).mapped_rows), runs, fresh)
        results.append(("heat map service, every row as the exports read them", mapped, f"{mapped / floor:.1f}x the floor"))
        kept = cache_of(app)
        lines = lines_of(app)

        def forget() -> None:  # nothing of the heat map held by the process: its pages, its learners' lines
            kept.clear()
            lines.clear()

        page, statements, size = timed_get(client, f"/cohorts/{cohort_id}/competency?sort=mean&dir=desc", runs, forget)
        results.append(("heat map page built, nothing held by the process (request, service, rendering)", page,
                        f"{page / floor:.1f}x the floor; {statements} SQL statements, {size // 1024} KiB of HTML"))
        for name, (ms, statements, note) in served.items():
            results.append((name, ms, f"{ms / floor:.1f}x the floor; {statements} SQL statements{note}"))
        rest, service = without_service(client, f"/cohorts/{cohort_id}/competency?sort=mean&dir=desc", runs, forget)
        results.append(("heat map page built, its service's share taken out (request, stamp, rendering)", rest,
                        f"{rest / floor:.1f}x the floor: what a page rendered on the view costs with its data free; "
                        f"the service's share {service:.1f} ms"))
        results.extend(built_parts(app, cohort_id, runs, floor))
        last, _n, _size = timed_get(client, f"/cohorts/{cohort_id}/competency?sort=KO1&page=5", runs, forget)
        results.append(("heat map page 5 built, sorted by an objective, nothing held", last, f"{last / floor:.1f}x the floor"))
        client.get(f"/cohorts/{cohort_id}/competency?sort=mean&dir=desc")  # built and kept: what follows is a view again
        again, statements, _size = timed_get(client, f"/cohorts/{cohort_id}/competency?sort=mean&dir=desc", runs)
        results.append(("heat map page kept (nothing it shows changed: its stamp read)", again,
                        f"{again / floor:.1f}x the floor; {statements} SQL statements"))
        squeezed, _n, size = timed_get(client, f"/cohorts/{cohort_id}/competency?sort=mean&dir=desc", runs,
                                       headers=BROWSER_OVER_HTTPS)
        results.append(("heat map page kept, compressed as a browser over HTTPS asks (zstd)", squeezed,
                        f"{squeezed / floor:.1f}x the floor; {size // 1024} KiB sent"))
        if redis_url:
            shared, statements = from_another_process(app, client, f"/cohorts/{cohort_id}/competency?sort=mean&dir=desc",
                                                      runs, redis_url)
            results.append(("heat map page served from another process's (shared through Redis)", shared,
                            f"{shared / floor:.1f}x the floor; {statements} SQL statements"))
        stamp = kept.query(Scope.COHORT)
        results.append(("  of which the stamp (one statement)", median_ms(
            lambda: read_stamp(db.session, stamp, cohort_id, utcnow()), runs), ""))
        roster, statements, size = timed_get(client, f"/cohorts/{cohort_id}", runs)
        results.append(("cohort page", roster, f"{statements} SQL statements, {size // 1024} KiB of HTML"))
        book, statements, size = timed_get(client, f"/cohorts/{cohort_id}/gradebook", min(runs, 3))
        results.append(("gradebook page (100 learners a page)", book, f"{statements} SQL statements, {size // 1024} KiB of HTML"))
        book, _n, size = timed_get(client, f"/cohorts/{cohort_id}/gradebook", min(runs, 3), headers=BROWSER_OVER_HTTPS)
        results.append(("gradebook page, compressed as a browser over HTTPS asks (zstd)", book, f"{size // 1024} KiB sent"))
        late, statements, _size = timed_get(client, f"/cohorts/{cohort_id}/gradebook?show=overdue", min(runs, 3))
        results.append(("gradebook page, overdue filter (the rows of those with an item overdue)", late,
                        f"{statements} SQL statements"))
        waiting, statements, _size = timed_get(client, f"/cohorts/{cohort_id}/gradebook?show=ungraded", min(runs, 3))
        results.append(("gradebook page, ungraded filter (the rows of those with work to mark)", waiting,
                        f"{statements} SQL statements"))
        # The cohort's instructor (the generated cohorts are the demo instructor's), in an app
        # context of their own: requests reuse the one they find, and Flask-Login keeps the
        # user it loaded in its ``g`` (here, the organization admin's).
        with app.app_context():
            teacher = app.test_client()
            if teacher.post("/login", data={"email": INSTRUCTOR_EMAIL, "password": DEMO_PASSWORD}).status_code != 302:
                raise SystemExit(f"Could not sign in as {INSTRUCTOR_EMAIL}.")
            queue, statements, size = timed_get(teacher, "/grading", runs)
            results.append(("grading queue, 'to grade' tab (the instructor)", queue,
                            f"{statements} SQL statements, {size // 1024} KiB of HTML"))
            queue, statements, size = timed_get(teacher, "/grading?status=released", runs)
            results.append(("grading queue, 'released' tab, first page of 100", queue,
                            f"{statements} SQL statements, {size // 1024} KiB of HTML"))
            home, statements, size = timed_get(teacher, "/home", runs)
            if b"instructor-today" not in teacher.get("/home").data:
                raise SystemExit(f"{INSTRUCTOR_EMAIL}'s home shows no cohort taught.")
            results.append(("instructor's home (overdue and newly at-risk learners)", home,
                            f"{statements} SQL statements, {size // 1024} KiB of HTML"))
            db.session.remove()

        def nothing_kept() -> None:
            kept.clear()
            forget_finished_months()

        months, statements, _size = timed_get(client, f"/cohorts/{cohort_id}/competency/trend", min(runs, 3), nothing_kept)
        results.append(("trend page built (every month gone by replayed from the evidence)", months,
                        f"{statements} SQL statements"))
        with app.app_context():  # the job: a session of its own (this one's flushes would look like the page's)
            started = time.perf_counter()
            keep_trend(db.session, db.session.get_one(Cohort, cohort_id), utcnow())
            db.session.commit()
            stored = (time.perf_counter() - started) * 1000
            db.session.remove()
        months, statements, _size = timed_get(client, f"/cohorts/{cohort_id}/competency/trend", runs, nothing_kept)
        results.append(("trend page built by a process that kept nothing, the months stored by keep-trends", months,
                        f"{statements} SQL statements; the job took {stored:.0f} ms for the cohort"))
        client.get(f"/cohorts/{cohort_id}/competency/trend")
        months, statements, _size = timed_get(client, f"/cohorts/{cohort_id}/competency/trend", runs, kept.clear)
        results.append(("trend page built, the months gone by kept (as after evidence this month)", months,
                        f"{statements} SQL statements"))
        client.get(f"/cohorts/{cohort_id}/competency/trend")
        months, statements, _size = timed_get(client, f"/cohorts/{cohort_id}/competency/trend", runs)
        results.append(("trend page kept (nothing it shows changed)", months, f"{statements} SQL statements"))
        org_page, statements, _size = timed_get(client, f"/organizations/{cohort.organization_id}/competency", runs)
        results.append(("organization comparison page", org_page, f"{statements} SQL statements"))
        results.append(("CSV export", median_ms(lambda: client.get(f"/cohorts/{cohort_id}/competency.csv").get_data(), runs), ""))
        one = db.session.scalar(select(Enrolment.user_id).where(Enrolment.cohort_id == cohort_id))
        results.append(("state: one learner rewritten (an event)", median_ms(
            lambda: state.refresh(db.session, [one], now), runs, db.session.rollback), "rolled back"))
        unchanged, reads = lesson_reads_kept(cohort_id, now)
        results.append((LESSON_READS, float(unchanged),
                        f"of {reads} (each a learner's next unread lesson; rolled back)"))
        results.append(("state: rebuild-progress, everyone", median_ms(
            lambda: state.rebuild(db.session, now), min(runs, 3), db.session.rollback), "rolled back"))
        db.session.rollback()
    return results


def lesson_reads_kept(cohort_id: int, now: datetime, learners: int = 100) -> tuple[int, int]:
    """How many of ``learners`` lesson reads (each a learner's next unread lesson) leave the
    cohort's stamp, so its kept heat map, as it was: the stamp sums what the page shows of
    each learner's schedule state (``cohort_revision``), and a read that starts or finishes
    nothing changes none of it. Rolled back."""
    stamp = cache_of(current_app).query(Scope.COHORT)
    lessons = list(db.session.scalars(select(Lesson).where(Lesson.retired_at.is_(None)).order_by(Lesson.id)))
    ids = sorted(db.session.scalars(select(Enrolment.user_id).where(Enrolment.cohort_id == cohort_id)))
    unchanged = reads = 0
    for uid in random.Random("bench:lesson-reads").sample(ids, min(learners, len(ids))):
        read = set(db.session.scalars(select(LessonRead.lesson_id).where(LessonRead.user_id == uid)))
        unread = next((lesson for lesson in lessons if lesson.id not in read), None)
        if unread is None:
            continue
        before = read_stamp(db.session, stamp, cohort_id, now)
        mark_read(db.session, uid, unread, now)
        state.settle(db.session, now)
        unchanged += read_stamp(db.session, stamp, cohort_id, now).values == before.values
        reads += 1
    db.session.rollback()
    return unchanged, reads


def run(url: str, workdir: Path, learners: int, evidence: int, runs: int, redis_url: str = "") -> list[Result]:
    # the garbage collector's threshold a server runs with (the testing configuration keeps Python's)
    collector = DevelopmentConfig(workdir / "instance").GC_FIRST_GENERATION
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": url, "GC_FIRST_GENERATION": collector},
                     instance_path=workdir / "instance")
    try:
        cohort_id = build(app, learners, evidence)
        return measure(app, cohort_id, runs, redis_url)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=500, help="learners in the cohort (default 500)")
    parser.add_argument("--evidence", type=int, default=200_000, help="about how many evidence rows (default 200000)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each measure (default 7)")
    parser.add_argument("--database-url", default=None,
                        help="also run on this PostgreSQL database (a private schema is created and dropped)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9",
                        help="a Redis database through which the heat map is also served as another process "
                             "would be (PAGE_CACHE_REDIS_URL; its shared pages are deleted after; '' skips it)")
    args = parser.parse_args(argv)
    columns: dict[str, list[Result]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-"))
    try:
        say("SQLite ...")
        columns["SQLite"] = run(f"sqlite:///{workdir / 'bench.sqlite3'}", workdir, args.learners, args.evidence, args.runs,
                                args.redis_url)
        if args.database_url:
            say("PostgreSQL ...")
            try:
                columns["PostgreSQL"] = run(pg_url(args.database_url), workdir, args.learners, args.evidence, args.runs,
                                            args.redis_url)
            finally:
                drop_pg_schema(args.database_url)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    names = [name for name, _ms, _note in next(iter(columns.values()))]
    width = max(len(n) for n in names)
    print(f"Heat map benchmark: one cohort of {args.learners} learners, ~{args.evidence:,} evidence rows; median of {args.runs} runs")
    print(f"  {'':<{width}}  " + "  ".join(f"{db_name:>12}" for db_name in columns))
    for index, name in enumerate(names):
        cells = "  ".join(f"{columns[db_name][index][1]:9.0f}   " if name in COUNTS else f"{columns[db_name][index][1]:9.1f} ms"
                          for db_name in columns)
        print(f"  {name:<{width}}  {cells}")
        for db_name in columns:
            note = columns[db_name][index][2]
            if note:
                print(f"  {'':<{width}}    {db_name}: {note}")


if __name__ == "__main__":
    main()
