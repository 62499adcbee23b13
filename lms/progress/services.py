"""Recording evidence and keeping mastery current. Flush only.

Mastery is updated when evidence arrives (``record``/``replace_evidence``), never on a page
view; ``rebuild`` recomputes everything from the evidence and must give the same numbers."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from blinker import Namespace
from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement

from lms.accounts.services import hold_users
from lms.catalog.models import Lesson, Objective, ObjectiveKind
from lms.catalog.revision import cached
from lms.cohorts.models import Cohort, Enrolment
from lms.database import DbSession, insert_unless_there
from lms.progress.methods import (
    DEFAULT_MIN_WEIGHT,
    DEFAULT_THRESHOLDS,
    MASTERY_METHODS,
    MasteryMethod,
    Point,
    counted,
    named_level,
)
from lms.progress.models import (
    Evidence,
    EvidenceSourceName,
    LessonRead,
    Mastery,
    MasteryMark,
    MasteryMethodName,
    MasteryPolicy,
    ProgressLearner,
)
from lms.progress.sources import SOURCES, UNVOUCHED, KpiSource, rater_of
from lms.web.page_cache import fingerprint, summary

DEFAULT_SETTINGS: dict[str, Any] = {"method": MasteryMethodName.DECAYING_AVERAGE, "latest_weight": 0.65, "n": 3,
                                    "mastery_level": 3, "mastery_min_weight": DEFAULT_MIN_WEIGHT}
DEFAULT_AT_RISK_BELOW = 2.5

events = Namespace()
# Sent with ``session=``, ``now=`` and ``changes=`` ({objective id: (level before, level after)},
# None for no counted evidence) when evidence moves a learner's mastery (the sender is the
# user id); not sent by ``rebuild``. Features above (webhooks) listen to it.
mastery_changed = events.signal("mastery-changed")
# Sent with ``session=``, ``now=`` and ``lesson=`` when a learner first marks a lesson read
# (the sender is the user id); marking it again sends nothing. xAPI listens to it.
lesson_read = events.signal("lesson-read")
# Sent with ``session=`` and ``where=`` (the WHERE criteria) just before a bulk DELETE that
# skips the ORM (no object events run) removes rows of the sender, a model (``Evidence``,
# ``Mastery``); the API records them as removed, set-based, before they go.
rows_deleting = events.signal("rows-deleting")

# Per objective kind, the weight each evidence source carries (0: recorded, not counted).
EvidenceWeights = dict[ObjectiveKind, dict[EvidenceSourceName, float]]

# Sources that say nothing about results in the learner's own business: by default they
# do not count toward application objectives (recall and analysis of someone else's case).
NOT_APPLIED = (EvidenceSourceName.QUIZ, EvidenceSourceName.PRACTICE, EvidenceSourceName.CASE_STUDY, EvidenceSourceName.PEER)


def default_weights() -> EvidenceWeights:
    """The rules when content/mastery.yml states none: every source at its own weight on
    knowledge and skill objectives; application objectives take only applied work (graded
    hands-on work, the capstone and portfolio, instructor ratings, stakeholder feedback,
    KPI movement)."""
    base = {name: source.weight for name, source in SOURCES.items()}
    applied = {name: 0.0 if name in NOT_APPLIED else weight for name, weight in base.items()}
    return {ObjectiveKind.KNOWLEDGE: dict(base), ObjectiveKind.SKILL: dict(base), ObjectiveKind.APPLICATION: applied}


def merged_weights(stated: Mapping[str, Mapping[str, float]] | None) -> EvidenceWeights:
    """The default rules with whatever the program states laid over them."""
    weights = default_weights()
    for kind, sources in (stated or {}).items():
        for source, weight in sources.items():
            weights[ObjectiveKind(kind)][EvidenceSourceName(source)] = float(weight)
    return weights


class EvidenceError(ValueError):
    """Evidence the platform refuses; nothing was recorded."""


@dataclass(frozen=True)
class Policy:
    """The program's mastery method, its settings, the named levels and the at-risk bar."""

    settings: dict[str, Any]
    thresholds: dict[str, float]
    at_risk_below: float
    weights: EvidenceWeights

    @property
    def method(self) -> MasteryMethod:
        return method_for(self.settings, self.thresholds)

    def weight(self, source: EvidenceSourceName, kind: ObjectiveKind) -> float:
        """How much evidence from ``source`` counts toward an objective of ``kind``."""
        return self.weights[kind][source]

    def name_of(self, level: float | None) -> str:
        return named_level(level, self.thresholds)

    def rank_of(self, level: float | None) -> int:
        """0 for no evidence, then 1.. for each named level from the lowest."""
        if level is None:
            return 0
        return sum(1 for bound in self.thresholds.values() if level >= bound) or 1


