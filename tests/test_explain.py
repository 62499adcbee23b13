"""Per-cohort queries read evidence and mastery through indexes, never a sequential scan
(issue 14 point 5): on PostgreSQL, with one 60-learner cohort among 12,000 learners
(132,000 mastery rows, 396,000 evidence rows), the tables settled as autovacuum leaves
them (VACUUM ANALYZE, nothing forced), every statement the heat map (its grid, figures, at-risk list
and CSV rows), one learner's risk, the cohort page, the cohort's progress and its trend run is
EXPLAINed, and no plan scans the evidence or mastery table from end to end.

Among 6,000 learners the trend's replay of a cohort's months gone by cost about as much
through the index as reading the table through (5,780 against 6,130-6,260, the planner's
estimates on the day a month ended, when every row was before the cut), and a CI run's
statistics tipped it to the table once; among 12,000 the table costs 40% more (9,460-9,590
against 6,750-6,810). At 20 million rows the index wins by far."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select, text

from lms.accounts.models import User
from lms.catalog.models import Objective
from lms.cohorts.enrolment import learners_page
from lms.cohorts.models import Enrolment
from lms.competency.exports import heat_map_rows
from lms.competency.services import heat_map, learner_risk, trend
from lms.demo.benchmark import copy_rows
from lms.extensions import db
from lms.progress.completion import cohort_progress

LEARNERS = 12_000   # in the database
COHORT = 60         # of them in the cohort asked about: 0.5%, the share of a 500-learner cohort among 100,000
PER_OBJECTIVE = 3   # evidence rows per learner and objective, 20, 40 and 60 days old: whatever
#                     the day, a month gone by ends after most of them (the trend's check reads them)
SEQ_SCAN = re.compile(r"Seq Scan on (evidence|mastery)\b")
pytestmark = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"),
                                reason="EXPLAIN plans are PostgreSQL's: set TEST_DATABASE_URL to a PostgreSQL database")


@pytest.fixture()
def populated(loaded: Flask, make_org: Callable[..., Any], make_cohort: Callable[..., Any]) -> tuple[Any, list[int]]:
    org = make_org()
    cohort, others = make_cohort(org=org, months_ago=4), make_cohort(org=org, months_ago=6)
    now = datetime.now(UTC)
    copy_rows(db.session, User, [{"email": f"x{n}@scale.test", "name": f"Learner {n:05}", "password_hash": "-",
                                  "timezone": "UTC", "created_at": now} for n in range(LEARNERS)])
    ids = list(db.session.scalars(select(User.id).where(User.email.like("x%@scale.test")).order_by(User.id)))
    copy_rows(db.session, Enrolment, [{"cohort_id": cohort.id if n < COHORT else others.id, "user_id": uid, "started_at": now}
                                      for n, uid in enumerate(ids)])
    params = {"now": now.replace(tzinfo=None)}
    statements = [
        "INSERT INTO mastery (user_id, objective_id, level, evidence_count, method, updated_at) "
        "SELECT u.id, o.id, (u.id * 7 + o.id) % 5, :per, 'decaying_average', :now FROM users u CROSS JOIN objectives o "
        "WHERE u.email LIKE 'x%@scale.test'",
        "INSERT INTO evidence (user_id, objective_id, source, source_ref, level, weight, note, recorded_at, written_at) "
        "SELECT u.id, o.id, 'rating', 'rater:0', (u.id + o.id + n) % 5, 1.0, '', :now - make_interval(days => 20 * n), "
        ":now - make_interval(days => 20 * n) "
        "FROM users u CROSS JOIN objectives o CROSS JOIN generate_series(1, :per) n WHERE u.email LIKE 'x%@scale.test'",
    ]
    for statement in statements:
        db.session.execute(text(statement), {**params, "per": PER_OBJECTIVE})
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    settle("evidence", "mastery")
    return cohort, ids[:COHORT]


def settle(*tables: str) -> None:
    """VACUUM ANALYZE ``tables`` until their pages are marked all-visible, as autovacuum leaves
    a table that has been in use. Fresh from a bulk insert no page is, so an index-only scan
    is costed with a visit to the table per row; on a table this small (2,445 pages for
    evidence among 6,000 learners) that makes one learner in a hundred, with all their evidence before the cut,
    cost about as much as reading the table through, and the planner's choice turns on the
    table's dead rows from earlier tests. (At 20 million rows the index wins either way.) A
    page is marked only once no open transaction began before the insert committed: another
    pytest worker's may still be open, so VACUUM is tried again for a while."""
    names = ", ".join(tables)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        deadline = time.monotonic() + 60
        while True:
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {names}")
            pages, visible = conn.execute(text(
                "SELECT sum(relpages), sum(relallvisible) FROM pg_class WHERE oid = ANY(CAST(:names AS regclass[]))"),
                {"names": list(tables)}).one()
            if visible >= 0.95 * pages:
                return
            assert time.monotonic() < deadline, f"VACUUM marked {visible} of {pages} pages all-visible in 60 s"
            time.sleep(0.25)


def plans_of(run: Callable[[], Any]) -> list[tuple[str, str]]:
    """(statement, its EXPLAIN plan) of every SELECT ``run`` sends."""
    sent: list[tuple[str, Any]] = []

    def note(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        run()
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    plans = []
    for statement, parameters in sent:
        rows = db.session.connection().exec_driver_sql("EXPLAIN " + statement, parameters)
        plans.append((statement, "\n".join(r[0] for r in rows)))
    return plans


def test_per_cohort_queries_use_indexes_on_evidence_and_mastery(populated: tuple[Any, list[int]]) -> None:
    cohort, members = populated
    now = datetime.now(UTC)
    assert db.session.scalar(text("SELECT count(*) FROM evidence")) >= LEARNERS * PER_OBJECTIVE * 10

    def per_cohort() -> None:
        heat = heat_map(db.session, cohort, now, sort="risk")
        assert heat.learners == COHORT
        heat.shown, heat.at_risk_shown  # noqa: B018  # the rows are built (the evidence read) when read
        list(heat_map_rows(heat))  # the CSV: every learner's complete row
        learner = db.session.get(User, members[0])
        learner_risk(db.session, cohort, learner, now)
        learners_page(db.session, cohort, 1, 50)
        cohort_progress(db.session, cohort, members, now)
        trend(db.session, cohort, now)  # its months gone by checked (an index), then replayed

    plans = plans_of(per_cohort)
    touched = [(s, p) for s, p in plans if re.search(r"\b(evidence|mastery)\b", s)]
    assert len(touched) >= 3  # the grid, the figures, the evidence behind the at-risk dates at least
    scans = [f"{s}\n{p}" for s, p in touched if SEQ_SCAN.search(p)]
    assert not scans, "\n\n".join(scans)
    checks = [s for s, _p in touched if s.lstrip().startswith("SELECT count(*)") and "FROM evidence" in s]
    assert len(checks) == 1, checks  # the trend's check of its months gone by is among them

    # The check is not vacuous: a query no index serves shows a sequential scan.
    objective = db.session.scalar(select(func.min(Objective.id)))  # every row but one objective's: no index helps
    plans = plans_of(lambda: db.session.execute(text("SELECT count(*) FROM evidence WHERE note = :n AND objective_id > :o"),
                                                {"n": "nothing", "o": objective}).all())
    assert SEQ_SCAN.search(plans[0][1]), plans[0][1]

