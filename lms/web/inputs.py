"""The request as the views read it: form fields and query arguments without NUL characters.

Nobody types a NUL, but a pasted text or a crafted request can carry one, and PostgreSQL
refuses NUL in text (``DataError``: a 500 where SQLite stored it). Every free-text field
of every form (grade feedback, work, notes, posts) reached the database with it; they are
removed once here, as the account names' normalisation already removes them.

A form sent as JSON (Flask-WTF reads a JSON body when no form fields came) is read here
too (``json_as_form``): an object's plain values, cleaned the same way, and of a lone
surrogate, which no database driver can encode."""

from __future__ import annotations

from typing import Any

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.utils import cached_property

NUL = "\x00"


def clean_text(value: str) -> str:
    """``value`` without NUL, each lone surrogate (only JSON's ``\\ud800`` escapes make one) as ``?``."""
    value = value.replace(NUL, "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _plain(value: Any) -> str | None:
    if isinstance(value, bool):
        return "y" if value else ""
    if isinstance(value, (str, int, float)):
        return clean_text(str(value))
    return None  # null, an object: no form field holds one


def json_as_form(body: Any) -> ImmutableMultiDict[str, str]:
    """A JSON body read as a web form's fields: an object's strings, numbers and true/false
    (a list of them as a field sent several times); anything else (an array, null, a
    nested object) is no field at all, so the form answers what is missing."""
    pairs: list[tuple[str, str]] = []
    if isinstance(body, dict):
        for key, value in body.items():
            for item in value if isinstance(value, list) else [value]:
                if (text := _plain(item)) is not None:
                    pairs.append((clean_text(key), text))
    return ImmutableMultiDict(pairs)


def without_nul(values: MultiDict[str, str]) -> MultiDict[str, str]:
    if not any(NUL in key or NUL in value for key, value in values.items(multi=True)):
        return values
    return ImmutableMultiDict([(key.replace(NUL, ""), value.replace(NUL, "")) for key, value in values.items(multi=True)])


class InputRequest(Request):
    """Flask's request with ``form`` and ``args`` cleaned of NUL characters."""

    def _load_form_data(self) -> None:
        loaded = "form" in self.__dict__
        super()._load_form_data()
        if not loaded:
            self.__dict__["form"] = without_nul(self.__dict__["form"])

    @cached_property
    def args(self) -> MultiDict[str, str]:
        return without_nul(super().args)