def policy(session: DbSession) -> Policy:
    """The loaded program's policy (content/mastery.yml), or the defaults before any is
    loaded: kept in this process for the content revision (``lms.catalog.revision``; the
    policy is a content item, so a new one replaces the revision)."""
    return cached(session, "progress.policy", _policy)


def _policy(session: DbSession) -> Policy:
    row = session.scalar(select(MasteryPolicy).where(MasteryPolicy.retired_at.is_(None)).order_by(MasteryPolicy.id))
    if row is None:
        return Policy(dict(DEFAULT_SETTINGS), dict(DEFAULT_THRESHOLDS), DEFAULT_AT_RISK_BELOW, default_weights())
    return Policy({**DEFAULT_SETTINGS, **row.settings, "method": row.method}, dict(row.thresholds), row.at_risk_below,
                  merged_weights(row.evidence_weights))


def method_for(settings: Mapping[str, Any] | None = None, thresholds: Mapping[str, float] | None = None) -> MasteryMethod:
    """The method ``settings`` name (over the defaults), holding a level under the top of
    ``thresholds`` (the program's named levels; the defaults when not given) while the
    evidence is too light for it."""
    merged = {**DEFAULT_SETTINGS, **(settings or {})}
    if merged["method"] not in MASTERY_METHODS:
        raise EvidenceError(f"Unknown mastery method {merged['method']!r}; choose one of {', '.join(MASTERY_METHODS)}.")
    return MASTERY_METHODS[merged["method"]](merged, thresholds or DEFAULT_THRESHOLDS)


def joined_months(session: DbSession, user_ids: Iterable[int] | None = None, cohort_id: int | None = None) -> dict[int, date]:
    """The first month (its first day) of each learner's time in the program: the month they
    joined it, or their cohort's first, whichever is later (of their first cohort, when they
    moved), in one statement (of ``user_ids``, of the current learners of ``cohort_id``, or of
    everyone enrolled). Their KPI figures for months before it stay on their record but are
    not evidence (``before_joining``). A user never enrolled has none: nothing of theirs is
    before joining."""
    query = select(Enrolment.user_id, Enrolment.started_at, Cohort.start_date, Cohort.timezone).join(
        Cohort, Cohort.id == Enrolment.cohort_id)
    if cohort_id is not None:
        query = query.where(Enrolment.user_id.in_(select(Enrolment.user_id).where(Enrolment.cohort_id == cohort_id,
                                                                                  Enrolment.active)))
    if user_ids is not None:
        wanted = set(user_ids)
        if not wanted:
            return {}
        query = query.where(Enrolment.user_id.in_(wanted))
    zones: dict[str, ZoneInfo] = {}
    joined: dict[int, date] = {}
    for user_id, started_at, start_date, zone in session.execute(query):
        local = started_at.astimezone(zones.setdefault(zone, ZoneInfo(zone))).date()
        month = max(local, start_date).replace(day=1)
        if user_id not in joined or month < joined[user_id]:
            joined[user_id] = month
    return joined


def before_joining(source: str, source_ref: str, joined: date | None) -> bool:
    """Whether evidence of ``source`` under ``source_ref`` is a KPI figure for a month before
    the learner joined the program (``joined``, from ``joined_months``): their business's
    figures from before are no evidence of what the program taught them."""
    if joined is None or source != EvidenceSourceName.KPI:
        return False
    period = KpiSource.period_of(source_ref)
    return period is not None and period < joined


def point_of(e: Any, joined: date | None) -> Point:
    """An evidence row (with ``level``, ``weight``, ``source``, ``source_ref``, ``recorded_by_id``
    and ``judge``) as the method's point, for a learner who joined the program in ``joined``'s
    month: a KPI figure for a month before it is on the record at weight 0 (not counted).
    Every reader of evidence (the incremental update, the rebuild, the profile's trail, the
    cohort's trend) makes its points here, so they cannot drift apart."""
    weight = 0.0 if before_joining(e.source, e.source_ref, joined) else e.weight
    return Point(level=e.level, weight=weight, vouched=e.source not in UNVOUCHED, rater=rater_of(e.source, e.recorded_by_id),
                 judge=e.judge)


