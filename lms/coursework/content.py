"""The coursework content section: content/rubrics/*.yml and
content/modules/*/assignments/*.md, validated with file and line, synced by stable id.
An edited rubric gets a new version; grades keep the version they used."""

from __future__ import annotations

import re
from calendar import monthrange
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from pathlib import Path

from pydantic import Field, model_validator

from lms.assessment.content import QuizSource
from lms.assessment.models import QuizKind
from lms.catalog.content import CatalogSpec, Code, Slug, Spec, Text, markdown_problems
from lms.catalog.models import Level, Module, Objective, ObjectiveKind, Phase
from lms.cohorts.calendar import CLOSING_DAYS, PROGRAM_MONTHS, month_opens_on, program_closes_on
from lms.content.services import (
    Bundle,
    ContentSection,
    SyncReport,
    Tick,
    checksum,
    existing_by_key,
    retire_missing,
    sync_version,
    upsert,
)
from lms.content.source import Location, Problems, line_at, read_front_matter, read_yaml_file, validate
from lms.content.stats import NONE, Block, Fact, Measure
from lms.coursework.models import Assignment, AssignmentKind, Rubric, RubricVersion
from lms.coursework.specs import CriterionSpec
from lms.database import DbSession


class RubricFile(Spec):
    id: Slug
    title: Text
    level: Slug | None = None
    criteria: list[CriterionSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _criteria(self) -> RubricFile:
        ids = [c.id for c in self.criteria]
        if len(ids) != len(set(ids)):
            raise ValueError("criterion ids must be unique within the rubric")
        return self


class TeamSpec(Spec):
    """A team assignment: teams of ``min`` to ``max`` learners hand in one piece of work;
    with ``self_formed`` learners form and join teams themselves, otherwise staff do."""

    min: int = Field(ge=1, le=12)
    max: int = Field(ge=2, le=12)
    self_formed: bool = False

    @model_validator(mode="after")
    def _sizes(self) -> TeamSpec:
        if self.min > self.max:
            raise ValueError(f"team min ({self.min}) is larger than max ({self.max})")
        return self


class AssignmentMeta(Spec):
    id: Slug
    kind: AssignmentKind
    title: Text
    phase: Slug
    objectives: list[Code] = Field(min_length=1)
    rubric: Slug
    due_after_days: int = Field(ge=1, le=365)
    peer_reviews: int = Field(default=0, ge=0, le=5)
    deliverables: list[Text] = Field(min_length=1)
    artifact: Slug | None = None  # a critique's artifact: the id of a template in content/templates/
    team: TeamSpec | None = None  # a team assignment (lms.teams)
    # The weekly units (lesson ids) the work applies; None: every weekly unit of its phase.
    needs: list[Slug] | None = None


@dataclass
class RubricSource:
    spec: RubricFile
    path: Path
    # The line of each criterion's objective code, by (criterion index, code index).
    objective_lines: dict[tuple[int, int], int] = field(default_factory=dict)
    # The line of each criterion's levels and of each level's descriptor, by criterion index
    # and by (criterion index, level index).
    levels_lines: dict[int, int] = field(default_factory=dict)
    descriptor_lines: dict[tuple[int, int], int] = field(default_factory=dict)

    def objective_line(self, criterion: int, code: int) -> int:
        return self.objective_lines.get((criterion, code), 1)


@dataclass
class AssignmentSource:
    meta: AssignmentMeta
    module: str
    body: str
    path: Path
    artifact_line: int = 1  # where the front matter names the artifact (the templates section checks it)
    objective_lines: list[int] = field(default_factory=list)  # the line of each code in the front matter's objectives
    due_line: int = 1  # where the front matter gives due_after_days
    needs_line: int = 1  # where the front matter names the lessons it needs (or its phase)

    def objective_line(self, index: int) -> int:
        return self.objective_lines[index] if index < len(self.objective_lines) else 1


@dataclass
class CourseworkSpec:
    rubrics: list[RubricSource]
    assignments: list[AssignmentSource]


def _rubric_version(criteria: list[CriterionSpec], digest: str, number: int) -> RubricVersion:
    return RubricVersion(number=number, criteria=criteria, checksum=digest,
                         max_points=sum(c.best_points for c in criteria))


def _graded_objectives(assignment: AssignmentSource, rubric: RubricSource, problems: Problems) -> None:
    """The objectives an assignment claims are the ones its rubric grades: a criterion
    graded on an objective the assignment does not name gives evidence nobody sees coming,
    and an objective no criterion grades is promised on the assignment page and never
    evidenced. Each is refused at its own line."""
    claimed = set(assignment.meta.objectives)
    graded: set[str] = set()
    for i, criterion in enumerate(rubric.spec.criteria):
        for j, code in enumerate(criterion.objectives):
            graded.add(code)
            if code not in claimed:
                problems.add(Location(rubric.path, rubric.objective_line(i, j)),
                             f"criterion {criterion.id!r} grades {code}, which assignment {assignment.meta.id!r} "
                             f"({assignment.path.name}) does not claim: add it to the assignment's objectives "
                             f"or take it off the criterion")
    for i, code in enumerate(assignment.meta.objectives):
        if code not in graded:
            problems.add(Location(assignment.path, assignment.objective_line(i)),
                         f"no criterion of rubric {rubric.spec.id!r} grades {code}: the assignment claims it "
                         f"but would never give evidence for it")


# Words that judge without saying what the work shows: a level descriptor made only of these
# ("Very good work.", "Meets expectations", "Excellent") cannot be told apart from the next
# level by looking at the submission.
JUDGEMENT_WORDS = frozenset((
    "a", "an", "the", "and", "or", "but", "of", "in", "is", "are", "was", "its", "it", "this", "very", "quite",
    "really", "fairly", "highly", "extremely", "somewhat", "mostly", "good", "great", "excellent", "outstanding",
    "exceptional", "superb", "strong", "solid", "sound", "adequate", "acceptable", "satisfactory", "fair",
    "reasonable", "decent", "competent", "weak", "poor", "inadequate", "unsatisfactory", "limited", "minimal",
    "basic", "some", "little", "partial", "work", "quality", "performance", "level", "standard", "standards",
    "overall", "shows", "demonstrates", "meets", "exceeds", "expectations", "below", "above", "understanding",
    "effort", "job", "answer", "submission",
))
MIN_MONTH_DAYS = 28  # a month of a cohort's schedule is never shorter


def _scheme(criterion: CriterionSpec) -> tuple[tuple[str, str, float], ...]:
    return tuple((lv.id, lv.title, lv.points) for lv in criterion.levels)


def _level_schemes(rubrics: list[RubricSource], problems: Problems) -> None:
    """Every criterion of every rubric grades on the same levels (ids, titles, points) in the
    same order: the program's one scale, the one most criteria use. A criterion with a level
    more or fewer, or in another order, makes a 'proficient' here mean something else there,
    and its share of the best level feeds mastery on a different footing. Refused at the
    criterion's levels."""
    counts = Counter(_scheme(c) for r in rubrics for c in r.spec.criteria)
    if not counts:
        return
    usual = counts.most_common(1)[0][0]
    shown = ", ".join(f"{lv_id} ({title}, {points:g})" for lv_id, title, points in usual)
    for rubric in rubrics:
        for i, criterion in enumerate(rubric.spec.criteria):
            scheme = _scheme(criterion)
            if scheme != usual:
                mine = ", ".join(f"{lv_id} ({title}, {points:g})" for lv_id, title, points in scheme)
                problems.add(Location(rubric.path, rubric.levels_lines.get(i, 1)),
                             f"criterion {criterion.id!r} grades on the levels {mine}; every rubric grades on the "
                             f"program's levels, in this order: {shown}")


def _observable_levels(rubrics: list[RubricSource], problems: Problems) -> None:
    """Each level's descriptor says what work at that level shows, so an instructor can place
    a piece from the work itself: one made only of judgement words ('Very good work') or
    repeating another level's descriptor of the same criterion is refused at its line."""
    for rubric in rubrics:
        for i, criterion in enumerate(rubric.spec.criteria):
            seen: dict[str, str] = {}
            for k, level in enumerate(criterion.levels):
                where = Location(rubric.path, rubric.descriptor_lines.get((i, k), rubric.levels_lines.get(i, 1)))
                words = re.findall(r"[a-z]+", level.descriptor.lower())
                if all(w in JUDGEMENT_WORDS for w in words):
                    problems.add(where, f"criterion {criterion.id!r}, level {level.id!r}: {level.descriptor.strip()!r} "
                                        f"judges the work without saying what it shows; describe what an instructor "
                                        f"would find in work at this level")
                key = " ".join(words)
                if key in seen:
                    problems.add(where, f"criterion {criterion.id!r}: level {level.id!r} has the same descriptor as "
                                        f"level {seen[key]!r}, so the two cannot be told apart")
                seen.setdefault(key, level.id)


def _team_claims(assignments: list[AssignmentSource], kinds: dict[str, ObjectiveKind], problems: Problems) -> None:
    """A team hands in one piece about one member's business and every member gets its grade.
    An application objective is results in the learner's own business, so a team's grade is
    no evidence of it for the others: refused at the code's line."""
    for assignment in assignments:
        if assignment.meta.team is None:
            continue
        for i, code in enumerate(assignment.meta.objectives):
            if kinds.get(code) == ObjectiveKind.APPLICATION:
                problems.add(Location(assignment.path, assignment.objective_line(i)),
                             f"{code} is an application objective (results in the learner's own business), and a team "
                             f"assignment gives every member the grade of one piece about one business: name the "
                             f"knowledge or skill objective the team's work shows")


def _portfolios_after_their_work(catalog: CatalogSpec, assignments: list[AssignmentSource],
                                 rubric_levels: dict[str, str | None], problems: Problems) -> None:
    """A level's portfolio review collects the level's graded work, so it falls due after every
    other piece of assessed work in the level's months (a month lasting at least 28 days).
    Refused at the portfolio's due_after_days."""
    months = {(m.spec.id, p.id): p.month for m in catalog.modules for p in m.spec.phases}
    spans = {lv.id: lv.months for lv in catalog.program.levels}
    for review in assignments:
        level = rubric_levels.get(review.meta.rubric)
        month = months.get((review.module, review.meta.phase))
        if review.meta.kind != AssignmentKind.PORTFOLIO or level not in spans or month is None:
            continue
        first, last = spans[level]
        for work in assignments:
            at = months.get((work.module, work.meta.phase))
            if work is review or work.meta.kind == AssignmentKind.PORTFOLIO or at is None or not first <= at <= last:
                continue
            if at > month or work.meta.due_after_days >= MIN_MONTH_DAYS * (month - at) + review.meta.due_after_days:
                problems.add(Location(review.path, review.due_line),
                             f"the {level} portfolio review {review.meta.id!r} is due {review.meta.due_after_days} days "
                             f"into month {month}, but {work.meta.id!r} ({work.path.name}) of the same level is due "
                             f"{work.meta.due_after_days} days into month {at}: a review falls due after the work it "
                             f"collects")


WEEK_DAYS = 7  # a weekly unit of month m, week w, is taught on days 7(w-1) to 7w of the month


def _due_after_the_lessons(catalog: CatalogSpec, assignments: list[AssignmentSource], problems: Problems) -> None:
    """Work falls due once the weekly units it applies have been taught: week w of a month ends
    7w days after the month opens, so work of that month needing it is due no sooner. The units
    an assignment needs are its ``needs:`` (lesson ids), or else every weekly unit of its own
    phase. A needed lesson that is unknown, not a weekly unit or taught in a later month, and a
    due day before a needed unit's week is over, are refused at the line."""
    months = {(m.spec.id, p.id): p.month for m in catalog.modules for p in m.spec.phases}
    units = {lesson.meta.id: (m.spec.id, lesson) for m, lesson in catalog.lessons()}
    for work in assignments:
        month = months.get((work.module, work.meta.phase))
        if month is None:
            continue
        if work.meta.needs is None:
            needed = [lesson.meta.id for m, lesson in catalog.lessons()
                      if m.spec.id == work.module and lesson.meta.phase == work.meta.phase and lesson.meta.week]
        else:
            needed = list(work.meta.needs)
        where = Location(work.path, work.needs_line)
        for lesson_id in needed:
            found = units.get(lesson_id)
            if found is None:
                problems.add(where, f"{work.meta.id!r} needs lesson {lesson_id!r}, which does not exist")
                continue
            module, lesson = found
            at, week = months.get((module, lesson.meta.phase)), lesson.meta.week
            if week is None or at is None:
                problems.add(where, f"{work.meta.id!r} needs lesson {lesson_id!r}, which is not a weekly unit")
            elif at > month:
                problems.add(where, f"{work.meta.id!r} (month {month}) needs lesson {lesson_id!r}, taught later, "
                                    f"in month {at}")
            elif at == month and work.meta.due_after_days < WEEK_DAYS * week:
                problems.add(Location(work.path, work.due_line),
                             f"{work.meta.id!r} is due {work.meta.due_after_days} days into month {month}, before "
                             f"the unit it needs, {lesson_id!r} (week {week}), is over on day {WEEK_DAYS * week}: "
                             f"make it due later, or name the units it does need in needs:")


@dataclass(frozen=True)
class Deadline:
    """One assessed piece's due day: ``days`` after ``month`` of the schedule opens."""

    id: str
    month: int
    days: int
    location: Location
    assignment: bool


# The cohort starts the spread of deadlines is checked on: the first and the last day of every
# month of a common and a leap year, so months of 28 to 31 days fall in every order.
SAMPLE_STARTS = tuple(d for year in (2027, 2028) for m in range(1, 13)
                      for d in (date(year, m, 1), date(year, m, monthrange(year, m)[1])))
MAX_DEADLINES_A_WEEK = 2  # assessed deadlines (work, quizzes, exams) falling within any seven days


def _deadlines(catalog: CatalogSpec, assignments: list[AssignmentSource], quizzes: list[QuizSource]) -> list[Deadline]:
    months = {(m.spec.id, p.id): p.month for m in catalog.modules for p in m.spec.phases}
    last_phase = {m.spec.id: m.spec.phases[-1].id for m in catalog.modules if m.spec.phases}
    level_ends = {lv.id: lv.months[1] for lv in catalog.program.levels}
    found = [Deadline(w.meta.id, month, w.meta.due_after_days, Location(w.path, w.due_line), True)
             for w in assignments if (month := months.get((w.module, w.meta.phase))) is not None]
    for quiz in quizzes:
        spec, rules = quiz.spec, quiz.spec.rules
        if spec.kind == QuizKind.CHECK or rules.practice:
            continue  # practice: on no one's schedule
        if spec.level is not None:
            release = level_ends.get(spec.level)
        else:
            phase = months.get((quiz.module or "", quiz.phase or last_phase.get(quiz.module or "", "")))
            release = None if phase is None else phase + (1 if rules.opens_when_phase_ends else 0)
        if release is None:
            continue
        if not rules.closes_after_days:
            # due when the next month opens (Timeline.item_dates), a day the file does not set:
            # only the closing days a file gives are checked for spread (a site's own quiz
            # without one is not refused for where its month ends)
            continue
        found.append(Deadline(spec.id, release, rules.closes_after_days, Location(quiz.path, quiz.closes_line), False))
    return found


def _due_by_the_close(catalog: CatalogSpec, assignments: list[AssignmentSource], problems: Problems) -> None:
    """No work falls due after the program closes (``program_closes_on``: month 12 and the
    closing period after it), on any cohort calendar: the schedule would move its due day to
    the close (``Timeline.item_dates``), onto the day of the work before it. Refused at the due day."""
    months = {(m.spec.id, p.id): p.month for m in catalog.modules for p in m.spec.phases}
    for work in assignments:
        month = months.get((work.module, work.meta.phase))
        if month is None:
            continue
        latest = min((program_closes_on(start) - month_opens_on(start, month)).days for start in SAMPLE_STARTS)
        if work.meta.due_after_days > latest:
            problems.add(Location(work.path, work.due_line),
                         f"{work.meta.id!r} is due {work.meta.due_after_days} days into month {month}, after the program "
                         f"closes ({CLOSING_DAYS} days after month {PROGRAM_MONTHS} ends) on some cohort calendars: "
                         f"work of month {month} is due at most {latest} days into it")


def _days_apart(gap: timedelta) -> str:
    return "on the same day" if not gap.days else f"{gap.days} day{'s' * (gap.days != 1)} apart"


def _within(gap: timedelta) -> str:
    return "on the same day" if not gap.days else f"within {gap.days} day{'s' * (gap.days != 1)} of each other"


def _deadlines_spread(catalog: CatalogSpec, assignments: list[AssignmentSource], quizzes: list[QuizSource],
                      problems: Problems) -> None:
    """No week piles up assessed work: on every cohort calendar (months of 28-31 days in any
    order, each date as the schedule keeps it: none after the program closes), two assignments
    fall due at least seven days apart, and no seven days hold more than
    ``MAX_DEADLINES_A_WEEK`` deadlines of assignments, quizzes and exams together. Refused at
    the due day (or the quiz's closes_after_days) of the piece that falls due last."""
    deadlines = _deadlines(catalog, assignments, quizzes)
    reported: set[frozenset[str]] = set()
    for start in SAMPLE_STARTS:
        closes = program_closes_on(start)  # the schedule moves what would fall later to the close
        dated = sorted(((min(month_opens_on(start, d.month) + timedelta(days=d.days), closes), d) for d in deadlines),
                       key=lambda pair: (pair[0], pair[1].id))
        works = [pair for pair in dated if pair[1].assignment]
        for (first_on, first), (then_on, then) in zip(works, works[1:], strict=False):
            key = frozenset((first.id, then.id))
            if (then_on - first_on).days < WEEK_DAYS and key not in reported:
                reported.add(key)
                problems.add(then.location,
                             f"{then.id!r} (due {then.days} days into month {then.month}) and {first.id!r} (due "
                             f"{first.days} days into month {first.month}) fall due {_days_apart(then_on - first_on)} "
                             f"for a cohort starting {start.isoformat()}: spread assessed work a week apart")
        span = MAX_DEADLINES_A_WEEK
        for i in range(len(dated) - span):
            (first_on, _), (then_on, then) = dated[i], dated[i + span]
            pile = [d for _, d in dated[i:i + span + 1]]
            key = frozenset(d.id for d in pile)
            if (then_on - first_on).days < WEEK_DAYS and key not in reported:
                reported.add(key)
                names = ", ".join(f"{d.id!r} ({d.days} days into month {d.month})" for d in pile)
                problems.add(then.location,
                             f"{len(pile)} assessed deadlines fall {_within(then_on - first_on)} for a cohort "
                             f"starting {start.isoformat()}: {names}; at most {MAX_DEADLINES_A_WEEK} may fall in a week")


class CourseworkSection(ContentSection):
    name = "coursework"
    order = 30

    def parse(self, bundle: Bundle, problems: Problems) -> None:
        catalog: CatalogSpec = bundle.specs["catalog"]
        root = bundle.source.content_dir
        codes = catalog.objective_codes
        rubrics = self._rubrics(root / "rubrics", codes, {lv.id for lv in catalog.program.levels}, problems)
        known_rubrics = {r.spec.id for r in rubrics}
        modules = {m.spec.id: m.spec for m in catalog.modules}
        pages = catalog.page_ids()
        assignments: list[AssignmentSource] = []
        seen: dict[str, Location] = {}
        for path in sorted((root / "modules").glob("*/assignments/*.md")):
            module = modules.get(path.parent.parent.name)
            if module is None:
                problems.add(Location(path, 1), f"assignment for a missing module: there is no {path.parent.parent / 'module.yml'}")
                continue
            document = read_front_matter(path, problems)
            meta = validate(AssignmentMeta, document.meta, path, problems) if document else None
            if meta is None or document is None:
                continue
            where = Location(path, line_at(document.meta, ["id"]))
            if meta.id in seen:
                problems.add(where, f"duplicate id {meta.id!r} (also in {seen[meta.id]})")
            seen.setdefault(meta.id, where)
            if meta.phase not in {p.id for p in module.phases}:
                problems.add(Location(path, line_at(document.meta, ["phase"])), f"module {module.id!r} has no phase {meta.phase!r}")
            if meta.rubric not in known_rubrics:
                problems.add(Location(path, line_at(document.meta, ["rubric"])), f"unknown rubric {meta.rubric!r}")
            for i, code in enumerate(meta.objectives):
                if code not in codes:
                    problems.add(Location(path, line_at(document.meta, ["objectives", i])), f"unknown objective code {code!r}")
            if not document.body.strip():
                problems.add(Location(path, 1), "the assignment has no brief")
            markdown_problems(path, document.body, document.body_line, pages, problems)
            artifact_line = line_at(document.meta, ["artifact"])
            if meta.kind == AssignmentKind.CRITIQUE and meta.artifact is None:
                problems.add(Location(path, line_at(document.meta, ["kind"])),
                             "a critique needs an artifact: the id of the template in templates/ the learner assesses")
            elif meta.kind != AssignmentKind.CRITIQUE and meta.artifact is not None:
                problems.add(Location(path, artifact_line), f"only a critique has an artifact; this assignment is a {meta.kind.value}")
            if meta.team is not None and meta.kind == AssignmentKind.PORTFOLIO:
                problems.add(Location(path, line_at(document.meta, ["team"])),
                             "a level's portfolio is personal: it cannot be a team assignment")
            elif meta.team is not None and meta.peer_reviews:
                problems.add(Location(path, line_at(document.meta, ["peer_reviews"])),
                             "a team assignment has no peer reviews (teammates rate each other's contribution instead): "
                             "set peer_reviews to 0")
            assignments.append(AssignmentSource(
                meta=meta, module=module.id, body=document.body, path=path, artifact_line=artifact_line,
                objective_lines=[line_at(document.meta, ["objectives", i]) for i in range(len(meta.objectives))],
                due_line=line_at(document.meta, ["due_after_days"]),
                needs_line=line_at(document.meta, ["needs" if meta.needs is not None else "phase"])))
        by_id = {r.spec.id: r for r in rubrics}
        for assignment in assignments:
            rubric = by_id.get(assignment.meta.rubric)
            if rubric is not None:
                _graded_objectives(assignment, rubric, problems)
        _level_schemes(rubrics, problems)
        _observable_levels(rubrics, problems)
        _team_claims(assignments, {o.code: o.kind for o in catalog.objectives}, problems)
        _portfolios_after_their_work(catalog, assignments, {r.spec.id: r.spec.level for r in rubrics}, problems)
        _due_after_the_lessons(catalog, assignments, problems)
        _due_by_the_close(catalog, assignments, problems)
        _deadlines_spread(catalog, assignments, bundle.specs.get("quizzes", []), problems)
        bundle.specs[self.name] = CourseworkSpec(rubrics=rubrics, assignments=assignments)

    def _rubrics(self, folder: Path, codes: set[str], levels: set[str], problems: Problems) -> list[RubricSource]:
        rubrics: list[RubricSource] = []
        seen: dict[str, Location] = {}
        portfolio: dict[str, Location] = {}
        for path in sorted(folder.glob("*.yml")) if folder.is_dir() else []:
            data = read_yaml_file(path, problems)
            spec = validate(RubricFile, data, path, problems) if data is not None else None
            if spec is None:
                continue
            where = Location(path, line_at(data, ["id"]))
            if spec.id in seen:
                problems.add(where, f"duplicate id {spec.id!r} (also at {seen[spec.id]})")
            seen.setdefault(spec.id, where)
            if spec.level is not None:
                if spec.level not in levels:
                    problems.add(Location(path, line_at(data, ["level"])), f"unknown level {spec.level!r}")
                elif spec.level in portfolio:
                    problems.add(Location(path, line_at(data, ["level"])),
                                 f"level {spec.level!r} already has a portfolio rubric at {portfolio[spec.level]}")
                portfolio.setdefault(spec.level, where)
            lines = {(i, j): line_at(data, ["criteria", i, "objectives", j])
                     for i, criterion in enumerate(spec.criteria) for j in range(len(criterion.objectives))}
            for i, criterion in enumerate(spec.criteria):
                for j, code in enumerate(criterion.objectives):
                    if code not in codes:
                        problems.add(Location(path, lines[i, j]), f"unknown objective code {code!r}")
            rubrics.append(RubricSource(
                spec=spec, path=path, objective_lines=lines,
                levels_lines={i: line_at(data, ["criteria", i, "levels"]) for i in range(len(spec.criteria))},
                descriptor_lines={(i, k): line_at(data, ["criteria", i, "levels", k, "descriptor"])
                                  for i, criterion in enumerate(spec.criteria) for k in range(len(criterion.levels))}))
        return rubrics

    def facts(self, bundle: Bundle) -> Iterable[Fact]:
        catalog: CatalogSpec = bundle.specs["catalog"]
        months = {(m.spec.id, p.id): p.month for m in catalog.modules for p in m.spec.phases}
        spec: CourseworkSpec = bundle.specs[self.name]
        for assignment in spec.assignments:
            yield Fact(Measure.ASSIGNMENTS, 1, months.get((assignment.module, assignment.meta.phase)), assignment.module)

    def blocks(self, bundle: Bundle) -> Iterable[Block]:
        """The critiques: per critique its month, the artifact (a template) the learner
        assesses, its rubric's criteria and the objectives it serves; then the totals."""
        catalog: CatalogSpec = bundle.specs["catalog"]
        months = {(m.spec.id, p.id): p.month for m in catalog.modules for p in m.spec.phases}
        spec: CourseworkSpec = bundle.specs[self.name]
        criteria = {r.spec.id: len(r.spec.criteria) for r in spec.rubrics}
        critiques = [a for a in spec.assignments if a.meta.kind == AssignmentKind.CRITIQUE]
        rows: list[list[str]] = []
        for source in critiques:
            meta = source.meta
            month = months.get((source.module, meta.phase))
            rows.append([meta.id, source.module, str(month) if month is not None else NONE, meta.artifact or NONE,
                         str(criteria.get(meta.rubric, 0)), ", ".join(meta.objectives)])
        served = sorted({code for source in critiques for code in source.meta.objectives})
        rows.append([f"total ({len(critiques)})", str(len({a.module for a in critiques})), NONE,
                     str(len({a.meta.artifact for a in critiques if a.meta.artifact})),
                     str(sum(int(row[4]) for row in rows)), ", ".join(served) or NONE])
        yield Block("Critiques", ("critique", "module", "month", "artifact", "criteria", "objectives"), rows)

    def summary(self, bundle: Bundle) -> dict[str, int]:
        spec: CourseworkSpec = bundle.specs[self.name]
        return {"assignments": len(spec.assignments), "rubrics": len(spec.rubrics)}

    def size(self, bundle: Bundle) -> int:
        return sum(self.summary(bundle).values())

    def apply(self, session: DbSession, bundle: Bundle, report: SyncReport, tick: Tick) -> None:
        spec: CourseworkSpec = bundle.specs[self.name]
        base = bundle.source.content_dir.parent
        levels = existing_by_key(session, Level)
        rubrics = existing_by_key(session, Rubric)
        for rubric_source in spec.rubrics:
            r = rubric_source.spec
            rubric = upsert(session, rubrics, Rubric, r.id,
                            {"title": r.title, "level": levels[r.level] if r.level else None}, report, "rubrics")
            criteria = list(r.criteria)
            digest = checksum([c.fingerprint() for c in criteria])
            sync_version(rubric, digest, partial(_rubric_version, criteria, digest), report, "rubric versions")
            tick(1)
        retire_missing(rubrics, [r.spec.id for r in spec.rubrics], report, "rubrics")

        modules = existing_by_key(session, Module)
        phases = existing_by_key(session, Phase)
        objectives = existing_by_key(session, Objective)
        assignments = existing_by_key(session, Assignment)
        for position, source in enumerate(spec.assignments):
            m = source.meta
            upsert(session, assignments, Assignment, m.id, {
                "kind": m.kind, "title": m.title, "module": modules[source.module],
                "phase": phases[f"{source.module}.{m.phase}"], "rubric": rubrics[m.rubric],
                "due_after_days": m.due_after_days, "peer_reviews": m.peer_reviews,
                "deliverables": list(m.deliverables), "body": source.body, "position": position,
                "objectives": [objectives[c] for c in m.objectives], "artifact": m.artifact,
                "team_min": m.team.min if m.team else None, "team_max": m.team.max if m.team else None,
                "team_self_formed": bool(m.team and m.team.self_formed),
                "source_path": str(source.path.relative_to(base)) if source.path.is_relative_to(base) else str(source.path),
            }, report, "assignments")
            tick(1)
        retire_missing(assignments, [a.meta.id for a in spec.assignments], report, "assignments")
