"""The catalog's content section: program.yml, objectives.yml, modules/*/module.yml and
modules/*/lessons/*.md, validated with line numbers and synced by stable id."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StringConstraints, model_validator

from lms.catalog import revision
from lms.catalog.models import (
    Case,
    Lesson,
    Level,
    Metric,
    MetricComparison,
    MetricUnit,
    Module,
    Objective,
    ObjectiveKind,
    Phase,
    Program,
)
from lms.content.services import (
    Bundle,
    ContentSection,
    SyncReport,
    Tick,
    existing_by_key,
    retire_missing,
    upsert,
)
from lms.content.source import (
    Location,
    Problems,
    line_at,
    read_front_matter,
    read_yaml_file,
    unclosed_fence,
    validate,
)
from lms.content.stats import Fact, Measure, word_count
from lms.database import DbSession

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=100)]
Code = Annotated[str, StringConstraints(pattern=r"^(KO|SO|AO)[0-9]{1,2}$")]
Month = Annotated[int, Field(ge=1, le=12, description="a program month, 1-12")]
KIND_PREFIX = {ObjectiveKind.KNOWLEDGE: "KO", ObjectiveKind.SKILL: "SO", ObjectiveKind.APPLICATION: "AO"}
# A link in Markdown to one of the catalog's pages, inline ((/lessons/<id>)), as a reference
# ([name]: /lessons/<id>) or in HTML (href="/lessons/<id>"), with an optional #anchor or ?query.
PAGE_LINK = re.compile(r"(?:\]\(\s*|^\s*\[[^\]]+\]:\s*|href=[\"'])/(lessons|modules|levels)/([^\s)\"'#?]*)")
PAGE_WORD = {"lessons": "lesson", "modules": "module", "levels": "level"}


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class LevelSpec(Spec):
    id: Slug
    title: Text
    months: tuple[Month, Month]
    summary: Text
    goals: list[Text] = []


class ProgramSpec(Spec):
    id: Slug
    title: Text
    summary: Text
    levels: list[LevelSpec] = Field(min_length=1)


class ObjectiveSpec(Spec):
    code: Code
    kind: ObjectiveKind
    title: Text
    statement: Text
    outcomes: list[Text] = Field(min_length=1)
    applications: list[Text] = []
    indicators: list[Text] = Field(min_length=1)


class ObjectivesFile(Spec):
    objectives: list[ObjectiveSpec] = Field(min_length=1)


class PhaseSpec(Spec):
    id: Slug
    title: Text
    month: Month
    summary: str = ""


# The words a metric's target may open with, and the comparison each means.
TARGET_WORDS: dict[str, MetricComparison] = {
    "at least": MetricComparison.AT_LEAST,
    "no less than": MetricComparison.AT_LEAST,
    "over": MetricComparison.OVER,
    "more than": MetricComparison.OVER,
    "above": MetricComparison.OVER,
    "at most": MetricComparison.AT_MOST,
    "no more than": MetricComparison.AT_MOST,
    "under": MetricComparison.UNDER,
    "less than": MetricComparison.UNDER,
    "below": MetricComparison.UNDER,
}
TARGET_WORDING = re.compile(r"^\s*(?P<words>[a-z]+(?: [a-z]+)*)\s+(?P<number>-?[0-9]+(?:\.[0-9]+)?)\s*$")


@dataclass(frozen=True)
class Target:
    """A metric's target as its wording says it: how a figure compares, and with what number."""

    comparison: MetricComparison
    value: float


def read_target(text: object) -> Target:
    """``under 4`` -> Target(UNDER, 4.0); a ValueError naming the accepted words otherwise."""
    if isinstance(text, Target):
        return text
    match = TARGET_WORDING.match(" ".join(text.lower().split())) if isinstance(text, str) else None
    comparison = TARGET_WORDS.get(match["words"]) if match else None
    if match is None or comparison is None:
        words = ", ".join(repr(w) for w in TARGET_WORDS)
        raise ValueError(f"cannot read the target {text!r}: write one of {words} and then the number,"
                         " such as 'at least 90' or 'under 4'")
    return Target(comparison, float(match["number"]))