def _points(rows: Iterable[Any], joined: date | None = None) -> tuple[list[Point], list[datetime]]:
    """Evidence rows (``point_of``'s columns, ``recorded_at`` and ``id``) as the method's points
    in the order recorded, and each one's moment."""
    ordered = sorted(rows, key=lambda e: (e.recorded_at, e.id))
    return [point_of(e, joined) for e in ordered], [e.recorded_at for e in ordered]


def evidence_row(user_id: int, objective_id: int, source: EvidenceSourceName | str, source_ref: str, fraction: float,
                 at: datetime, note: str = "", recorded_by_id: int | None = None, weight: float | None = None,
                 judge: str | None = None) -> dict[str, Any]:
    """The column values of one piece of evidence: ``fraction`` of full marks (0-1) on the
    0-4 scale, at ``weight`` (the rules' weight for the source and the objective's kind;
    the source's default when not given: ``reweigh`` then sets it by the rules). Recording
    and the volume generator (``lms.demo.benchmark``, which bulk-inserts these rows) both
    build rows here."""
    if source not in SOURCES:
        raise EvidenceError(f"Unknown evidence source {source!r}.")
    if not 0 <= fraction <= 1:
        raise EvidenceError("Evidence is a fraction between 0 and 1.")
    kind = EvidenceSourceName(source)
    return {"user_id": user_id, "objective_id": objective_id, "source": kind, "source_ref": source_ref,
            "level": round(fraction * 4, 4), "weight": SOURCES[kind].weight if weight is None else weight, "note": note,
            "recorded_at": at, "written_at": at,
            "recorded_by_id": recorded_by_id, "judge": judge}


def objective_kinds(session: DbSession, objective_ids: Iterable[int] | None = None) -> dict[int, ObjectiveKind]:
    """Each objective's kind by id (of ``objective_ids``, or of every objective)."""
    query = select(Objective.id, Objective.kind)
    if objective_ids is not None:
        wanted = set(objective_ids)
        if not wanted:
            return {}
        query = query.where(Objective.id.in_(wanted))
    return {oid: kind for oid, kind in session.execute(query)}


def weighed(rows: list[dict[str, Any]], rules: Policy, kinds: Mapping[int, ObjectiveKind]) -> list[dict[str, Any]]:
    """``evidence_row`` rows with the weight the rules give each one's source on its objective's kind."""
    for row in rows:
        row["weight"] = rules.weight(row["source"], kinds.get(row["objective_id"], ObjectiveKind.KNOWLEDGE))
    return rows


def _method(rules: Policy, settings: Mapping[str, Any] | None) -> MasteryMethod:
    return method_for(settings, rules.thresholds) if settings is not None else rules.method


def reweigh(session: DbSession, rules: Policy | None = None) -> None:
    """Give every piece of evidence the weight the rules set for its source and its
    objective's kind, in a fixed number of statements; ``rebuild`` then recomputes mastery."""
    rules = rules or policy(session)
    for kind, sources in rules.weights.items():
        of_kind = select(Objective.id).where(Objective.kind == kind).scalar_subquery()
        for source, weight in sources.items():
            session.execute(update(Evidence).where(Evidence.source == source, Evidence.objective_id.in_(of_kind),
                                                   Evidence.weight != weight).values(weight=weight))
    session.flush()


def record(session: DbSession, user_id: int, objective_id: int, source: EvidenceSourceName, source_ref: str, fraction: float,
           now: datetime, note: str = "", settings: Mapping[str, Any] | None = None,
           recorded_by_id: int | None = None) -> Evidence:
    """Record evidence (``fraction`` of full marks, 0-1) and update that one mastery."""
    rules = policy(session)
    evidence = _add(session, rules, user_id, objective_id, source, source_ref, fraction, now, note, recorded_by_id)
    _update(session, user_id, [objective_id], _method(rules, settings), rules.at_risk_below, now)
    return evidence


