"""The quizzes content section: quizzes/*.yml, validated with file and line, synced by
stable id. A question whose content changed gets a new version; earlier versions stay
with the attempts that answered them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, model_validator

from lms.assessment.kinds import QuestionKind
from lms.assessment.lint import AttemptRules, Bank, BankQuiz, QuizFigures
from lms.assessment.models import GradingMethodName, Question, QuestionVersion, Quiz, QuizKind, ReviewPolicyName
from lms.assessment.questions import (
    AnyQuestion,
    QuestionSpec,
    Slug,
    Spec,
    Text,
    objectives_of,
    parts_of,
    points_of,
)
from lms.catalog.content import CatalogSpec, ModuleSpec
from lms.catalog.models import Lesson, Level, Module, ObjectiveKind, Phase
from lms.cohorts.calendar import PROGRAM_MONTHS
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
from lms.content.source import Location, Problems, line_at, read_yaml_file, validate
from lms.content.stats import NONE, Block, Fact, Measure
from lms.database import DbSession

# The only question types that may be tagged with an application objective: a scenario of
# the learner's kind of business, a written answer, or a calculation on their own figures.
APPLICATION_ITEMS = frozenset({QuestionKind.SCENARIO, QuestionKind.ESSAY, QuestionKind.NUMERICAL})


class Settings(Spec):
    passing_score: float = Field(default=70, ge=0, le=100)
    time_limit_minutes: int | None = Field(default=None, ge=1, le=600)
    attempts_allowed: int = Field(default=0, ge=0, le=100)
    grading: GradingMethodName = GradingMethodName.HIGHEST
    shuffle_questions: bool = False
    shuffle_answers: bool = False
    review: ReviewPolicyName = ReviewPolicyName.IMMEDIATELY
    opens_after_days: int = Field(default=0, ge=0, le=365)
    closes_after_days: int | None = Field(default=None, ge=1, le=730)
    # Practice: for learning, not for the record; its evidence counts at the rules' practice weight (default 0).
    practice: bool = False
    # A module quiz that covers its phase opens when the phase's work is due (the days count from then).
    opens_when_phase_ends: bool = False

    @model_validator(mode="after")
    def _window(self) -> Settings:
        if self.closes_after_days is not None and self.closes_after_days <= self.opens_after_days:
            raise ValueError("closes_after_days must come after opens_after_days")
        return self


class PoolSpec(Spec):
    id: Slug
    draw: int = Field(ge=1)


# The attempts and review a graded quiz or exam of the program has (every shipped file in
# quizzes/ sets these): a quiz three attempts, its answers shown once the last is used; an
# exam two, its answers shown once it closes. A quiz made by `flask lms import-gift` starts
# from them, as GIFT says nothing of attempts.
HOUSE_RULES: dict[QuizKind, Settings] = {
    QuizKind.QUIZ: Settings(attempts_allowed=3, grading=GradingMethodName.HIGHEST,
                            review=ReviewPolicyName.AFTER_LAST_ATTEMPT),
    QuizKind.EXAM: Settings(attempts_allowed=2, grading=GradingMethodName.HIGHEST, review=ReviewPolicyName.AFTER_CLOSE),
}
HOUSE_RULE_FIELDS = ("attempts_allowed", "grading", "review")

# A weekly check is practice that teaches: unlimited attempts, answers and feedback at once.
CHECK_SETTINGS = Settings(practice=True, attempts_allowed=0, review=ReviewPolicyName.IMMEDIATELY, shuffle_answers=True)
CHECK_ITEMS = (3, 6)


class QuizFile(Spec):
    id: Slug
    title: Text
    kind: QuizKind = QuizKind.QUIZ
    module: Slug | None = None
    phase: Slug | None = None
    level: Slug | None = None
    lesson: Slug | None = None  # a check: the weekly unit (lesson id) it checks and opens with
    description: str = ""
    settings: Settings | None = None
    pools: list[PoolSpec] = []
    questions: list[AnyQuestion] = Field(min_length=1)

    @model_validator(mode="after")
    def _placement(self) -> QuizFile:
        if self.kind == QuizKind.CHECK:
            if self.lesson is None or self.module or self.phase or self.level:
                raise ValueError("a check names its lesson only (module, phase and dates come from the lesson)")
            if self.settings is not None:
                raise ValueError("a check has no settings: it is practice with unlimited attempts and feedback at once")
            low, high = CHECK_ITEMS
            asked = sum(q.type != QuestionKind.DESCRIPTION for q in self.questions)  # text to read is not a question
            if not low <= asked <= high:
                raise ValueError(f"a check has {low}-{high} questions, not {asked}")
            if any(q.type == QuestionKind.ESSAY for q in self.questions):
                raise ValueError("a check is marked at once: no essay questions")
            return self
        if self.lesson is not None:
            raise ValueError("only a check (kind: check) names a lesson")
        if (self.module is None) == (self.level is None):
            raise ValueError("give either a module (a quiz) or a level (an exam), not both")
        if self.phase and not self.module:
            raise ValueError("phase goes with module")
        if self.settings is not None and self.settings.opens_when_phase_ends and not self.module:
            raise ValueError("opens_when_phase_ends is for a module quiz, which has a phase")
        return self

    @property
    def rules(self) -> Settings:
        if self.kind == QuizKind.CHECK:
            return CHECK_SETTINGS
        return self.settings or Settings()


@dataclass
class QuizSource:
    spec: QuizFile
    path: Path
    module: str | None = None  # where it sits: a check's come from its lesson
    phase: str | None = None
    lint: QuizFigures | None = None  # what the item-bank lint measured in it
    closes_line: int = 1  # where the file gives settings.closes_after_days (or its settings, or its id)

    @property
    def lesson(self) -> str | None:
        return self.spec.lesson


def _release_month(spec: QuizFile, modules: dict[str, ModuleSpec], last_months: dict[str, int]) -> int | None:
    """The program month a module quiz or level exam opens in (``Quiz.release_month``), as
    the files place it; None for a check, or a placement already reported as unknown."""
    if spec.kind == QuizKind.CHECK:
        return None
    if spec.level is not None:
        return last_months.get(spec.level)
    module = modules.get(spec.module or "")
    months = {p.id: p.month for p in module.phases} if module is not None else {}
    month = months.get(spec.phase) if spec.phase else min(months.values(), default=None)
    if month is None:
        return None
    return month + (1 if spec.rules.opens_when_phase_ends else 0)


class QuizSection(ContentSection):
    name = "quizzes"
    order = 20

    def parse(self, bundle: Bundle, problems: Problems) -> None:
        catalog: CatalogSpec = bundle.specs["catalog"]
        known_codes = catalog.objective_codes
        applied = {o.code for o in catalog.objectives if o.kind == ObjectiveKind.APPLICATION}
        modules = {m.spec.id: m.spec for m in catalog.modules}
        levels = {lv.id for lv in catalog.program.levels}
        last_months = {level.id: level.months[1] for level in catalog.program.levels}
        lessons = {lesson.meta.id: (m.spec.id, lesson.meta.phase, lesson.meta.week)
                   for m in catalog.modules for lesson in m.lessons}
        root = bundle.source.quizzes_dir
        files = sorted([*root.rglob("*.yml"), *root.rglob("*.yaml")]) if root.is_dir() else []
        checked: dict[str, Location] = {}
        quiz_ids: dict[str, Location] = {}
        question_ids: dict[str, Location] = {}
        quizzes: list[QuizSource] = []
        linted: list[BankQuiz] = []
        for path in files:
            data = read_yaml_file(path, problems)
            spec = validate(QuizFile, data, path, problems) if data is not None else None
            if spec is None:
                continue
            here = Location(path, line_at(data, ["id"]))
            if spec.id in quiz_ids:
                problems.add(here, f"duplicate id {spec.id!r} (also at {quiz_ids[spec.id]})")
            quiz_ids.setdefault(spec.id, here)
            if spec.module is not None:
                module = modules.get(spec.module)
                if module is None:
                    problems.add(Location(path, line_at(data, ["module"])), f"unknown module {spec.module!r}")
                elif spec.phase and spec.phase not in {p.id for p in module.phases}:
                    problems.add(Location(path, line_at(data, ["phase"])), f"module {spec.module!r} has no phase {spec.phase!r}")
            if spec.level is not None and spec.level not in levels:
                problems.add(Location(path, line_at(data, ["level"])), f"unknown level {spec.level!r}")
            opens_in = _release_month(spec, modules, last_months)
            if opens_in is not None and opens_in > PROGRAM_MONTHS:
                # the schedule ends every window at the program's end (``Timeline.item_dates``):
                # a quiz opening after it would be closed before it opened
                problems.add(Location(path, line_at(data, ["settings", "opens_when_phase_ends"])),
                             f"this quiz would open in month {opens_in}, after the program's {PROGRAM_MONTHS} months: "
                             "a quiz on a month-12 phase opens with the phase, not as it ends")
            source = QuizSource(spec=spec, path=path, module=spec.module, phase=spec.phase,
                                closes_line=line_at(data, ["settings", "closes_after_days"]))
            if spec.lesson is not None:
                where_lesson = Location(path, line_at(data, ["lesson"]))
                placed = lessons.get(spec.lesson)
                if placed is None:
                    problems.add(where_lesson, f"unknown lesson {spec.lesson!r}")
                elif placed[2] is None:
                    problems.add(where_lesson, f"lesson {spec.lesson!r} is not a weekly unit (it has no week)")
                elif spec.lesson in checked:
                    problems.add(where_lesson, f"lesson {spec.lesson!r} already has a check (at {checked[spec.lesson]})")
                else:
                    checked[spec.lesson] = where_lesson
                    source.module, source.phase = placed[0], placed[1]
            pools = {p.id: p.draw for p in spec.pools}
            for i, question in enumerate(spec.questions):
                where = Location(path, line_at(data, ["questions", i]))
                if question.id in question_ids:
                    problems.add(where, f"duplicate id {question.id!r} (also at {question_ids[question.id]})")
                question_ids.setdefault(question.id, where)
                if question.pool and question.pool not in pools:
                    problems.add(Location(path, line_at(data, ["questions", i, "pool"])), f"unknown pool {question.pool!r}")
                for j, part in enumerate(parts_of(question)):
                    loc: list[int | str] = ["questions", i] if part is question else ["questions", i, "questions", j]
                    for k, code in enumerate(part.objectives):
                        if code not in known_codes:
                            problems.add(Location(path, line_at(data, [*loc, "objectives", k])), f"unknown objective code {code!r}")
                        elif code in applied and part is question and question.type not in APPLICATION_ITEMS:
                            problems.add(Location(path, line_at(data, [*loc, "objectives", k])),
                                         f"{code} is an application objective (results in the learner's own business); "
                                         f"a {question.type} question cannot show it. Tag it with a knowledge or skill "
                                         f"objective, or make it a scenario, essay or numerical application item")
            for j, pool in enumerate(spec.pools):
                size = sum(1 for q in spec.questions if q.pool == pool.id)
                if pool.draw > size:
                    problems.add(Location(path, line_at(data, ["pools", j])),
                                 f"pool {pool.id!r} draws {pool.draw} but has {size} question{'s' * (size != 1)}")
            quizzes.append(source)
            rules = spec.rules
            linted.append(BankQuiz(spec.id, path, data, spec.questions,
                                   AttemptRules(rules.attempts_allowed, rules.review, rules.practice, pools)))
        bank = Bank(linted)
        for problem in bank.problems() if bundle.source.lint_bank else ():
            problems.add(problem.location, problem.message)
        for source, figures in zip(quizzes, bank.figures(), strict=True):
            source.lint = figures
        bundle.specs[self.name] = quizzes

    def facts(self, bundle: Bundle) -> Iterable[Fact]:
        """A module quiz counts in its phase's month (or the module's first); an exam in its level's last month."""
        catalog: CatalogSpec = bundle.specs["catalog"]
        phases = {m.spec.id: {p.id: p.month for p in m.spec.phases} for m in catalog.modules}
        last_months = {level.id: level.months[1] for level in catalog.program.levels}
        quizzes: list[QuizSource] = bundle.specs[self.name]
        for source in quizzes:
            spec = source.spec
            if source.module is not None:
                months = phases.get(source.module, {})
                month = months.get(source.phase) if source.phase else min(months.values(), default=None)
            else:
                month = last_months.get(spec.level or "")
            yield Fact(Measure.CHECKS if spec.kind == QuizKind.CHECK else Measure.QUIZZES, 1, month, source.module)
            yield Fact(Measure.ITEMS, len(spec.questions), month, source.module)

    def blocks(self, bundle: Bundle) -> Iterable[Block]:
        """The item-bank lint's figures, per quiz (lms/assessment/lint.py says what they mean)."""
        quizzes: list[QuizSource] = bundle.specs[self.name]

        def share(count: int, of: int) -> str:
            return f"{count} ({count / of:.0%})" if of else NONE

        yield Block("Item bank lint", ("quiz", "questions", "single", "longest correct", "true/false", "true",
                                       "near-duplicate pairs"),
                    [[f.quiz, str(f.questions), str(f.singles), share(f.longest_correct, f.singles),
                      str(f.true_false), share(f.true_keys, f.true_false), str(f.near_duplicates)]
                     for f in (source.lint for source in quizzes) if f is not None])

    def summary(self, bundle: Bundle) -> dict[str, int]:
        quizzes: list[QuizSource] = bundle.specs[self.name]
        return {"quizzes": len(quizzes), "questions": sum(len(q.spec.questions) for q in quizzes)}

    def size(self, bundle: Bundle) -> int:
        return sum(self.summary(bundle).values())

    def apply(self, session: DbSession, bundle: Bundle, report: SyncReport, tick: Tick) -> None:
        sources: list[QuizSource] = bundle.specs[self.name]
        base = bundle.source.quizzes_dir.parent
        modules = existing_by_key(session, Module)
        phases = existing_by_key(session, Phase)
        levels = existing_by_key(session, Level)
        quizzes = existing_by_key(session, Quiz)
        questions = existing_by_key(session, Question)
        lessons = existing_by_key(session, Lesson)
        for position, source in enumerate(sources):
            s = source.spec
            module = modules[source.module] if source.module else None
            phase = None
            if module is not None:
                phase_key = f"{source.module}.{source.phase}" if source.phase else max(
                    (p for p in module.phases if p.retired_at is None), key=lambda p: p.month).key
                phase = phases[phase_key]
            quiz = upsert(session, quizzes, Quiz, s.id, {
                "title": s.title, "kind": s.kind, "description": s.description,
                "module": module, "phase": phase, "level": levels[s.level] if s.level else None,
                "lesson": lessons[s.lesson] if s.lesson else None,
                **s.rules.model_dump(), "pools": {p.id: p.draw for p in s.pools}, "position": position,
                "source_path": str(source.path.relative_to(base)) if source.path.is_relative_to(base) else str(source.path),
            }, report, "quizzes")
            tick(1)
            for q_pos, spec in enumerate(s.questions):
                question = upsert(session, questions, Question, spec.id,
                                  {"quiz": quiz, "position": q_pos, "pool": spec.pool}, report, "questions")
                self._version(session, question, spec, report)
                tick(1)
        retire_missing(quizzes, [q.spec.id for q in sources], report, "quizzes")
        retire_missing(questions, [q.id for src in sources for q in src.spec.questions], report, "questions")

    def _version(self, session: DbSession, question: Question, spec: QuestionSpec, report: SyncReport) -> None:
        digest = checksum(spec.model_dump(mode="json"))
        sync_version(question, digest, lambda number: QuestionVersion(
            number=number, type=spec.type, points=points_of(spec), objectives=objectives_of(spec),
            spec=spec, checksum=digest), report, "question versions")
