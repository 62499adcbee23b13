"""Benchmark data at volume: extra cohorts in the demo organization, each with generated
learners and their months of activity (lessons read, quiz attempts, graded work, peer
reviews, instructor ratings, stakeholder feedback, KPI figures, simulation runs, outside
experts' ratings) written with bulk inserts,
then mastery computed once from all the evidence. Flush only.

The evidence is what the real sources record: quiz attempts, rubric grades and peer
reviews go through the same functions the real results do (``lms.progress.evidence``:
the points earned per part of each question, the level chosen per criterion), whose rows
are then bulk-inserted; every row is built by ``lms.progress.services.evidence_row``.
Quiz attempts carry their score per part (in the evidence) but not the answers given,
which nothing at this scale needs."""

from __future__ import annotations

import io
import json
import multiprocessing
import queue
import random
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import itemgetter
from typing import Any, cast

from dateutil.relativedelta import relativedelta
from psycopg.copy import Copy, FileWriter
from sqlalchemy import JSON, event, insert, select, text
from sqlalchemy.engine import Connection, Dialect, Engine, IteratorResult, Result
from sqlalchemy.engine.result import SimpleResultMetaData
from sqlalchemy.orm import ORMExecuteState, selectinload
from werkzeug.security import generate_password_hash

from lms.accounts.models import User
from lms.accounts.services import find_user, new_token
from lms.assessment.models import Attempt, AttemptClosedBy, GradingMethodName
from lms.assessment.questions import parts_of, type_of
from lms.assessment.services import active_quizzes, current_versions, release_month
from lms.catalog.models import Metric, ObjectiveKind
from lms.catalog.services import active_modules, active_objectives, schedule
from lms.cohorts.models import Cohort, Enrolment
from lms.coursework.models import AssignmentKind, Submission, SubmissionStatus, SubmissionVersion
from lms.coursework.services import active_assignments, handed_in_late
from lms.coursework.specs import CriterionSpec
from lms.database import Companion, DbSession
from lms.demo.services import (
    DEMO_PASSWORD,
    EXPERT_COMMENTS,
    EXPERT_SUMMARY,
    EXPERTS,
    FEEDBACK,
    INSTRUCTOR_EMAIL,
    PEER_COMMENTS,
    RATING_NOTES,
    DemoError,
    Expert,
    Profile,
    Tick,
    baseline,
    clamp,
    demo_organization,
    pick_choice,
    rubric_levels,
    team_sizes,
    teammate_rating,
)
from lms.expert.models import ExpertEvaluation, ExpertInvite
from lms.expert.services import DEFAULT_DAYS_VALID as EXPERT_DAYS_VALID
from lms.expert.services import expert_outcome
from lms.feedback.services import QUESTIONS, fraction_of
from lms.grading.models import Grade, GradeAction, GradeEvent, GradeStatus, PeerReview, PeerReviewStatus
from lms.grading.services import read_levels
from lms.kpi.models import KpiEntry
from lms.kpi.services import evidence_fraction, format_value, measured_after, source_ref
from lms.learning.services import PROGRAM_MONTHS, cohort_today, current_month, month_opens_on, opens_at
from lms.progress.evidence import (
    Part,
    PartKey,
    ScoredAttempt,
    attempt_shares,
    grade_outcome,
    peer_outcome,
    question_parts,
    quiz_outcome,
)
from lms.progress.methods import MasteryMethod, Point, counted
from lms.progress.models import (
    Evidence,
    EvidenceSourceName,
    LessonRead,
    Mastery,
    ProgressItem,
    ProgressLearner,
    ProgressLevel,
    ProgressObjective,
)
from lms.progress.services import Policy, evidence_row, objective_kinds, policy, weighed
from lms.progress.sources import UNVOUCHED, RatingSource, StakeholderSource, rater_of
from lms.progress.state import rebuild as rebuild_progress
from lms.progress.state import refresh as refresh_progress
from lms.simulations.models import SimulationRun
from lms.simulations.services import active_simulations, is_end, score_path, simulation_outcome
from lms.teams.models import ContributionRating, Team, TeamMember

MAX_LEARNERS = 5000
CHUNK = 250          # learners written together (peer reviewers are drawn within a chunk)
BATCH = 5000         # rows per INSERT round
SIDE_QUEUE = 8       # packed tables (two chunks' worth) waiting for the side connection at most
FIRST_NAMES = ["Ada", "Bilal", "Carmen", "Dmitri", "Esther", "Femi", "Grace", "Hugo", "Ingrid", "Jamal",
               "Keiko", "Liam", "Mei", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tariq",
               "Uma", "Viktor", "Wen", "Yara"]
LAST_NAMES = ["Abara", "Berg", "Castillo", "Dubois", "Eriksen", "Fischer", "Gupta", "Hansen", "Ito", "Jansen",
              "Kowalski", "Lindqvist", "Moreno", "Nakamura", "Osei", "Pereira", "Quinn", "Rossi", "Schmidt",
              "Tanaka", "Ueda", "Varga", "Walsh", "Zhou"]
STAKEHOLDERS = ["Customer", "Team member", "Investor", "Partner"]


def cohort_name(number: int) -> str:
    return f"Northwind benchmark cohort {number}"


def months_ago(number: int) -> int:
    """Benchmark cohorts started 11, 10, ... 2 months ago, then round again."""
    return 11 - (number - 1) % 10


def generated_email(cohort: int, learner: int) -> str:
    return f"gen-c{cohort}-l{learner}@demo.lms"


# --------------------------------------------------------------------------- the course, once


@dataclass(frozen=True)
class QuizPlan:
    id: int
    title: str
    month: int
    attempts: int
    passing: float
    minutes: int
    layout: list[dict[str, Any]]
    max_score: float
    parts: list[Part]  # every answerable part of the layout's questions, with its points and objectives
    grading: GradingMethodName = GradingMethodName.HIGHEST
    practice: bool = False


@dataclass(frozen=True)
class WorkPlan:
    id: int
    title: str
    month: int
    due_after_days: int
    peer_reviews: int
    rubric_version_id: int
    max_points: float
    criteria: list[CriterionSpec]
    kind: AssignmentKind = AssignmentKind.HANDS_ON
    team_min: int | None = None  # a team assignment (lms.teams): teams of team_min to team_max hand in once
    team_max: int | None = None


@dataclass(frozen=True)
class SimulationPlan:
    id: int
    title: str
    month: int
    spec: dict[str, Any]


@dataclass(frozen=True)
class ModulePlan:
    key: str
    title: str
    first_month: int
    months: frozenset[int]
    objectives: list[int]
    metrics: list[Metric]


