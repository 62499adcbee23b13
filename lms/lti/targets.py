"""What a launch can land on, and what deep linking offers: modules, lessons, quizzes and
assignments, named ``<kind>:<key>`` (the deep-linked item's custom parameter ``target``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import url_for
from sqlalchemy import select

from lms.assessment.models import Quiz
from lms.catalog.models import Lesson, Module
from lms.coursework.models import Assignment
from lms.database import DbSession

KINDS: dict[str, tuple[Any, str]] = {"module": (Module, "catalog.module"), "lesson": (Lesson, "catalog.lesson"),
         "quiz": (Quiz, "assessment.quiz"), "assignment": (Assignment, "coursework.assignment")}
GRADED = frozenset({"quiz", "assignment"})
PATHS = {"modules": "module", "lessons": "lesson", "quizzes": "quiz", "assignments": "assignment"}
TARGET = re.compile(r"^(module|lesson|quiz|assignment):([A-Za-z0-9_.-]{1,120})$")


@dataclass(frozen=True)
class Target:
    kind: str
    key: str
    title: str
    module: str = ""

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.key}"

    @property
    def graded(self) -> bool:
        return self.kind in GRADED

    def url(self) -> str:
        return url_for(KINDS[self.kind][1], key=self.key)


def parse(name: str | None) -> tuple[str, str] | None:
    found = TARGET.match((name or "").strip())
    return (found.group(1), found.group(2)) if found else None


def from_link(target_link_uri: str | None, host: str) -> str | None:
    """``/quizzes/<key>`` and the like on this site, as a target name."""
    parts = urlsplit(target_link_uri or "")
    if parts.netloc and parts.netloc != host:
        return None
    found = re.match(r"^/(modules|lessons|quizzes|assignments)/([A-Za-z0-9_.-]{1,120})/?$", parts.path)
    return f"{PATHS[found.group(1)]}:{found.group(2)}" if found else None


def find(session: DbSession, name: str | None) -> Target | None:
    parsed = parse(name)
    if parsed is None:
        return None
    kind, key = parsed
    model = KINDS[kind][0]
    item: Any = session.scalar(select(model).where(model.key == key, model.retired_at.is_(None)))
    return Target(kind, key, item.title) if item is not None else None


def choices(session: DbSession) -> list[Target]:
    """Everything deep linking offers, module by module, in four statements."""
    modules = list(session.scalars(select(Module).where(Module.retired_at.is_(None)).order_by(Module.id)))
    titles = {m.id: m.title for m in modules}
    found: list[tuple[int, Target]] = [(m.id, Target("module", m.key, m.title, m.title)) for m in modules]
    kinds: tuple[tuple[Any, str], ...] = ((Lesson, "lesson"), (Quiz, "quiz"), (Assignment, "assignment"))
    for model, kind in kinds:
        for item in session.scalars(select(model).where(model.retired_at.is_(None)).order_by(model.id)):
            module_id = getattr(item, "module_id", None)
            found.append((module_id or 0, Target(kind, item.key, item.title, titles.get(module_id or 0, "Other"))))
    order = {"module": 0, "lesson": 1, "quiz": 2, "assignment": 3}
    position = {m.id: i for i, m in enumerate(modules)}
    found.sort(key=lambda pair: (position.get(pair[0], len(modules)), order[pair[1].kind]))
    return [target for _, target in found]
