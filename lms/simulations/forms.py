from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField
from wtforms.validators import InputRequired


class CsrfForm(FlaskForm):
    """A bare form for POST buttons (starting a run): CSRF only."""


class ChoiceForm(FlaskForm):
    """One decision: the node the learner was shown and the choice they took there."""

    node = HiddenField(validators=[InputRequired()])
    choice = IntegerField(validators=[InputRequired("Choose one of the options.")])