@dataclass
class Catalog:
    objective_ids: dict[str, int]
    lessons: dict[int, list[int]]
    quizzes: list[QuizPlan]
    works: list[WorkPlan]
    modules: list[ModulePlan]
    simulations: list[SimulationPlan] = field(default_factory=list)

    @classmethod
    def load(cls, session: DbSession) -> Catalog:
        ids = {o.key: o.id for o in active_objectives(session)}
        lessons: dict[int, list[int]] = defaultdict(list)
        for item in schedule(session):
            lessons[item.phase.month].extend(lesson.id for lesson in item.lessons)
        quizzes = [cls._quiz(session, quiz, ids) for quiz in active_quizzes(session)]
        works = [WorkPlan(id=a.id, title=a.title, month=a.phase.month, due_after_days=a.due_after_days,
                          peer_reviews=a.peer_reviews, rubric_version_id=a.rubric.current.id,
                          max_points=a.rubric.current.max_points, criteria=a.rubric.current.criteria, kind=a.kind,
                          team_min=a.team_min, team_max=a.team_max)
                 for a in active_assignments(session)]
        metrics: dict[int, list[Metric]] = defaultdict(list)
        for metric in session.scalars(select(Metric).where(Metric.retired_at.is_(None))
                                      .options(selectinload(Metric.objectives)).order_by(Metric.position)):
            metrics[metric.module_id].append(metric)
        modules = [ModulePlan(key=m.key, title=m.title, first_month=min(p.month for p in m.phases),
                              months=frozenset(p.month for p in m.phases), objectives=[o.id for o in m.objectives],
                              metrics=metrics[m.id])
                   for m in active_modules(session) if m.phases]
        simulations = [SimulationPlan(s.id, s.title, s.phase.month, s.spec) for s in active_simulations(session)]
        return cls(ids, dict(lessons), [q for q in quizzes if q.layout], works, modules, simulations)

    @staticmethod
    def _quiz(session: DbSession, quiz: Any, ids: dict[str, int]) -> QuizPlan:
        chosen = current_versions(session, quiz)
        drawn = [pair for pair in chosen if pair[0].pool is None]
        for pool, draw in sorted(quiz.pools.items()):
            drawn += [pair for pair in chosen if pair[0].pool == pool][:draw]
        drawn.sort(key=lambda pair: pair[0].position)
        layout = [{"version": version.id,
                   "options": {part.id: ids_ for part in parts_of(version.spec)
                               if (ids_ := type_of(part).shuffle_ids(part))}}
                  for _, version in drawn]
        return QuizPlan(id=quiz.id, title=quiz.title, month=release_month(quiz), attempts=quiz.attempts_allowed or 3,
                        passing=quiz.passing_score, minutes=quiz.time_limit_minutes or 60, layout=layout,
                        max_score=sum(version.points for _, version in drawn), grading=quiz.grading, practice=quiz.practice,
                        parts=[part for _, version in drawn
                               for part in question_parts(version.id, version.spec, version.objectives)])


# --------------------------------------------------------------------------- one learner's plan


@dataclass
class AttemptPlan:
    """A submitted, fully scored quiz attempt: the points earned on each part."""

    quiz: QuizPlan
    user_id: int
    number: int
    started_at: datetime
    submitted_at: datetime
    scores: dict[PartKey, float]

    @property
    def score(self) -> float:
        return round(sum(self.scores.values()), 4)


@dataclass
class ExpertPlan:
    """An outside expert's rating of a graded piece of work, invited by the learner."""

    expert: Expert
    levels: dict[str, str | None]
    comments: dict[str, str]
    comment: str
    invited_at: datetime
    rated_at: datetime


@dataclass
class Work:
    plan: WorkPlan
    user_id: int
    ability: float
    submitted_at: datetime
    body: str
    due_on: date
    graded_at: datetime | None
    levels: dict[str, str | None]
    submission_id: int = 0
    version_id: int = 0
    expert: ExpertPlan | None = None


@dataclass
class TeamPlan:
    """Learners who handed in a team assignment, put together: the team's one submission is
    the last one's to hand in (``holder``); every member gets its grade's evidence."""

    members: list[Work]
    ratings: list[dict[str, Any]] = field(default_factory=list)  # ContributionRating rows but the team id

    @property
    def holder(self) -> Work:
        return self.members[-1]


@dataclass
class ReviewPlan:
    """A classmate's completed review of a piece of work: the level chosen per criterion."""

    work: Work
    reviewer_id: int
    levels: dict[str, str | None]
    comment: str
    assigned_at: datetime
    completed_at: datetime


@dataclass
class LearnerPlan:
    user_id: int
    reads: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[AttemptPlan] = field(default_factory=list)
    works: list[Work] = field(default_factory=list)
    kpis: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)


def plan_learners(planner: Planner, number: int, user_ids: Sequence[int]) -> list[LearnerPlan]:
    """The plans of these learners of benchmark cohort ``number``, each from its own seeded
    sequence (so the same whichever process plans them, in whatever order)."""
    plans = []
    for user_id in user_ids:
        rng = random.Random(f"bench:{number}:{user_id}")
        plans.append(planner.plan(user_id, generated_profile(rng), rng))
    return plans


# user, objective, recorded at, level, weight, vouched, rater (``Point``): what mastery needs
EvidencePoint = tuple[int, int, datetime, float, float, bool, int | None, str | None]


def copy_statement(table: str, columns: Sequence[str]) -> str:
    """The ``COPY`` that reads rows of ``columns`` of ``table`` from the client."""
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN"


@dataclass
class CopyText:
    """Rows of one table as the text ``COPY ... FROM STDIN`` reads."""

    table: str
    columns: list[str]
    data: bytes
    count: int

    @property
    def statement(self) -> str:
        return copy_statement(self.table, self.columns)


@dataclass
class PackedRows:
    """A chunk's rows that point at nothing the writer draws (lessons read, KPI figures,
    simulation runs and the planned evidence), encoded for COPY in the planning process;
    with the planned evidence's points, in order, for the chunk's mastery."""

    tables: list[CopyText]
    points: list[EvidencePoint]

    def count(self, table: str) -> int:
        return sum(t.count for t in self.tables if t.table == table)


@dataclass(frozen=True)
class Packer:
    """Encodes a chunk's plans for COPY where they are planned (PostgreSQL only): the
    values go through their columns' bind processing as ``copy_rows`` does, the planned
    evidence gets its weight by the rules (as ``weighed`` gives the writer's), and what
    crosses to the writer is a few byte strings and tuples instead of pickled dicts and
    dataclasses, which the writer unpickled and encoded row by row at about the cost of
    planning them."""

    dialect: Dialect
    encoding: str
    rules: Policy
    kinds: dict[int, ObjectiveKind]

    def pack(self, plans: list[LearnerPlan]) -> PackedRows:
        """The plans' reads, KPI figures, runs and evidence, encoded; they are taken out of the plans."""
        evidence = weighed([row for plan in plans for row in plan.evidence], self.rules, self.kinds)
        tables = [copy_text(model, rows, self.dialect, self.encoding) for model, rows in (
            (LessonRead, [row for plan in plans for row in plan.reads]),
            (KpiEntry, [row for plan in plans for row in plan.kpis]),
            (SimulationRun, [row for plan in plans for row in plan.runs]),
            (Evidence, evidence))]
        for plan in plans:
            plan.reads, plan.kpis, plan.runs, plan.evidence = [], [], [], []
        return PackedRows([t for t in tables if t.count], evidence_points(evidence))


_adopted: list[tuple[dict[int, Planner], Packer | None]] = []  # in a planning process: what it was started with


def _adopt(planners: dict[int, Planner], packer: Packer | None) -> None:
    """A planning process's start: keep the cohorts' planners and the packer (inherited, not pickled)."""
    _adopted[:] = [(planners, packer)]


def _plan_chunk(number: int, user_ids: list[int]) -> tuple[list[LearnerPlan], PackedRows | None]:
    """In the planning process: ``plan_learners`` with cohort ``number``'s planner, packed when it has a packer."""
    planners, packer = _adopted[0]
    plans = plan_learners(planners[number], number, user_ids)
    return plans, packer.pack(plans) if packer is not None else None


def planned_chunks(planners: dict[int, Planner], cohorts: Sequence[tuple[int, Sequence[int]]], packer: Packer | None = None,
                   ) -> Iterator[tuple[int, Sequence[int], list[LearnerPlan], PackedRows | None]]:
    """Each chunk of each cohort's ids (cohort number, ids) with its learners' plans (and,
    given a ``packer``, the rows it packed out of them), planned in a second process (forked
    with the cohorts' planners, so the course and cohorts need not be pickled; it reads
    nothing from the database) one chunk ahead of the caller: it plans the next chunk, the
    next cohort's first one included, while this one is written. The machine's CPUs then go
    to planning and to writing with PostgreSQL at once; at most two chunks' plans exist."""
    chunks = [(number, list(chunk)) for number, ids in cohorts for chunk in batches(ids, CHUNK)]
    if not chunks:
        return
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"), initializer=_adopt,
                             initargs=(planners, packer)) as pool:
        pending: Future[tuple[list[LearnerPlan], PackedRows | None]] = pool.submit(_plan_chunk, *chunks[0])
        for index, (number, chunk) in enumerate(chunks):
            plans, packed = pending.result()
            if index + 1 < len(chunks):
                pending = pool.submit(_plan_chunk, *chunks[index + 1])
            yield number, chunk, plans, packed
            del plans, packed