class MetricSpec(Spec):
    id: Slug
    name: Text
    description: Text
    target: Annotated[Target, BeforeValidator(read_target)]
    unit: MetricUnit
    min: float
    max: float
    objectives: list[Code] = []

    @model_validator(mode="after")
    def _range(self) -> MetricSpec:
        if not self.min < self.max:
            raise ValueError("min must be below max")
        if not self.min <= self.target.value <= self.max:
            raise ValueError("target must lie between min and max")
        return self


def _https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https":
        raise ValueError("the link must be an https:// address")
    host = parts.hostname or ""
    if "." not in host or any(ch.isspace() for ch in value) or host.startswith(".") or host.endswith("."):
        raise ValueError("the link is not a well-formed web address")
    return value


def _one_line(value: str) -> str:
    if "\n" in value:
        raise ValueError("must be one line")
    return value


HttpsUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), AfterValidator(_https_url)]
OneLine = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=240), AfterValidator(_one_line)]
# A published source: not before modern standards and journals, not after next year.
Year = Annotated[StrictInt, Field(ge=1900, le=2030, description="the year of publication")]


class ReadingSpec(Spec):
    """A public source a module recommends: cited, never copied."""

    title: Text
    author: Text
    year: Year
    url: HttpsUrl
    why: OneLine


class MetricGroupSpec(Spec):
    group: Text
    items: list[MetricSpec] = []


class ModuleSpec(Spec):
    id: Slug
    title: Text
    summary: Text
    objectives: list[Code] = Field(min_length=1)
    phases: list[PhaseSpec] = Field(min_length=1)
    metrics: MetricGroupSpec | None = None
    readings: list[ReadingSpec] = []


class ActivitySpec(Spec):
    """A weekly unit's practice activity: something the learner makes in their own business."""

    title: Text
    minutes: int = Field(ge=10, le=600)
    produces: Text                      # what the learner ends with
    template: Slug | None = None        # a template from content/templates/ to start from
    steps: Text                         # Markdown instructions


class CaseSpec(Spec):
    """A running case: a fictional company described once in content/cases.yml."""

    id: Slug
    name: Text
    size: Text
    market: Text
    product: Text
    stage: Text
    countries: list[Text] = Field(min_length=1)
    profile: Text


class CasesFile(Spec):
    cases: list[CaseSpec] = []


class LessonMeta(Spec):
    id: Slug
    title: Text
    phase: Slug
    minutes: int = Field(default=20, ge=1, le=600)
    objectives: list[Code] = []
    cases: list[Slug] = []              # running cases (ids from content/cases.yml) the lesson uses
    # A weekly unit: the week of its phase's month (1-4) and its practice activity.
    week: int | None = Field(default=None, ge=1, le=4)
    activity: ActivitySpec | None = None
    readings: list[ReadingSpec] = []    # the week's further reading, as a module's


def _weeks_unique(modules: list[ModuleSource], problems: Problems) -> None:
    """Each week of the year holds one unit: two lessons may not claim the same week of one month."""
    taken: dict[tuple[int, int], Path] = {}
    for module in modules:
        months = {p.id: p.month for p in module.spec.phases}
        for lesson in module.lessons:
            month = months.get(lesson.meta.phase)
            if lesson.meta.week is None or month is None:
                continue
            other = taken.setdefault((month, lesson.meta.week), lesson.path)
            if other != lesson.path:
                problems.add(Location(lesson.path, 2),
                             f"week {lesson.meta.week} of month {month} is already the unit of {other.name}")


# Study time of a lesson: careful reading with notes runs at about 40 words a minute; a
# lesson's stated minutes must sit between the fast and the slow end of that pace.
STUDY_WORDS_PER_MINUTE = 40
STUDY_PACE_RANGE = (25, 60)  # words a minute: slowest and fastest believable study pace


def study_minutes(words: int) -> int:
    """The reading time a lesson of ``words`` words should state: to the nearest 5 minutes, at least 5."""
    return max(5, 5 * round(words / STUDY_WORDS_PER_MINUTE / 5))


def _study_time_believable(modules: list[ModuleSource], problems: Problems) -> None:
    """A lesson's minutes follow its length, so the year's hours are honest."""
    slow, fast = STUDY_PACE_RANGE
    for module in modules:
        for lesson in module.lessons:
            words = word_count(lesson.body)
            if not words / fast <= lesson.meta.minutes <= words / slow:
                lines = lesson.path.read_text(encoding="utf-8").splitlines()
                line = next((n for n, text in enumerate(lines, start=1) if text.startswith("minutes:")), 2)
                problems.add(Location(lesson.path, line),
                             f"minutes: {lesson.meta.minutes} does not fit {words} words (study pace {slow}-{fast} "
                             f"words a minute); about {study_minutes(words)}")


