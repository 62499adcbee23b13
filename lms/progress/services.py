"""Recording evidence and keeping mastery current. Flush only.

Mastery is updated when evidence arrives (``record``/``replace_evidence``), never on a page
view; ``rebuild`` recomputes everything from the evidence and must give the same numbers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import selectinload

from lms.catalog.models import Lesson, Objective
from lms.database import DbSession
from lms.progress.methods import DEFAULT_THRESHOLDS, MASTERY_METHODS, MasteryMethod, Point, named_level
from lms.progress.models import Evidence, EvidenceSourceName, LessonRead, Mastery, MasteryMethodName, MasteryPolicy
from lms.progress.sources import SOURCES

DEFAULT_SETTINGS: dict[str, Any] = {"method": MasteryMethodName.DECAYING_AVERAGE, "latest_weight": 0.65, "n": 3,
                                    "mastery_level": 3}
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


def policy(session: DbSession) -> Policy:
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


def _points(rows: Iterable[Any]) -> list[Point]:
    return [Point(level=e.level, weight=e.weight) for e in sorted(rows, key=lambda e: (e.recorded_at, e.id))]


def evidence_row(user_id: int, objective_id: int, source: EvidenceSourceName | str, source_ref: str, fraction: float,
                 at: datetime, note: str = "", recorded_by_id: int | None = None) -> dict[str, Any]:
    """The column values of one piece of evidence: ``fraction`` of full marks (0-1) on the
    0-4 scale, at the weight of its source. Recording and the volume generator
    (``lms.demo.benchmark``, which bulk-inserts these rows) both build rows here."""
    if source not in SOURCES:
        raise EvidenceError(f"Unknown evidence source {source!r}.")
    if not 0 <= fraction <= 1:
        raise EvidenceError("Evidence is a fraction between 0 and 1.")
    kind = EvidenceSourceName(source)
    return {"user_id": user_id, "objective_id": objective_id, "source": kind, "source_ref": source_ref,
            "level": round(fraction * 4, 4), "weight": SOURCES[kind].weight, "note": note, "recorded_at": at,
            "recorded_by_id": recorded_by_id}


def _evidence(user_id: int, objective_id: int, source: str, source_ref: str, fraction: float, now: datetime,
              note: str, recorded_by_id: int | None) -> Evidence:
    return Evidence(**evidence_row(user_id, objective_id, source, source_ref, fraction, now, note, recorded_by_id))


def _method(session: DbSession, settings: Mapping[str, Any] | None) -> MasteryMethod:
    return method_for(settings) if settings is not None else policy(session).method


def record(session: DbSession, user_id: int, objective_id: int, source: EvidenceSourceName, source_ref: str, fraction: float,
           now: datetime, note: str = "", settings: Mapping[str, Any] | None = None,
           recorded_by_id: int | None = None) -> Evidence:
    """Record evidence (``fraction`` of full marks, 0-1) and update that one mastery."""
    evidence = _evidence(user_id, objective_id, source, source_ref, fraction, now, note, recorded_by_id)
    session.add(evidence)
    session.flush()
    _update(session, user_id, [objective_id], _method(session, settings), now)
    return evidence


def replace_evidence(session: DbSession, user_id: int, source: EvidenceSourceName, source_ref: str, fractions: Mapping[int, float],
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


def _update(session: DbSession, user_id: int, objective_ids: list[int], method: MasteryMethod, now: datetime) -> None:
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


def rebuild(session: DbSession, now: datetime, settings: Mapping[str, Any] | None = None) -> int:
    """Recompute every mastery from all evidence, in a fixed number of statements."""
    method = _method(session, settings)
    grouped: dict[tuple[int, int], list[Any]] = defaultdict(list)
    # Plain rows of the five columns the methods need, not ORM objects: a 200k-row rebuild
    # stays small in memory and fast.
    rows = session.execute(select(Evidence.id, Evidence.user_id, Evidence.objective_id, Evidence.level,
                                  Evidence.weight, Evidence.recorded_at))
    for e in rows:
        grouped[(e.user_id, e.objective_id)].append(e)
    session.execute(delete(Mastery))
    session.add_all(Mastery(user_id=u, objective_id=o, level=method.level(_points(rows)), evidence_count=len(rows),
                            method=method.name, updated_at=now) for (u, o), rows in grouped.items())
    session.flush()
    return len(grouped)


# --------------------------------------------------------------------------- lessons read


def active_lesson(session: DbSession, key: str) -> Lesson | None:
    return session.scalar(select(Lesson).where(Lesson.key == key, Lesson.retired_at.is_(None)))


def mark_read(session: DbSession, user_id: int, lesson: Lesson, now: datetime) -> LessonRead:
    """Mark ``lesson`` read for the learner; marking it again changes nothing."""
    row = session.scalar(select(LessonRead).where(LessonRead.user_id == user_id, LessonRead.lesson_id == lesson.id))
    if row is None:
        row = LessonRead(user_id=user_id, lesson_id=lesson.id, read_at=now)
        session.add(row)
        session.flush()
    return row


def unmark_read(session: DbSession, user_id: int, lesson: Lesson) -> bool:
    """Take the mark off; False when the lesson was not marked read."""
    result = session.execute(delete(LessonRead).where(LessonRead.user_id == user_id, LessonRead.lesson_id == lesson.id))
    session.flush()
    return bool(getattr(result, "rowcount", 0))


def has_read(session: DbSession, user_id: int, lesson_id: int) -> bool:
    return bool(session.scalar(select(exists().where(LessonRead.user_id == user_id, LessonRead.lesson_id == lesson_id))))


# --------------------------------------------------------------------------- instructor ratings

RATING_LEVELS = range(0, 5)
MAX_NOTE = 2000


def rate(session: DbSession, learner_id: int, objective: Objective | None, level: int, note: str, rater_id: int,
         now: datetime) -> Evidence:
    """An instructor's judgement of a learner on one objective: a whole level 0-4 with the
    note that justifies it, recorded as evidence from the rating source."""
    if objective is None or objective.id is None or objective.retired_at is not None:
        raise EvidenceError("Choose one of the program's objectives.")
    if isinstance(level, bool) or not isinstance(level, int) or level not in RATING_LEVELS:
        raise EvidenceError("The level is a whole number from 0 to 4.")
    text = (note or "").strip()
    if not text:
        raise EvidenceError("Write a note saying what you saw that justifies this level.")
    if len(text) > MAX_NOTE:
        raise EvidenceError(f"Keep the note under {MAX_NOTE} characters.")
    return record(session, learner_id, objective.id, EvidenceSourceName.RATING, f"rater:{rater_id}", level / 4, now,
                  note=text, recorded_by_id=rater_id)


# --------------------------------------------------------------------------- the competency profile


@dataclass(frozen=True)
class TrailEntry:
    """One piece of evidence as learners and instructors read it."""

    recorded_at: datetime
    source: str        # the source's label, e.g. "Instructor rating"
    note: str
    level: float
    weight: float
    recorded_by: str | None  # the person who judged, when a person did


@dataclass(frozen=True)
class ObjectiveProfile:
    objective: Objective
    level: float | None
    name: str          # the named level, e.g. "proficient"
    rank: int          # 0 no evidence, then 1.. per named level from the lowest
    evidence_count: int
    trail: list[TrailEntry]


def profile(session: DbSession, user_id: int, rules: Policy | None = None) -> list[ObjectiveProfile]:
    """Each active objective in program order with the learner's mastery and the evidence
    behind it, oldest first, in a fixed number of statements."""
    rules = rules or policy(session)
    objectives = list(session.scalars(select(Objective).where(Objective.retired_at.is_(None)).order_by(Objective.position)))
    mastery = {m.objective_id: m for m in session.scalars(select(Mastery).where(Mastery.user_id == user_id))}
    trails: dict[int, list[TrailEntry]] = defaultdict(list)
    for e in session.scalars(select(Evidence).where(Evidence.user_id == user_id)
                             .options(selectinload(Evidence.recorded_by)).order_by(Evidence.recorded_at, Evidence.id)):
        source = SOURCES.get(e.source)
        trails[e.objective_id].append(TrailEntry(
            recorded_at=e.recorded_at, source=source.label if source else e.source, note=e.note, level=e.level,
            weight=e.weight, recorded_by=e.recorded_by.name if e.recorded_by else None))
    result = []
    for objective in objectives:
        m = mastery.get(objective.id)
        level = m.level if m else None
        result.append(ObjectiveProfile(objective=objective, level=level, name=rules.name_of(level), rank=rules.rank_of(level),
                                       evidence_count=m.evidence_count if m else 0, trail=trails[objective.id]))
    return result
