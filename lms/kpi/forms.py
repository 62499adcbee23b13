from __future__ import annotations

import re
from typing import Any

from wtforms import FloatField, MonthField, SelectField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import TextInput

from lms.web.forms import Form

# One comma after a whole number and before exactly three digits: "3,200" is 3200 to some
# and 3.2 to others ("0,125" can only be 0.125).
AMBIGUOUS_COMMA = re.compile(r"[-+]?[1-9]\d{0,2},\d{3}")
# Thousands grouped by commas, with or without a decimal point: "1,234,567" or "3,200.5".
GROUPED = re.compile(r"[-+]?[1-9]\d{0,2}(,\d{3})+\.\d+|[-+]?[1-9]\d{0,2}(,\d{3}){2,}")


def plain_number(text: str) -> str:
    """``text`` with its separators read as people write them: a decimal comma ("97,5") or
    thousands grouped by commas ("1,234.5"). Raises ``ValueError`` for one comma before three
    digits and nothing else, which could be either and is asked again, never guessed."""
    if AMBIGUOUS_COMMA.fullmatch(text):
        whole, _, part = text.partition(",")
        thousands, decimal = f"{whole}{part}", f"{float(f'{whole}.{part}'):g}"
        raise ValueError(f"Is {text} {thousands} or {decimal}? Write it without a comma ({thousands}) "
                         f"or with a point ({decimal}).")
    if GROUPED.fullmatch(text):
        return text.replace(",", "")
    return text.replace(",", ".")


class FigureField(FloatField):
    """A number as people type it: "97.5", "97,5", "1,234.5" or "97.5%"; "3,200" is asked
    again (see ``plain_number``). Blank is left to InputRequired. A text input (with a decimal
    keypad on phones), so whatever was typed is shown again."""

    widget = TextInput()

    def __init__(self, label: str | None = None, validators: list[Any] | None = None, *,
                 invalid_value_message: str | None = None, **kwargs: Any) -> None:
        super().__init__(label, validators, **kwargs)
        # WTForms 3.3 takes this keyword itself; the types-wtforms 3.2 stubs do not know it yet.
        self.invalid_value_message = invalid_value_message

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return
        text = str(valuelist[0]).strip().rstrip("%").strip()
        if not text:
            self.data, self.raw_data = None, [""]
            return
        try:
            text = plain_number(text)
        except ValueError as exc:
            self.data = None
            raise ValueError(str(exc)) from None
        super().process_formdata([text])


class PeriodField(MonthField):
    """A month, from ``<input type=month>`` (YYYY-MM) or a typed date. Blank is left to InputRequired."""

    def __init__(self, label: str | None = None, validators: list[Any] | None = None, *,
                 invalid_value_message: str | None = None, **kwargs: Any) -> None:
        super().__init__(label, validators, **kwargs)
        # WTForms 3.3 takes this keyword itself; the types-wtforms 3.2 stubs do not know it yet.
        self.invalid_value_message = invalid_value_message

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or not str(valuelist[0]).strip():
            # Spaces read as blank too, so InputRequired refuses them (as FigureField does).
            self.data, self.raw_data = None, [""]
            return
        super().process_formdata([str(valuelist[0]).strip()])


class FigureForm(Form):
    # Choices are the active metrics grouped by module, set by the view; the service
    # checks the chosen key, so a stale or tampered choice gets a plain message.
    metric = SelectField("Metric", validate_choice=False, validators=[InputRequired("Choose the metric the figure is for.")])
    period = PeriodField("Month", format=["%Y-%m", "%Y-%m-%d"],
                         invalid_value_message="Enter the month as YYYY-MM, for example 2025-03.",
                         validators=[InputRequired("Enter the month the figure describes.")],
                         description="The month the figure describes (YYYY-MM). Recording a month again corrects it.")
    value = FigureField("Figure", invalid_value_message="Enter the figure as a number, for example 97.5.",
                        validators=[InputRequired("Enter the figure.")],
                        render_kw={"inputmode": "decimal", "autocomplete": "off"})
    note = TextAreaField("Note (optional)", validators=[Optional(), Length(max=2000)],
                         description="Where the figure comes from, or what changed this month.")
    submit = SubmitField("Record the figure")
