"""The program's objectives as an IMS CASE 1.0 framework (Competencies and Academic
Standards Exchange): one CFDocument for the program, CFItems for its levels, modules,
objectives and each objective's outcomes and criteria, CFAssociations for the tree
(``isChildOf``) and for the modules that teach each objective (``isRelatedTo`` in the
association grouping "Taught in module").

Identifiers are UUIDs derived (uuid5) from the content's stable ids: the program's id
names a namespace, and each node is named in it by its kind and key (``level:foundation``,
``objective:KO1``, ``objective:KO1:outcome:2``, ``module:mlops``), so they stay the same
across reloads, databases and servers. An outcome or criterion is named by its position
in its objective's list (the content gives them no ids of their own).

Read-only and built from the active (not retired) content in a fixed number of statements."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lms.catalog.models import KIND_LABELS, Level, Module, Objective, Program
from lms.catalog.services import active_levels, active_modules, active_objectives, active_program
from lms.database import DbSession

BASE = "ims/case/v1p0"
# The namespace of every identifier: uuid5(URL namespace, this + the program's id).
NAMESPACE_ROOT = "urn:lms:case:"
# Singular names of each objective kind's two lists (outcomes, indicators), as CFItemTypes.
LIST_TYPES: dict[str, tuple[str, str]] = {
    "knowledge": ("Learning outcome", "Assessment criterion"),
    "skill": ("Skill area", "Competency indicator"),
    "application": ("Application area", "Success indicator"),
}
APPLICATION_TYPE = "Application example"
TAUGHT_IN = "Taught in module"


def namespace(program_key: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, NAMESPACE_ROOT + program_key)


def node_id(program_key: str, name: str) -> str:
    return str(uuid.uuid5(namespace(program_key), name))


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def content_changed_at(content_dir: Path | None) -> datetime:
    """When the content files last changed (the newest of them); the Unix epoch without them."""
    newest = 0.0
    if content_dir is not None and content_dir.is_dir():
        for path in content_dir.rglob("*.yml"):
            newest = max(newest, path.stat().st_mtime)
    return datetime.fromtimestamp(newest, UTC)


@dataclass(frozen=True)
class Links:
    """Absolute URLs of the service's resources (``root`` ends with a slash)."""

    root: str

    def document(self, identifier: str) -> str:
        return f"{self.root}{BASE}/CFDocuments/{identifier}"

    def package(self, identifier: str) -> str:
        return f"{self.root}{BASE}/CFPackages/{identifier}"

    def item(self, identifier: str) -> str:
        return f"{self.root}{BASE}/CFItems/{identifier}"

    def association(self, identifier: str) -> str:
        return f"{self.root}{BASE}/CFAssociations/{identifier}"

    def grouping(self, identifier: str) -> str:
        return f"{self.root}{BASE}/CFAssociationGroupings/{identifier}"

    def item_type(self, identifier: str) -> str:
        return f"{self.root}{BASE}/CFItemTypes/{identifier}"


class Builder:
    def __init__(self, program: Program, links: Links, changed: str) -> None:
        self.program, self.links, self.changed = program, links, changed
        self.doc_id = node_id(program.key, f"document:{program.key}")
        self.items: list[dict[str, Any]] = []
        self.associations: list[dict[str, Any]] = []
        self.types: dict[str, str] = {}

    def id(self, name: str) -> str:
        return node_id(self.program.key, name)

    def link(self, identifier: str, title: str, uri: str) -> dict[str, str]:
        return {"title": title, "identifier": identifier, "uri": uri}

    def document_link(self) -> dict[str, str]:
        return self.link(self.doc_id, self.program.title, self.links.document(self.doc_id))

    def item(self, name: str, item_type: str, full: str, code: str, *, abbreviated: str | None = None,
             notes: str | None = None, enumeration: int | None = None) -> dict[str, Any]:
        identifier = self.id(name)
        type_id = self.types.setdefault(item_type, self.id(f"item-type:{item_type}"))
        item: dict[str, Any] = {
            "identifier": identifier, "uri": self.links.item(identifier), "fullStatement": full,
            "humanCodingScheme": code, "CFItemType": item_type,
            "CFItemTypeURI": self.link(type_id, item_type, self.links.item_type(type_id)),
            "CFDocumentURI": self.document_link(), "language": "en", "lastChangeDateTime": self.changed,
        }
        if abbreviated:
            item["abbreviatedStatement"] = abbreviated
        if notes:
            item["notes"] = notes
        if enumeration is not None:
            item["listEnumeration"] = str(enumeration)
        self.items.append(item)
        return item

    def associate(self, origin: dict[str, Any], kind: str, destination: dict[str, str], sequence: int | None = None,
                  grouping: dict[str, str] | None = None) -> None:
        identifier = self.id(f"association:{origin['identifier']}:{kind}:{destination['identifier']}")
        association: dict[str, Any] = {
            "identifier": identifier, "uri": self.links.association(identifier), "associationType": kind,
            "originNodeURI": self.link(origin["identifier"], origin.get("humanCodingScheme") or origin["fullStatement"][:60],
                                       origin["uri"]),
            "destinationNodeURI": destination, "CFDocumentURI": self.document_link(), "lastChangeDateTime": self.changed,
        }
        if sequence is not None:
            association["sequenceNumber"] = sequence
        if grouping is not None:
            association["CFAssociationGroupingURI"] = grouping
        self.associations.append(association)

    @staticmethod
    def node(item: dict[str, Any]) -> dict[str, str]:
        return {"title": item.get("humanCodingScheme") or item["fullStatement"][:60], "identifier": item["identifier"],
                "uri": item["uri"]}


