"""The templates content section: ``content/templates/<id>.md`` (YAML front matter and a
Markdown body) and ``content/templates/<id>.csv`` (with a sidecar ``<id>.yml``), validated
with file and line and synced by stable id. Removed files are retired, never deleted.

It runs after the catalog and coursework sections, whose modules, objectives and
assignments it checks the templates against, and it checks that every ``/templates/<id>``
link in a lesson or an assignment, and every critique's ``artifact:``, names a template."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from lms.catalog.content import CatalogSpec, Code, Slug, Spec, Text
from lms.catalog.models import Module, Objective
from lms.content.services import Bundle, ContentSection, SyncReport, Tick, existing_by_key, retire_missing, upsert
from lms.content.source import LineMap, Location, Problems, line_at, read_front_matter, read_text, read_yaml_file, validate
from lms.content.stats import Fact, Measure
from lms.coursework.content import CourseworkSpec
from lms.database import DbSession
from lms.resources.models import Template, TemplateFormat

FOLDER = "templates"
# A link from a lesson or an assignment to a template: (/templates/<id>) in Markdown.
LINK = re.compile(r"\(/templates/([A-Za-z0-9_-]+)(?:/download)?\)")


class TemplateMeta(Spec):
    id: Slug
    title: Text
    summary: Text
    modules: list[Slug] = Field(min_length=1)
    objectives: list[Code] = Field(min_length=1)
    assignments: list[Slug] = []


@dataclass
class TemplateSource:
    meta: TemplateMeta
    format: TemplateFormat
    body: str
    path: Path


@dataclass
class TemplatesSpec:
    templates: list[TemplateSource]


def _known(data: object, field: str, values: list[str], known: set[str], what: str, path: Path, problems: Problems) -> None:
    for i, value in enumerate(values):
        if value not in known:
            problems.add(Location(path, line_at(data, [field, i])), f"unknown {what} {value!r}")


def csv_problems(text: str) -> list[tuple[int, str]]:
    """What is wrong with a CSV template, as (line, message): it needs a header row of
    distinct, non-blank column names, and every row as many cells as the header."""
    out: list[tuple[int, str]] = []
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            return [(1, "the CSV has no header row")]
        names = [cell.strip() for cell in header]
        if any(not n for n in names):
            out.append((1, "the header row has a blank column name"))
        if len(set(names)) != len(names):
            out.append((1, "the header row repeats a column name"))
        for row in reader:
            if row and len(row) != len(header):
                out.append((reader.line_num, f"{len(row)} cells; the header has {len(header)}"))
    except csv.Error as exc:
        out.append((reader.line_num or 1, f"not valid CSV: {exc}"))
    return out


def csv_rows(text: str) -> list[list[str]]:
    """The rows of a CSV template (the first is the header), for display."""
    return [row for row in csv.reader(io.StringIO(text)) if row]


class TemplatesSection(ContentSection):
    name = "templates"
    order = 50

    # ------------------------------------------------------------------ parse

    def parse(self, bundle: Bundle, problems: Problems) -> None:
        catalog: CatalogSpec = bundle.specs["catalog"]
        coursework: CourseworkSpec = bundle.specs["coursework"]
        modules = {m.spec.id for m in catalog.modules}
        codes = catalog.objective_codes
        assignments = {a.meta.id for a in coursework.assignments}
        folder = bundle.source.content_dir / FOLDER
        files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        sources: list[TemplateSource] = []
        seen: dict[str, Location] = {}
        for path in files:
            if path.name.startswith("."):
                continue
            if path.suffix == ".yml":
                if not path.with_suffix(".csv").exists():
                    problems.add(Location(path, 1), f"a sidecar without its spreadsheet: there is no {path.with_suffix('.csv').name}")
                continue
            if path.suffix not in (".md", ".csv"):
                problems.add(Location(path, 1), "not a template: a template is a .md file, or a .csv file with a .yml sidecar")
                continue
            source = self._read(path, modules, codes, assignments, problems)
            if source is None:
                continue
            where = Location(path, 2 if source.format is TemplateFormat.MARKDOWN else 1)
            if source.meta.id in seen:
                problems.add(where, f"duplicate id {source.meta.id!r} (also in {seen[source.meta.id]})")
                continue
            seen[source.meta.id] = where
            sources.append(source)
        self._links(catalog, coursework, set(seen), problems)
        if not problems:
            bundle.specs[self.name] = TemplatesSpec(templates=sources)

    def _read(self, path: Path, modules: set[str], codes: set[str], assignments: set[str],
              problems: Problems) -> TemplateSource | None:
        data: LineMap | None
        if path.suffix == ".md":
            document = read_front_matter(path, problems)
            if document is None:
                return None
            data, body, meta_path, fmt = document.meta, document.body.lstrip("\n"), path, TemplateFormat.MARKDOWN
            if not body.strip():
                problems.add(Location(path, 1), "the template has no body text")
        else:
            meta_path = path.with_suffix(".yml")
            if not meta_path.exists():
                problems.add(Location(path, 1),
                             f"a CSV template needs a sidecar {meta_path.name} with its id, title, summary, modules and objectives")
                return None
            raw = read_yaml_file(meta_path, problems)
            text = read_text(path, problems)
            if raw is None or text is None:
                return None
            if not isinstance(raw, LineMap):
                problems.add(Location(meta_path, 1), "expected 'key: value' lines")
                return None
            data, body, fmt = raw, text, TemplateFormat.CSV
            for line, message in csv_problems(text):
                problems.add(Location(path, line), message)
        meta = validate(TemplateMeta, data, meta_path, problems)
        if meta is None:
            return None
        if meta.id != path.stem:
            problems.add(Location(meta_path, line_at(data, ["id"])), f"template id {meta.id!r} must equal its file name {path.stem!r}")
        _known(data, "modules", meta.modules, modules, "module", meta_path, problems)
        _known(data, "objectives", meta.objectives, codes, "objective code", meta_path, problems)
        _known(data, "assignments", meta.assignments, assignments, "assignment", meta_path, problems)
        return TemplateSource(meta=meta, format=fmt, body=body, path=path)

    def _links(self, catalog: CatalogSpec, coursework: CourseworkSpec, known: set[str], problems: Problems) -> None:
        for a in coursework.assignments:
            if a.meta.artifact is not None and a.meta.artifact not in known:
                problems.add(Location(a.path, a.artifact_line), f"the critique's artifact is an unknown template {a.meta.artifact!r}")
        texts = [(lesson.path, lesson.body) for _, lesson in catalog.lessons()]
        texts += [(a.path, a.body) for a in coursework.assignments]
        for path, body in texts:
            offset = _body_offset(path)
            for n, line in enumerate(body.splitlines(), start=1):
                for match in LINK.finditer(line):
                    if match.group(1) not in known:
                        problems.add(Location(path, offset + n), f"link to an unknown template {match.group(1)!r}")

    # ------------------------------------------------------------------ counts

    def summary(self, bundle: Bundle) -> dict[str, int]:
        spec: TemplatesSpec = bundle.specs[self.name]
        return {"templates": len(spec.templates)}

    def size(self, bundle: Bundle) -> int:
        return self.summary(bundle)["templates"]

    def facts(self, bundle: Bundle) -> list[Fact]:
        spec: TemplatesSpec = bundle.specs[self.name]
        # Counted once, under the first module it serves; a template has no month of its own.
        return [Fact(Measure.TEMPLATES, 1, module=t.meta.modules[0]) for t in spec.templates]

    # ------------------------------------------------------------------ apply

    def apply(self, session: DbSession, bundle: Bundle, report: SyncReport, tick: Tick) -> None:
        spec: TemplatesSpec = bundle.specs[self.name]
        base = bundle.source.content_dir.parent
        modules = existing_by_key(session, Module)
        objectives = existing_by_key(session, Objective)
        templates = existing_by_key(session, Template)
        for position, source in enumerate(spec.templates):
            meta = source.meta
            upsert(session, templates, Template, meta.id, {
                "title": meta.title, "summary": meta.summary, "format": source.format, "body": source.body,
                "assignments": list(meta.assignments), "position": position,
                "source_path": str(source.path.relative_to(base)) if source.path.is_relative_to(base) else str(source.path),
                "modules": [modules[k] for k in meta.modules], "objectives": [objectives[c] for c in meta.objectives],
            }, report, "templates")
            tick(1)
        retire_missing(templates, [t.meta.id for t in spec.templates], report, "templates")


def _body_offset(path: Path) -> int:
    """How many lines precede a Markdown file's body (its front matter), so a link's
    problem names the line in the file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return 0
    if not lines or lines[0].strip() != "---":
        return 0
    closing = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    return 0 if closing is None else closing + 1
