"""The simulations content section: ``content/simulations/<id>.yml``, one branching
scenario per file, validated with file and line and synced by stable id (removed files
are retired, never deleted). It runs after the catalog, whose modules, phases and
objectives it checks each scenario against.

A scenario names its module and phase (it opens with the phase, like a module quiz), the
objectives it serves (the module's), an intro, its ``start`` node and its ``nodes``. A
decision node has a ``situation`` and at least two ``choices``, each with the ``next``
node, the ``consequence`` shown once chosen and the ``points`` (0-4) it earns per
objective; an end node has a ``situation`` and an ``outcome`` and no choices. Every node
must be reachable from the start and the graph may not loop, so every path ends."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, model_validator

from lms.catalog.content import CatalogSpec, Code, Slug, Spec, Text
from lms.catalog.models import Module, Phase
from lms.content.services import Bundle, ContentSection, SyncReport, Tick, existing_by_key, retire_missing, upsert
from lms.content.source import LineMap, Location, Problems, line_at, read_yaml_file, validate
from lms.content.stats import NONE, Block
from lms.database import DbSession
from lms.simulations.models import Simulation

FOLDER = "simulations"
Points = Annotated[int, Field(ge=0, le=4)]


class ChoiceSpec(Spec):
    text: Text
    next: Slug
    consequence: Text
    points: dict[Code, Points] = Field(min_length=1)


class NodeSpec(Spec):
    situation: Text
    choices: list[ChoiceSpec] = []
    outcome: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> NodeSpec:
        if self.outcome is not None:
            if self.choices:
                raise ValueError("an end node has an outcome and no choices")
            if not self.outcome.strip():
                raise ValueError("an end node's outcome is empty")
        elif len(self.choices) < 2:
            raise ValueError("a decision needs at least 2 choices (or an outcome, to end the simulation)")
        return self

    @property
    def is_end(self) -> bool:
        return self.outcome is not None


class SimulationSpec(Spec):
    id: Slug
    title: Text
    module: Slug
    phase: Slug
    objectives: list[Code] = Field(min_length=1)
    intro: Text
    start: Slug
    nodes: dict[Slug, NodeSpec] = Field(min_length=2)


@dataclass
class SimulationSource:
    spec: SimulationSpec
    path: Path


def graph_problems(spec: SimulationSpec) -> list[tuple[list[str | int], str]]:
    """What is wrong with a scenario's graph, as (location in the file, message): a start
    or a next that names no node, a choice scoring an objective the scenario does not
    serve, a node the start never reaches, a loop (a path that would never end)."""
    out: list[tuple[list[str | int], str]] = []
    nodes = spec.nodes
    if spec.start not in nodes:
        out.append((["start"], f"the start node {spec.start!r} is not among the nodes"))
    for node_id, node in nodes.items():
        for i, choice in enumerate(node.choices):
            if choice.next not in nodes:
                out.append((["nodes", node_id, "choices", i, "next"], f"unknown next node {choice.next!r}"))
            for code in choice.points:
                if code not in spec.objectives:
                    out.append((["nodes", node_id, "choices", i, "points", code],
                                f"{code} is not one of this simulation's objectives"))
    if spec.start not in nodes:
        return out
    # Depth-first from the start: a node met again while still on the path is a loop.
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[tuple[str, int]] = [(spec.start, 0)]
    state[spec.start] = 1
    while stack:
        node_id, i = stack.pop()
        choices = nodes[node_id].choices
        if i >= len(choices):
            state[node_id] = 2
            continue
        stack.append((node_id, i + 1))
        nxt = choices[i].next
        if nxt not in nodes:
            continue
        if state.get(nxt) == 1:
            out.append((["nodes", node_id, "choices", i, "next"],
                        f"a loop: {nxt!r} leads back here, so this path never ends"))
        elif nxt not in state:
            state[nxt] = 1
            stack.append((nxt, 0))
    for node_id in nodes:
        if node_id not in state:
            out.append((["nodes", node_id], f"node {node_id!r} cannot be reached from the start"))
    return out


def paths(spec: SimulationSpec) -> int:
    """How many different paths lead from the start to an end (the graph has no loops)."""
    memo: dict[str, int] = {}

    def count(node_id: str) -> int:
        if node_id not in memo:
            node = spec.nodes[node_id]
            memo[node_id] = 1 if node.is_end else sum(count(c.next) for c in node.choices)
        return memo[node_id]

    return count(spec.start)


class SimulationsSection(ContentSection):
    name = "simulations"
    order = 60

    def parse(self, bundle: Bundle, problems: Problems) -> None:
        catalog: CatalogSpec = bundle.specs["catalog"]
        modules = {m.spec.id: m.spec for m in catalog.modules}
        folder = bundle.source.content_dir / FOLDER
        files = sorted(p for p in folder.glob("*.yml") if not p.name.startswith(".")) if folder.is_dir() else []
        sources: list[SimulationSource] = []
        seen: dict[str, Location] = {}
        for path in files:
            data = read_yaml_file(path, problems)
            if data is None:
                continue
            if not isinstance(data, LineMap):
                problems.add(Location(path, 1), "expected 'key: value' lines")
                continue
            spec = validate(SimulationSpec, data, path, problems)
            if spec is None:
                continue
            if not self._check(spec, data, path, modules, problems):
                continue
            where = Location(path, line_at(data, ["id"]))
            if spec.id in seen:
                problems.add(where, f"duplicate id {spec.id!r} (also in {seen[spec.id]})")
                continue
            seen[spec.id] = where
            sources.append(SimulationSource(spec=spec, path=path))
        if not problems:
            bundle.specs[self.name] = sources

    def _check(self, spec: SimulationSpec, data: Any, path: Path, modules: dict[str, Any], problems: Problems) -> bool:
        found: list[tuple[list[str | int], str]] = []
        module = modules.get(spec.module)
        if module is None:
            found.append((["module"], f"unknown module {spec.module!r}"))
        else:
            if spec.phase not in {p.id for p in module.phases}:
                found.append((["phase"], f"module {spec.module!r} has no phase {spec.phase!r}"))
            for i, code in enumerate(spec.objectives):
                if code not in module.objectives:
                    found.append((["objectives", i], f"{code} is not one of the objectives of module {spec.module!r}"))
        found += graph_problems(spec)
        for loc, message in found:
            problems.add(Location(path, line_at(data, loc)), message)
        return not found

    def summary(self, bundle: Bundle) -> dict[str, int]:
        sources: list[SimulationSource] = bundle.specs[self.name]
        return {"simulations": len(sources), "simulation nodes": sum(len(s.spec.nodes) for s in sources)}

    def blocks(self, bundle: Bundle) -> Iterable[Block]:
        """Per scenario: the month it opens (its phase's), its decision points, endings and
        distinct paths, and the objectives it serves; then the totals."""
        catalog: CatalogSpec = bundle.specs["catalog"]
        months = {(m.spec.id, p.id): p.month for m in catalog.modules for p in m.spec.phases}
        sources: list[SimulationSource] = bundle.specs[self.name]
        rows: list[list[str]] = []
        for source in sources:
            spec = source.spec
            month = months.get((spec.module, spec.phase))
            rows.append([spec.id, spec.module, str(month) if month is not None else NONE,
                         str(sum(not n.is_end for n in spec.nodes.values())), str(sum(n.is_end for n in spec.nodes.values())),
                         str(paths(spec)), ", ".join(spec.objectives)])
        served = sorted({code for source in sources for code in source.spec.objectives})
        rows.append([f"total ({len(sources)})", str(len({s.spec.module for s in sources})), NONE,
                     *(str(sum(int(row[i]) for row in rows)) for i in (3, 4, 5)), ", ".join(served) or NONE])
        yield Block("Simulations", ("simulation", "module", "month", "decision points", "endings", "paths", "objectives"),
                    rows)

    def size(self, bundle: Bundle) -> int:
        return len(bundle.specs[self.name])

    def apply(self, session: DbSession, bundle: Bundle, report: SyncReport, tick: Tick) -> None:
        sources: list[SimulationSource] = bundle.specs[self.name]
        modules = existing_by_key(session, Module)
        phases = existing_by_key(session, Phase)
        simulations = existing_by_key(session, Simulation)
        for source in sources:
            s = source.spec
            upsert(session, simulations, Simulation, s.id, {
                "title": s.title, "module": modules[s.module], "phase": phases[f"{s.module}.{s.phase}"],
                "intro": s.intro, "objectives": list(s.objectives),
                "spec": {"start": s.start, "nodes": {k: n.model_dump(mode="json") for k, n in s.nodes.items()}},
            }, report, "simulations")
            tick(1)
        retire_missing(simulations, [s.spec.id for s in sources], report, "simulations")
