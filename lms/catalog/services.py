"""Read-side queries for the catalog pages. Each takes a session and plain arguments and
returns only active (not retired) items, loaded with a fixed number of statements."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from lms.catalog.models import KINDS, Lesson, Level, Metric, Module, Objective, Phase, Program
from lms.catalog.revision import cached, memo
from lms.database import DbSession
from lms.web.markdown import Rendered, render_content_markdown


def active_program(session: DbSession) -> Program | None:
    return session.scalar(
        select(Program).where(Program.retired_at.is_(None)).order_by(Program.id).limit(1)
    )


def _active_levels(session: DbSession) -> list[Level]:
    return list(session.scalars(select(Level).where(Level.retired_at.is_(None)).order_by(Level.position)))


def active_levels(session: DbSession) -> list[Level]:
    """The active levels in order (queried once per transaction)."""
    return memo(session, "catalog.levels", _active_levels)


def kept_levels(session: DbSession) -> list[Level]:
    """``active_levels`` kept between requests (``lms.catalog.revision``): detached, read only."""
    return cached(session, "catalog.levels", _active_levels)


def active_objectives(session: DbSession) -> list[Objective]:
    return list(session.scalars(
        select(Objective).where(Objective.retired_at.is_(None)).order_by(Objective.position)
        .options(selectinload(Objective.modules))
    ))


def active_modules(session: DbSession) -> list[Module]:
    return list(session.scalars(
        select(Module).where(Module.retired_at.is_(None)).order_by(Module.position)
        .options(selectinload(Module.phases), selectinload(Module.objectives))
    ))


@dataclass(frozen=True)
class ScheduledPhase:
    phase: Phase
    module: Module
    lessons: list[Lesson]


def schedule(session: DbSession) -> list[ScheduledPhase]:
    """Every active phase in program order (month, then module), with its active lessons
    (queried once per transaction)."""
    return memo(session, "catalog.schedule", _schedule)


def kept_schedule(session: DbSession) -> list[ScheduledPhase]:
    """``schedule`` kept between requests (``lms.catalog.revision``): detached, read only;
    each phase's module and lessons are loaded (not the lessons' bodies), nothing else."""
    return cached(session, "catalog.schedule", _schedule)


def _schedule(session: DbSession) -> list[ScheduledPhase]:
    phases = session.scalars(
        select(Phase).join(Phase.module)
        .where(Phase.retired_at.is_(None), Module.retired_at.is_(None))
        .order_by(Phase.month, Module.position, Phase.position)
        # The lessons' bodies (400 KB for the shipped course) stay in the database: a
        # schedule lists lessons, the lesson page reads its own body.
        .options(selectinload(Phase.module), selectinload(Phase.lessons).defer(Lesson.body))
    )
    return [
        ScheduledPhase(phase=p, module=p.module, lessons=[les for les in p.lessons if les.active])
        for p in phases
    ]


@dataclass(frozen=True)
class Overview:
    program: Program
    levels: list[Level]
    objectives_by_kind: dict[str, list[Objective]]
    modules: list[Module]
    months: dict[int, list[ScheduledPhase]]


def program_overview(session: DbSession) -> Overview | None:
    """The program page's curriculum, kept by the process for the content revision
    (``lms.catalog.revision``: detached, read only): the site's front page costs one
    statement of its own instead of eight."""
    return cached(session, "catalog.overview", _program_overview)


def _program_overview(session: DbSession) -> Overview | None:
    program = active_program(session)
    if program is None:
        return None
    objectives = active_objectives(session)
    months: dict[int, list[ScheduledPhase]] = {m: [] for m in range(1, 13)}
    for item in schedule(session):
        months.setdefault(item.phase.month, []).append(item)
    return Overview(
        program=program,
        levels=active_levels(session),
        objectives_by_kind={k: [o for o in objectives if o.kind == k] for k in KINDS},
        modules=active_modules(session),
        months=months,
    )


@dataclass(frozen=True)
class LevelPage:
    level: Level
    phases: list[ScheduledPhase]


def level_page(session: DbSession, key: str) -> LevelPage | None:
    level = session.scalar(select(Level).where(Level.key == key, Level.retired_at.is_(None)))
    if level is None:
        return None
    return LevelPage(level=level, phases=[s for s in schedule(session) if level.holds(s.phase.month)])


@dataclass(frozen=True)
class ModulePage:
    module: Module
    phases: list[ScheduledPhase]
    levels: list[Level]

    def level_of(self, month: int) -> Level | None:
        return next((lv for lv in self.levels if lv.holds(month)), None)


def module_page(session: DbSession, key: str) -> ModulePage | None:
    """A module's page, from the module pages kept by the process for the content revision
    (``lms.catalog.revision``: detached, read only; every module at once, so an unknown key
    keeps nothing)."""
    return cached(session, "catalog.module_pages", _module_pages).get(key)


def _module_pages(session: DbSession) -> dict[str, ModulePage]:
    modules = session.scalars(
        select(Module).where(Module.retired_at.is_(None)).options(
            selectinload(Module.objectives),
            selectinload(Module.metrics).selectinload(Metric.objectives),
            # the lessons are listed, not read: their bodies stay in the database
            selectinload(Module.phases).selectinload(Phase.lessons).defer(Lesson.body),
        )
    )
    levels = _active_levels(session)
    return {module.key: ModulePage(module=module, levels=levels, phases=[
        ScheduledPhase(phase=p, module=module, lessons=[les for les in p.lessons if les.active])
        for p in module.phases if p.active]) for module in modules}


@dataclass(frozen=True)
class LessonLink:
    key: str
    title: str


@dataclass(frozen=True)
class LessonPage:
    lesson: Lesson
    rendered: Rendered
    previous: LessonLink | None
    next: LessonLink | None
    activity_steps: Rendered | None = None  # the weekly unit's practice activity, when it has one

    @property
    def total_minutes(self) -> int:
        """Reading and practice together: the unit's estimated time."""
        return self.lesson.minutes + int((self.lesson.activity or {}).get("minutes", 0))


def lesson_sequence(session: DbSession) -> list[LessonLink]:
    """All active lessons in the order the schedule teaches them (kept by the process for
    the content revision: every lesson page reads it for its previous and next links)."""
    return cached(session, "catalog.lesson_sequence", _lesson_sequence)


def _lesson_sequence(session: DbSession) -> list[LessonLink]:
    rows = session.execute(
        select(Lesson.key, Lesson.title).join(Lesson.phase).join(Lesson.module)
        .where(Lesson.retired_at.is_(None), Phase.retired_at.is_(None), Module.retired_at.is_(None))
        .order_by(Phase.month, Module.position, Lesson.position)
    )
    return [LessonLink(key=k, title=t) for k, t in rows]


def lesson_page(session: DbSession, key: str) -> LessonPage | None:
    lesson = session.scalar(
        select(Lesson).where(Lesson.key == key, Lesson.retired_at.is_(None)).options(
            selectinload(Lesson.module).selectinload(Module.objectives),
            joinedload(Lesson.phase), selectinload(Lesson.objectives), selectinload(Lesson.cases),
        )
    )
    if lesson is None or not lesson.module.active or not lesson.phase.active:
        return None
    sequence = lesson_sequence(session)
    index = next(i for i, link in enumerate(sequence) if link.key == key)
    return LessonPage(
        lesson=lesson,
        rendered=render_content_markdown(lesson.body),
        activity_steps=render_content_markdown(lesson.activity["steps"]) if lesson.activity else None,
        previous=sequence[index - 1] if index > 0 else None,
        next=sequence[index + 1] if index + 1 < len(sequence) else None,
    )
