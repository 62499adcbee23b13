from __future__ import annotations

from wtforms import BooleanField, HiddenField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from lms.web.forms import FiniteDecimalField, Form


class CsrfForm(Form):
    """Question pages are built from the attempt's layout; this form carries the CSRF token."""


class EssayGradeForm(Form):
    points = FiniteDecimalField("Points", places=2, validators=[InputRequired("Give the points."), NumberRange(min=0)])
    comment = TextAreaField("Comment for the learner", validators=[Optional(), Length(max=5000)])
    submit = SubmitField("Save grade")


class WithdrawItemForm(Form):
    """Withdraw a question from a running quiz (item analysis), optionally regrading the cohort."""

    item = HiddenField("Item", validators=[DataRequired("Choose the item to withdraw.")])
    reason = TextAreaField("Why it is withdrawn", validators=[DataRequired("Say why the item is withdrawn."), Length(max=2000)])
    regrade = BooleanField("Regrade: rescore this cohort's finished attempts without it")
    submit = SubmitField("Withdraw item")
