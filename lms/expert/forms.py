from __future__ import annotations

from wtforms import EmailField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from lms.expert.services import MAX_NAME_CHARS, MAX_NOTE_CHARS
from lms.web.forms import Form


class InviteForm(Form):
    name = StringField("The expert's name", validators=[DataRequired("Give the expert's name."), Length(max=MAX_NAME_CHARS)])
    email = EmailField("Their email", validators=[DataRequired("Give the expert's email address."), Length(max=254)],
                       description="The link goes to this address; it works once and expires.")
    note = TextAreaField("A note to them (optional)", validators=[Length(max=MAX_NOTE_CHARS)],
                         description="Why you are asking them, and what you would most like their view on.")
    submit = SubmitField("Send the invitation")


class CsrfForm(Form):
    """A bare form for POST buttons and the rating form (built from the rubric): CSRF only."""
