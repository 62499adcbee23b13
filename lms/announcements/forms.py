from __future__ import annotations

from wtforms import DateTimeLocalField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.widgets import HiddenInput

from lms.web.forms import Form, WholeNumberField


class AnnouncementForm(Form):
    title = StringField("Title", validators=[DataRequired("Give the announcement a title."), Length(max=200)])
    body = TextAreaField("Message", validators=[DataRequired("Write the announcement."), Length(max=20_000)],
                         description="Markdown: **bold**, lists, links.")
    publish_at = DateTimeLocalField("Publish at (optional)", format="%Y-%m-%dT%H:%M", validators=[Optional()],
                                    description="In your time zone. Empty: at once.")
    submit = SubmitField("Post announcement")


class EditAnnouncementForm(AnnouncementForm):
    revision = WholeNumberField(widget=HiddenInput(), validators=[InputRequired()])
    submit = SubmitField("Save changes")


class CsrfForm(Form):
    """A bare form for POST buttons (delete, dismiss): CSRF only."""
