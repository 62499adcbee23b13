from __future__ import annotations

from wtforms import EmailField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from lms.feedback.services import MAX_NAME_CHARS, RELATIONS
from lms.web.forms import Form, labelled_choices


class InviteForm(Form):
    """The module choices are the framework modules, set by the view."""

    module = SelectField("Framework", coerce=int, validators=[DataRequired("Choose a framework.")],
                         description="The framework whose implementation they will rate.")
    name = StringField("Their name", validators=[DataRequired("Give their name."), Length(max=MAX_NAME_CHARS)])
    email = EmailField("Their email", validators=[DataRequired("Give their email address."), Length(max=254)],
                       description="The link goes to this address; it works once.")
    relation = SelectField("Who they are to your business", choices=labelled_choices(dict(RELATIONS)),
                           validators=[DataRequired("Choose who they are to your business.")])
    submit = SubmitField("Send the invitation")


class CsrfForm(Form):
    """A bare form for POST buttons and the rating form (built from the questions): CSRF only."""
