"""The gradebook's exports: a registry of small classes. CSV is the grading feature's own
exporter (formula-safe cells); JSON carries the same columns as objects."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from lms.grading.exports import CsvExporter, Exporter, GradeTable
from lms.web.downloads import json_stream


class JsonExporter(Exporter):
    name, mimetype, extension = "json", "application/json", "json"

    def render(self, table: GradeTable) -> str:
        return "".join(self.stream(table))

    def stream(self, table: GradeTable) -> Iterator[str]:
        return self.stream_rows(table.columns, table.rows)

    def stream_rows(self, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
        """``{"columns": [...], "rows": [{column: value}, ...]}``, a row at a time."""
        return json_stream({"columns": list(columns)}, "rows", (dict(zip(columns, row, strict=True)) for row in rows))


EXPORTERS: dict[str, Exporter] = {e.name: e for e in (CsvExporter(), JsonExporter())}
