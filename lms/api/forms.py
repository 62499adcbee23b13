from __future__ import annotations

from wtforms import PasswordField, SelectMultipleField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from lms.api.models import SCOPE_LABELS
from lms.web.forms import DayField, Form, OneTimeField, labelled_choices


class ScopesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class TokenForm(Form):
    form_token = OneTimeField()  # the same form sent twice (a reload, a double click) makes one token
    name = StringField("Name", validators=[DataRequired(message="Give the token a name."), Length(max=100)],
                       description="What uses it, e.g. \"HR sync\".")
    scopes = ScopesField("Scopes", choices=labelled_choices({s.value: f"{s.value} — {label}" for s, label in SCOPE_LABELS.items()}),
                         validators=[DataRequired(message="Choose at least one scope.")])
    expires_on = DayField("Expires on (optional)", validators=[Optional()],
                           description="YYYY-MM-DD; the token stops working at the start of that day in your time zone. Empty: no expiry.")
    password = PasswordField("Your password", description="Asked again: a token keeps working once you sign out.",
                             render_kw={"autocomplete": "current-password"})
    submit = SubmitField("Create token")


class RevokeForm(Form):
    submit = SubmitField("Revoke")
