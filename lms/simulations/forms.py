from __future__ import annotations

from wtforms import HiddenField
from wtforms.validators import InputRequired

from lms.web.forms import Form, WholeNumberField


class CsrfForm(Form):
    """A bare form for POST buttons (starting a run): CSRF only."""


class ChoiceForm(Form):
    """One decision: the node the learner was shown and the choice they took there."""

    node = HiddenField(validators=[InputRequired()])
    choice = WholeNumberField(validators=[InputRequired("Choose one of the options.")])
