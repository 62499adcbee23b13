"""The plan of one statement a test caught running (``statements_during``), on the database
the suite runs on: SQLite's ``EXPLAIN QUERY PLAN``, or PostgreSQL's ``EXPLAIN`` with
sequential scans priced out, so that the plan shows whether an index *can* serve the
statement, whatever the planner would pick for a test's few rows."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from lms.extensions import db


def statements_during(action: Callable[[], Any]) -> list[tuple[str, Any]]:
    """The SQL statements ``action`` runs, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return seen


def plan_of(statement: str, parameters: Any) -> str:
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET enable_seqscan = off")
            rows = [row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters)]
        else:
            rows = [row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
        connection.rollback()
    return "\n".join(rows)


def scans_whole(table: str, plan: str) -> bool:
    """Whether the plan reads ``table`` from end to end rather than through an index."""
    return re.search(rf"Seq Scan on {table}\b|SCAN {table}\b(?! USING)", plan) is not None
