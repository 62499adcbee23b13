"""The jobs pages' one form: a button (its CSRF token is all it carries)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SubmitField


class ButtonForm(FlaskForm):
    submit = SubmitField("Go")
