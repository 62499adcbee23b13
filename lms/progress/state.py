"""Each learner's schedule kept as it stands, not recomputed on a page view: one
``ProgressItem`` row per item of their schedule in their current cohort (its dates with
their extensions, done or not, what it counts toward in its level), one ``ProgressLevel``
row per level (the stage reached), one ``ProgressLearner`` row (the due date of the
oldest unfinished assessed item) and one ``ProgressObjective`` row per active objective
(the day it closes on the learner's dates). Whether an item is
open, due soon or overdue follows from its dates and today, so pages ask it with set-based
SQL (``days_behind``, ``overdue_items``, ``funnel_counts``; the heat map's at-risk counts
over ``ProgressObjective``) in a fixed number of statements
whatever the number of learners.

How the rows are kept (the session events are connected in ``lms.progress.wiring``):

* after each flush, the learners whose records changed are noted on the session: a lesson
  marked read, an attempt submitted or scored, work handed in, graded, returned or
  released (every member of a team's shared work), an extension, an enrolment (joining,
  moving, leaving), a team membership, their cohort's start date; a content change
  (lessons, quizzes, assignments, phases, modules, levels, rubrics) notes everyone;
* before the session commits (and before any reader here reads), those learners' rows are
  worked out again from ``lms.progress.completion`` (the one definition of the schedule)
  for just those learners, and only the rows that differ are written (``_sync``): the work
  in Python happens when the event arrives. The learners' user rows are locked first
  (``hold_users``), so two requests rewriting one learner's rows at once take turns;
* ``rebuild`` (``flask lms rebuild-progress``) recomputes every row and gives the same rows.

Bulk inserts that bypass the ORM (the volume generator) call ``rebuild`` themselves."""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, case, delete, event, func, insert, inspect, or_, select, update
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, selectinload

from lms.accounts.models import User
from lms.accounts.services import hold_users
from lms.catalog.models import Module, Objective
from lms.catalog.revision import cached
from lms.cohorts.models import Cohort, Enrolment
from lms.coursework.models import Submission
from lms.coursework.sharing import groups_of, learner_ids, shared_with, sharers
from lms.database import DbSession, utcnow
from lms.learning.services import Timeline
from lms.progress.completion import LearnerProgress, cohorts_progress
from lms.progress.lateness import QUIET, Deadline, relate
from lms.progress.models import ItemKind, ItemRole, ProgressItem, ProgressLearner, ProgressLevel, ProgressObjective

STALE_USERS = "lms.progress.stale_users"
STALE_SUBMISSIONS = "lms.progress.stale_submissions"
STALE_COHORTS = "lms.progress.stale_cohorts"
STALE_ALL = "lms.progress.stale_all"
SETTLING = "lms.progress.settling"
CHUNK = 500  # learners recomputed at once
BATCH = 5000  # rows per INSERT

# Tables whose rows belong to one learner (``user_id``), with the columns whose change
# matters to the schedule (None: any change, and every insert and delete).
LEARNER_TABLES: dict[str, tuple[str, ...] | None] = {
    "lesson_reads": None,
    "quiz_attempts": ("submitted_at", "score", "max_score", "pending_manual", "quiz_id", "user_id"),
    "submissions": ("status", "assignment_id", "user_id", "submitted_at", "returned_at"),
    "schedule_overrides": None,
    "enrolments": None,
    "team_members": None,
}
# Content: a change to any of these changes everyone's schedule (a content load, mostly).
CONTENT_TABLES = frozenset({"lessons", "quizzes", "assignments", "phases", "modules", "levels", "rubrics", "objectives",
                            "module_objectives"})
REVISION_BITS = 40
MODELS = (ProgressItem, ProgressLevel, ProgressLearner, ProgressObjective)  # the kept tables, one row set per learner
Kept = ProgressItem | ProgressLevel | ProgressLearner | ProgressObjective
Tables = tuple[tuple[type[Kept], list[dict[str, Any]]], ...]
# What finds a learner's row again in each kept table when their rows are rewritten (``_sync``).
KEYS: dict[type[Kept], tuple[str, ...]] = {
    ProgressItem: ("user_id", "cohort_id", "position"), ProgressLevel: ("user_id", "cohort_id", "level_id"),
    ProgressLearner: ("user_id",), ProgressObjective: ("user_id", "cohort_id", "objective_id")}