@dataclass(frozen=True)
class Framework:
    document_id: str
    package: dict[str, Any]  # {"CFDocument": ..., "CFItems": [...], "CFAssociations": [...], "CFDefinitions": ...}

    @property
    def document(self) -> dict[str, Any]:
        return dict(self.package["CFDocument"])


def _module_levels(module: Module, levels: list[Level]) -> list[Level]:
    months = {phase.month for phase in module.phases if phase.active}
    return [level for level in levels if any(level.holds(m) for m in months)]


def build(session: DbSession, root_url: str, content_dir: Path | None = None) -> Framework | None:
    """The active program's framework, or None when no program is loaded."""
    program = active_program(session)
    if program is None:
        return None
    links = Links(root_url if root_url.endswith("/") else root_url + "/")
    b = Builder(program, links, _time(content_changed_at(content_dir)))
    root = b.document_link()
    levels, objectives, modules = active_levels(session), active_objectives(session), active_modules(session)

    level_items: dict[int, dict[str, Any]] = {}
    for n, level in enumerate(levels, start=1):
        item = b.item(f"level:{level.key}", "Level", f"{level.title}: {level.summary.strip()}", level.key,
                      abbreviated=level.title, notes=f"Months {level.first_month}-{level.last_month}.", enumeration=n)
        level_items[level.id] = item
        b.associate(item, "isChildOf", root, sequence=n)

    module_items: dict[int, dict[str, Any]] = {}
    for n, module in enumerate(modules, start=1):
        item = b.item(f"module:{module.key}", "Module", f"{module.title}: {module.summary.strip()}", module.key,
                      abbreviated=module.title, enumeration=n)
        module_items[module.id] = item
        parents = _module_levels(module, levels)
        for level in parents:
            b.associate(item, "isChildOf", Builder.node(level_items[level.id]), sequence=n)
        if not parents:
            b.associate(item, "isChildOf", root, sequence=len(levels) + n)

    grouping_id = b.id(f"grouping:{TAUGHT_IN}")
    grouping = b.link(grouping_id, TAUGHT_IN, links.grouping(grouping_id))
    base = len(levels) + len(modules)
    for n, objective in enumerate(objectives, start=1):
        item = b.item(f"objective:{objective.key}", f"{objective.kind.value.capitalize()} objective", objective.statement, objective.key,
                      abbreviated=objective.title, enumeration=n)
        b.associate(item, "isChildOf", root, sequence=base + n)
        _children(b, objective, item)
        for module in objective.modules:
            if module.id in module_items:
                b.associate(item, "isRelatedTo", Builder.node(module_items[module.id]), grouping=grouping)

    document = {
        "identifier": b.doc_id, "uri": links.document(b.doc_id), "creator": program.title,
        "title": program.title, "lastChangeDateTime": b.changed, "description": program.summary.strip(),
        "language": "en", "adoptionStatus": "Adopted",
        "CFPackageURI": b.link(b.doc_id, program.title, links.package(b.doc_id)),
        "notes": "Levels, modules and objectives of the program; each objective's outcomes and criteria are its "
                 "children, and the modules that teach it are related to it in the grouping 'Taught in module'.",
    }
    definitions = {
        "CFItemTypes": [{"identifier": type_id, "uri": links.item_type(type_id), "title": title, "description": title,
                         "hierarchyCode": str(n), "lastChangeDateTime": b.changed}
                        for n, (title, type_id) in enumerate(b.types.items(), start=1)],
        "CFAssociationGroupings": [{"identifier": grouping_id, "uri": grouping["uri"], "title": TAUGHT_IN,
                                    "description": "The objective is taught (and assessed) in the related module.",
                                    "lastChangeDateTime": b.changed}],
    }
    package = {"CFDocument": document, "CFItems": b.items, "CFAssociations": b.associations, "CFDefinitions": definitions}
    document["version"] = hashlib.sha256(json.dumps([b.items, b.associations], sort_keys=True).encode()).hexdigest()[:12]
    return Framework(b.doc_id, package)


def _children(b: Builder, objective: Objective, parent: dict[str, Any]) -> None:
    """The objective's outcomes, application examples and criteria, in their order."""
    outcome_type, criterion_type = LIST_TYPES.get(objective.kind.value, KIND_LABELS[objective.kind])
    code, sequence = objective.key, 0
    groups = (("outcome", "O", outcome_type, objective.outcomes), ("application", "A", APPLICATION_TYPE, objective.applications),
              ("criterion", "C", criterion_type, objective.indicators))
    for name, letter, item_type, texts in groups:
        for n, text in enumerate(texts or [], start=1):
            sequence += 1
            item = b.item(f"objective:{code}:{name}:{n}", item_type, text, f"{code}.{letter}{n}", enumeration=n)
            b.associate(item, "isChildOf", Builder.node(parent), sequence=sequence)


def find_item(framework: Framework, identifier: str) -> dict[str, Any] | None:
    return next((i for i in framework.package["CFItems"] if i["identifier"] == identifier.lower()), None)
