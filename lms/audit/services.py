"""Write the audit log, and read it back for the log page and its exports.

``record`` is what every feature calls (services take the actor and the address as plain
arguments: they never read the request). Code that reacts to another feature's signal
inside a request takes who is asking and from where with ``origin(session)``: the audit
wiring puts the request's ``Origin`` in the session's ``info`` before each request."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert

from lms.audit.models import IP_LENGTH, TARGET_LENGTH, AuditAction, AuditEntry
from lms.database import DbSession, utcnow

ORIGIN = "lms.audit.origin"


@dataclass(frozen=True)
class Origin:
    """Who is acting (None: nobody signed in, a command, a job) and from which address."""

    actor_id: int | None = None
    ip: str | None = None


NO_ORIGIN = Origin()


def set_origin(session: DbSession, found: Origin) -> None:
    session.info[ORIGIN] = found


def origin(session: DbSession) -> Origin:
    """The request's actor and address, as the audit wiring stored them; ``NO_ORIGIN`` outside a request."""
    found = session.info.get(ORIGIN)
    return found if isinstance(found, Origin) else NO_ORIGIN


def plain(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """``state`` as plain JSON (dates, enums and decimals become their text)."""
    if state is None:
        return None
    loaded: dict[str, Any] = json.loads(json.dumps(state, default=str, sort_keys=True))
    return loaded


def record(session: DbSession, *, actor_id: int | None, action: AuditAction, organization_id: int | None,
           target: str, before: dict[str, Any] | None, after: dict[str, Any] | None,
           ip: str | None) -> AuditEntry:
    """Append one entry. It is added to the session (written with the caller's unit of
    work, so it commits or rolls back with the action it describes); nothing ever
    changes or removes it afterwards."""
    entry = AuditEntry(created_at=utcnow(), actor_id=actor_id, action=AuditAction(action),
                       organization_id=organization_id, target=target[:TARGET_LENGTH],
                       before=plain(before), after=plain(after), ip=(ip or None) and ip[:IP_LENGTH])
    session.add(entry)
    return entry


def record_from(session: DbSession, *, action: AuditAction, organization_id: int | None, target: str,
                before: dict[str, Any] | None, after: dict[str, Any] | None,
                actor_id: int | None = None) -> AuditEntry:
    """``record`` with the request's origin (``origin(session)``) for the address, and for
    the actor unless ``actor_id`` names one: for receivers of other features' signals."""
    found = origin(session)
    return record(session, actor_id=actor_id if actor_id is not None else found.actor_id, action=action,
                  organization_id=organization_id, target=target, before=before, after=after, ip=found.ip)


def record_all_from(session: DbSession, *, action: AuditAction, organization_id: int | None, actor_id: int | None,
                    changes: Sequence[tuple[str, dict[str, Any] | None, dict[str, Any] | None]]) -> None:
    """``record_from`` for one action on several targets (``changes``: target, before, after),
    in one INSERT whatever their number: a bulk action's entries (the gradebook's removal of
    extensions), written with the caller's unit of work as each ``record`` is."""
    if not changes:
        return
    found, now = origin(session), utcnow()
    ip = (found.ip or None) and found.ip[:IP_LENGTH]
    session.execute(insert(AuditEntry), [
        {"created_at": now, "actor_id": actor_id if actor_id is not None else found.actor_id, "action": AuditAction(action),
         "organization_id": organization_id, "target": target[:TARGET_LENGTH], "before": plain(before), "after": plain(after),
         "ip": ip} for target, before, after in changes])
