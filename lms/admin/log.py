"""Reading the audit log: filters (actor, action, organization, date range), one page of
entries with who acted and where, and the same entries as a table for the exports. Site
admins read every entry; an organization admin only their organizations' (``scope``).
A fixed number of statements whatever the page or export holds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, false, or_, select
from sqlalchemy.orm import aliased

from lms.accounts.models import User
from lms.admin.services import QUERY_LENGTH, like_pattern
from lms.audit.models import AuditAction, AuditEntry
from lms.cohorts.models import Organization
from lms.database import DbSession, lowered
from lms.grading.exports import GradeTable

PAGE_SIZE = 50
EXPORT_LIMIT = 100_000
EXPORT_CHUNK = 1000
COLUMNS = ["id", "at_utc", "actor_id", "actor", "actor_email", "action", "organization_id", "organization",
           "target", "ip", "before", "after"]


@dataclass(frozen=True)
class LogFilters:
    actor: str = ""                       # part of the actor's name or email
    action: AuditAction | None = None
    organization_id: int | None = None
    target: str = ""                      # an entry's target, e.g. ``user:12`` (exactly, or its first word)
    since: date | None = None             # first day shown, in ``zone``
    until: date | None = None             # last day shown, in ``zone``
    zone: str = "UTC"


@dataclass(frozen=True)
class LogRow:
    entry: AuditEntry
    actor: User | None
    organization: Organization | None


@dataclass(frozen=True)
class LogPage:
    rows: list[LogRow]
    page: int
    has_next: bool


def _start(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(), tzinfo=ZoneInfo(zone))


def _query(filters: LogFilters, scope: frozenset[int] | None) -> Select[AuditEntry, User, Organization]:
    actor, org = aliased(User), aliased(Organization)
    query = (select(AuditEntry, actor, org).outerjoin(actor, actor.id == AuditEntry.actor_id)
             .outerjoin(org, org.id == AuditEntry.organization_id))
    if scope is not None:
        query = query.where(AuditEntry.organization_id.in_(scope) if scope else false())
    if filters.actor.strip():
        text = like_pattern(filters.actor.strip()[:QUERY_LENGTH].lower())
        query = query.where(or_(lowered(actor.name).like(text, escape="\\"), actor.email.like(text, escape="\\")))
    if filters.action is not None:
        query = query.where(AuditEntry.action == filters.action)
    if filters.organization_id is not None:
        query = query.where(AuditEntry.organization_id == filters.organization_id)
    if filters.target.strip():
        target = filters.target.strip()[:QUERY_LENGTH]
        query = query.where(or_(AuditEntry.target == target,
                                AuditEntry.target.like(like_pattern(target + " ", anywhere=False), escape="\\")))
    if filters.since is not None:
        query = query.where(AuditEntry.created_at >= _start(filters.since, filters.zone))
    if filters.until is not None:
        query = query.where(AuditEntry.created_at < _start(filters.until + timedelta(days=1), filters.zone))
    return query.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())


def entries(session: DbSession, filters: LogFilters, scope: frozenset[int] | None, page: int = 1,
            per_page: int = PAGE_SIZE) -> LogPage:
    """One page of entries, newest first. ``scope``: None for every entry, else the
    organizations whose entries may be read."""
    page = max(page, 1)
    found = session.execute(_query(filters, scope).limit(per_page + 1).offset((page - 1) * per_page)).all()
    rows = [LogRow(entry, actor, org) for entry, actor, org in found[:per_page]]
    return LogPage(rows, page, len(found) > per_page)


def table(session: DbSession, filters: LogFilters, scope: frozenset[int] | None, *, structured: bool) -> GradeTable:
    """Every entry the filters select (up to ``EXPORT_LIMIT``), as the exporters' table;
    before and after stay objects when ``structured``, else they are JSON text (for CSV)."""

    def state(value: dict[str, Any] | None) -> Any:
        return value if structured else ("" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True))

    rows: list[list[Any]] = []
    for entry, actor, org in session.execute(_query(filters, scope).limit(EXPORT_LIMIT)):
        rows.append([entry.id, entry.created_at.isoformat(), entry.actor_id, actor.name if actor else "",
                     actor.email if actor else "", entry.action.value, entry.organization_id,
                     org.name if org else "", entry.target, entry.ip or "", state(entry.before), state(entry.after)])
    return GradeTable(columns=COLUMNS, rows=rows)


def stream_rows(session: DbSession, filters: LogFilters, scope: frozenset[int] | None, *, structured: bool,
                chunk: int = EXPORT_CHUNK) -> Iterator[list[Any]]:
    """``table``'s rows read ``chunk`` at a time (keyset on the newest-first order), so an
    export of the whole log is sent with constant memory: one statement per chunk."""

    def state(value: dict[str, Any] | None) -> Any:
        return value if structured else ("" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True))

    query, after, sent = _query(filters, scope), None, 0
    while sent < EXPORT_LIMIT:
        page = query if after is None else query.where(  # the first condition lets the created_at index range
            AuditEntry.created_at <= after[0],
            or_(AuditEntry.created_at < after[0], and_(AuditEntry.created_at == after[0], AuditEntry.id < after[1])))
        found = session.execute(page.limit(min(chunk, EXPORT_LIMIT - sent))).all()
        for entry, actor, org in found:
            yield [entry.id, entry.created_at.isoformat(), entry.actor_id, actor.name if actor else "",
                   actor.email if actor else "", entry.action.value, entry.organization_id,
                   org.name if org else "", entry.target, entry.ip or "", state(entry.before), state(entry.after)]
        if len(found) < chunk:
            return
        sent += len(found)
        after = (found[-1][0].created_at, found[-1][0].id)
        session.expunge_all()  # the chunk is sent: let its rows go


def organizations(session: DbSession, scope: frozenset[int] | None) -> list[Organization]:
    """The organizations a reader may filter by."""
    query = select(Organization).order_by(Organization.name)
    if scope is not None:
        query = query.where(Organization.id.in_(scope) if scope else false())
    return list(session.scalars(query))