def _add(session: DbSession, rules: Policy, user_id: int, objective_id: int, source: EvidenceSourceName, source_ref: str,
         fraction: float, now: datetime, note: str, recorded_by_id: int | None) -> Evidence:
    """One piece of evidence, at the weight the rules give its source on the objective's kind, written."""
    if source not in SOURCES:
        raise EvidenceError(f"Unknown evidence source {source!r}.")
    kind = objective_kinds(session, [objective_id]).get(objective_id, ObjectiveKind.KNOWLEDGE)
    evidence = Evidence(**evidence_row(user_id, objective_id, source, source_ref, fraction, now, note, recorded_by_id,
                                       rules.weight(EvidenceSourceName(source), kind)))
    session.add(evidence)
    session.flush()
    return evidence


def replace_evidence(session: DbSession, user_id: int, source: EvidenceSourceName, source_ref: str, fractions: Mapping[int, float],
                     now: datetime, note: str = "", recorded_by_id: int | None = None,
                     settings: Mapping[str, Any] | None = None, at: datetime | None = None,
                     judge: str | None = None) -> list[Evidence]:
    """Make ``source_ref``'s evidence exactly ``fractions`` (objective id -> 0-1): a regraded
    piece of work replaces what its earlier grade said; an empty mapping withdraws it.
    Evidence that would be recorded exactly as it stands (same levels, same time) is left
    alone, so re-stating an unchanged result changes nothing. ``source_ref`` is one result's
    whole evidence whatever its source: a quiz turned practice moves from one source to
    the other. The evidence is dated ``at`` (when the result was made: a quiz attempt's
    submission) or ``now``; the mastery it moves is updated ``now``, when it changes (a
    written answer graded days after the attempt), which the API's ``updated_since`` reads."""
    rules = policy(session)
    kinds = objective_kinds(session, fractions)
    new = [Evidence(**{**evidence_row(user_id, oid, source, source_ref, f, at or now, note, recorded_by_id,
                                      rules.weight(EvidenceSourceName(source), kinds.get(oid, ObjectiveKind.KNOWLEDGE)), judge),
                       "written_at": now})
           for oid, f in fractions.items()]
    old = list(session.scalars(select(Evidence).where(Evidence.user_id == user_id, Evidence.source_ref == source_ref)))
    if _same(old, new):
        return old
    touched = {e.objective_id for e in old} | set(fractions)
    if not touched:
        return []
    for e in old:
        session.delete(e)
    session.add_all(new)
    session.flush()
    _update(session, user_id, sorted(touched), _method(rules, settings), rules.at_risk_below, now)
    return new


def _same(old: list[Evidence], new: list[Evidence]) -> bool:
    def key(e: Evidence) -> tuple[Any, ...]:
        return (e.objective_id, e.source, e.level, e.weight, e.note, e.recorded_by_id, e.judge, e.recorded_at)
    return bool(old) and sorted(map(key, old)) == sorted(map(key, new))


def _update(session: DbSession, user_id: int, objective_ids: list[int], method: MasteryMethod, bar: float,
            now: datetime) -> None:
    hold_users(session, [user_id])  # another request's evidence for them, committed first, is read below
    rows: dict[int, list[Evidence]] = defaultdict(list)
    for e in session.scalars(select(Evidence).where(Evidence.user_id == user_id, Evidence.objective_id.in_(objective_ids))):
        rows[e.objective_id].append(e)
    # Read again even where this session holds the row already: another request may have
    # moved it since (and committed before the lock above was granted); the change
    # announced below is from the level that stands.
    current = {m.objective_id: m for m in session.scalars(
        select(Mastery).where(Mastery.user_id == user_id, Mastery.objective_id.in_(objective_ids))
        .execution_options(populate_existing=True))}
    changes: dict[int, tuple[float | None, float | None]] = {}
    joined = joined_months(session, [user_id]).get(user_id)
    for objective_id in objective_ids:
        mastery = current.get(objective_id)
        points, moments = _points(rows[objective_id], joined)
        level, held = method.assess(points)
        before = mastery.level if mastery is not None else None
        if level != before:
            changes[objective_id] = (before, level)
        if level is None:  # nothing, or nothing that counts
            if mastery is not None:
                session.delete(mastery)
            continue
        if mastery is None:
            mastery = Mastery(user_id=user_id, objective_id=objective_id, method=method.name)
            session.add(mastery)
        mastery.level, mastery.evidence_count, mastery.held = level, counted(points), held
        mastery.missing = method.missing(points) if held else 0.0
        mastery.method, mastery.updated_at = method.name, now
        mastery.below_since = method.below_since(points, moments, bar)
    session.flush()
    if changes:
        mastery_changed.send(user_id, session=session, now=now, changes=changes)


