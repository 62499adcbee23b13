"""The content pipeline: a load parses every section, refuses bad content as a whole,
then syncs the database in one transaction.

Sections are small classes (catalog first, quizzes and assessed work later); the list of
them, in load order, is ``lms.sections.CONTENT_SECTIONS``, passed in explicitly.
Sync never deletes: items missing from the files are retired and come back if re-added.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from sqlalchemy import inspect, select

from lms.content.source import Problems
from lms.content.stats import Block, Fact
from lms.database import DbSession, utcnow

Tick = Callable[[int], None]


@dataclass(frozen=True)
class ContentSource:
    content_dir: Path
    quizzes_dir: Path
    # Refuse quizzes that fail the item-bank lint (lms/assessment/lint.py); its figures are kept either way.
    lint_bank: bool = True


@dataclass
class Bundle:
    """What the sections parsed, by section name; later sections read earlier ones."""

    source: ContentSource
    specs: dict[str, Any] = field(default_factory=dict)


class ContentSection(ABC):
    name: ClassVar[str]
    order: ClassVar[int]

    @abstractmethod
    def parse(self, bundle: Bundle, problems: Problems) -> None:
        """Read and validate this section's files into ``bundle.specs[self.name]``."""

    @abstractmethod
    def size(self, bundle: Bundle) -> int:
        """How many items ``apply`` will sync (for the progress bar)."""

    @abstractmethod
    def summary(self, bundle: Bundle) -> dict[str, int]:
        """Counts of what the files hold, e.g. {"lessons": 24}."""

    @abstractmethod
    def apply(self, session: DbSession, bundle: Bundle, report: SyncReport, tick: Tick) -> None:
        """Bring the database in line with the parsed files (flush only)."""

    def facts(self, bundle: Bundle) -> Iterable[Fact]:
        """What this section's files hold, counted, for ``flask lms content-stats``."""
        return ()

    def blocks(self, bundle: Bundle) -> Iterable[Block]:
        """Figures of this section's own that ``flask lms content-stats`` prints after the counts."""
        return ()


# ---------------------------------------------------------------------------- report


@dataclass
class SyncReport:
    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def record(self, label: str, outcome: str) -> None:
        self.counts.setdefault(label, Counter())[outcome] += 1

    @property
    def changed(self) -> bool:
        return any(
            c[o] for c in self.counts.values() for o in ("created", "updated", "retired", "restored")
        )

    def lines(self) -> list[str]:
        out = []
        for label, c in self.counts.items():
            parts = [f"{c[o]} {o}" for o in ("created", "updated", "restored", "retired") if c[o]]
            if parts:
                out.append(f"{label}: " + ", ".join(parts) + f" ({c['unchanged']} unchanged)")
        return out


# ---------------------------------------------------------------------------- sync

class Keyed(Protocol):
    """A loaded item as sync sees it: the model's keyword constructor, its stable key and
    its retirement time (``lms.catalog.models.ContentItem`` on a mapped model)."""

    key: str
    retired_at: datetime | None

    def __init__(self, **kwargs: Any) -> None: ...


K = TypeVar("K", bound=Keyed)


def existing_by_key(session: DbSession, model: type[K]) -> dict[str, K]:
    return {obj.key: obj for obj in session.scalars(select(model))}


def _same(current: Any, new: Any, is_collection: bool) -> bool:
    if is_collection:
        return {id(o) for o in current} == {id(o) for o in new}
    return bool(current == new)


def upsert(
    session: DbSession,
    existing: dict[str, K],
    model: type[K],
    key: str,
    values: Mapping[str, Any],
    report: SyncReport,
    label: str,
) -> K:
    """Create the item ``key`` or update it in place; count what happened."""
    obj = existing.get(key)
    if obj is None:
        obj = model(key=key, **values)
        session.add(obj)
        existing[key] = obj
        report.record(label, "created")
        return obj
    collections = {r.key for r in inspect(model).relationships if r.uselist}
    changed = False
    for name, value in values.items():
        if not _same(getattr(obj, name), value, name in collections):
            setattr(obj, name, value)
            changed = True
    if obj.retired_at is not None:
        obj.retired_at = None
        report.record(label, "restored")
    else:
        report.record(label, "updated" if changed else "unchanged")
    return obj


def retire_missing(existing: Mapping[str, Any], seen: Iterable[str], report: SyncReport, label: str) -> None:
    """Hide items no longer in the files; their rows and learner data stay."""
    seen = set(seen)
    now = utcnow()
    for key, obj in existing.items():
        if key not in seen and obj.retired_at is None:
            obj.retired_at = now
            report.record(label, "retired")


def checksum(data: Any) -> str:
    """A stable digest of JSON-able content, to tell whether an item's wording changed."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def sync_version(item: Any, digest: str, build: Callable[[int], Any], report: SyncReport, label: str) -> None:
    """Keep a versioned item (``versions``, ``current_number``, ``current``) in step with
    its file: unchanged wording does nothing; wording seen before points back at that
    version; new wording adds a version. Earlier versions stay for what used them."""
    versions = list(item.versions) if item.id else []
    if versions and item.current.checksum == digest:
        return
    same = next((v for v in versions if v.checksum == digest), None)
    if same is not None:
        item.current_number = same.number
        report.record(label, "restored")
        return
    number = max((v.number for v in versions), default=0) + 1
    item.versions.append(build(number))
    item.current_number = number
    report.record(label, "created")


# ---------------------------------------------------------------------------- pipeline


@dataclass
class ParseResult:
    bundle: Bundle
    problems: Problems
    sections: list[ContentSection]

    def summary(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for section in self.sections:
            out.update(section.summary(self.bundle))
        return out

    def size(self) -> int:
        return sum(section.size(self.bundle) for section in self.sections)

    def facts(self) -> list[Fact]:
        return [fact for section in self.sections for fact in section.facts(self.bundle)]

    def blocks(self) -> list[Block]:
        return [block for section in self.sections for block in section.blocks(self.bundle)]


def parse_content(source: ContentSource, section_types: Iterable[type[ContentSection]]) -> ParseResult:
    """Read every section's files, in the sections' order; problems of all sections are
    gathered together."""
    bundle = Bundle(source=source)
    problems = Problems()
    sections = [cls() for cls in sorted(section_types, key=lambda s: s.order)]
    for section in sections:
        section.parse(bundle, problems)
        if problems:  # later sections rely on earlier ones being sound
            break
    return ParseResult(bundle=bundle, problems=problems, sections=sections)


def apply_content(session: DbSession, parsed: ParseResult, tick: Tick = lambda n: None) -> SyncReport:
    """Sync the database with parsed, problem-free content. Flushes; the caller commits."""
    if parsed.problems:
        raise ValueError("refusing to apply content that has problems")
    report = SyncReport()
    for section in parsed.sections:
        section.apply(session, parsed.bundle, report, tick)
        session.flush()
    return report
