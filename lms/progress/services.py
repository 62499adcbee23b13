"""Recording evidence and keeping mastery current. Flush only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lms.progress.methods import MASTERY_METHODS, MasteryMethod, Point
from lms.progress.models import Evidence, Mastery

SOURCE_WEIGHTS = {"quiz": 1.0, "rubric": 1.0, "rating": 1.0, "stakeholder": 0.75, "kpi": 0.75, "peer": 0.5}
DEFAULT_SETTINGS: dict[str, Any] = {"method": "decaying_average", "latest_weight": 0.65, "n": 3, "mastery_level": 3}


class EvidenceError(ValueError):
    """Evidence the platform refuses; nothing was recorded."""


def method_for(settings: Mapping[str, Any] | None = None) -> MasteryMethod:
    merged = {**DEFAULT_SETTINGS, **(settings or {})}
    if merged["method"] not in MASTERY_METHODS:
        raise EvidenceError(f"Unknown mastery method {merged['method']!r}; choose one of {', '.join(MASTERY_METHODS)}.")
    return MASTERY_METHODS[merged["method"]](merged)


def _points(rows: list[Evidence]) -> list[Point]:
    return [Point(level=e.level, weight=e.weight) for e in sorted(rows, key=lambda e: (e.recorded_at, e.id))]


def record(session: Session, user_id: int, objective_id: int, source: str, source_ref: str, fraction: float,
           now: datetime, note: str = "", settings: Mapping[str, Any] | None = None) -> Evidence:
    """Record evidence (``fraction`` of full marks, 0-1) and update that one mastery."""
    if source not in SOURCE_WEIGHTS:
        raise EvidenceError(f"Unknown evidence source {source!r}.")
    if not 0 <= fraction <= 1:
        raise EvidenceError("Evidence is a fraction between 0 and 1.")
    evidence = Evidence(user_id=user_id, objective_id=objective_id, source=source, source_ref=source_ref,
                        level=round(fraction * 4, 4), weight=SOURCE_WEIGHTS[source], note=note, recorded_at=now)
    session.add(evidence)
    session.flush()
    _update(session, user_id, objective_id, method_for(settings), now)
    return evidence


def _update(session: Session, user_id: int, objective_id: int, method: MasteryMethod, now: datetime) -> Mastery:
    rows = list(session.scalars(select(Evidence).where(Evidence.user_id == user_id, Evidence.objective_id == objective_id)))
    mastery = session.scalar(select(Mastery).where(Mastery.user_id == user_id, Mastery.objective_id == objective_id))
    if mastery is None:
        mastery = Mastery(user_id=user_id, objective_id=objective_id, method=method.name)
        session.add(mastery)
    mastery.level, mastery.evidence_count = method.level(_points(rows)), len(rows)
    mastery.method, mastery.updated_at = method.name, now
    session.flush()
    return mastery


def rebuild(session: Session, now: datetime, settings: Mapping[str, Any] | None = None) -> int:
    """Recompute every mastery from all evidence, in a fixed number of statements."""
    method = method_for(settings)
    grouped: dict[tuple[int, int], list[Evidence]] = defaultdict(list)
    for e in session.scalars(select(Evidence)):
        grouped[(e.user_id, e.objective_id)].append(e)
    session.execute(delete(Mastery))
    session.add_all(Mastery(user_id=u, objective_id=o, level=method.level(_points(rows)), evidence_count=len(rows),
                            method=method.name, updated_at=now) for (u, o), rows in grouped.items())
    session.flush()
    return len(grouped)
