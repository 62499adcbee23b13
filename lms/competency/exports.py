"""Exporters of a cohort's heat map: a registry of small classes (CSV, JSON), as grades
have in ``lms.grading.exports``. The CSV goes through the grades' CSV writer, so cells that
a spreadsheet would run as formulas are made safe the same way."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from lms.competency.services import Cell, HeatMap
from lms.grading.exports import CsvExporter, GradeTable


def _level(cell: Cell) -> float | str:
    return "" if cell.level is None else cell.level


def heat_map_table(heat: HeatMap) -> GradeTable:
    """One row per learner, in the heat map's order."""
    columns = ["learner", "email"]
    for column in heat.columns:
        columns += [f"{column.code} level", f"{column.code} named level"]
    columns += ["mean", "at risk", "reasons"]
    rows = []
    for row in heat.rows:
        values: list[Any] = [row.user.name, row.user.email]
        for cell in row.cells:
            values += [_level(cell), cell.name]
        values += ["" if row.mean is None else row.mean, "yes" if row.at_risk else "no", "; ".join(r.text for r in row.reasons)]
        rows.append(values)
    return GradeTable(columns=columns, rows=rows)


def heat_map_document(heat: HeatMap) -> dict[str, Any]:
    """The heat map as plain data: everything the page shows."""
    cohort = heat.cohort
    return {
        "cohort": {"id": cohort.id, "name": cohort.name, "organization": cohort.organization.name,
                   "start_date": cohort.start_date.isoformat(), "month": heat.month, "today": heat.today.isoformat()},
        "objectives": [{"code": c.code, "title": c.objective.title, "kind": c.objective.kind,
                        "closes_on": c.closes_on.isoformat() if c.closes_on else None, "closed": c.closed}
                       for c in heat.columns],
        "thresholds": dict(heat.policy.thresholds),
        "at_risk_below": heat.policy.at_risk_below,
        "sort": {"by": heat.sort, "descending": heat.descending},
        "rows": [{"user_id": r.user.id, "name": r.user.name, "email": r.user.email,
                  "levels": {c.code: {"level": cell.level, "named_level": cell.name, "rank": cell.rank,
                                      "evidence": cell.evidence}
                             for c, cell in zip(heat.columns, r.cells, strict=True)},
                  "mean": r.mean, "days_behind": r.days_behind, "at_risk": r.at_risk,
                  "reasons": [reason.text for reason in r.reasons]}
                 for r in heat.rows],
        "distributions": {d.column.code: {s.band.name: {"count": s.count, "share": round(s.share, 4)} for s in d.shares}
                          for d in heat.distributions},
        "funnel": [{"level": step.level.key, "title": step.level.title, "opened": step.opened, "learners": step.total,
                    **{key: count for key, _label, count in step.stages}} for step in heat.funnel],
        "at_risk": [{"user_id": r.user.id, "name": r.user.name, "reasons": [reason.text for reason in r.reasons],
                     "details": [{"kind": reason.kind.value, "text": reason.text, "since": reason.since.isoformat(),
                                  "objective": reason.objective} for reason in r.reasons]}
                    for r in heat.at_risk],
    }


class HeatMapExporter(ABC):
    name: ClassVar[str]
    label: ClassVar[str]
    mimetype: ClassVar[str]
    extension: ClassVar[str]

    @abstractmethod
    def render(self, heat: HeatMap) -> str: ...


class CsvHeatMap(HeatMapExporter):
    name, label, mimetype, extension = "csv", "CSV", "text/csv", "csv"

    def render(self, heat: HeatMap) -> str:
        return CsvExporter().render(heat_map_table(heat))


class JsonHeatMap(HeatMapExporter):
    name, label, mimetype, extension = "json", "JSON", "application/json", "json"

    def render(self, heat: HeatMap) -> str:
        return json.dumps(heat_map_document(heat), indent=2, ensure_ascii=False)


EXPORTERS: dict[str, HeatMapExporter] = {e.name: e for e in (CsvHeatMap(), JsonHeatMap())}
