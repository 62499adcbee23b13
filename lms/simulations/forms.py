from __future__ import annotations

from wtforms import HiddenField, RadioField
from wtforms.validators import InputRequired

from lms.web.forms import Form


class CsrfForm(Form):
    """A bare form for POST buttons (starting a run): CSRF only."""


class ChoiceForm(Form):
    """One decision: the node the learner was shown and the choice they took there (the
    options, the node's, are set by the view; the service checks the one taken is one of
    them, so a choice from a page of an older version is refused as such)."""

    node = HiddenField(validators=[InputRequired()])
    choice = RadioField("What do you do?", coerce=int, validate_choice=False,
                        validators=[InputRequired("Choose one of the options.")])