def rebuild(session: DbSession, now: datetime, settings: Mapping[str, Any] | None = None) -> int:
    """Recompute every mastery (and when each went below the at-risk bar) from all evidence,
    in a fixed number of statements."""
    rules = policy(session)
    method = _method(rules, settings)
    hold_users(session, None)  # an evidence record meanwhile waits, then finds the rebuilt rows
    grouped: dict[tuple[int, int], list[Any]] = defaultdict(list)
    # Plain rows of the columns the methods need, not ORM objects: a 200k-row rebuild
    # stays small in memory and fast.
    rows = session.execute(select(Evidence.id, Evidence.user_id, Evidence.objective_id, Evidence.level, Evidence.weight,
                                  Evidence.source, Evidence.source_ref, Evidence.recorded_by_id, Evidence.judge,
                                  Evidence.recorded_at))
    for e in rows:
        grouped[(e.user_id, e.objective_id)].append(e)
    rows_deleting.send(Mastery, session=session, where=[])
    session.execute(delete(Mastery))
    made = 0
    joined = joined_months(session)
    for (u, o), found in grouped.items():
        points, moments = _points(found, joined.get(u))
        level, held = method.assess(points)
        if level is not None:
            session.add(Mastery(user_id=u, objective_id=o, level=level, evidence_count=counted(points), method=method.name,
                                updated_at=now, below_since=method.below_since(points, moments, rules.at_risk_below),
                                held=held, missing=method.missing(points) if held else 0.0))
            made += 1
    session.flush()
    return made


# --------------------------------------------------------------------------- lessons read


def active_lesson(session: DbSession, key: str) -> Lesson | None:
    return session.scalar(select(Lesson).where(Lesson.key == key, Lesson.retired_at.is_(None)))


def mark_read(session: DbSession, user_id: int, lesson: Lesson, now: datetime) -> LessonRead:
    """Mark ``lesson`` read for the learner; marking it again changes nothing, and so does
    a second request marking it at the same moment (a double click): it finds the first's
    mark (``insert_unless_there``), and nothing is announced twice."""
    query = select(LessonRead).where(LessonRead.user_id == user_id, LessonRead.lesson_id == lesson.id)
    row = session.scalar(query)
    if row is not None:
        return row
    made = insert_unless_there(session, LessonRead, {"user_id": user_id, "lesson_id": lesson.id, "read_at": now},
                               ("user_id", "lesson_id"))
    row = session.scalars(query.execution_options(populate_existing=True)).one()
    if made:
        lesson_read.send(user_id, session=session, now=now, lesson=lesson)
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
         now: datetime, token: str = "") -> Evidence:
    """An instructor's judgement of a learner on one objective: a whole level 0-4 with the
    note that justifies it, recorded as evidence from the rating source. ``token`` names the
    form it came from: the same form sent again (a double click, at once or later) finds the
    rating it recorded and records nothing, where each had counted as another full judgement
    (two made an objective mastered). ``token`` is the form's checked one-time value
    (``OneTimeField.value``); without one ("") each call records."""
    if objective is None or objective.id is None or objective.retired_at is not None:
        raise EvidenceError("Choose one of the program's objectives.")
    if isinstance(level, bool) or not isinstance(level, int) or level not in RATING_LEVELS:
        raise EvidenceError("The level is a whole number from 0 to 4.")
    text = (note or "").strip()
    if not text:
        raise EvidenceError("Write a note saying what you saw that justifies this level.")
    if len(text) > MAX_NOTE:
        raise EvidenceError(f"Keep the note under {MAX_NOTE} characters.")
    tokened = bool(token)
    ref = f"rater:{rater_id}:{token}" if tokened else f"rater:{rater_id}"
    rules = policy(session)
    evidence = _add(session, rules, learner_id, objective.id, EvidenceSourceName.RATING, ref, level / 4, now, text, rater_id)
    if tokened:
        # Written first, then looked for: of the same form sent twice at once, the second
        # waits here for the first to commit (SQLite's one writer at a time, PostgreSQL's
        # lock on the learner), then finds its rating and takes its own back.
        hold_users(session, [learner_id])
        sent = session.scalar(select(Evidence).where(
            Evidence.user_id == learner_id, Evidence.source == EvidenceSourceName.RATING, Evidence.source_ref == ref,
            Evidence.id != evidence.id).order_by(Evidence.id).limit(1))
        if sent is not None:  # never seen by anyone: taken back without a trace (no API removal)
            session.execute(delete(Evidence).where(Evidence.id == evidence.id))
            session.expunge(evidence)
            return sent
    _update(session, learner_id, [objective.id], rules.method, rules.at_risk_below, now)
    return evidence


