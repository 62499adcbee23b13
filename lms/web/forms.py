"""Typed helpers for WTForms where the installed WTForms 3.3 and its types-wtforms 3.2 stubs
disagree: the stubs still describe the older API, the code follows the one that runs."""

from __future__ import annotations

import re
import secrets
from datetime import date
from functools import lru_cache
from typing import Any, cast

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto  # the "read the request" default of a form's formdata
from markupsafe import Markup
from wtforms import DateField, DecimalField, Field, HiddenField, IntegerField
from wtforms.fields.choices import Choice  # type: ignore[attr-defined]  # WTForms 3.3 has it; its stubs do not yet
from wtforms.validators import Optional, Regexp
from wtforms.widgets import Select

from lms.web.converters import MAX_ID
from lms.web.inputs import json_as_form


class Form(FlaskForm):
    """The base of every form. Flask-WTF reads a JSON body as the form when no form fields
    came; it took an array (or a bare number) with a 500 and let NUL and lone surrogates
    through to the database. Here a JSON body is read by ``json_as_form``: an object's
    plain values, cleaned; anything else is an empty form, refused with its messages."""

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form: Any, formdata: Any) -> Any:
            if formdata is _Auto and request.method in ("POST", "PUT", "PATCH", "DELETE") and request.is_json \
                    and not request.form and not request.files:
                return json_as_form(request.get_json(silent=True))
            return super().wrap_formdata(form, formdata)


ONE_TIME = re.compile(r"[0-9A-Za-z_-]{8,64}\Z")  # what a form's one-time value may be (``OneTimeField``)
ONE_TIME_MALFORMED = ("This form carried a malformed one-time value, so nothing was made. "
                      "Fill in the form below again and send it from this page.")


class OneTimeField(HiddenField):
    """A create form's one-time value, drawn afresh for each form shown: the service keeps
    it with what the form made (unique per person), so the same form sent again (a reload,
    a double click) finds that instead of making another. A form posted without it (a
    script) has a fresh one drawn, as if shown; one present but malformed is refused, and
    the form shown again carries a fresh one."""

    def __init__(self, label: str = "", **kwargs: Any) -> None:
        super().__init__(label, validators=[Optional(), Regexp(ONE_TIME, message=ONE_TIME_MALFORMED)],
                         default=lambda: secrets.token_hex(16), **kwargs)

    def post_validate(self, form: Any, validation_stopped: bool) -> None:
        if self.errors:
            self.data = secrets.token_hex(16)

    @property
    def value(self) -> str:
        """The value as sent, when it is one (a form checked first: ``validate``)."""
        return self.data if self.data and ONE_TIME.fullmatch(self.data) else ""


def add_error(field: Field, message: str) -> None:
    """Show ``message`` under ``field`` once the form has been validated (a service refused)."""
    # cast: validation leaves field.errors a list (Field.validate); the stubs declare Sequence[str].
    cast(list[str], field.errors).append(message)


def refuse_field(form: FlaskForm, name: str | None, message: str) -> bool:
    """Show a service's refusal by the field it names (``name``, a field of ``form``): the
    field macro marks it invalid, describes it by the message shown beside it and lists it in
    the summary the page opens on. False when it names no field of the form (or none): the
    page says it above the form instead."""
    found = form._fields.get(name) if name else None
    if found is None:
        return False
    found.errors = [*found.errors, message]  # a form not validated (the service checks it) has a tuple here
    return True


def labelled_choices(labels: dict[Any, str]) -> dict[str, Any]:
    """``SelectField`` choices as a ``{value: label}`` dict, the shorthand WTForms 3.3 reads
    (it deprecates (value, label) tuples, and the tests turn that warning into an error)."""
    # cast: the stubs know a choices dict only as option groups, {group label: choices}.
    return cast(dict[str, Any], labels)


NOT_A_NUMBER = "Enter a number (not NaN or infinity)."


class FiniteDecimalField(DecimalField):
    """A ``DecimalField`` that refuses what ``Decimal`` reads but is no amount: NaN, sNaN and
    the infinities (``Decimal("sNaN") < 0`` raises, so a validator after it would answer 500)."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        if self.data is not None and not self.data.is_finite():
            self.data = None
            raise ValueError(NOT_A_NUMBER)


NOT_A_WHOLE_NUMBER = "Enter a whole number."


class WholeNumberField(IntegerField):
    """An ``IntegerField`` (a revision, a choice's position) refusing a number no INTEGER
    column holds: 99999999999999999999 reached the database and failed there with a 500."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        if self.data is not None and abs(self.data) > MAX_ID:
            self.data = None
            raise ValueError(NOT_A_WHOLE_NUMBER)


# The days a person may type anywhere (a filter, a due date, a follow-up, an expiry): the
# program's century. A day outside it is refused with this message, not kept for a later
# page to fail on with 'year 10000 is out of range' (a day after 9999-12-31, or a time
# before 0001-01-01 once it is moved to UTC).
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2099, 12, 31)
NOT_A_DAY = "Not a valid date value. Enter the date as YYYY-MM-DD."
DAY_OUT_OF_RANGE = f"Choose a date between {EARLIEST_DAY:%-d %B %Y} and {LATEST_DAY:%-d %B %Y}."


class DayOutOfRange(ValueError):
    """A date, but not one within ``EARLIEST_DAY`` .. ``LATEST_DAY``; its message says so."""


def parse_day(raw: str) -> date:
    """A typed day (YYYY-MM-DD) within ``EARLIEST_DAY`` .. ``LATEST_DAY``, for days read
    from a query string or a plain form. ``DayOutOfRange`` (with the message to show) for a
    day outside them, ``ValueError`` for what is no date."""
    day = date.fromisoformat(raw.strip())
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise DayOutOfRange(DAY_OUT_OF_RANGE)
    return day


class DayField(DateField):
    """A ``DateField`` that refuses a day outside ``EARLIEST_DAY`` .. ``LATEST_DAY`` as it
    reads it, so no form's own validators or service ever see one (with ``InputRequired``,
    not ``DataRequired``, which would put its own message in place of this one); what is no
    date is refused with the format to use."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(NOT_A_DAY) from None
        if self.data is not None and not EARLIEST_DAY <= self.data <= LATEST_DAY:
            self.data = None
            raise ValueError(DAY_OUT_OF_RANGE)


class CachedOptionsSelect(Select):
    """A ``Select`` that renders each plain option (string value and label, no attributes)
    once per process: a long list (the account page's ~420 time zones) otherwise costs
    several milliseconds of ``html_params`` and escaping on every page. The HTML is the one
    ``Select`` writes."""

    @classmethod
    def render_option(cls, choice: Any, **kwargs: Any) -> Markup:  # type: ignore[override]  # WTForms 3.3's signature; the stubs describe 3.2's
        if kwargs or choice.render_kw or type(choice.value) is not str or type(choice.label) is not str:
            return Select.render_option(choice, **kwargs)
        return _plain_option(choice.value, choice.label, bool(choice.selected))


@lru_cache(maxsize=8192)
def _plain_option(value: str, label: str, selected: bool) -> Markup:
    rendered: Markup = Select.render_option(Choice(value=value, label=label, selected=selected, render_kw=None))  # type: ignore[call-arg]  # as above
    return rendered
