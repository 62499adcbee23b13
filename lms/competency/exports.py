"""Exporters of a cohort's heat map: a registry of small classes (CSV, JSON), as grades
have in ``lms.grading.exports``. The CSV goes through the grades' CSV writer, so cells that
a spreadsheet would run as formulas are made safe the same way. An organization's export
(``organization_export``) is its active cohorts' heat map rows one after the other, each
with its cohort, in CSV or JSON (``ORGANIZATION_EXPORTERS``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import select

from lms.cohorts.models import Cohort, Organization
from lms.competency.services import Cell, HeatMap, heat_map, learner_counts, objectives_with_modules
from lms.database import DbSession
from lms.grading.exports import CsvExporter
from lms.jobs.exports import ExportFile, Tally
from lms.progress.services import policy
from lms.web.downloads import StreamedList, export_name, json_stream


def _level(cell: Cell) -> float | str:
    return "" if cell.level is None else cell.level


def _columns(codes: Iterable[str]) -> list[str]:
    """The CSV's header: per objective its level, named level and whether the level is held
    just under the top one for want of evidence ("<code> held": yes or no; what it needs is in
    the JSON's ``needs`` and on the page); then whether the
    learner's account is closed ("account closed": yes or no, ``Row.closed``)."""
    columns = ["learner", "email"]
    for code in codes:
        columns += [f"{code} level", f"{code} named level", f"{code} held"]
    return [*columns, "mean", "at risk", "account closed", "reasons"]


def heat_map_columns(heat: HeatMap) -> list[str]:
    return _columns(column.code for column in heat.columns)


def heat_map_rows(heat: HeatMap, listed: Tally | None = None) -> Iterator[list[Any]]:
    """One row per learner, in the heat map's order, made as they are read (``heat.mapped_rows``
    builds them a chunk of learners at a time, their reasons as the map has them: a row
    shows their texts); each counted in ``listed`` when given."""
    for row in (listed or Tally("learner")).each(heat.mapped_rows):
        values: list[Any] = [row.user.name, row.user.email]
        for cell in row.cells:
            values += [_level(cell), cell.name, "yes" if cell.held else "no"]
        values += ["" if row.mean is None else row.mean, "yes" if row.at_risk else "no", "yes" if row.closed else "no",
                   "; ".join(r.text for r in row.reasons)]
        yield values


def _row_document(heat: HeatMap, r: Any) -> dict[str, Any]:
    return {"user_id": r.user.id, "name": r.user.name, "email": r.user.email,
            "levels": {c.code: {"level": cell.level, "named_level": cell.name, "rank": cell.rank,
                                "evidence": cell.evidence, "held": cell.held, "needs": cell.needs}
                       for c, cell in zip(heat.columns, r.cells, strict=True)},
            "mean": r.mean, "days_behind": r.days_behind, "at_risk": r.at_risk, "account_closed": r.closed,
            "reasons": [reason.text for reason in r.reasons]}


def _document_parts(heat: HeatMap) -> tuple[dict[str, Any], Mapping[str, Any]]:
    """The document's members before its rows, and after them."""
    cohort = heat.cohort
    head = {
        "cohort": {"id": cohort.id, "name": cohort.name, "organization": cohort.organization.name,
                   "start_date": cohort.start_date.isoformat(), "month": heat.month, "today": heat.today.isoformat()},
        "objectives": [{"code": c.code, "title": c.objective.title, "kind": c.objective.kind,
                        "closes_on": c.closes_on.isoformat() if c.closes_on else None, "closed": c.closed}
                       for c in heat.columns],
        "thresholds": dict(heat.policy.thresholds),
        "at_risk_below": heat.policy.at_risk_below,
        "sort": {"by": heat.sort, "descending": heat.descending},
    }
    tail = _Tail(heat)
    return head, tail


class _Tail(Mapping[str, Any]):
    """The document's members after its rows, worked out when first read: a streamed
    document reads them once the rows are sent, and its at-risk list is streamed too
    (``StreamedList``), so neither list (built a chunk of learners at a time) is ever all in
    memory."""

    def __init__(self, heat: HeatMap) -> None:
        self._heat = heat
        self._members: dict[str, Any] | None = None

    @property
    def members(self) -> dict[str, Any]:
        if self._members is None:
            self._members = _tail_members(self._heat)
        return self._members

    def __getitem__(self, key: str) -> Any:
        return self.members[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)


def _tail_members(heat: HeatMap) -> dict[str, Any]:
    return {
        "distributions": {d.column.code: {s.band.name: {"count": s.count, "share": round(s.share, 4)} for s in d.shares}
                          for d in heat.distributions},
        "funnel": [{"level": step.level.key, "title": step.level.title, "opened": step.opened, "learners": step.total,
                    **{key: count for key, _label, count in step.stages}} for step in heat.funnel],
        "at_risk": StreamedList({"user_id": r.user.id, "name": r.user.name, "reasons": [reason.text for reason in r.reasons],
                                 "details": [{"kind": reason.kind.value, "text": reason.text, "since": reason.since.isoformat(),
                                              "objective": reason.objective} for reason in r.reasons]}
                                for r in heat.at_risk),
    }


class HeatMapExporter(ABC):
    name: ClassVar[str]
    label: ClassVar[str]
    mimetype: ClassVar[str]
    extension: ClassVar[str]

    def render(self, heat: HeatMap) -> str:
        return "".join(self.stream(heat))

    @abstractmethod
    def stream(self, heat: HeatMap, listed: Tally | None = None) -> Iterator[str]:
        """The export a row at a time (a streamed response, or a background job's file),
        each learner counted in ``listed`` when given."""


class CsvHeatMap(HeatMapExporter):
    name, label, mimetype, extension = "csv", "CSV", "text/csv", "csv"

    def stream(self, heat: HeatMap, listed: Tally | None = None) -> Iterator[str]:
        return CsvExporter().stream_rows(heat_map_columns(heat), heat_map_rows(heat, listed))


class JsonHeatMap(HeatMapExporter):
    name, label, mimetype, extension = "json", "JSON", "application/json", "json"

    def stream(self, heat: HeatMap, listed: Tally | None = None) -> Iterator[str]:
        head, tail = _document_parts(heat)
        rows = (listed or Tally("learner")).each(heat.mapped_rows)
        return json_stream(head, "rows", (_row_document(heat, r) for r in rows), tail)


EXPORTERS: dict[str, HeatMapExporter] = {e.name: e for e in (CsvHeatMap(), JsonHeatMap())}


# --------------------------------------------------------------------------- an organization's export


class _Scope:
    """What an organization's export covers, read when it is asked for (plain values: a
    streamed download detaches the request's objects before its body is made)."""

    def __init__(self, session: DbSession, organization: Organization, now: datetime) -> None:
        self.session, self.now = session, now
        self.organization = {"id": organization.id, "name": organization.name}
        # the active cohorts, ordered as the comparison orders them
        active = (select(Cohort.id, Cohort.name, Cohort.start_date)
                  .where(Cohort.organization_id == organization.id, Cohort.archived_at.is_(None))
                  .order_by(Cohort.start_date, Cohort.name, Cohort.id))
        self.cohorts: list[dict[str, Any]] = [{"id": cid, "name": name, "start_date": start.isoformat()}
                                              for cid, name, start in session.execute(active)]
        self.learners = sum(learner_counts(session, [c["id"] for c in self.cohorts]).values())
        self.listed = Tally("learner")  # counted as the rows are made: the job's line says how many

    def heat_maps(self) -> Iterator[tuple[dict[str, Any], HeatMap]]:
        """Each cohort with its heat map, in the heat map's default order (its rows are built a
        chunk of learners at a time as they are read): a fixed number of statements a cohort."""
        for found in self.cohorts:
            cohort = self.session.get(Cohort, found["id"])
            if cohort is not None:
                yield found, heat_map(self.session, cohort, self.now, streamed=True)


class OrganizationExporter(ABC):
    name: ClassVar[str]
    label: ClassVar[str]
    mimetype: ClassVar[str]
    extension: ClassVar[str]

    @abstractmethod
    def stream(self, scope: _Scope) -> Iterator[str]:
        """The header (or the document's head), then one piece per learner."""


class CsvOrganization(OrganizationExporter):
    name, label, mimetype, extension = "csv", "CSV", "text/csv", "csv"

    def stream(self, scope: _Scope) -> Iterator[str]:
        codes = [objective.key for objective in objectives_with_modules(scope.session)]  # the heat maps' columns
        rows = ([cohort["name"], *row] for cohort, heat in scope.heat_maps() for row in heat_map_rows(heat, scope.listed))
        yield from CsvExporter().stream_rows(["cohort", *_columns(codes)], rows)


class JsonOrganization(OrganizationExporter):
    name, label, mimetype, extension = "json", "JSON", "application/json", "json"

    def stream(self, scope: _Scope) -> Iterator[str]:
        rules = policy(scope.session)
        head = {"organization": scope.organization, "cohorts": scope.cohorts,
                "objectives": [{"code": o.key, "title": o.title, "kind": o.kind} for o in objectives_with_modules(scope.session)],
                "thresholds": dict(rules.thresholds), "at_risk_below": rules.at_risk_below}
        rows = ({"cohort_id": cohort["id"], "cohort": cohort["name"], **_row_document(heat, row)}
                for cohort, heat in scope.heat_maps() for row in scope.listed.each(heat.mapped_rows))
        yield from json_stream(head, "rows", rows)


ORGANIZATION_EXPORTERS: dict[str, OrganizationExporter] = {e.name: e for e in (CsvOrganization(), JsonOrganization())}


def organization_export(session: DbSession, organization: Organization, fmt: str, now: datetime) -> ExportFile:
    """Every current learner of the organization's active cohorts, one row each with its
    cohort and the heat map's columns: the cohorts' heat map exports one after the other.
    Two statements now (the cohorts, the learners: ``total``); the chunks are made as they
    are read, a cohort at a time and its rows a chunk of learners at a time, so memory is
    a chunk of learners' (and 8 bytes a learner of a cohort for its order), not the organization's.
    ``fmt`` is a key of ``ORGANIZATION_EXPORTERS``."""
    exporter = ORGANIZATION_EXPORTERS[fmt]
    scope = _Scope(session, organization, now)
    return ExportFile(export_name("competency", organization.name, day=now, extension=exporter.extension), exporter.mimetype,
                      scope.learners + 1, exporter.stream(scope), scope.listed)
