"""The request as the views read it: form fields and query arguments without NUL characters.

Nobody types a NUL, but a pasted text or a crafted request can carry one, and PostgreSQL
refuses NUL in text (``DataError``: a 500 where SQLite stored it). Every free-text field
of every form (grade feedback, work, notes, posts) reached the database with it; they are
removed once here, as the account names' normalisation already removes them."""

from __future__ import annotations

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.utils import cached_property

NUL = "\x00"


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