def generated_profile(rng: random.Random) -> Profile:
    """About one learner in eight falls behind; the rest spread around a solid middle."""
    if rng.random() < 0.12:
        return Profile(clamp(rng.gauss(0.38, 0.08), 0.15, 0.55), rng.uniform(0.45, 0.75), fades=True)
    return Profile(clamp(rng.gauss(0.77, 0.08), 0.55, 0.98), clamp(rng.gauss(0.82, 0.1), 0.5, 1.0))


class Planner:
    """Plans one learner's months in one cohort, in memory, with seeded randomness."""

    def __init__(self, catalog: Catalog, cohort: Cohort, instructor_id: int, now: datetime) -> None:
        self.catalog, self.cohort, self.instructor_id, self.now = catalog, cohort, instructor_id, now
        self.months = min(current_month(cohort.start_date, cohort_today(cohort, now)) - 1, PROGRAM_MONTHS)
        self.starts = [opens_at(cohort, month_opens_on(cohort.start_date, m)) for m in range(1, self.months + 2)]

    def at(self, month: int, share: float) -> datetime:
        """A moment ``share`` of the way through program month ``month``."""
        start, end = self.starts[month - 1], self.starts[month]
        return start + (end - start) * share

    def before_now(self, moment: datetime) -> bool:
        return moment < self.now - timedelta(hours=1)

    def plan(self, user_id: int, profile: Profile, rng: random.Random) -> LearnerPlan:
        plan = LearnerPlan(user_id)
        tracked = {m.key: rng.sample(m.metrics, min(len(m.metrics), rng.choice([2, 3]))) for m in self.catalog.modules}
        baselines: dict[int, float] = {}
        first: dict[int, tuple[float, datetime]] = {}
        # Simulations and experts draw from their own sequence, so adding them moved nothing else.
        extra = random.Random(f"bench-extra:{self.cohort.id}:{user_id}")
        for month in range(1, self.months + 1):
            self.lessons(plan, profile, rng, month)
            self.quizzes(plan, profile, rng, month)
            self.works(plan, profile, rng, month)
            self.ratings(plan, profile, rng, month)
            self.stakeholders(plan, profile, rng, month)
            self.kpis(plan, profile, rng, month, tracked, baselines, first)
            self.simulations(plan, profile, extra, month)
        self.expert(plan, profile, extra)
        return plan

    def lessons(self, plan: LearnerPlan, profile: Profile, rng: random.Random, month: int) -> None:
        for lesson_id in self.catalog.lessons.get(month, []):
            if profile.does(month, rng):
                plan.reads.append({"user_id": plan.user_id, "lesson_id": lesson_id,
                                   "read_at": self.at(month, rng.uniform(0.02, 0.8))})

    def quizzes(self, plan: LearnerPlan, profile: Profile, rng: random.Random, month: int) -> None:
        for quiz in self.catalog.quizzes:
            if quiz.month != month or not profile.hands_in(month, rng):
                continue
            started = self.at(month, rng.uniform(0.2, 0.7))
            skill = profile.ability
            for number in range(1, quiz.attempts + 1):
                submitted = started + timedelta(minutes=quiz.minutes * rng.uniform(0.3, 0.95))
                if not self.before_now(submitted):
                    break
                fraction = clamp(rng.gauss(skill, 0.08))
                # Points earned per part, scored as the quiz engine stores them.
                attempt = AttemptPlan(quiz, plan.user_id, number, started, submitted, {
                    part.key: round(part.points * clamp(rng.gauss(fraction, 0.15)), 4) for part in quiz.parts})
                plan.attempts.append(attempt)
                if not profile.tries_again(100 * attempt.score / (quiz.max_score or 1), quiz.passing, rng):
                    break
                started = submitted + timedelta(days=rng.uniform(1, 5))
                skill = min(0.97, skill + 0.1)

    def works(self, plan: LearnerPlan, profile: Profile, rng: random.Random, month: int) -> None:
        for work in self.catalog.works:
            if work.month != month or not profile.hands_in(month, rng):
                continue
            opens = self.starts[month - 1]
            share = rng.uniform(0.7, 1.25) if profile.fades else rng.uniform(0.35, 0.9)
            submitted = opens + timedelta(days=work.due_after_days * share, hours=rng.uniform(8, 20))
            if not self.before_now(submitted):
                continue
            graded = submitted + timedelta(days=rng.uniform(2, 7))
            plan.works.append(Work(
                plan=work, user_id=plan.user_id, ability=profile.ability, submitted_at=submitted,
                body=f"## {work.title}\n\nMy work for month {month}, with our own figures and the plan we agreed.",
                due_on=(opens + timedelta(days=work.due_after_days)).date(),
                graded_at=graded if self.before_now(graded) else None,
                levels=rubric_levels(work.criteria, profile.ability, rng)))

    def simulations(self, plan: LearnerPlan, profile: Profile, rng: random.Random, month: int) -> None:
        """One run of each simulation of the month, played to an end as the real runs are
        (each step keeps the choice as it read), and its evidence as recording gives it."""
        for sim in self.catalog.simulations:
            if sim.month != month or not profile.does(month, rng):
                continue
            node, path = sim.spec["start"], []
            while not is_end(sim.spec["nodes"][node]):
                choices = sim.spec["nodes"][node]["choices"]
                index = pick_choice(choices, profile.ability, rng)
                made = choices[index]
                path.append({"node": node, "choice": index, "text": made["text"], "consequence": made["consequence"],
                             "points": dict(made["points"])})
                node = made["next"]
            started = self.at(month, rng.uniform(0.1, 0.8))
            finished = started + timedelta(minutes=4 * len(path))
            if not self.before_now(finished):
                continue
            scores = score_path(path)
            plan.runs.append({"simulation_id": sim.id, "user_id": plan.user_id, "node": node, "path": path,
                              "scores": scores, "started_at": started, "finished_at": finished})
            plan.evidence += simulation_outcome(sim.id, sim.title, scores, self.catalog.objective_ids, 1, 1).rows(
                plan.user_id, finished)

    def expert(self, plan: LearnerPlan, profile: Profile, rng: random.Random) -> None:
        """About one learner in four on track invites an outside expert to rate one piece of graded work."""
        graded = [w for w in plan.works if w.graded_at is not None]
        if profile.fades or not graded or rng.random() > 0.25:
            return
        work = rng.choice(graded)
        assert work.graded_at is not None
        invited = work.graded_at + timedelta(days=rng.uniform(0.5, 3))
        rated = invited + timedelta(days=rng.uniform(1, 6))
        if not self.before_now(rated):
            return
        good = profile.ability >= 0.6
        work.expert = ExpertPlan(rng.choice(EXPERTS), rubric_levels(work.plan.criteria, profile.ability, rng),
                                 {c.id: rng.choice(EXPERT_COMMENTS[good]) for c in work.plan.criteria},
                                 EXPERT_SUMMARY[good], invited, rated)

    def ratings(self, plan: LearnerPlan, profile: Profile, rng: random.Random, month: int) -> None:
        for module in self.catalog.modules:
            if month not in module.months:
                continue
            for objective_id in module.objectives:
                for _ in range(rng.choice([1, 2, 3])):
                    if rng.random() > 0.85 * profile.engagement:
                        continue
                    level = round(4 * clamp(rng.gauss(profile.ability, 0.12)))
                    plan.evidence.append(evidence_row(
                        plan.user_id, objective_id, RatingSource.name, f"rater:{self.instructor_id}", level / 4,
                        self.at(month, rng.uniform(0.3, 0.95)), RATING_NOTES[level], self.instructor_id))

    def stakeholders(self, plan: LearnerPlan, profile: Profile, rng: random.Random, month: int) -> None:
        for module in self.catalog.modules:
            if module.first_month > month or rng.random() > 0.5 * profile.engagement:
                continue
            who = rng.choice(STAKEHOLDERS)
            ratings = {q.id: round(1 + 4 * clamp(rng.gauss(profile.ability + 0.03, 0.15))) for q in QUESTIONS}
            ref = f"feedback:generated-{plan.user_id}-{month}-{module.key}"
            note = f"{who} {rng.choice(FIRST_NAMES)}: {sum(ratings.values()) / len(ratings):g} of 5 on average"
            at = self.at(month, rng.uniform(0.4, 0.98))
            plan.evidence += [evidence_row(plan.user_id, oid, StakeholderSource.name, ref, fraction_of(ratings), at, note)
                              for oid in module.objectives]

    def kpis(self, plan: LearnerPlan, profile: Profile, rng: random.Random, month: int,
             tracked: dict[str, list[Metric]], baselines: dict[int, float], first: dict[int, tuple[float, datetime]]) -> None:
        period = month_opens_on(self.cohort.start_date, month).replace(day=1)
        recorded = self.at(month, 1) + timedelta(days=rng.uniform(0.5, 3))
        if not self.before_now(recorded):
            return
        month_label = f"{period:%B %Y}"
        for module in self.catalog.modules:
            if module.first_month > month:
                continue
            for metric in tracked[module.key]:
                if rng.random() > profile.engagement:
                    continue
                start = baselines.setdefault(metric.id, baseline(metric, rng))
                progress = clamp(profile.ability * (month - module.first_month + 1) / 6 + rng.gauss(0, 0.05))
                value = start + (metric.target - start) * progress
                value = round(min(max(value, metric.min_value), metric.max_value - 0.01), 2)
                # the learner's first figure is their baseline (``lms.kpi.services``), counted from
                # when it was recorded
                base, since = first.setdefault(metric.id, (value, recorded))
                plan.kpis.append({"user_id": plan.user_id, "metric_id": metric.id, "period": period, "value": value,
                                  "note": "", "recorded_at": recorded, "first_recorded_at": recorded})
                fraction = evidence_fraction(metric, value, base if measured_after(since, recorded) else None)
                if fraction is None:
                    continue
                note = f"{metric.name}: {format_value(metric, value)} in {month_label} (target {metric.target_label})."
                ref = source_ref(metric, period)
                plan.evidence += [evidence_row(plan.user_id, o.id, EvidenceSourceName.KPI, ref, fraction, recorded, note)
                                  for o in metric.objectives]


