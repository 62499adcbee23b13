"""The ``int`` URL converter, bounded to what an id column holds.

Werkzeug's ``<int:...>`` accepts any number of digits; an id of 2**63 or more then reaches
the database driver and fails there (a 500, or an overflow on PostgreSQL's BIGINT). The
converter here answers 404 for such a value, on every route at once."""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

MAX_ID = 2**63 - 1


class IdConverter(IntegerConverter):
    """``<int:...>`` refusing a number above the largest signed 64-bit integer with 404.

    ``NotFound`` rather than werkzeug's ``ValidationError``: after a failed conversion
    werkzeug reports the other methods of the same path (a 405), while an id no column can
    hold is simply not found."""

    def to_python(self, value: str) -> int:
        number = int(super().to_python(value))
        if abs(number) > MAX_ID:
            raise NotFound()
        return number


def init_app(app: Flask) -> None:
    """Install the converter before any blueprint adds a rule (the shell is wired first)."""
    app.url_map.converters["int"] = IdConverter
