"""The console's forms. Each action carries the user's session version as the page showed
it, so an action on a user someone changed meanwhile is refused, not applied blindly."""

from __future__ import annotations

from wtforms import BooleanField, HiddenField, SubmitField
from wtforms.validators import DataRequired, Regexp

from lms.web.forms import Form


class UserActionForm(Form):
    version = HiddenField(validators=[DataRequired(), Regexp(r"^\d{1,9}$", message="Reload the page and try again.")])
    submit = SubmitField("Go")


class ConfirmedActionForm(UserActionForm):
    confirm = BooleanField("I am sure", validators=[DataRequired(message="Tick the box to confirm.")])