# --------------------------------------------------------------------------- the competency profile


@dataclass(frozen=True)
class TrailEntry:
    """One piece of evidence as learners and instructors read it, with what it did to the
    level: the mastery right after it under the program's method, and the change it made."""

    recorded_at: datetime
    source: str        # the source's label, e.g. "Instructor rating"
    note: str
    level: float
    weight: float
    recorded_by: str | None  # the person who judged, when a person did
    vouched: bool = True  # whether it counts toward the evidence the top level needs (``Point.vouched``)
    rater: int | None = None  # who judged it, when their repeat judgements count once (``Point.rater``)
    judge: str | None = None  # who judged it, when their later judgement replaces this one (``Point.judge``)
    level_after: float | None = None  # mastery once this piece counted (None: still no counted evidence)
    change: float | None = None       # level_after minus the level before it (None for the first counted piece)
    # A KPI figure for a month before the learner joined the program: on the record, not evidence.
    before_joining: bool = False
    # The same person rated the learner on this objective again later: that later rating counts instead.
    superseded: bool = False

    @property
    def counted(self) -> bool:
        return self.weight > 0 and not self.superseded

    @property
    def source_in_sentence(self) -> str:
        """The label inside a sentence ("moved by instructor rating"); an initialism keeps its
        capitals ("moved by KPI progress")."""
        return " ".join(word if word.isupper() and len(word) > 1 else word.lower() for word in self.source.split(" "))


# A fall of more than this in one step is called out with its cause.
NOTABLE_DROP = 0.5


@dataclass(frozen=True)
class ObjectiveProfile:
    objective: Objective
    level: float | None
    name: str          # the named level, e.g. "proficient"
    rank: int          # 0 no evidence, then 1.. per named level from the lowest
    evidence_count: int
    trail: list[TrailEntry]
    # The name of the level the evidence reached but the level is held just under
    # (``MasteryMethod.hold``): "mastered" while the evidence weighs less than the program
    # asks for it, "proficient" while none of it is staff-checked; as the mastery row keeps
    # it (``Mastery.held``: what the heat map marks).
    held_under: str | None = None
    # While held: how much more staff-checked evidence the level held under needs
    # (``MasteryMethod.missing``: 1 is one more full judgement, such as a graded piece of work).
    missing: float = 0.0

    @property
    def needs(self) -> str:
        """What a held level waits for, in words ("" when it is not held)."""
        return needs_text(self.missing) if self.held_under else ""

    @property
    def latest_move(self) -> TrailEntry | None:
        """The newest piece of evidence that changed the level (or set the first one)."""
        return next((e for e in reversed(self.trail) if e.counted and (e.change is None or abs(e.change) >= 0.005)), None)

    @property
    def drops(self) -> list[TrailEntry]:
        """The pieces of evidence that took the level down by more than ``NOTABLE_DROP`` at once."""
        return [e for e in self.trail if e.change is not None and e.change < -NOTABLE_DROP]


def needs_text(missing: float) -> str:
    """What evidence weighing ``missing`` more (``MasteryMethod.missing``) means for a learner
    or an instructor: pieces of staff-checked evidence (graded work, a quiz, an instructor's
    rating), each of which weighs 1. Ratings from stakeholders and experts and the learner's
    own KPI figures are not staff-checked and never make up the difference."""
    if missing <= 0:
        return ""
    pieces = math.ceil(missing - 1e-9)
    if pieces == 1:
        return "needs one more piece of staff-checked evidence"
    return f"needs {pieces} more pieces of staff-checked evidence"


