"""Cursor paging with a stable sort: each list is ordered by its keys (a time and the id,
or the id alone) and a cursor is the last row's keys, so a page never repeats or skips a
row whatever is added meanwhile. The next page's address is in the ``Link`` header too:
absolute under the configured ``BASE_URL`` (``LMS_BASE_URL``), else a path; never built
from the request's Host header, which whoever sends the request chooses."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import current_app, request
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from lms.api.problems import ApiProblem
from lms.api.schemas import ListQuery, SyncQuery, in_utc
from lms.database import DbSession

T = TypeVar("T")


def encode(values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode(cursor: str, timed: bool, tied: bool = False) -> tuple[Any, ...]:
    """The keys of a cursor: (time,) id (, tie), all of them: a page that ends between the
    rows of one id (a team's grade, a row per member) goes on with the next member, not the
    next id. A list with a tie also takes a cursor without one, as it gave out before it had one."""
    bad = ApiProblem(422, "The cursor is not one this API gave out; start again without it.")
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise bad from exc
    size = 2 if timed else 1
    if (not isinstance(values, list) or len(values) not in ((size, size + 1) if tied else (size,))
            or not all(_key(v) for v in values[1 if timed else 0:])):
        raise bad
    if timed:
        try:
            moment = in_utc(datetime.fromisoformat(values[0]))
        except (TypeError, ValueError) as exc:
            raise bad from exc
        return (moment, *values[1:])
    return tuple(values)


def _key(value: Any) -> bool:
    """An id a cursor may hold: an integer a database column can be compared with (a
    larger one made up by hand would fail in the driver, a 500, not a 422)."""
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def since(query: SyncQuery) -> datetime | None:
    return query.updated_since  # in UTC already (``in_utc``)


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None

    def headers(self) -> dict[str, str]:
        if self.next_cursor is None:
            return {}
        args = {k: v for k, v in request.args.items() if k != "cursor"}
        args["cursor"] = self.next_cursor
        base = str(current_app.config.get("BASE_URL") or "").rstrip("/")
        return {"Link": f'<{base}{request.script_root}{request.path}?{urlencode(args)}>; rel="next"'}


def _after(columns: Sequence[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows after ``values`` in the order of ``columns`` (compared in turn)."""
    if len(columns) == 1:
        after: ColumnElement[bool] = columns[0] > values[0]
        return after
    return or_(columns[0] > values[0], and_(columns[0] == values[0], _after(columns[1:], values[1:])))


def fetch(session: DbSession, stmt: Select[Any] | Any, query: ListQuery, idcol: ColumnElement[int] | InstrumentedAttribute[int],
          timecol: ColumnElement[Any] | InstrumentedAttribute[Any] | None = None,
          key_of: Callable[[Any], tuple[Any, ...]] | None = None,
          tiecol: ColumnElement[int] | None = None) -> Page:
    """One statement: the page after ``query.cursor`` ordered by (time, id) or id, then
    ``tiecol`` where several rows share an id (a team's grade: a row per member); ``key_of``
    reads those keys from a row (default: the row's first item's attributes)."""
    if isinstance(query, SyncQuery) and timecol is not None and (moment := since(query)) is not None:
        stmt = stmt.where(timecol >= moment)
    order = [c for c in (timecol, idcol, tiecol) if c is not None]
    if query.cursor:
        values = decode(query.cursor, timecol is not None, tiecol is not None)
        stmt = stmt.where(_after(order[:len(values)], values))
    rows = list(session.execute(stmt.order_by(*order).limit(query.limit + 1)))
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    cursor = None
    if more and rows:
        last = rows[-1]
        if key_of is not None:
            keys = key_of(last)
        else:
            item = last[0]
            keys = ((getattr(item, str(timecol.key)), item.id) if timecol is not None else (item.id,))
        cursor = encode(keys)
    return Page(rows, cursor)
