"""Branching simulations: starting a run, making choices, scoring the path and turning
the best finished run into evidence; the lists learners and staff see. Flush only.

Scoring: per objective, the mean of the points (0-4) the path's choices gave it; a
choice that does not score an objective leaves it out of that mean. The evidence of a
simulation is its learner's best finished run (the highest mean over its objectives; the
later run on a tie), recorded from the ``simulation`` source as ``simulation:<id>``, so
replaying can only raise it and a worse replay changes nothing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lms.accounts.models import User
from lms.cohorts.enrolment import active_enrolment, learners_page
from lms.cohorts.models import Cohort
from lms.database import DbSession
from lms.learning.services import Schedule, build_schedule
from lms.progress.evidence import Outcome, objective_ids
from lms.progress.sources import SimulationSource
from lms.simulations.models import Simulation, SimulationRun

MAX_POINTS = 4


class SimulationError(ValueError):
    """A choice or a start the simulation refuses; the message is for the learner.
    ``field``: the decision form's field it is about (``"choice"``), when it is about one,
    for the page to show it there and mark that field invalid."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ProgramClosed(SimulationError):
    """Refused because the learner's program has closed (``closed_by``); the message says so."""


def get_simulation(session: DbSession, key: str) -> Simulation | None:
    return session.scalar(select(Simulation).where(Simulation.key == key, Simulation.retired_at.is_(None)))


def active_simulations(session: DbSession) -> list[Simulation]:
    return list(session.scalars(
        select(Simulation).where(Simulation.retired_at.is_(None))
        .options(selectinload(Simulation.module), selectinload(Simulation.phase)).order_by(Simulation.key)))


def node_of(simulation: Simulation, node_id: str) -> dict[str, Any]:
    """A node of the simulation as loaded; one that a later edit of the file removed reads as
    an end that says so (a run standing there can only be restarted)."""
    node: dict[str, Any] | None = simulation.spec["nodes"].get(node_id)
    return node if node is not None else {"situation": "This part of the simulation has been changed since this run began.",
                                          "outcome": "Start a new run to play the current version.", "choices": []}


def is_end(node: Mapping[str, Any]) -> bool:
    return node.get("outcome") is not None