def _explained(entries: list[TrailEntry], method: MasteryMethod) -> list[TrailEntry]:
    """Each entry with the level after it and the change it made, replaying the method; an
    entry a later one of the same judge supersedes is marked (``superseded``)."""
    points: list[Point] = []
    before: float | None = None
    result = []
    last = {entry.judge: index for index, entry in enumerate(entries) if entry.judge is not None}
    for index, entry in enumerate(entries):
        points.append(Point(level=entry.level, weight=entry.weight, vouched=entry.vouched, rater=entry.rater, judge=entry.judge))
        after = method.level(points) if entry.weight > 0 else before
        change = None if before is None or after is None else round(after - before, 4)
        result.append(replace(entry, level_after=after, change=change,
                              superseded=entry.judge is not None and last[entry.judge] != index))
        before = after
    return result


def profile(session: DbSession, user_id: int, rules: Policy | None = None) -> list[ObjectiveProfile]:
    """Each active objective in program order with the learner's mastery and the evidence
    behind it, oldest first, each piece with what it did to the level, in a fixed number
    of statements."""
    rules = rules or policy(session)
    method = rules.method
    objectives = list(session.scalars(select(Objective).where(Objective.retired_at.is_(None)).order_by(Objective.position)))
    mastery = {m.objective_id: m for m in session.scalars(select(Mastery).where(Mastery.user_id == user_id))}
    trails: dict[int, list[TrailEntry]] = defaultdict(list)
    joined = joined_months(session, [user_id]).get(user_id)
    for e in session.scalars(select(Evidence).where(Evidence.user_id == user_id)
                             .options(selectinload(Evidence.recorded_by)).order_by(Evidence.recorded_at, Evidence.id)):
        source = SOURCES.get(e.source)
        point = point_of(e, joined)
        trails[e.objective_id].append(TrailEntry(
            recorded_at=e.recorded_at, source=source.label if source else e.source, note=e.note, level=e.level,
            weight=point.weight, recorded_by=e.recorded_by.name if e.recorded_by else None, vouched=point.vouched,
            rater=point.rater, judge=point.judge, before_joining=before_joining(e.source, e.source_ref, joined)))
    result = []
    for objective in objectives:
        m = mastery.get(objective.id)
        level = m.level if m else None
        trail = _explained(trails[objective.id], method)
        held = m is not None and m.held
        missing = method.missing([Point(level=t.level, weight=t.weight, vouched=t.vouched, rater=t.rater, judge=t.judge)
                                  for t in trail]) if held else 0.0
        result.append(ObjectiveProfile(objective=objective, level=level, name=rules.name_of(level), rank=rules.rank_of(level),
                                       evidence_count=m.evidence_count if m else 0, trail=trail,
                                       held_under=method.held_under(level) if held else None, missing=missing))
    return result


def page_stamp(user_id: ColumnElement[int], now: ColumnElement[datetime]) -> list[ColumnElement[Any]]:
    """What a learner's cached pages (``lms.web.page_cache``) show from this feature: the
    lessons they marked read and their kept schedule state (items, levels, closing days).
    The state is only ever written whole, a learner at a time (``state.refresh``), with a
    fresh random revision on their line: that one row read by its key stands for all of
    their rows, as a cohort's kept pages sum the revisions (``cohort_stamp``)."""
    return [select(fingerprint(LessonRead.lesson_id)).where(LessonRead.user_id == user_id).scalar_subquery(),
            select(summary(ProgressLearner.revision)).where(ProgressLearner.user_id == user_id).scalar_subquery()]


def cohort_stamp(cohort_id: ColumnElement[int], now: ColumnElement[datetime]) -> list[ColumnElement[Any]]:
    """What a cohort's kept pages (``lms.web.page_cache``: the heat map) show from this
    feature: its learners' kept schedule state (each learner's ``cohort_revision``, what
    the pages show of their items, levels and closing dates folded into a number, summed:
    a change to any of that changes it, a lesson read that starts or finishes nothing does
    not) and their mastery (``MasteryMark``: a number the database draws afresh for a
    learner whenever any of their mastery rows is written or removed, summed over the
    members: one row a learner read by its key, where the sum of every mastery row's
    level, count and time had read eleven)."""
    members = select(Enrolment.user_id).where(Enrolment.cohort_id == cohort_id)
    return [
        select(summary(func.count(), func.sum(ProgressLearner.cohort_revision)))
        .where(ProgressLearner.cohort_id == cohort_id).scalar_subquery(),
        select(summary(func.count(), func.sum(MasteryMark.revision)))
        .where(MasteryMark.user_id.in_(members)).scalar_subquery(),
    ]
