"""Time, statements and peak memory of the periodic jobs cron runs, at two cohort sizes.

For each size (--sizes, default 500 and 2000 learners; each in a process of its own) and
each database (SQLite in a temporary directory, and with --database-url a private schema
of that PostgreSQL database), builds a fresh database with the demo organization and one
generated cohort of that many learners with months of activity (``lms.demo.benchmark``, as
``flask lms demo --learners N`` does), then measures:

  floor               the cohort's current enrolments read in one statement (learner,
                      joining day, pace): what any job that looks at each learner reads
  send-reminders      ``send_reminders`` at the same moment: its first run (it makes the
                      day's notices), then again (nothing new to make: what cron's run every
                      few minutes costs; the median of --runs after a warm-up)
  check-certificates  ``flask lms queue-job check-certificates`` (inline: no Redis): its
                      first run (it issues the certificates the generated learners who
                      completed a level are due), then again (nothing left to issue)
  send-digests        ``send_digests`` (the digest part of ``send-reminders``) once the
                      cohort has a year of notices kept (``NOTICES_A_LEARNER`` each, mailed
                      or read in the app) and one learner in ten has a notice waiting for
                      tomorrow's digest, today's sent: with none due (the median of --runs),
                      then once with those learners' digests due (today's forgotten)
  close-expired       ``close_expired_attempts`` (cron, every few minutes) with none
                      expired among the cohort's quiz attempts (the median of --runs)

with the SQL statements of each, then each job once more under tracemalloc for its peak of
Python memory. A job that reads only what it acts on keeps about the same statements at both
sizes and a time and peak that grow with what it makes, not with the learners.

    .venv/bin/python bench/periodic.py                         # SQLite, 500 and 2,000 learners
    .venv/bin/python bench/periodic.py --sizes 200 1000 --runs 3
    .venv/bin/python bench/periodic.py --database-url postgresql://postgres@127.0.0.1:5432/h_periodic
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from flask import Flask  # noqa: E402
from sqlalchemy import delete, event, func, insert, select  # noqa: E402

from bench.exports import one_size, peak_mib, sizes_apart  # noqa: E402
from bench.heatmap import median_ms  # noqa: E402
from lms.assessment.models import Attempt  # noqa: E402
from lms.assessment.services import close_expired_attempts  # noqa: E402
from lms.cohorts.models import Cohort, Enrolment  # noqa: E402
from lms.database import upsert_insert, utcnow, zone_named  # noqa: E402
from lms.extensions import db  # noqa: E402
from lms.jobs.models import Job  # noqa: E402
from lms.notifications.models import Channel, DigestSent, Notification, NotificationEvent  # noqa: E402
from lms.notifications.reminders import send_digests, send_reminders  # noqa: E402

# (name, ms, statements, peak MiB, note)
Result = tuple[str, float, int, float, str]
NOTICES_A_LEARNER = 150  # a year of notices: due dates, months opening, grades, announcements


def statements_of(app: Flask, action: Callable[[], Any]) -> int:
    """How many SQL statements ``action`` runs (in an app context of its own)."""
    count = 0

    def counted(*_args: Any) -> None:
        nonlocal count
        count += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", counted)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    return count


def measure(app: Flask, cohort_id: int, runs: int) -> list[Result]:
    moment = utcnow()
    made: list[int] = []

    def floor() -> None:
        with app.app_context():
            db.session.execute(select(Enrolment.user_id, Enrolment.started_at, Enrolment.pace)
                               .where(Enrolment.cohort_id == cohort_id, Enrolment.active)).all()
            db.session.rollback()

    def reminders() -> None:
        with app.app_context():
            made.append(send_reminders(db.session, moment).made)
            db.session.commit()

    def certificates() -> None:
        result = app.test_cli_runner().invoke(args=["lms", "queue-job", "check-certificates"])
        if result.exit_code != 0 or ": done." not in result.output:
            raise SystemExit(f"check-certificates failed: {result.output}")

    def said() -> str:
        """What the last job said it did."""
        with app.app_context():
            return db.session.scalars(select(Job.result).order_by(Job.id.desc())).first() or ""

    results: list[Result] = []
    started = time.perf_counter()
    first_statements = statements_of(app, reminders)
    first = (time.perf_counter() - started) * 1000
    floor_statements = statements_of(app, floor)
    results.append(("floor: the cohort's enrolments, one statement", median_ms(floor, runs), floor_statements,
                    peak_mib(floor), ""))
    results.append(("send-reminders, first run (makes the day's notices)", first, first_statements, 0.0,
                    f"{made[0]} notices made"))
    again = statements_of(app, reminders)
    results.append(("send-reminders again (nothing new)", median_ms(reminders, runs), again, peak_mib(reminders),
                    f"{made[-1]} notices made"))
    started = time.perf_counter()
    checked = statements_of(app, certificates)
    first = (time.perf_counter() - started) * 1000
    results.append(("check-certificates, first run", first, checked, 0.0, said()))
    checked = statements_of(app, certificates)
    results.append(("check-certificates again (nothing left)", median_ms(certificates, runs), checked,
                    peak_mib(certificates), said()))
    kept, waiting, today = keep_a_year_of_notices(app, cohort_id, moment)
    sent: list[int] = []

    def digests() -> None:
        with app.app_context():
            sent.append(send_digests(db.session, moment))
            db.session.commit()

    none_due = statements_of(app, digests)
    results.append(("send-digests, none due (a year of notices kept)", median_ms(digests, runs), none_due,
                    peak_mib(digests), f"{kept:,} notices, {waiting} waiting for tomorrow; {sent[-1]} digests sent"))
    with app.app_context():
        db.session.execute(delete(DigestSent).where(DigestSent.day == today))
        db.session.commit()
    started = time.perf_counter()
    due = statements_of(app, digests)
    results.append(("send-digests, those waiting due", (time.perf_counter() - started) * 1000, due, 0.0,
                    f"{sent[-1]} digests sent"))
    closed: list[int] = []

    def close_expired() -> None:
        with app.app_context():
            closed.append(close_expired_attempts(db.session, moment))
            db.session.commit()

    close_expired()
    with app.app_context():
        attempts = db.session.scalar(select(func.count()).select_from(Attempt)) or 0
        db.session.rollback()
    statements = statements_of(app, close_expired)
    results.append(("close-expired-attempts, none expired", median_ms(close_expired, runs), statements, peak_mib(close_expired),
                    f"{attempts:,} attempts; {closed[-1]} closed"))
    return results


def keep_a_year_of_notices(app: Flask, cohort_id: int, now: datetime) -> tuple[int, int, date]:
    """``NOTICES_A_LEARNER`` notices for each of the cohort's learners over the past year,
    mailed or in the app (none waiting), then one notice waiting for a digest for every
    tenth learner, who had today's digest (today in the cohort's time zone, the generated
    learners' own). How many notices there are, how many wait, and that day."""
    with app.app_context():
        today = now.astimezone(zone_named(db.session.get_one(Cohort, cohort_id).timezone)).date()
        learners = list(db.session.scalars(select(Enrolment.user_id).where(Enrolment.cohort_id == cohort_id, Enrolment.active)
                                           .order_by(Enrolment.user_id)))
        channels = (Channel.EMAIL, Channel.IN_APP, Channel.DIGEST)
        ago = [now - timedelta(days=n * 365 // NOTICES_A_LEARNER) for n in range(NOTICES_A_LEARNER)]
        for start in range(0, len(learners), 100):
            db.session.execute(insert(Notification), [
                {"user_id": user_id, "event": NotificationEvent.DUE_SOON, "key": f"bench:{n}", "title": f"Notice {n}",
                 "body": "", "link": "/today", "channel": channels[n % 3], "created_at": ago[n], "read_at": None,
                 "mailed_at": None if channels[n % 3] is Channel.IN_APP else ago[n]}
                for user_id in learners[start:start + 100] for n in range(NOTICES_A_LEARNER)])
        waiting = learners[::10]
        db.session.execute(insert(Notification), [
            {"user_id": user_id, "event": NotificationEvent.DUE_SOON, "key": "bench:waiting", "title": "Waiting",
             "body": "", "link": "/today", "channel": Channel.DIGEST, "created_at": now, "read_at": None, "mailed_at": None}
            for user_id in waiting])
        db.session.execute(upsert_insert(db.session)(DigestSent).values(
            [{"user_id": user_id, "day": today, "sent_at": now} for user_id in waiting])
            .on_conflict_do_nothing(index_elements=["user_id", "day"]))
        db.session.commit()
        kept = db.session.scalar(select(func.count()).select_from(Notification)) or 0
        db.session.rollback()
        return kept, len(waiting), today


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000], help="learners per cohort (default 500 2000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of the repeated measures (default 5)")
    parser.add_argument("--database-url", default=None,
                        help="also run on this PostgreSQL database (a private schema is created and dropped)")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # a size, in a process of its own
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(one_size(args.one, args.runs, args.database_url, measure)))
        return
    columns = sizes_apart(__file__, args.sizes, args.runs, args.database_url)
    names = [result[0] for result in next(iter(columns.values()))]
    width = max(len(n) for n in names)
    print(f"Periodic jobs: one generated cohort per size; the first run once, the others the median of {args.runs} "
          "after a warm-up; peak = tracemalloc's, one more run")
    print(f"  {'':<{width}}  " + "  ".join(f"{label:>34}" for label in columns))
    for index, name in enumerate(names):
        cells = "  ".join(f"{columns[label][index][1]:8.0f} ms {columns[label][index][2]:5d} stmts "
                          f"{columns[label][index][3]:6.1f} MiB" for label in columns)
        print(f"  {name:<{width}}  {cells}")
        for label in columns:
            note = columns[label][index][4]
            if note:
                print(f"  {'':<{width}}    {label}: {note}")


if __name__ == "__main__":
    main()
