"""The ``int`` URL converter, bounded to what an id column holds.

Werkzeug's ``<int:...>`` accepts any number of digits; an id the column cannot hold then
reaches the database driver and fails there with a 500 (SQLite overflows at 2**63,
PostgreSQL's INTEGER id columns at 2**31). The converter here answers 404 for any number
above what an INTEGER id column holds on every supported database, on every route at once."""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1  # PostgreSQL INTEGER, the type of every id column (no BigInteger ids)


def as_id(value: str) -> int:
    """A typed or posted id (``request.form.get(name, type=as_id)``): a number an id column
    holds, else ``ValueError`` (so ``get`` answers its default, as for what is no number)."""
    number = int(value)
    if not 0 <= number <= MAX_ID:
        raise ValueError(value)
    return number


class IdConverter(IntegerConverter):
    """``<int:...>`` refusing a number above ``MAX_ID`` with 404.

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
