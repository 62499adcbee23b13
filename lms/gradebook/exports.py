"""The gradebook's exports: a registry of small classes. CSV is the grading feature's own
exporter (formula-safe cells); JSON carries the same columns as objects."""

from __future__ import annotations

import json

from lms.grading.exports import CsvExporter, Exporter, GradeTable


class JsonExporter(Exporter):
    name, mimetype, extension = "json", "application/json", "json"

    def render(self, table: GradeTable) -> str:
        return json.dumps({"columns": table.columns, "rows": [dict(zip(table.columns, row, strict=True)) for row in table.rows]},
                          ensure_ascii=False, indent=1)


EXPORTERS: dict[str, Exporter] = {e.name: e for e in (CsvExporter(), JsonExporter())}