@dataclass
class LessonSource:
    meta: LessonMeta
    body: str
    path: Path
    body_line: int = 1  # the line of the file the body starts on


@dataclass
class ModuleSource:
    spec: ModuleSpec
    path: Path
    lessons: list[LessonSource] = field(default_factory=list)

    @property
    def first_month(self) -> int:
        return min(p.month for p in self.spec.phases)


@dataclass
class CatalogSpec:
    program: ProgramSpec
    objectives: list[ObjectiveSpec]
    modules: list[ModuleSource]
    cases: list[CaseSpec] = field(default_factory=list)

    @property
    def objective_codes(self) -> set[str]:
        return {o.code for o in self.objectives}

    def lessons(self) -> list[tuple[ModuleSource, LessonSource]]:
        return [(m, lesson) for m in self.modules for lesson in m.lessons]

    def page_ids(self) -> dict[str, set[str]]:
        """The ids a link may name, per kind of catalog page (as in its URL)."""
        return {"lessons": {lesson.meta.id for _, lesson in self.lessons()},
                "modules": {m.spec.id for m in self.modules},
                "levels": {level.id for level in self.program.levels}}


def markdown_problems(path: Path, body: str, first_line: int, pages: dict[str, set[str]], problems: Problems) -> None:
    """What a learner would find broken in a lesson's or an assignment's Markdown: a link to
    a lesson, module or level that does not exist (a 'Not found' page), and a code fence
    never closed. ``first_line`` is the line of the file the body starts on."""
    for n, line in enumerate(body.splitlines()):
        for match in PAGE_LINK.finditer(line):
            kind, key = match.groups()
            if key not in pages[kind]:
                problems.add(Location(path, first_line + n),
                             f"link to an unknown {PAGE_WORD[kind]} {key!r} (/{kind}/{key} would be a page not found)")
    fence = unclosed_fence(body)
    if fence is not None:
        problems.add(Location(path, first_line + fence - 1),
                     "a code fence opened here is never closed: add a closing line of the same fence")


def _readings_unique(data: object, readings: list[ReadingSpec], path: Path, problems: Problems) -> None:
    """One list of further reading names each address once."""
    seen: dict[str, int] = {}
    for i, reading in enumerate(readings):
        line = line_at(data, ["readings", i])
        if reading.url in seen:
            problems.add(Location(path, line), f"duplicate reading {reading.url!r} (also on line {seen[reading.url]})")
        seen.setdefault(reading.url, line)


def _codes_known(data: object, loc: list[str | int], codes: list[str], known: set[str], path: Path, problems: Problems) -> None:
    for i, code in enumerate(codes):
        if code not in known:
            problems.add(Location(path, line_at(data, [*loc, i])), f"unknown objective code {code!r}")