COHORT_COLUMNS = ("start_date",)


# --------------------------------------------------------------------------- noticing changes


def _changed(obj: Any, columns: tuple[str, ...] | None) -> bool:
    if columns is None:
        return True
    state = inspect(obj)
    return any(state.attrs[c].history.has_changes() for c in columns if c in state.attrs)


def _user_ids(obj: Any) -> set[int]:
    """The learner a row belongs to, before and after the change."""
    state = inspect(obj)
    ids = {obj.user_id} if getattr(obj, "user_id", None) is not None else set()
    if "user_id" in state.attrs:
        ids |= {v for v in state.attrs["user_id"].history.deleted if v is not None}
    return ids


def _note_changes(session: Session, flush_context: UOWTransaction) -> None:
    """After a flush: note which learners' schedules the flushed changes touch."""
    info = session.info
    new, dirty, deleted = session.new, session.dirty, session.deleted
    for obj in (*new, *dirty, *deleted):
        table = getattr(obj, "__tablename__", None)
        if table is None:
            continue
        if table in LEARNER_TABLES:
            if obj in dirty and not _changed(obj, LEARNER_TABLES[table]):
                continue
            info.setdefault(STALE_USERS, set()).update(_user_ids(obj))
            if table == "submissions" and getattr(obj, "id", None) is not None:
                info.setdefault(STALE_SUBMISSIONS, set()).add(obj.id)
        elif table in CONTENT_TABLES:
            if obj in dirty and not session.is_modified(obj, include_collections=False):
                continue
            info[STALE_ALL] = True
        elif table == "cohorts" and obj in dirty and _changed(obj, COHORT_COLUMNS):
            info.setdefault(STALE_COHORTS, set()).add(obj.id)


def _note_statement(orm_execute_state: ORMExecuteState) -> None:
    """Bulk statements pass the flush by (``unmark_read`` deletes, the volume generator
    inserts): note the learners they touch, read from their rows or parameters."""
    if not (orm_execute_state.is_update or orm_execute_state.is_delete or orm_execute_state.is_insert):
        return
    if orm_execute_state.execution_options.get(QUIET):  # written from the schedule, changing nothing in it
        return
    table = getattr(orm_execute_state.statement, "table", None)
    name = getattr(table, "name", None)
    if table is None or name is None:
        return
    info = orm_execute_state.session.info
    if name in CONTENT_TABLES:
        info[STALE_ALL] = True
        return
    if name not in LEARNER_TABLES and name != "cohorts":
        return
    column = "user_id" if name in LEARNER_TABLES else "id"
    if orm_execute_state.is_insert:
        params = orm_execute_state.parameters
        rows = params if isinstance(params, list) else [params] if isinstance(params, dict) else []
        found = {r[column] for r in rows if isinstance(r, dict) and r.get(column) is not None}
    else:
        where = orm_execute_state.statement.whereclause  # type: ignore[attr-defined]
        query = select(table.c[column])
        found = set(orm_execute_state.session.scalars(query.where(where) if where is not None else query))
    info.setdefault(STALE_USERS if name in LEARNER_TABLES else STALE_COHORTS, set()).update(found)


def _settle_before_commit(session: Session) -> None:
    # A savepoint's commit fires this event too; the rows are rewritten once, when the
    # whole unit of work commits (a reader settles first anyway), not after each savepoint.
    if session.in_nested_transaction():
        return
    settle(session)