def score_path(path: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Per objective code, the mean points (0-4) of the path's choices that score it (each
    step of a path keeps the choice's points as they were when it was made)."""
    points: dict[str, list[int]] = defaultdict(list)
    for step in path:
        for code, value in step["points"].items():
            points[code].append(value)
    return {code: round(sum(values) / len(values), 4) for code, values in sorted(points.items())}


def overall(scores: Mapping[str, float]) -> float:
    return sum(scores.values()) / len(scores) if scores else 0.0


# --------------------------------------------------------------------------- opening


def learner_plan(session: DbSession, user_id: int, now: datetime) -> Schedule | None:
    """The learner's schedule at ``now``; None when they are not enrolled."""
    enrolment = active_enrolment(session, user_id)
    return None if enrolment is None else build_schedule(session, enrolment.cohort, user_id, now, enrolment)


def closed_by(plan: Schedule | None, now: datetime) -> str | None:
    """Why no simulation can be run at ``now``: the learner's program has closed and none of
    their extensions runs to today (``Schedule.refuses``). None: it may be (or they are not
    enrolled, which ``Standing.open`` says)."""
    return plan.refuses(now, "simulations", "run") if plan is not None else None


def closed_to(session: DbSession, user_id: int, now: datetime) -> str | None:
    """``closed_by`` for the learner's schedule at ``now``."""
    return closed_by(learner_plan(session, user_id, now), now)


@dataclass(frozen=True)
class Standing:
    """Whether a learner may run a simulation now: ``open``, its phase has opened in their
    schedule; ``closed``, why not although it has (their program closed), else None."""

    open: bool
    closed: str | None = None


def standing(session: DbSession, simulation: Simulation, user_id: int, now: datetime) -> Standing:
    plan = learner_plan(session, user_id, now)
    slot = plan.slot_for(simulation.phase_id) if plan is not None else None
    return Standing(slot is not None and slot.is_open, closed_by(plan, now))


# --------------------------------------------------------------------------- runs


def runs_of(session: DbSession, simulation: Simulation, user_id: int) -> list[SimulationRun]:
    return list(session.scalars(select(SimulationRun).where(
        SimulationRun.simulation_id == simulation.id, SimulationRun.user_id == user_id).order_by(SimulationRun.id)))


def best_run(runs: Sequence[SimulationRun]) -> SimulationRun | None:
    """The run that counts: the finished one with the highest mean score, the later on a tie."""
    finished = [r for r in runs if r.finished]
    return max(finished, key=lambda r: (overall(r.scores), r.id)) if finished else None


def start_run(session: DbSession, simulation: Simulation, user: User, now: datetime) -> SimulationRun:
    """A new run at the start; an unfinished run of the same simulation is picked up instead
    (unless an edit of the file removed the node it stands on: that one is left as it is).
    Refused before its phase opens for the learner, and once their program has closed
    unless an extension of theirs runs to today (``closed_by``)."""
    may = standing(session, simulation, user.id, now)
    if may.closed is not None:  # the program has closed: said first
        raise ProgramClosed(may.closed)
    if not may.open:
        raise SimulationError(f"{simulation.title} opens with its phase, {simulation.phase.title}, in your schedule.")
    current = next((r for r in runs_of(session, simulation, user.id)
                    if not r.finished and r.node in simulation.spec["nodes"]), None)
    if current is not None:
        return current
    run = SimulationRun(simulation=simulation, user_id=user.id, node=simulation.spec["start"], path=[], scores={},
                        started_at=now)
    session.add(run)
    session.flush()
    return run


def choose(session: DbSession, run: SimulationRun, node_id: str, choice: int, now: datetime) -> dict[str, Any]:
    """Take choice ``choice`` at node ``node_id`` (the one the learner saw: a stale page is
    refused). Returns the choice made; at an end, scores the run and records evidence.
    Refused once the learner's program has closed (``closed_by``), a run started before
    the close included: it stays as it stood, to read, and counts only if it had ended."""
    if (closed := closed_to(session, run.user_id, now)) is not None:
        raise ProgramClosed(closed)
    if run.finished:
        raise SimulationError("This run has ended. Start a new one to try another path.")
    if node_id != run.node:
        raise SimulationError("That decision was already made; here is where the run stands now.")
    simulation = run.simulation
    node = simulation.spec["nodes"].get(run.node)
    if node is None:
        raise SimulationError("This simulation has changed since you started this run. Start a new one.")
    choices = node.get("choices") or []
    if not 0 <= choice < len(choices):
        raise SimulationError("Choose one of the options.", field="choice")
    made: dict[str, Any] = choices[choice]
    # The step keeps the choice as it read, so the path and its score survive later edits of the file.
    run.path = [*run.path, {"node": run.node, "choice": choice, "text": made["text"],
                            "consequence": made["consequence"], "points": dict(made["points"])}]
    run.node = made["next"]
    if is_end(node_of(simulation, run.node)):
        run.scores = score_path(run.path)
        run.finished_at = now
        session.flush()
        record_evidence(session, simulation, run.user_id, now)
    session.flush()
    return made


def simulation_outcome(simulation_id: int, title: str, scores: Mapping[str, float], ids: Mapping[str, int],
                       number: int, finished: int) -> Outcome:
    """The evidence of a learner's best finished run (run ``number`` of ``finished``): its
    score per objective code as fractions of full marks; ``ids`` maps codes to objective ids.
    Recording and the volume generator (``lms.demo.benchmark``) both build it here."""
    fractions = {ids[code]: round(score / MAX_POINTS, 6) for code, score in scores.items() if code in ids}
    return Outcome(SimulationSource, f"simulation:{simulation_id}", fractions,
                   f"{title}, run {number} (best of {finished})")


def record_evidence(session: DbSession, simulation: Simulation, user_id: int, now: datetime) -> None:
    """The simulation's evidence for the learner: its best finished run's scores, as fractions of full marks."""
    runs = runs_of(session, simulation, user_id)
    best = best_run(runs)
    if best is None:
        return
    outcome = simulation_outcome(simulation.id, simulation.title, best.scores, objective_ids(session, best.scores),
                                 runs.index(best) + 1, sum(1 for r in runs if r.finished))
    outcome.record(session, user_id, best.finished_at or now)


@dataclass(frozen=True)
class Step:
    """One decision of a run as shown back: the situation's node, the choice made and what it led to."""

    node: str
    text: str
    consequence: str
    points: dict[str, int]


def steps(run: SimulationRun) -> list[Step]:
    return [Step(step["node"], step["text"], step["consequence"], dict(step["points"])) for step in run.path]


# --------------------------------------------------------------------------- the lists


@dataclass(frozen=True)
class Listing:
    simulation: Simulation
    open: bool
    runs: list[SimulationRun]
    opens_on: date | None = None  # when its phase opens for the learner
    closed: str | None = None  # why none can be run: the learner's program has closed (``closed_by``)

    @property
    def best(self) -> SimulationRun | None:
        return best_run(self.runs)

    @property
    def in_progress(self) -> SimulationRun | None:
        return next((r for r in self.runs if not r.finished), None)


def listings(session: DbSession, user: User, now: datetime) -> list[Listing]:
    """Every active simulation with whether it is open to the learner and their runs (three
    queries besides the schedule's). Once their program has closed none is open."""
    simulations = active_simulations(session)
    plan = learner_plan(session, user.id, now)
    openings = {s.phase.id: (s.opens_on, s.is_open) for s in plan.slots} if plan is not None else {}
    closed = closed_by(plan, now)
    runs: dict[int, list[SimulationRun]] = defaultdict(list)
    for run in session.scalars(select(SimulationRun).where(SimulationRun.user_id == user.id).order_by(SimulationRun.id)):
        runs[run.simulation_id].append(run)
    return [Listing(s, openings.get(s.phase_id, (None, False))[1] and closed is None, runs[s.id],
                    openings.get(s.phase_id, (None, False))[0], closed) for s in simulations]


@dataclass(frozen=True)
class LearnerRuns:
    learner: User
    runs: list[SimulationRun]


LEARNERS_PER_PAGE = 100  # learners on one page of a cohort's runs


@dataclass(frozen=True)
class RunsPage:
    rows: list[LearnerRuns]
    page: int
    pages: int
    total: int  # the cohort's current learners
    per_page: int


def cohort_runs(session: DbSession, cohort: Cohort, page: int = 1) -> RunsPage:
    """One page of the cohort's current learners by name (out of range: the nearest page),
    each with their runs of every simulation, newest first: a fixed number of statements
    whatever the cohort's size."""
    found, page, total = learners_page(session, cohort, page, LEARNERS_PER_PAGE)
    learners = [e.user for e in found]
    runs: dict[int, list[SimulationRun]] = defaultdict(list)
    if learners:
        for run in session.scalars(
                select(SimulationRun).where(SimulationRun.user_id.in_([u.id for u in learners]))
                .options(selectinload(SimulationRun.simulation)).order_by(SimulationRun.id.desc())):
            runs[run.user_id].append(run)
    return RunsPage(rows=[LearnerRuns(u, runs[u.id]) for u in learners], page=page, total=total, per_page=LEARNERS_PER_PAGE,
                    pages=max((total + LEARNERS_PER_PAGE - 1) // LEARNERS_PER_PAGE, 1))
