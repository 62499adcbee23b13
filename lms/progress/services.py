"""Recording evidence and keeping mastery current. Flush only.

Mastery is updated when evidence arrives (``record``/``replace_evidence``), never on a page
view; ``rebuild`` recomputes everything from the evidence and must give the same numbers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lms.progress.methods import DEFAULT_THRESHOLDS, MASTERY_METHODS, MasteryMethod, Point, named_level
from lms.progress.models import Evidence, Mastery, MasteryPolicy
from lms.progress.sources import SOURCES

DEFAULT_SETTINGS: dict[str, Any] = {"method": "decaying_average", "latest_weight": 0.65, "n": 3, "mastery_level": 3}
DEFAULT_AT_RISK_BELOW = 2.5


class EvidenceError(ValueError):
    """Evidence the platform refuses; nothing was recorded."""


@dataclass(frozen=True)
class Policy:
    """The program's mastery method, its settings, the named levels and the at-risk bar."""

    settings: dict[str, Any]
    thresholds: dict[str, float]
    at_risk_below: float

    @property
    def method(self) -> MasteryMethod:
        return method_for(self.settings)

    def name_of(self, level: float | None) -> str:
        return named_level(level, self.thresholds)

    def rank_of(self, level: float | None) -> int:
        """0 for no evidence, then 1.. for each named level from the lowest."""
        if level is None:
            return 0
        return sum(1 for bound in self.thresholds.values() if level >= bound) or 1


def policy(session: Session) -> Policy:
    """The loaded program's policy (content/mastery.yml), or the defaults before any is loaded."""
    row = session.scalar(select(MasteryPolicy).where(MasteryPolicy.retired_at.is_(None)).order_by(MasteryPolicy.id))
    if row is None:
        return Policy(dict(DEFAULT_SETTINGS), dict(DEFAULT_THRESHOLDS), DEFAULT_AT_RISK_BELOW)
    return Policy({**DEFAULT_SETTINGS, **row.settings, "method": row.method}, dict(row.thresholds), row.at_risk_below)


def method_for(settings: Mapping[str, Any] | None = None) -> MasteryMethod:
    merged = {**DEFAULT_SETTINGS, **(settings or {})}
    if merged["method"] not in MASTERY_METHODS:
        raise EvidenceError(f"Unknown mastery method {merged['method']!r}; choose one of {', '.join(MASTERY_METHODS)}.")
    return MASTERY_METHODS[merged["method"]](merged)


def _points(rows: Iterable[Evidence]) -> list[Point]:
    return [Point(level=e.level, weight=e.weight) for e in sorted(rows, key=lambda e: (e.recorded_at, e.id))]


def _evidence(user_id: int, objective_id: int, source: str, source_ref: str, fraction: float, now: datetime,
              note: str, recorded_by_id: int | None) -> Evidence:
    if source not in SOURCES:
        raise EvidenceError(f"Unknown evidence source {source!r}.")
    if not 0 <= fraction <= 1:
        raise EvidenceError("Evidence is a fraction between 0 and 1.")
    return Evidence(user_id=user_id, objective_id=objective_id, source=source, source_ref=source_ref,
                    level=round(fraction * 4, 4), weight=SOURCES[source].weight, note=note, recorded_at=now,
                    recorded_by_id=recorded_by_id)


def _method(session: Session, settings: Mapping[str, Any] | None) -> MasteryMethod:
    return method_for(settings) if settings is not None else policy(session).method


def record(session: Session, user_id: int, objective_id: int, source: str, source_ref: str, fraction: float,
           now: datetime, note: str = "", settings: Mapping[str, Any] | None = None,
           recorded_by_id: int | None = None) -> Evidence:
    """Record evidence (``fraction`` of full marks, 0-1) and update that one mastery."""
    evidence = _evidence(user_id, objective_id, source, source_ref, fraction, now, note, recorded_by_id)
    session.add(evidence)
    session.flush()
    _update(session, user_id, [objective_id], _method(session, settings), now)
    return evidence


def replace_evidence(session: Session, user_id: int, source: str, source_ref: str, fractions: Mapping[int, float],
                     now: datetime, note: str = "", recorded_by_id: int | None = None,
                     settings: Mapping[str, Any] | None = None) -> list[Evidence]:
    """Make ``source_ref``'s evidence exactly ``fractions`` (objective id -> 0-1): a regraded
    piece of work replaces what its earlier grade said; an empty mapping withdraws it."""
    new = [_evidence(user_id, oid, source, source_ref, f, now, note, recorded_by_id) for oid, f in fractions.items()]
    old = list(session.scalars(select(Evidence).where(
        Evidence.user_id == user_id, Evidence.source == source, Evidence.source_ref == source_ref)))
    touched = {e.objective_id for e in old} | set(fractions)
    if not touched:
        return []
    for e in old:
        session.delete(e)
    session.add_all(new)
    session.flush()
    _update(session, user_id, sorted(touched), _method(session, settings), now)
    return new


def _update(session: Session, user_id: int, objective_ids: list[int], method: MasteryMethod, now: datetime) -> None:
    rows: dict[int, list[Evidence]] = defaultdict(list)
    for e in session.scalars(select(Evidence).where(Evidence.user_id == user_id, Evidence.objective_id.in_(objective_ids))):
        rows[e.objective_id].append(e)
    current = {m.objective_id: m for m in session.scalars(
        select(Mastery).where(Mastery.user_id == user_id, Mastery.objective_id.in_(objective_ids)))}
    for objective_id in objective_ids:
        mastery = current.get(objective_id)
        if not rows[objective_id]:
            if mastery is not None:
                session.delete(mastery)
            continue
        if mastery is None:
            mastery = Mastery(user_id=user_id, objective_id=objective_id, method=method.name)
            session.add(mastery)
        mastery.level, mastery.evidence_count = method.level(_points(rows[objective_id])), len(rows[objective_id])
        mastery.method, mastery.updated_at = method.name, now
    session.flush()


def rebuild(session: Session, now: datetime, settings: Mapping[str, Any] | None = None) -> int:
    """Recompute every mastery from all evidence, in a fixed number of statements."""
    method = _method(session, settings)
    grouped: dict[tuple[int, int], list[Evidence]] = defaultdict(list)
    for e in session.scalars(select(Evidence)):
        grouped[(e.user_id, e.objective_id)].append(e)
    session.execute(delete(Mastery))
    session.add_all(Mastery(user_id=u, objective_id=o, level=method.level(_points(rows)), evidence_count=len(rows),
                            method=method.name, updated_at=now) for (u, o), rows in grouped.items())
    session.flush()
    return len(grouped)