def _forget_after_commit(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint's commit: the notes wait for the whole unit
        _forget(session)


def _forget(session: DbSession) -> None:
    for key in (STALE_USERS, STALE_SUBMISSIONS, STALE_COHORTS, STALE_ALL):
        session.info.pop(key, None)


def _forget_after_rollback(session: Session, previous_transaction: Any) -> None:
    if getattr(previous_transaction, "parent", None) is None:  # the whole unit of work, not a savepoint
        _forget(session)


LISTENERS = (("after_flush", _note_changes), ("do_orm_execute", _note_statement), ("before_commit", _settle_before_commit),
             ("after_commit", _forget_after_commit), ("after_soft_rollback", _forget_after_rollback))


def listen() -> None:
    """Connect the session events (from ``lms.progress.wiring``; once, whatever the apps)."""
    for name, fn in LISTENERS:
        if not event.contains(Session, name, fn):
            event.listen(Session, name, fn)


def _pending(session: DbSession) -> bool:
    info = session.info
    return bool(info.get(STALE_ALL) or info.get(STALE_USERS) or info.get(STALE_COHORTS) or info.get(STALE_SUBMISSIONS))


def settle(session: DbSession, now: datetime | None = None) -> None:
    """Bring the noted learners' rows up to date (before a commit, and before a reader
    reads). Nothing to do, nothing run: a page view whose request changed nothing does
    not write."""
    real = session
    info = real.info
    if info.get(SETTLING):
        return
    if real.new or real.dirty or real.deleted:
        if not _pending(real) and not _touches_schedule(real):
            return
        real.flush()
    info[SETTLING] = True
    try:
        while _pending(real):
            everyone = info.pop(STALE_ALL, False)
            users: set[int] = info.pop(STALE_USERS, set())
            submissions: set[int] = info.pop(STALE_SUBMISSIONS, set())
            cohorts: set[int] = info.pop(STALE_COHORTS, set())
            moment = now or utcnow()
            if everyone:
                rebuild(real, moment)
                continue
            users |= _members_of(real, submissions) | _learners_of(real, cohorts)
            refresh(real, users, moment)
            if real.new or real.dirty or real.deleted:
                real.flush()
    finally:
        info[SETTLING] = False


def _touches_schedule(session: DbSession) -> bool:
    tables = set(LEARNER_TABLES) | CONTENT_TABLES | {"cohorts"}
    return any(getattr(o, "__tablename__", None) in tables for o in (*session.new, *session.dirty, *session.deleted))


def _members_of(session: DbSession, submission_ids: set[int]) -> set[int]:
    """Everyone whose work the submissions are (a team's shared work is every member's)."""
    if not submission_ids:
        return set()
    groups = groups_of(session, submission_ids)
    found: set[int] = set()
    for submission in session.scalars(select(Submission).where(Submission.id.in_(submission_ids))):
        found.update(learner_ids(submission, groups.get(submission.id)))
    return found


def _learners_of(session: DbSession, cohort_ids: set[int]) -> set[int]:
    if not cohort_ids:
        return set()
    return set(session.scalars(select(Enrolment.user_id).where(Enrolment.cohort_id.in_(cohort_ids), Enrolment.active)))


# --------------------------------------------------------------------------- writing the rows


def item_rows(cohort_id: int, learner: LearnerProgress) -> list[dict[str, Any]]:
    """One learner's schedule as ``ProgressItem`` column values, in their schedule's order."""
    roles: dict[int, ItemRole] = {}
    for status in learner.levels:
        for part in status.parts:
            for item in part.items:
                roles[id(item)] = ItemRole.PART
        if status.exam is not None:
            roles[id(status.exam)] = ItemRole.EXAM
        if status.portfolio is not None:
            roles[id(status.portfolio)] = ItemRole.PORTFOLIO
    return [{"user_id": learner.user_id, "cohort_id": cohort_id, "position": position, "kind": item.kind,
             "key": item.key, "title": item.title[:200], "module_id": item.module.id if item.module else None,
             "level_id": item.level.id if item.level else None, "role": roles.get(id(item), ItemRole.NONE),
             "opens_on": item.opens_on, "due_on": item.due_on, "done": item.done, "handed_in": item.handed_in,
             "detail": item.detail[:120]}
            for position, item in enumerate(learner.items)]


def level_rows(cohort_id: int, learner: LearnerProgress) -> list[dict[str, Any]]:
    """One learner's stage in each level (``LevelStatus.stage``) and whether they started it."""
    rows = []
    for status in learner.levels:
        items = [i for p in status.parts for i in p.items] + [i for i in (status.exam, status.portfolio) if i is not None]
        rows.append({"user_id": learner.user_id, "cohort_id": cohort_id, "level_id": status.level.id, "stage": status.stage,
                     "started": status.stage > 0 or any(i.done for i in items)})
    return rows


def learner_row(cohort_id: int, learner: LearnerProgress) -> dict[str, Any]:
    """The due date of the learner's oldest assessed item still owed (``Item.owed``: what
    days behind count from), and a fresh ``revision`` (40 random bits: a cohort's sum stays within 64 bits).
    ``_write`` adds its ``cohort_revision`` once the learner's other rows are made."""
    due = [i.due_on for i in learner.items if i.assessed and i.owed]
    return {"user_id": learner.user_id, "cohort_id": cohort_id, "oldest_due": min(due, default=None),
            "revision": secrets.randbits(REVISION_BITS)}


def cohort_revision(line: dict[str, Any], items: Sequence[dict[str, Any]], levels: Sequence[dict[str, Any]],
                    closings: Sequence[dict[str, Any]]) -> int:
    """What a cohort's kept pages (the heat map, its trend) read of one learner's rows,
    folded into 40 bits: the learner and cohort, the oldest due date (days behind), each
    level's stage and whether it was started (the funnel), when each objective closes (at
    risk on a closed objective), and each assessed item's place, title, due date, whether
    it is done and whether its work waits for a grade (the overdue items). A lesson read, the most frequent event, that
    starts or finishes nothing changes none of it, so the cohort's pages stay kept; the
    same rows always give the same number (``rebuild`` reproduces it), and the learner's
    id in it keeps two learners trading states from cancelling out in the cohort's sum."""
    seen = (line["user_id"], line["cohort_id"], line["oldest_due"],
            [(r["level_id"], r["stage"], r["started"]) for r in levels],
            [(r["objective_id"], r["closes_on"]) for r in closings],
            [(r["position"], str(r["kind"]), r["key"], r["title"], r["due_on"], r["done"], r["handed_in"])
             for r in items if r["kind"] is not ASSESSED])
    return int.from_bytes(hashlib.blake2b(repr(seen).encode(), digest_size=REVISION_BITS // 8).digest(), "big")


def _phase_days(objective: Objective, timeline: Timeline, end: int) -> list[date]:
    """When each active phase of the objective's active modules opens (``end`` 0) or is due
    (``end`` 1) on ``timeline``."""
    return [timeline.phase_dates(phase.month)[end]
            for module in objective.modules if module.active for phase in module.phases if phase.active]


def objective_closings(objectives: Sequence[Objective], timeline: Timeline) -> dict[int, date | None]:
    """Objective id -> the day the last phase of its active modules is due on ``timeline``
    (None: no active module serves it)."""
    return {objective.id: max(_phase_days(objective, timeline, 1), default=None) for objective in objectives}


def objective_openings(objectives: Sequence[Objective], timeline: Timeline) -> dict[int, date | None]:
    """Objective id -> the day the first phase of its active modules opens on ``timeline``:
    when its teaching starts (None: no active module serves it)."""
    return {objective.id: min(_phase_days(objective, timeline, 0), default=None) for objective in objectives}


def active_objectives_with_modules(session: DbSession) -> list[Objective]:
    """The active objectives in order, with their modules and the modules' phases (3 statements)."""
    return list(session.scalars(
        select(Objective).where(Objective.retired_at.is_(None)).order_by(Objective.position)
        .options(selectinload(Objective.modules).selectinload(Module.phases))))


def kept_objectives(session: DbSession) -> list[Objective]:
    """``active_objectives_with_modules``, kept in this process for the content revision
    (``lms.catalog.revision.cached``: detached, read only; read afresh in a transaction that
    changed the content): every learner's rows written (an event) read them, and the heat
    map's columns."""
    return cached(session, "progress.objectives", active_objectives_with_modules)


def objective_rows(cohort: Cohort, learner: LearnerProgress, objectives: Sequence[Objective],
                   cache: dict[Timeline, dict[int, date | None]]) -> list[dict[str, Any]]:
    """When each active objective closes for the learner: on the cohort's dates, or on their
    own when they joined late (as the heat map's columns close for them)."""
    timeline = learner.timeline if learner.timeline.late else Timeline(cohort.start_date)
    if timeline not in cache:
        cache[timeline] = objective_closings(objectives, timeline)
    return [{"user_id": learner.user_id, "cohort_id": cohort.id, "objective_id": oid, "closes_on": day}
            for oid, day in cache[timeline].items()]


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for first in range(0, len(values), size):
        yield values[first:first + size]


def _made(session: DbSession, enrolments: Iterable[tuple[int, int]], now: datetime,
          deadlines: dict[tuple[int, str], Deadline] | None = None) -> Iterator[Tables]:
    """The rows of (user id, cohort id) pairs, table by table, ``CHUNK`` learners at a time;
    into ``deadlines``, when given, the due date of each learner's assessed work."""
    pairs = sorted(enrolments)
    cohorts = {c.id: c for c in session.scalars(select(Cohort).where(Cohort.id.in_({c for _u, c in pairs})))} if pairs else {}
    objectives = kept_objectives(session) if pairs else []
    closings: dict[Timeline, dict[int, date | None]] = {}
    for chunk in _chunks(pairs, CHUNK):
        by_cohort: dict[int, list[int]] = defaultdict(list)
        for user_id, cohort_id in chunk:
            by_cohort[cohort_id].append(user_id)
        groups = [(cohorts[cid], ids) for cid, ids in by_cohort.items()]
        progress = cohorts_progress(session, groups, now)
        learners = [(cohort.id, progress[cohort.id][uid]) for cohort, ids in groups for uid in ids]
        if deadlines is not None:
            deadlines.update({(learner.user_id, item.key): Deadline(cid, item.scheduled_due_on, cohorts[cid].timezone)
                              for cid, learner in learners for item in learner.items if item.scheduled_due_on is not None})
        kept = [(item_rows(cid, learner), level_rows(cid, learner), objective_rows(cohorts[cid], learner, objectives, closings),
                 learner_row(cid, learner)) for cid, learner in learners]
        for items, levels, closing, line in kept:
            line["cohort_revision"] = cohort_revision(line, items, levels, closing)
        yield ((ProgressItem, [r for items, _levels, _closing, _line in kept for r in items]),
               (ProgressLevel, [r for _items, levels, _closing, _line in kept for r in levels]),
               (ProgressObjective, [r for _items, _levels, closing, _line in kept for r in closing]),
               (ProgressLearner, [line for *_rows, line in kept]))


def _insert(session: DbSession, model: type[Kept], rows: Sequence[dict[str, Any]]) -> None:
    for batch in _chunks(rows, BATCH):
        # NULLs written, not left out: every row has the same columns, so a batch is one
        # statement (an item without a module had split a learner's items into seven)
        session.execute(insert(model).execution_options(render_nulls=True), list(batch))


def _sync(session: DbSession, model: type[Kept], user_ids: Sequence[int], rows: Sequence[dict[str, Any]]) -> None:
    """Make the learners' kept rows in ``model`` the ``rows`` made for them: a row found
    again by its key (``KEYS``) and unchanged is left as it is, a changed one is updated in
    place, the others deleted or inserted. A lesson read changes one of a learner's 86
    items and their line; rewriting all their rows cost a learner's event 4-8 ms more on
    PostgreSQL (each row inserted checks four foreign keys), 2-3 ms on SQLite. A key found twice (rows
    written twice by two rewrites at once, before ``hold_users``) keeps one row."""
    table = cast(Table, model.__table__)  # a mapped class's table (typed as any FromClause)
    keys = KEYS[model]
    (primary,) = (column.name for column in table.primary_key)
    found: dict[tuple[Any, ...], Any] = {}
    gone: list[Any] = []
    for old in session.execute(select(table).where(table.c.user_id.in_(user_ids))).mappings():
        key = tuple(old[name] for name in keys)
        if key in found:
            gone.append(old[primary])
        else:
            found[key] = old
    added: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for row in rows:
        old = found.pop(tuple(row[name] for name in keys), None)
        if old is None:
            added.append(row)
        elif any(old[name] != value for name, value in row.items()):
            changed.append({**row, primary: old[primary]})
    gone += [old[primary] for old in found.values()]
    for batch in _chunks(gone, BATCH):
        session.execute(delete(table).where(table.c[primary].in_(batch)))
    for batch in _chunks(changed, BATCH):
        session.execute(update(model), list(batch))  # by primary key, one statement for the batch
    _insert(session, model, added)


def _teams_of(session: DbSession, user_ids: Sequence[int], now: datetime,
              deadlines: dict[tuple[int, str], Deadline]) -> dict[int, list[int]]:
    """The shared work (a team's) of ``user_ids``: submission id -> every member, with the
    deadlines of the members outside ``user_ids`` added to ``deadlines`` (worked out, not
    written: their kept rows do not change), so their team's work is judged by the team's
    deadline (``lms.progress.lateness.team_deadline``). Two statements when nobody shares
    work; a team's handful of members otherwise."""
    mine = {sid for _uid, sid in shared_with(session, user_ids)}
    if not mine:
        return {}
    found = sharers()
    assert found is not None  # some work is shared
    teams: dict[int, list[int]] = defaultdict(list)
    for sid, uid in session.execute(select(found.c.submission_id, found.c.learner_id)
                                    .where(found.c.submission_id.in_(sorted(mine)))):
        teams[sid].append(uid)
    others = {uid for members in teams.values() for uid in members} - set(user_ids)
    if others:
        pairs = session.execute(select(Enrolment.user_id, Enrolment.cohort_id)
                                .where(Enrolment.user_id.in_(sorted(others)), Enrolment.active)).all()
        cohorts = {c.id: c for c in session.scalars(select(Cohort).where(Cohort.id.in_({c for _u, c in pairs})))}
        by_cohort: dict[int, list[int]] = defaultdict(list)
        for uid, cid in pairs:
            by_cohort[cid].append(uid)
        progress = cohorts_progress(session, [(cohorts[cid], ids) for cid, ids in by_cohort.items()], now)
        for cid, learners in progress.items():
            deadlines.update({(learner.user_id, item.key): Deadline(cid, item.scheduled_due_on, cohorts[cid].timezone)
                              for learner in learners.values() for item in learner.items
                              if item.scheduled_due_on is not None})
    return dict(teams)


def refresh(session: DbSession, user_ids: Iterable[int], now: datetime) -> int:
    """Bring the rows of ``user_ids`` up to date (none for someone not enrolled now),
    writing only what changed (``_sync``); how many items they hold."""
    ids = sorted(set(user_ids))
    if not ids:
        return 0
    written = 0
    for chunk in _chunks(ids, CHUNK):
        hold_users(session, chunk)  # a second rewrite of these learners' rows waits for this one
        pairs = session.execute(select(Enrolment.user_id, Enrolment.cohort_id)
                                .where(Enrolment.user_id.in_(chunk), Enrolment.active)).all()
        made: dict[type[Kept], list[dict[str, Any]]] = {model: [] for model in MODELS}
        deadlines: dict[tuple[int, str], Deadline] = {}
        for tables in _made(session, [(u, c) for u, c in pairs], now, deadlines):
            for model, rows in tables:
                made[model] += rows
        for model in MODELS:
            _sync(session, model, chunk, made[model])
        teams = _teams_of(session, chunk, now, deadlines)
        relate(session, deadlines, chunk, now, teams)  # an extension or a moved date can make work late, or not
        written += len(made[ProgressItem])
    return written


def rebuild(session: DbSession, now: datetime) -> int:
    """Recompute every learner's rows from their records; the same rows the events keep."""
    _forget(session)  # whatever was noted so far is covered
    hold_users(session, None)
    for model in MODELS:
        session.execute(delete(model))
    pairs = session.execute(select(Enrolment.user_id, Enrolment.cohort_id).where(Enrolment.active)).all()
    written = 0
    deadlines: dict[tuple[int, str], Deadline] = {}
    for tables in _made(session, [(u, c) for u, c in pairs], now, deadlines):
        for model, rows in tables:
            _insert(session, model, rows)
        written += len(tables[0][1])
    for chunk in _chunks(sorted({u for u, _c in pairs}), CHUNK):
        relate(session, deadlines, chunk, now)
    return written


# --------------------------------------------------------------------------- reading


ASSESSED = ItemKind.LESSON  # every kind but this one is assessed


def unkept(session: DbSession) -> int:
    """How many current learners have no schedule state kept in their cohort: one statement.
    Nonzero on a site upgraded from before the state was kept until ``rebuild-progress``
    runs; the reminders, the certificate check and the heat map read this state, so those
    learners get no due-date reminder and their progress is missing until then."""
    kept = select(ProgressLearner.user_id).where(ProgressLearner.user_id == Enrolment.user_id,
                                                 ProgressLearner.cohort_id == Enrolment.cohort_id).exists()
    return session.scalar(select(func.count()).select_from(Enrolment).where(Enrolment.active, ~kept)) or 0


def days_behind(session: DbSession, cohort_ids: Sequence[int], today: dict[int, date],
                user_ids: Sequence[int] | None = None) -> dict[int, int]:
    """Learner id -> days their oldest assessed item still owed (``Item.owed``) is past due (only learners
    behind at all): one statement over one kept row per learner."""
    if not cohort_ids:
        return {}
    settle(session)
    query = (select(ProgressLearner.cohort_id, ProgressLearner.user_id, ProgressLearner.oldest_due)
             .where(ProgressLearner.cohort_id.in_(list(cohort_ids)), ProgressLearner.oldest_due.is_not(None)))
    if user_ids is not None:
        query = query.where(ProgressLearner.user_id.in_(list(user_ids)))
    result = {}
    for cohort_id, user_id, oldest in session.execute(query):
        if oldest is None:
            continue
        late = (today[cohort_id] - oldest).days
        if late > 0:
            result[user_id] = late
    return result


def closings(session: DbSession, cohort_id: int, user_ids: Sequence[int]) -> dict[int, tuple[tuple[int, date | None], ...]]:
    """Each of ``user_ids``' kept closing days: (objective id, the day it closes on their
    dates) in objective id order; one statement."""
    if not user_ids:
        return {}
    settle(session)
    query = (select(ProgressObjective.user_id, ProgressObjective.objective_id, ProgressObjective.closes_on)
             .where(ProgressObjective.cohort_id == cohort_id, ProgressObjective.user_id.in_(list(user_ids)))
             .order_by(ProgressObjective.user_id, ProgressObjective.objective_id))
    found: dict[int, list[tuple[int, date | None]]] = defaultdict(list)
    for user_id, objective_id, day in session.execute(query):
        found[user_id].append((objective_id, day))
    return {user_id: tuple(days) for user_id, days in found.items()}


class ScheduledItem(NamedTuple):
    """One assessed item of a learner's schedule as the kept state holds it: when it opens
    and is due on their dates (extensions and early access included), whether it is done,
    whether its work is handed in (by them or their team) and not returned. A tuple: a
    gradebook page reads thousands."""

    opens_on: date
    due_on: date
    done: bool
    handed_in: bool = False

    def overdue(self, today: date) -> bool:
        """Past due, not done, and nothing handed in waiting for its grade: something to
        chase (``overdue_keys`` says the same in SQL)."""
        return self.due_on < today and not self.done and not self.handed_in


def scheduled_items(session: DbSession, cohort_id: int, user_ids: Sequence[int],
                    lessons: Collection[str] = ()) -> dict[int, dict[tuple[ItemKind, str], ScheduledItem]]:
    """Each of ``user_ids``'s assessed items in ``cohort_id`` by (kind, key), from the kept
    state: one statement, nothing worked out per learner (a cohort's gradebook). The lessons
    whose keys are in ``lessons`` come too (a weekly check opens with its lesson: the
    gradebook tells a check not open yet from one not taken)."""
    if not user_ids:
        return {}
    settle(session)
    # By learner, through the index on user_id; the cohort is checked here, not in SQL (a
    # learner's rows are their current cohort's, so it drops nothing but a stray row).
    # Given both, SQLite without statistics chose the cohort's index and read the whole
    # cohort's items for every chunk of a gradebook export: 347 ms a chunk of 200 learners
    # at 5,000, against 16 ms.
    query = (select(ProgressItem.user_id, ProgressItem.kind, ProgressItem.key, ProgressItem.opens_on, ProgressItem.due_on,
                    ProgressItem.done, ProgressItem.handed_in, ProgressItem.cohort_id)
             .where(ProgressItem.user_id.in_(list(user_ids)),
                    or_(ProgressItem.kind != ASSESSED, ProgressItem.key.in_(sorted(lessons))) if lessons
                    else ProgressItem.kind != ASSESSED))
    result: dict[int, dict[tuple[ItemKind, str], ScheduledItem]] = defaultdict(dict)
    for user_id, kind, key, opens_on, due_on, done, handed_in, item_cohort in session.execute(query):
        if item_cohort == cohort_id:
            result[user_id][(kind, key)] = ScheduledItem(opens_on=opens_on, due_on=due_on, done=done, handed_in=handed_in)
    return result


@dataclass(frozen=True)
class OverdueRow:
    kind: ItemKind
    key: str
    title: str
    due_on: date


def overdue_items(session: DbSession, cohort_id: int, today: date, user_ids: Sequence[int]) -> dict[int, list[OverdueRow]]:
    """The assessed items past due still owed (not done, nothing handed in waiting for its
    grade) of each of ``user_ids``, oldest first (as ``LearnerProgress.overdue`` orders
    them): one statement."""
    if not user_ids:
        return {}
    settle(session)
    query = (select(ProgressItem.user_id, ProgressItem.kind, ProgressItem.key, ProgressItem.title, ProgressItem.due_on)
             # By learner (their rows are their current cohort's), through the index on user_id:
             # the cohort's index would read every unfinished item past due of the whole cohort.
             .where(ProgressItem.user_id.in_(list(user_ids)), ProgressItem.owed,
                    ProgressItem.kind != ASSESSED, ProgressItem.due_on < today)
             .order_by(ProgressItem.user_id, ProgressItem.due_on, ProgressItem.position))
    result: dict[int, list[OverdueRow]] = defaultdict(list)
    for user_id, kind, key, title, due_on in session.execute(query):
        result[user_id].append(OverdueRow(kind=kind, key=key, title=title, due_on=due_on))
    return result


def overdue_keys(session: DbSession, cohort_id: int, today: date) -> dict[int, set[tuple[ItemKind, str]]]:
    """Learner id -> (kind, key) of each of their assessed items in ``cohort_id`` that is
    overdue (``ScheduledItem.overdue``: past due, not done, no work handed in waiting for
    its grade): one statement over the cohort's kept items, so a gradebook filtered to the
    overdue knows its learners without building a row."""
    settle(session)
    query = (select(ProgressItem.user_id, ProgressItem.kind, ProgressItem.key)
             .where(ProgressItem.cohort_id == cohort_id, ProgressItem.owed,
                    ProgressItem.kind != ASSESSED, ProgressItem.due_on < today))
    result: dict[int, set[tuple[ItemKind, str]]] = defaultdict(set)
    for user_id, kind, key in session.execute(query):
        result[user_id].add((kind, key))
    return result


@dataclass
class LevelCounts:
    """How many of a cohort's learners reached each stage of one level."""

    started: int = 0
    modules_done: int = 0
    exam_passed: int = 0
    complete: int = 0
    seen: int = 0  # learners with any row in the level


def funnel_counts(session: DbSession, cohort_ids: Sequence[int], open_only: bool = False) -> dict[int, dict[int, LevelCounts]]:
    """Cohort id -> level id -> how many learners reached each stage, from one statement
    over the kept level rows (with ``open_only``, of the learners whose account is open). A
    learner with no row in a level has nothing to do there (its modules are done); the
    caller counts them from ``seen``."""
    if not cohort_ids:
        return {}
    settle(session)
    stage = ProgressLevel.stage
    query = (select(ProgressLevel.cohort_id, ProgressLevel.level_id, func.count(),
                    func.sum(case((ProgressLevel.started, 1), else_=0)), func.sum(case((stage >= 1, 1), else_=0)),
                    func.sum(case((stage >= 2, 1), else_=0)), func.sum(case((stage >= 3, 1), else_=0)))
             .where(ProgressLevel.cohort_id.in_(list(cohort_ids)))
             .group_by(ProgressLevel.cohort_id, ProgressLevel.level_id))
    if open_only:
        query = query.where(ProgressLevel.user_id.in_(select(User.id).where(User.deactivated_at.is_(None))))
    result: dict[int, dict[int, LevelCounts]] = defaultdict(dict)
    for cohort_id, level_id, seen, started, modules, exam, complete in session.execute(query):
        result[cohort_id][level_id] = LevelCounts(started=int(started or 0), modules_done=int(modules or 0),
                                                  exam_passed=int(exam or 0), complete=int(complete or 0), seen=int(seen))
    return result


def stored_rows(session: DbSession) -> list[tuple[Any, ...]]:
    """Every kept row's values but its id (and a learner's random revision), table by table in a stable order: what
    ``rebuild`` must reproduce."""
    settle(session)
    result: list[tuple[Any, ...]] = []
    for model, order in ((ProgressItem, ("user_id", "position")), (ProgressLevel, ("user_id", "level_id")),
                         (ProgressLearner, ("user_id",)), (ProgressObjective, ("user_id", "objective_id"))):
        columns = [c for c in model.__table__.columns if c.name not in ("id", "revision")]
        result += [(model.__tablename__, *r) for r in session.execute(
            select(*columns).order_by(*(getattr(model, name) for name in order)))]
    return result