# --------------------------------------------------------------------------- writing


def batches(rows: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def copying(session: DbSession) -> bool:
    """Whether rows go in with PostgreSQL's COPY (psycopg 3) rather than batched INSERTs."""
    return session.get_bind().dialect.name == "postgresql"


def without_row_triggers(session: DbSession) -> bool:
    """On PostgreSQL, for the rest of the build's transaction (``SET LOCAL``), rows go in
    without their row triggers, the foreign keys' checks among them, as ``pg_restore
    --disable-triggers`` loads a dump: every id the build writes it has just read or drawn
    from a sequence in the same transaction, and row by row those checks were a third of
    PostgreSQL's work per evidence row. It needs a superuser (as a restore does); for anyone
    else nothing changes and the keys are checked as usual. Whether it was turned off."""
    if not session.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")):
        return False
    session.execute(text("SET LOCAL session_replication_role = replica"))
    return True


def insert_ids(session: DbSession, model: Any, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert ``rows``; their new ids, in order. On PostgreSQL the ids are drawn from the
    table's sequence in one statement and the rows copied with them; elsewhere batched
    INSERT ... RETURNING."""
    if not rows:
        return []
    if copying(session):
        ids = sorted(session.scalars(text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                                          "FROM generate_series(1, :n)"),
                                     {"table": model.__table__.name, "n": len(rows)}))
        copy_rows(session, model, rows, ids)
        return ids
    found: list[int] = []
    for batch in batches(rows):
        found += session.scalars(insert(model).returning(model.id, sort_by_parameter_order=True), list(batch)).all()
    return found


def insert_all(session: DbSession, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows``: COPY on PostgreSQL, batched executemany INSERTs elsewhere."""
    if not rows:
        return
    if copying(session):
        copy_rows(session, model, rows)
        return
    for batch in batches(rows):
        session.execute(insert(model), list(batch))


def _copy_columns(table: Any, names: list[str], dialect: Dialect,
                  ids: bool) -> tuple[list[Any], list[Any], list[tuple[int, Any]]]:
    """The columns a COPY of rows naming ``names`` fills (the id first when ``ids``, then
    ``names``, then the columns left out that have a Python-side default), those defaults'
    values, and the positions whose values need work: a bind processor, or JSON to dump."""
    defaults = {c.name: c.default for c in table.columns
                if c.name not in names and c.default is not None and not c.primary_key}
    columns = ([table.c.id] if ids else []) + [table.c[n] for n in names] + [table.c[n] for n in defaults]
    fixed: list[Any] = []
    for default in defaults.values():
        fixed.append(default.arg(None) if default.is_callable else default.arg)
    # Only the columns whose values need work are touched per row: most pass through as they are.
    work = [(position, processor) for position, column in enumerate(columns)
            if (processor := column.type.bind_processor(dialect)) is not None
            or isinstance(column.type, JSON) or isinstance(getattr(column.type, "impl", None), JSON)]
    return columns, fixed, work


def _row_values(rows: Sequence[dict[str, Any]], names: list[str]) -> Iterator[list[Any]]:
    """Each row's values of ``names``, in order (one itemgetter call when every row names them all)."""
    whole = all(len(row) == len(names) for row in rows)
    pick = itemgetter(*names) if whole and len(names) > 1 else None
    for row in rows:
        yield list(pick(row)) if pick is not None else [row.get(n) for n in names]


def _processed(values: list[Any], work: list[tuple[int, Any]]) -> list[Any]:
    """``values`` with each worked position bound as an INSERT would (JSON dumped)."""
    for at, processor in work:
        raw = values[at]
        if raw is None:
            continue
        done = processor(raw) if processor is not None else raw
        values[at] = json.dumps(done) if isinstance(done, dict | list) else done
    return values


def copy_rows(session: DbSession, model: Any, rows: Sequence[dict[str, Any]], ids: Sequence[int] | None = None) -> None:
    """COPY ``rows`` (column values by name, as for ``insert``) into the model's table (or a
    ``Table``), with
    ``ids`` when given. Each value goes through its column type's bind processing (enums
    to their value, aware times to naive UTC, JSON to its text) as an INSERT's would, and a
    column a row leaves out gets its Python-side default; server defaults apply as usual."""
    table = getattr(model, "__table__", model)
    names = list(dict.fromkeys(key for row in rows for key in row))
    columns, fixed, work = _copy_columns(table, names, session.get_bind().dialect, ids is not None)
    cursor = session.connection().connection.cursor()
    with cursor.copy(copy_statement(table.name, [c.name for c in columns])) as copy:
        _write_rows(copy, rows, names, ids, fixed, work)


def _write_rows(copy: Any, rows: Sequence[dict[str, Any]], names: list[str], ids: Sequence[int] | None,
                fixed: list[Any], work: list[tuple[int, Any]]) -> None:
    for position, picked in enumerate(_row_values(rows, names)):
        copy.write_row(_processed(([ids[position]] if ids is not None else []) + picked + fixed, work))


def copy_buffered(session: DbSession, model: Any, rows: Sequence[dict[str, Any]]) -> CopyText:
    """``rows`` encoded as ``copy_rows`` sends them (psycopg formats each row), kept as the
    bytes of a COPY instead of sent: for another connection to copy (``SideCopier``)."""
    table = getattr(model, "__table__", model)
    names = list(dict.fromkeys(key for row in rows for key in row))
    columns, fixed, work = _copy_columns(table, names, session.get_bind().dialect, ids=False)
    buffer = io.BytesIO()
    with Copy(session.connection().connection.cursor(), writer=FileWriter(buffer)) as copy:  # type: ignore[arg-type]
        _write_rows(copy, rows, names, None, fixed, work)
    return CopyText(table.name, [c.name for c in columns], buffer.getvalue(), len(rows))


_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_SPECIAL = re.compile(r"[\\\n\r\t]")


def _text_str(value: str) -> str:
    return value.translate(_ESCAPES) if _SPECIAL.search(value) else value


def _text_bool(value: bool) -> str:
    return "t" if value else "f"


def _text_null(_value: None) -> str:
    return "\\N"


# COPY's text for a value of each type (exactly that type: builtins where they serve, to keep calls cheap).
_TEXT: dict[type, Callable[[Any], str]] = {str: _text_str, int: str, float: repr, bool: _text_bool, type(None): _text_null,
                                           datetime: datetime.isoformat, date: date.isoformat}


def copy_value(value: Any) -> str:
    """One bound value as COPY's text format writes it (``\\N`` for NULL)."""
    text_of = _TEXT.get(type(value))
    if text_of is None:
        for kind in (bool, str, int, float, datetime, date):  # subclasses (a StrEnum is its value)
            if isinstance(value, kind):
                return _TEXT[kind](value)
        raise TypeError(f"No COPY text for {type(value).__name__}")
    return text_of(value)


def copy_text(model: Any, rows: Sequence[dict[str, Any]], dialect: Dialect, encoding: str) -> CopyText:
    """``rows`` as ``copy_rows`` would send them (without ids), encoded here: what the writer
    passes to COPY as it is (``copy_encoded``)."""
    table = getattr(model, "__table__", model)
    names = list(dict.fromkeys(key for row in rows for key in row))
    columns, fixed, work = _copy_columns(table, names, dialect, ids=False)
    text_of = _TEXT.get
    lines = ["\t".join([(text_of(type(v)) or copy_value)(v) for v in _processed(picked + fixed, work)])
             for picked in _row_values(rows, names)]
    data = "".join(line + "\n" for line in lines).encode(encoding)
    return CopyText(table.name, [c.name for c in columns], data, len(lines))


def copy_encoded(session: DbSession, rows: CopyText) -> None:
    """COPY rows ``copy_text`` encoded."""
    cursor = session.connection().connection.cursor()
    with cursor.copy(rows.statement) as copy:
        copy.write(rows.data)


SIDE_TABLES = frozenset(model.__tablename__ for model in (
    Evidence, Mastery, KpiEntry, SimulationRun, GradeEvent, ContributionRating))
"""Tables the build itself never reads back (mastery is made from the evidence's points in
memory), whose rows may go in on the side connection. Lessons read, attempts, submissions
and teams may not: the chunk's schedule state (``refresh_progress``) reads them in the
build's own transaction, and other rows point at their ids."""


READ_BACK = tuple(model.__tablename__ for model in (
    User, Enrolment, Attempt, LessonRead, Submission, Team, TeamMember,
    ProgressItem, ProgressLevel, ProgressLearner, ProgressObjective))
"""Tables the build's own connection reads back chunk by chunk (the schedule state's
``refresh_progress`` reads and replaces its learners' rows ``WHERE user_id IN (...)``)."""


def analyze_read_back(session: DbSession, chunks: int) -> bool:
    """``ANALYZE`` the tables the build reads back after its 1st, 2nd, 4th, 8th, ... chunk
    (PostgreSQL): the rows it copied have no statistics until then (autovacuum may be off,
    and cannot see them before the commit anyway; ANALYZE in the same transaction samples
    them), and without statistics PostgreSQL takes an ``IN`` list of 250 learners for most
    of the table and scans all of it: each chunk's schedule refresh read and deleted through
    sequential scans of tables growing to millions of rows, half a second a statement at
    100,000 learners. Re-analyzed as the tables double, the learners' count stays within
    half of the truth, so the per-learner indexes are used. Whether it analyzed now."""
    if chunks & (chunks - 1):
        return False
    for table in READ_BACK:
        session.execute(text(f"ANALYZE {table}"))
    return True


class SideCopier:
    """A second connection on which a thread COPYs packed rows while the build's own
    connection goes on with the rest of the chunk, so PostgreSQL ingests them (their
    indexes, the table) while the writer plans ids and encodes the other rows: on one
    connection the two only took turns. Its transaction has row triggers off as the
    build's has (so rows may point at users the build has not committed yet) and ends
    with the build's (``lms.database.Companion``): committed right after it, rolled back if the build's
    transaction ends any other way, so a failed build leaves nothing behind. ``ANALYZE``
    runs once both are committed, on this connection, when it sees every row."""

    def __init__(self, engine: Engine | Connection) -> None:
        raw = engine.engine.raw_connection()
        self._companion = Companion(raw)
        self._connection: Any = cast(Any, raw.driver_connection)  # psycopg.Connection
        self._connection.execute("SET LOCAL session_replication_role = replica")  # opens its transaction
        self._queue: queue.Queue[CopyText | None] = queue.Queue(maxsize=SIDE_QUEUE)
        self._error: BaseException | None = None
        self._copied = 0
        self._thread = threading.Thread(target=self._copy_all, name="benchmark-side-copy", daemon=True)
        self._thread.start()

    @property
    def pid(self) -> int:
        """Its server process (``pg_stat_activity.pid``)."""
        return int(self._connection.info.backend_pid)

    def _copy_all(self) -> None:
        while (rows := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the error is raised in the build's thread
            try:
                with self._connection.cursor() as cursor, cursor.copy(rows.statement) as copy:
                    copy.write(rows.data)
            except BaseException as exc:  # noqa: BLE001 - handed to the build's thread as it is
                self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def copy(self, rows: CopyText) -> None:
        """Queue ``rows`` (waits while ``SIDE_QUEUE`` tables are queued); an earlier COPY's error is raised here."""
        self._raise()
        self._queue.put(rows)
        self._copied += rows.count

    def finish(self) -> None:
        """Wait for every queued COPY; the first error, if any, is raised."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def follow(self, session: DbSession) -> None:
        """End with ``session``'s transaction: commit (then ``ANALYZE``, when anything was
        copied) when it commits, roll back when it ends otherwise."""
        self._companion.after_commit = "ANALYZE" if self._copied else None  # as build_benchmark does without a side
        self._companion.follow(session)

    def abandon(self) -> None:
        """Stop copying and roll back whatever was copied (nothing of it was committed)."""
        if self._companion.ended:
            return
        if self._thread.is_alive():
            self._error = self._error or DemoError("the build stopped")
            self._queue.put(None)
            self._thread.join()
        self._companion.abandon()


def copy_encoding(session: DbSession) -> str:
    """The Python name of the connection's client encoding (what COPY's text is encoded in)."""
    encoding: str = session.connection().connection.driver_connection.info.encoding  # type: ignore[union-attr]
    return encoding


def _copy_bulk_inserts(state: ORMExecuteState) -> Result[Any] | None:
    """A ``do_orm_execute`` hook: a bulk ``insert(Model)`` with a list of rows and no
    RETURNING goes in as COPY instead (the kept progress rows ``refresh`` writes)."""
    statement, rows = state.statement, state.parameters
    if not state.is_insert or not isinstance(rows, list) or len(rows) < 2 or statement._returning:  # type: ignore[attr-defined]
        return None
    copy_rows(state.session, statement.table, rows)  # type: ignore[attr-defined]
    return IteratorResult(SimpleResultMetaData([]), iter([]))


@contextmanager
def bulk_inserts_copied(session: DbSession) -> Iterator[None]:
    """While inside, the session's bulk INSERTs go in with COPY (PostgreSQL only)."""
    if not copying(session):
        yield
        return
    real = session()  # type: ignore[operator]  # the scoped session's own Session
    event.listen(real, "do_orm_execute", _copy_bulk_inserts)
    try:
        yield
    finally:
        event.remove(real, "do_orm_execute", _copy_bulk_inserts)


def evidence_points(evidence: Sequence[dict[str, Any]]) -> list[EvidencePoint]:
    """What ``mastery_rows`` reads of these evidence rows, in order."""
    return [(row["user_id"], row["objective_id"], row["recorded_at"], row["level"], row["weight"],
             row["source"] not in UNVOUCHED, rater_of(row["source"], row.get("recorded_by_id")), row.get("judge"))
            for row in evidence]


def mastery_rows(points: Sequence[EvidencePoint], method: MasteryMethod, bar: float, now: datetime) -> list[dict[str, Any]]:
    """The mastery records of the learners whose evidence this is (all of it, as
    ``evidence_points``), as ``lms.progress.services.rebuild`` makes them from the stored
    rows: each learner's points on an objective in the order recorded (the order written,
    when at the same moment), with when the level went below ``bar`` (the at-risk bar)."""
    grouped: dict[tuple[int, int], list[tuple[datetime, int, float, float, bool, int | None, str | None]]] = defaultdict(list)
    for position, (user_id, objective_id, at, point_level, weight, vouched, rater, judge) in enumerate(points):
        grouped[(user_id, objective_id)].append((at, position, point_level, weight, vouched, rater, judge))
    made = []
    for (user_id, objective_id), found in grouped.items():
        found.sort()  # by moment, then position: no two alike
        ordered = [Point(level=point_level, weight=weight, vouched=vouched, rater=rater, judge=judge)
                   for _at, _position, point_level, weight, vouched, rater, judge in found]
        level, held = method.assess(ordered)
        if level is not None:
            made.append({"user_id": user_id, "objective_id": objective_id, "level": level,
                         "evidence_count": counted(ordered), "method": method.name,
                         "updated_at": now, "below_since": method.below_since(ordered, [at for at, *_rest in found], bar),
                         "held": held, "missing": method.missing(ordered) if held else 0.0})
    return made


def points_of(work: WorkPlan, levels: dict[str, str | None]) -> float:
    """The rubric score of these levels, added up as grading does."""
    return read_levels(work.criteria, levels)[1]


@dataclass
class BenchmarkReport:
    cohorts: int = 0
    learners: int = 0         # generated this run
    existing: int = 0         # already there from an earlier run, left as they were
    evidence: int = 0         # rows written this run
    lessons_read: int = 0
    attempts: int = 0
    submissions: int = 0
    grades: int = 0
    peer_reviews: int = 0
    kpi_figures: int = 0
    simulation_runs: int = 0
    expert_ratings: int = 0
    teams: int = 0            # teams formed for team assignments
    mastery: int = 0          # mastery records after the rebuild (everyone's); 0 when nothing was added
    cohort_names: list[str] = field(default_factory=list)


class Writer:
    """Writes a chunk of planned learners with a handful of bulk INSERTs. The evidence of
    attempts, grades and peer reviews comes from ``lms.progress.evidence``'s outcomes, as
    for real results; ``objective_ids`` maps the course's objective codes to ids."""

    def __init__(self, session: DbSession, cohort: Cohort, instructor_id: int, now: datetime, rng: random.Random,
                 report: BenchmarkReport, objective_ids: dict[str, int], mastery: bool = False,
                 side: SideCopier | None = None) -> None:
        self.session, self.cohort, self.instructor_id, self.rng, self.report = session, cohort, instructor_id, rng, report
        self.side = side  # where the packed rows the build never reads back go in, if not on ``session``
        self.ids = objective_ids
        self.now, self.latest = now, now - timedelta(hours=1)
        self.rules, self.kinds = policy(session), objective_kinds(session)
        self.mastery = mastery  # also write the chunk's learners' mastery (they have no other evidence)

    def write(self, plans: list[LearnerPlan], reviews: list[ReviewPlan] | None = None,
              packed: PackedRows | None = None) -> None:
        """Write the plans; their works' peer reviews are drawn within the chunk unless
        ``reviews`` (of those works) are given. ``packed``: the rows the planning process
        took out of the plans and encoded (``Packer``), copied first as they are (the
        planned evidence before the rest, as when they are written together)."""
        for encoded in packed.tables if packed is not None else []:
            side = self.side_for(encoded.table)
            if side is not None:
                side.copy(encoded)
            else:
                copy_encoded(self.session, encoded)
        evidence = [row for plan in plans for row in plan.evidence]
        reads = [row for plan in plans for row in plan.reads]
        insert_all(self.session, LessonRead, reads)
        evidence += self.attempts([a for plan in plans for a in plan.attempts])
        works = [w for plan in plans for w in plan.works]
        evidence += self.works(works)
        evidence += self.peer_reviews(self.draw_reviews(works) if reviews is None else reviews)
        kpis = [row for plan in plans for row in plan.kpis]
        insert_all(self.session, KpiEntry, kpis)
        runs = [row for plan in plans for row in plan.runs]
        insert_all(self.session, SimulationRun, runs)
        self.aside(Evidence, weighed(evidence, self.rules, self.kinds))
        points = packed.points if packed is not None else []
        if self.mastery:
            made = mastery_rows(points + evidence_points(evidence), self.rules.method, self.rules.at_risk_below, self.now)
            self.aside(Mastery, made)
            self.report.mastery += len(made)
        counted = packed.count if packed is not None else (lambda _table: 0)
        self.report.simulation_runs += len(runs) + counted(SimulationRun.__tablename__)
        self.report.lessons_read += len(reads) + counted(LessonRead.__tablename__)
        self.report.kpi_figures += len(kpis) + counted(KpiEntry.__tablename__)
        self.report.evidence += len(evidence) + len(points)

    def side_for(self, table: str) -> SideCopier | None:
        """The side connection, if rows of ``table`` go in on it (there is one, and the
        build never reads the table back)."""
        return self.side if table in SIDE_TABLES else None

    def aside(self, model: Any, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ``rows`` of a table the build never reads back: encoded here and copied
        on the side connection when there is one, else as ``insert_all`` does."""
        side = self.side_for(model.__tablename__)
        if side is not None:
            if rows:
                side.copy(copy_buffered(self.session, model, rows))
            return
        insert_all(self.session, model, rows)

    def attempts(self, attempts: list[AttemptPlan]) -> list[dict[str, Any]]:
        """Insert the attempts; their evidence rows."""
        ids = insert_ids(self.session, Attempt, [
            {"quiz_id": a.quiz.id, "user_id": a.user_id, "cohort_id": self.cohort.id, "number": a.number,
             "layout": a.quiz.layout, "started_at": a.started_at,
             "deadline_at": a.started_at + timedelta(minutes=a.quiz.minutes), "minutes_allowed": a.quiz.minutes,
             "submitted_at": a.submitted_at, "updated_at": a.submitted_at,
             "closed_by": AttemptClosedBy.LEARNER, "score": a.score, "max_score": a.quiz.max_score, "pending_manual": False}
            for a in attempts])
        self.report.attempts += len(ids)
        # A quiz's evidence follows its grading rule over all of a learner's attempts at it, as recording does.
        taken: dict[tuple[int, int], list[ScoredAttempt]] = defaultdict(list)
        quizzes = {a.quiz.id: a.quiz for a in attempts}
        for a in attempts:
            percent = round(100 * a.score / a.quiz.max_score, 2) if a.quiz.max_score else None
            taken[(a.user_id, a.quiz.id)].append(
                ScoredAttempt(a.number, percent, a.submitted_at, attempt_shares(a.quiz.parts, a.scores, self.ids)))
        return [row for (user_id, quiz_id), scored in taken.items()
                for row in quiz_outcome(quiz_id, quizzes[quiz_id].title, quizzes[quiz_id].grading, quizzes[quiz_id].practice,
                                        scored).rows(user_id, max(s.at for s in scored))]

    def form_teams(self, works: list[Work]) -> tuple[list[TeamPlan], list[Work]]:
        """The team assignments' works grouped into teams (within the chunk, in the order they
        were handed in, sizes within the assignment's limits, from a sequence of their own so
        nothing else moves), with a few teammates' contribution ratings; and the works left as
        individual submissions (a learner left without a team hands nothing in)."""
        by_assignment: dict[int, list[Work]] = defaultdict(list)
        single: list[Work] = []
        for w in works:
            (by_assignment[w.plan.id] if w.plan.team_max else single).append(w)
        teams: list[TeamPlan] = []
        for group in by_assignment.values():
            group.sort(key=lambda w: (w.submitted_at, w.user_id))
            rng = random.Random(f"bench-teams:{self.cohort.id}:{group[0].plan.id}:{group[0].user_id}")
            start = 0
            for size in team_sizes(len(group), group[0].plan.team_min or 1, group[0].plan.team_max or 1, rng):
                team = TeamPlan(group[start:start + size])
                start += size
                holder = team.holder
                for w in team.members[:-1]:  # the holder's submission, grade and levels are the team's
                    w.submitted_at, w.graded_at, w.levels, w.expert = holder.submitted_at, holder.graded_at, holder.levels, None
                for rater in team.members:
                    for ratee in team.members:
                        at = holder.submitted_at + timedelta(hours=rng.uniform(2, 72))
                        if rater is ratee or rng.random() > 0.4 or at >= self.latest:
                            continue
                        score, comment = teammate_rating(ratee.ability, rng)
                        team.ratings.append({"rater_id": rater.user_id, "ratee_id": ratee.user_id, "score": score,
                                             "comment": comment, "updated_at": at})
                teams.append(team)
        return teams, single + [t.holder for t in teams]

    def teams(self, teams: list[TeamPlan]) -> None:
        """Insert the teams (each with its holder's submission), their members and ratings."""
        team_ids = insert_ids(self.session, Team, [
            {"assignment_id": t.holder.plan.id, "cohort_id": self.cohort.id, "name": f"Team {t.holder.user_id}",
             "submission_id": t.holder.submission_id, "created_by_id": t.members[0].user_id, "formed_by_learner": True,
             "revision": len(t.members), "draft_revision": 1, "created_at": t.members[0].submitted_at - timedelta(days=5)}
            for t in teams])
        insert_all(self.session, TeamMember, [
            {"assignment_id": t.holder.plan.id, "team_id": tid, "user_id": w.user_id,
             "joined_at": t.members[0].submitted_at - timedelta(days=5)} for tid, t in zip(team_ids, teams, strict=True)
            for w in t.members])
        self.aside(ContributionRating, [{"team_id": tid, **row} for tid, t in zip(team_ids, teams, strict=True)
                                                      for row in t.ratings])
        self.report.teams += len(team_ids)

    def works(self, every: list[Work]) -> list[dict[str, Any]]:
        """Insert the submissions (one per team for a team assignment), and the released
        grades of those graded; the grades' evidence rows (each team member's)."""
        teams, works = self.form_teams(every)
        members = {id(t.holder): t.members for t in teams}
        submission_ids = insert_ids(self.session, Submission, [
            {"assignment_id": w.plan.id, "user_id": w.user_id, "cohort_id": self.cohort.id,
             "status": SubmissionStatus.RELEASED if w.graded_at else SubmissionStatus.SUBMITTED, "draft_body": w.body,
             "created_at": w.submitted_at - timedelta(days=1), "updated_at": w.graded_at or w.submitted_at,
             "submitted_at": w.submitted_at} for w in works])
        for work, submission_id in zip(works, submission_ids, strict=True):
            work.submission_id = submission_id
        zone = self.cohort.timezone
        version_ids = insert_ids(self.session, SubmissionVersion, [
            {"submission_id": w.submission_id, "number": 1, "body": w.body, "attachment_ids": [],
             "submitted_at": w.submitted_at, "due_on": w.due_on, "late": handed_in_late(w.submitted_at, w.due_on, zone)}
            for w in works])
        for work, version_id in zip(works, version_ids, strict=True):
            work.version_id = version_id
        for team in teams:
            for w in team.members:
                w.submission_id, w.version_id = team.holder.submission_id, team.holder.version_id
        self.teams(teams)
        graded = [(w, w.graded_at) for w in works if w.graded_at is not None]
        grade_rows = []
        for w, graded_at in graded:
            selections = {cid: {"level": lid, "comment": ""} for cid, lid in w.levels.items()}
            grade_rows.append({
                "submission_id": w.submission_id, "version_id": w.version_id, "rubric_version_id": w.plan.rubric_version_id,
                "grader_id": self.instructor_id, "selections": selections,
                "feedback": self.rng.choice(FEEDBACK[w.ability >= 0.6]), "score": points_of(w.plan, w.levels),
                "max_score": w.plan.max_points, "status": GradeStatus.RELEASED, "revision": 1, "updated_at": graded_at,
                "released_at": graded_at})
        grade_ids = insert_ids(self.session, Grade, grade_rows)
        self.aside(GradeEvent, [
            {"grade_id": gid, "actor_id": self.instructor_id, "at": row["released_at"], "action": GradeAction.RELEASE,
             "before": None, "after": {"selections": row["selections"], "feedback": row["feedback"], "score": row["score"],
                                       "status": GradeStatus.RELEASED, "version": row["version_id"],
                                       "rubric_version": row["rubric_version_id"]}}
            for gid, row in zip(grade_ids, grade_rows, strict=True)])
        self.report.submissions += len(works)
        self.report.grades += len(grade_ids)
        return [row for gid, (w, graded_at) in zip(grade_ids, graded, strict=True)
                for outcome in [grade_outcome(gid, w.plan.title, self.instructor_id, w.plan.criteria, w.levels, self.ids,
                                              kind=w.plan.kind)]
                for member in members.get(id(w), [w])
                for row in outcome.rows(member.user_id, graded_at)] + self.experts(works)

    def experts(self, works: list[Work]) -> list[dict[str, Any]]:
        """Insert the used invitations and the ratings of the works an expert rated; their evidence rows."""
        rated = [(w, w.expert) for w in works if w.expert is not None]
        invite_ids = insert_ids(self.session, ExpertInvite, [
            {"submission_id": w.submission_id, "version_id": w.version_id, "rubric_version_id": w.plan.rubric_version_id,
             "invited_by_id": w.user_id, "name": e.expert.name, "email": e.expert.email, "note": "",
             "token_hash": new_token()[1],  # the link was used at once: nothing can open it again
             "created_at": e.invited_at, "expires_at": e.invited_at + timedelta(days=EXPERT_DAYS_VALID),
             "used_at": e.rated_at} for w, e in rated])
        evaluation_ids = insert_ids(self.session, ExpertEvaluation, [
            {"invite_id": invite_id, **e.expert.credentials, "comment": e.comment,
             "selections": {cid: {"level": lid, "comment": e.comments[cid]} for cid, lid in e.levels.items()},
             "score": points_of(w.plan, e.levels), "max_score": w.plan.max_points, "submitted_at": e.rated_at}
            for invite_id, (w, e) in zip(invite_ids, rated, strict=True)])
        self.report.expert_ratings += len(evaluation_ids)
        return [row for evaluation_id, (w, e) in zip(evaluation_ids, rated, strict=True)
                for row in expert_outcome(evaluation_id, w.plan.title, f"{e.expert.name}, {e.expert.role} at "
                                          f"{e.expert.organization}", w.plan.criteria, e.levels, self.ids, e.expert.email)
                .rows(w.user_id, e.rated_at)]

    def draw_reviews(self, works: list[Work]) -> list[ReviewPlan]:
        """Each submission of a peer-reviewed assignment is reviewed by classmates who
        handed in the same assignment (within the chunk), when there was time for it."""
        by_assignment: dict[int, list[Work]] = defaultdict(list)
        for w in works:
            if w.plan.peer_reviews:
                by_assignment[w.plan.id].append(w)
        reviews: list[ReviewPlan] = []
        for group in by_assignment.values():
            for w in group:
                others = [o for o in group if o.user_id != w.user_id]
                for reviewer in self.rng.sample(others, min(w.plan.peer_reviews, len(others))):
                    assigned = max(w.submitted_at, reviewer.submitted_at) + timedelta(hours=self.rng.uniform(2, 30))
                    done = assigned + timedelta(days=self.rng.uniform(0.5, 4))
                    if done >= self.latest:
                        continue
                    levels = rubric_levels(w.plan.criteria, w.ability + 0.05, self.rng)
                    reviews.append(ReviewPlan(w, reviewer.user_id, levels, self.rng.choice(PEER_COMMENTS), assigned, done))
        return reviews

    def peer_reviews(self, reviews: list[ReviewPlan]) -> list[dict[str, Any]]:
        """Insert the completed reviews (of works already written); their evidence rows."""
        ids = insert_ids(self.session, PeerReview, [
            {"submission_id": r.work.submission_id, "reviewer_id": r.reviewer_id, "version_id": r.work.version_id,
             "rubric_version_id": r.work.plan.rubric_version_id, "status": PeerReviewStatus.DONE,
             "selections": {cid: {"level": lid} for cid, lid in r.levels.items()}, "comment": r.comment,
             "score": points_of(r.work.plan, r.levels), "assigned_at": r.assigned_at, "completed_at": r.completed_at}
            for r in reviews])
        self.report.peer_reviews += len(ids)
        return [row for review_id, r in zip(ids, reviews, strict=True)
                for row in peer_outcome(review_id, r.work.plan.title, r.reviewer_id, r.work.plan.criteria, r.levels,
                                        self.ids).rows(r.work.user_id, r.completed_at)]


def benchmark_cohort(session: DbSession, number: int, today: date, instructor: User) -> Cohort:
    org = demo_organization(session)
    cohort = session.scalar(select(Cohort).where(Cohort.organization_id == org.id, Cohort.name == cohort_name(number)))
    if cohort is None:
        cohort = Cohort(organization=org, name=cohort_name(number), timezone="Europe/London",
                        start_date=today - relativedelta(months=months_ago(number)))
        session.add(cohort)
    if instructor not in cohort.instructors:
        cohort.instructors.append(instructor)
    session.flush()
    return cohort


def new_learners(session: DbSession, cohort: Cohort, number: int, learners: int, password_hash: str,
                 now: datetime) -> tuple[list[int], int]:
    """Create and enrol the cohort's generated learners that do not exist yet; their ids,
    and how many existed already."""
    emails = [generated_email(number, n) for n in range(1, learners + 1)]
    existing = set(session.scalars(select(User.email).where(User.email.like(f"gen-c{number}-l%@demo.lms"))))
    fresh = [e for e in emails if e not in existing]
    joined = opens_at(cohort, cohort.start_date) - timedelta(days=7)
    rows = []
    for email in fresh:
        rng = random.Random(f"name:{email}")
        rows.append({"email": email, "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                     "password_hash": password_hash, "timezone": cohort.timezone, "created_at": min(joined, now)})
    ids = insert_ids(session, User, rows)
    insert_all(session, Enrolment, [{"cohort_id": cohort.id, "user_id": uid, "started_at": min(joined, now)} for uid in ids])
    return ids, len(emails) - len(fresh)


def build_benchmark(session: DbSession, learners: int, cohorts: int, now: datetime, tick: Tick) -> BenchmarkReport:
    """``cohorts`` extra cohorts of ``learners`` generated learners each, with their activity
    and evidence. Learners that already exist (from an earlier run with the same numbers)
    are left as they are.

    Written ``CHUNK`` learners at a time, so memory does not grow with the number of
    learners: each chunk's rows (COPY on PostgreSQL), then its learners' mastery, made
    from the evidence just written (all they have), and on PostgreSQL their kept schedule
    state (``lms.progress.state.refresh``, its rows copied too). Elsewhere the schedule
    state is rebuilt once at the end, as the bulk inserts noted those learners."""
    if not 1 <= learners <= MAX_LEARNERS:
        raise DemoError(f"Generate between 1 and {MAX_LEARNERS} learners per cohort.")
    if cohorts < 0:
        raise DemoError("The number of cohorts cannot be negative.")
    instructor = find_user(session, INSTRUCTOR_EMAIL)
    if instructor is None:
        raise DemoError("Build the demo organization first.")
    catalog = Catalog.load(session)
    if not catalog.objective_ids:
        raise DemoError("No course is loaded: run `flask lms load-content` first.")
    per_chunk = copying(session)
    packer = None
    side: SideCopier | None = None
    if per_chunk:
        packer = Packer(session.get_bind().dialect, copy_encoding(session), policy(session), objective_kinds(session))
        if without_row_triggers(session):
            side = SideCopier(session.get_bind())
    try:
        report = _build(session, learners, cohorts, now, tick, catalog, instructor, packer, side)
        if side is not None:
            side.finish()
    except BaseException:
        if side is not None:
            side.abandon()
        raise
    if side is not None:
        side.follow(session)  # committed with the build, then ANALYZE
    elif report.learners and per_chunk:
        # Rows copied in bulk leave PostgreSQL's statistics behind (autovacuum may be off or
        # late): without them it guessed a few enrolments and read mastery learner by learner
        # (the organization comparison at 20,500 learners: 1.4 s, 0.2 s once analyzed).
        session.execute(text("ANALYZE"))
    return report


def _build(session: DbSession, learners: int, cohorts: int, now: datetime, tick: Tick, catalog: Catalog,
           instructor: User, packer: Packer | None, side: SideCopier | None) -> BenchmarkReport:
    """``build_benchmark``'s cohorts, learners and their activity, chunk by chunk."""
    report = BenchmarkReport()
    password_hash = generate_password_hash(DEMO_PASSWORD)
    per_chunk = packer is not None
    # Every cohort and its learners first (the same ids as made cohort by cohort: nothing
    # else writes users or enrolments), so one planning process plans across cohorts.
    planners: dict[int, Planner] = {}
    fresh: list[tuple[int, Sequence[int]]] = []
    for number in range(1, cohorts + 1):
        cohort = benchmark_cohort(session, number, now.date(), instructor)
        ids, existing = new_learners(session, cohort, number, learners, password_hash, now)
        report.cohorts += 1
        report.cohort_names.append(cohort.name)
        report.learners += len(ids)
        report.existing += existing
        tick(existing)
        planners[number] = Planner(catalog, cohort, instructor.id, now)
        fresh.append((number, ids))
    writers: dict[int, Writer] = {}
    written = 0
    for number, chunk, plans, packed in planned_chunks(planners, fresh, packer):
        if number not in writers:
            writers = {number: Writer(session, planners[number].cohort, instructor.id, now, random.Random(f"bench:{number}"),
                                      report, catalog.objective_ids, mastery=True, side=side)}
        writers[number].write(plans, packed=packed)
        del plans, packed
        if per_chunk:
            with bulk_inserts_copied(session):
                refresh_progress(session, chunk, now)
            written += 1
            analyze_read_back(session, written)
        tick(len(chunk))
    session.flush()
    if report.learners and not per_chunk:  # the bulk inserts noted these learners: one rebuild covers them
        rebuild_progress(session, now)
    return report
