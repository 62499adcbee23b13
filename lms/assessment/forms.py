from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DecimalField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional


class CsrfForm(FlaskForm):
    """Question pages are built from the attempt's layout; this form carries the CSRF token."""


class EssayGradeForm(FlaskForm):
    points = DecimalField("Points", places=2, validators=[InputRequired("Give the points."), NumberRange(min=0)])
    comment = TextAreaField("Comment for the learner", validators=[Optional(), Length(max=5000)])
    submit = SubmitField("Save grade")