class CatalogSection(ContentSection):
    name = "catalog"
    order = 10

    # ------------------------------------------------------------------ parse

    def parse(self, bundle: Bundle, problems: Problems) -> None:
        root = bundle.source.content_dir
        program = self._program(root / "program.yml", problems)
        objectives = self._objectives(root / "objectives.yml", problems)
        known = {o.code for o in objectives}
        cases = self._cases(root / "cases.yml", problems)
        # An invalid register is reported once; the lessons' case ids are then not checked against it.
        modules = self._modules(root / "modules", known, problems, None if cases is None else {c.id for c in cases})
        if program is None:
            return
        spec = CatalogSpec(program=program, objectives=objectives, modules=modules, cases=cases or [])
        pages = spec.page_ids()
        for _, lesson in spec.lessons():
            markdown_problems(lesson.path, lesson.body, lesson.body_line, pages, problems)
        if not problems:
            bundle.specs[self.name] = spec

    def _cases(self, path: Path, problems: Problems) -> list[CaseSpec] | None:
        """The register of running cases; optional, but each id and each name appears once."""
        if not path.exists():
            return []
        data = read_yaml_file(path, problems)
        spec = validate(CasesFile, data, path, problems) if data is not None else None
        if spec is None:
            return None
        ids: dict[str, int] = {}
        names: dict[str, int] = {}
        for i, case in enumerate(spec.cases):
            line = line_at(data, ["cases", i])
            if case.id in ids:
                problems.add(Location(path, line), f"duplicate id {case.id!r} (also on line {ids[case.id]})")
            ids.setdefault(case.id, line)
            name = case.name.casefold()
            if name in names:
                problems.add(Location(path, line_at(data, ["cases", i, "name"])),
                             f"duplicate company name {case.name!r} (also on line {names[name]}): each running case needs its own name")
            names.setdefault(name, line)
        return spec.cases

    def _program(self, path: Path, problems: Problems) -> ProgramSpec | None:
        if not path.exists():
            problems.add(Location(path, 1), "missing: the program file is required")
            return None
        data = read_yaml_file(path, problems)
        spec = validate(ProgramSpec, data, path, problems) if data is not None else None
        if spec is None:
            return None
        expected = 1
        seen: dict[str, int] = {}
        for i, level in enumerate(spec.levels):
            line = line_at(data, ["levels", i])
            first, last = level.months
            if level.id in seen:
                problems.add(Location(path, line), f"duplicate id {level.id!r} (also on line {seen[level.id]})")
            seen.setdefault(level.id, line)
            if first > last:
                problems.add(Location(path, line), f"level {level.id!r}: months run backwards ({first} > {last})")
            elif first != expected:
                problems.add(Location(path, line), f"level {level.id!r} starts in month {first}; expected month {expected} "
                                                   "(levels must cover months 1-12 in order without gaps)")
            expected = last + 1
        if expected != 13 and not problems:
            problems.add(Location(path, line_at(data, ["levels"])), f"levels end in month {expected - 1}; they must cover months 1-12")
        return spec

    def _objectives(self, path: Path, problems: Problems) -> list[ObjectiveSpec]:
        if not path.exists():
            problems.add(Location(path, 1), "missing: the objectives file is required")
            return []
        data = read_yaml_file(path, problems)
        spec = validate(ObjectivesFile, data, path, problems) if data is not None else None
        if spec is None:
            return []
        seen: dict[str, int] = {}
        for i, objective in enumerate(spec.objectives):
            line = line_at(data, ["objectives", i])
            if objective.code in seen:
                problems.add(Location(path, line), f"duplicate id {objective.code!r} (also on line {seen[objective.code]})")
            seen.setdefault(objective.code, line)
            if not objective.code.startswith(KIND_PREFIX[objective.kind]):
                problems.add(Location(path, line_at(data, ["objectives", i, "kind"])),
                             f"{objective.code} is a {objective.kind} objective; its code must start with {KIND_PREFIX[objective.kind]}")
        return spec.objectives

    def _modules(self, root: Path, known: set[str], problems: Problems, cases: set[str] | None = None) -> list[ModuleSource]:
        modules: list[ModuleSource] = []
        metric_ids: dict[str, Location] = {}
        lesson_ids: dict[str, Location] = {}
        folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        for folder in folders:
            module_file = folder / "module.yml"
            lesson_files = sorted((folder / "lessons").glob("*.md"))
            if not module_file.exists():
                for lesson_file in lesson_files:
                    problems.add(Location(lesson_file, 1), f"lesson for a missing module: there is no {module_file}")
                continue
            data = read_yaml_file(module_file, problems)
            spec = validate(ModuleSpec, data, module_file, problems) if data is not None else None
            if spec is None:
                continue
            if spec.id != folder.name:
                problems.add(Location(module_file, line_at(data, ["id"])),
                             f"module id {spec.id!r} must equal its folder name {folder.name!r}")
            _codes_known(data, ["objectives"], spec.objectives, known, module_file, problems)
            phase_ids: dict[str, int] = {}
            for i, phase in enumerate(spec.phases):
                line = line_at(data, ["phases", i])
                if phase.id in phase_ids:
                    problems.add(Location(module_file, line), f"duplicate id {phase.id!r} (also on line {phase_ids[phase.id]})")
                phase_ids.setdefault(phase.id, line)
            for i, metric in enumerate(spec.metrics.items if spec.metrics else []):
                where = Location(module_file, line_at(data, ["metrics", "items", i]))
                if metric.id in metric_ids:
                    problems.add(where, f"duplicate id {metric.id!r} (also at {metric_ids[metric.id]})")
                metric_ids.setdefault(metric.id, where)
                _codes_known(data, ["metrics", "items", i, "objectives"], metric.objectives, known, module_file, problems)
            _readings_unique(data, spec.readings, module_file, problems)
            source = ModuleSource(spec=spec, path=module_file)
            for lesson_file in lesson_files:
                lesson = self._lesson(lesson_file, set(phase_ids), known, problems, cases)
                if lesson is None:
                    continue
                where = Location(lesson_file, 2)
                if lesson.meta.id in lesson_ids:
                    problems.add(where, f"duplicate id {lesson.meta.id!r} (also in {lesson_ids[lesson.meta.id]})")
                lesson_ids.setdefault(lesson.meta.id, where)
                source.lessons.append(lesson)
            modules.append(source)
        modules.sort(key=lambda m: (m.first_month, m.spec.id))
        _weeks_unique(modules, problems)
        _study_time_believable(modules, problems)
        return modules

    def _lesson(self, path: Path, phases: set[str], known: set[str], problems: Problems,
                cases: set[str] | None = None) -> LessonSource | None:
        document = read_front_matter(path, problems)
        if document is None:
            return None
        meta = validate(LessonMeta, document.meta, path, problems)
        if meta is None:
            return None
        if meta.phase not in phases:
            problems.add(Location(path, line_at(document.meta, ["phase"])),
                         f"unknown phase {meta.phase!r}; this module's phases are {', '.join(sorted(phases))}")
        _codes_known(document.meta, ["objectives"], meta.objectives, known, path, problems)
        for i, case in enumerate(meta.cases):
            if cases is not None and case not in cases:
                problems.add(Location(path, line_at(document.meta, ["cases", i])),
                             f"unknown case {case!r}; the running cases are listed in cases.yml")
        _readings_unique(document.meta, meta.readings, path, problems)
        if not document.body.strip():
            problems.add(Location(path, 1), "the lesson has no body text")
        return LessonSource(meta=meta, body=document.body, path=path, body_line=document.body_line)

    # ------------------------------------------------------------------ counts

    def facts(self, bundle: Bundle) -> Iterable[Fact]:
        spec: CatalogSpec = bundle.specs[self.name]
        for module in spec.modules:
            months = {p.id: p.month for p in module.spec.phases}
            for lesson in module.lessons:
                month = months.get(lesson.meta.phase)
                yield Fact(Measure.LESSONS, 1, month, module.spec.id)
                yield Fact(Measure.WORDS, word_count(lesson.body), month, module.spec.id)
                yield Fact(Measure.MINUTES, lesson.meta.minutes, month, module.spec.id)
                if lesson.meta.activity is not None:
                    yield Fact(Measure.ACTIVITIES, 1, month, module.spec.id)
                    yield Fact(Measure.MINUTES, lesson.meta.activity.minutes, month, module.spec.id)
                # a weekly unit's readings serve that week: counted in the lesson's month
                yield Fact(Measure.READINGS, len(lesson.meta.readings), month, module.spec.id)
            # a module's readings serve its whole span: counted in its first month
            yield Fact(Measure.READINGS, len(module.spec.readings), module.first_month, module.spec.id)
            yield Fact(Measure.METRICS, len(module.spec.metrics.items) if module.spec.metrics else 0, module.first_month, module.spec.id)

    def summary(self, bundle: Bundle) -> dict[str, int]:
        spec: CatalogSpec = bundle.specs[self.name]
        return {
            "levels": len(spec.program.levels),
            "objectives": len(spec.objectives),
            "modules": len(spec.modules),
            "lessons": len(spec.lessons()),
            "metrics": sum(len(m.spec.metrics.items) if m.spec.metrics else 0 for m in spec.modules),
            "readings": sum(len(m.spec.readings) for m in spec.modules) + sum(len(les.meta.readings) for _, les in spec.lessons()),
            "cases": len(spec.cases),
        }

    def size(self, bundle: Bundle) -> int:
        spec: CatalogSpec = bundle.specs[self.name]
        return 1 + sum(self.summary(bundle).values()) + sum(len(m.spec.phases) for m in spec.modules)

    # ------------------------------------------------------------------ apply

    def apply(self, session: DbSession, bundle: Bundle, report: SyncReport, tick: Tick) -> None:
        spec: CatalogSpec = bundle.specs[self.name]
        revision.bump(session)  # every load: the processes' curriculum caches are stale at commit
        base = bundle.source.content_dir.parent

        programs = existing_by_key(session, Program)
        program = upsert(session, programs, Program, spec.program.id,
                         {"title": spec.program.title, "summary": spec.program.summary}, report, "programs")
        retire_missing(programs, [spec.program.id], report, "programs")
        tick(1)

        levels = existing_by_key(session, Level)
        for position, level in enumerate(spec.program.levels):
            upsert(session, levels, Level, level.id, {
                "program": program, "title": level.title, "position": position,
                "first_month": level.months[0], "last_month": level.months[1],
                "summary": level.summary, "goals": list(level.goals),
            }, report, "levels")
            tick(1)
        retire_missing(levels, [lv.id for lv in spec.program.levels], report, "levels")

        objectives = existing_by_key(session, Objective)
        for position, objective in enumerate(spec.objectives):
            upsert(session, objectives, Objective, objective.code, {
                "kind": objective.kind, "title": objective.title, "statement": objective.statement,
                "outcomes": list(objective.outcomes), "applications": list(objective.applications),
                "indicators": list(objective.indicators), "position": position,
            }, report, "objectives")
            tick(1)
        retire_missing(objectives, spec.objective_codes, report, "objectives")

        def pick(codes: list[str]) -> list[Objective]:
            return [objectives[c] for c in codes]

        modules = existing_by_key(session, Module)
        phases = existing_by_key(session, Phase)
        metrics = existing_by_key(session, Metric)
        lessons = existing_by_key(session, Lesson)
        cases = existing_by_key(session, Case)
        for case in spec.cases:
            upsert(session, cases, Case, case.id, {
                "name": case.name, "size": case.size, "market": case.market, "product": case.product,
                "stage": case.stage, "countries": list(case.countries), "profile": case.profile,
            }, report, "cases")
        retire_missing(cases, [c.id for c in spec.cases], report, "cases")
        seen_phases: list[str] = []
        for position, source in enumerate(spec.modules):
            m = source.spec
            module = upsert(session, modules, Module, m.id, {
                "program": program, "title": m.title, "summary": m.summary, "position": position,
                "metric_group": m.metrics.group if m.metrics else "", "objectives": pick(m.objectives),
                "readings": [r.model_dump() for r in m.readings],
            }, report, "modules")
            tick(1)
            module_phases: dict[str, Phase] = {}
            for p_pos, phase in enumerate(m.phases):
                key = f"{m.id}.{phase.id}"
                seen_phases.append(key)
                module_phases[phase.id] = upsert(session, phases, Phase, key, {
                    "module": module, "title": phase.title, "month": phase.month,
                    "position": p_pos, "summary": phase.summary,
                }, report, "phases")
                tick(1)
            for i_pos, metric in enumerate(m.metrics.items if m.metrics else []):
                upsert(session, metrics, Metric, metric.id, {
                    "module": module, "name": metric.name, "description": metric.description,
                    "target": metric.target.value, "unit": metric.unit, "comparison": metric.target.comparison,
                    "min_value": metric.min, "max_value": metric.max, "position": i_pos,
                    "objectives": pick(metric.objectives),
                }, report, "metrics")
                tick(1)
            ordered = sorted(source.lessons, key=lambda les: (module_phases[les.meta.phase].month, les.meta.week or 0,
                                                              les.path.name))
            for l_pos, lesson in enumerate(ordered):
                activity = lesson.meta.activity
                upsert(session, lessons, Lesson, lesson.meta.id, {
                    "module": module, "phase": module_phases[lesson.meta.phase], "title": lesson.meta.title,
                    "position": l_pos, "minutes": lesson.meta.minutes, "body": lesson.body, "week": lesson.meta.week,
                    "activity": activity.model_dump(mode="json") if activity is not None else None,
                    "readings": [r.model_dump() for r in lesson.meta.readings],
                    "source_path": str(lesson.path.relative_to(base)) if lesson.path.is_relative_to(base) else str(lesson.path),
                    "objectives": pick(lesson.meta.objectives), "cases": [cases[c] for c in lesson.meta.cases],
                }, report, "lessons")
                tick(1)
        retire_missing(modules, [s.spec.id for s in spec.modules], report, "modules")
        retire_missing(phases, seen_phases, report, "phases")
        retire_missing(metrics, [mt.id for s in spec.modules for mt in (s.spec.metrics.items if s.spec.metrics else [])], report, "metrics")
        retire_missing(lessons, [les.meta.id for _, les in spec.lessons()], report, "lessons")
