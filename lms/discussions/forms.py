from __future__ import annotations

from wtforms import StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.widgets import HiddenInput

from lms.web.forms import Form, WholeNumberField

MARKDOWN = "Markdown: **bold**, lists, `code`, links."


class ThreadForm(Form):
    title = StringField("Title", validators=[DataRequired("Give the thread a title."), Length(max=200)])
    body = TextAreaField("Your question or topic", validators=[DataRequired("Write something first."),
                                                               Length(max=20_000)], description=MARKDOWN)
    submit = SubmitField("Start thread")


class ReplyForm(Form):
    body = TextAreaField("Your reply", validators=[DataRequired("Write something first."), Length(max=20_000)],
                         description=MARKDOWN)
    submit = SubmitField("Reply")


class EditPostForm(Form):
    title = StringField("Title", validators=[Optional(), Length(max=200)])
    body = TextAreaField("Text", validators=[DataRequired("Write something first."), Length(max=20_000)],
                         description=MARKDOWN)
    revision = WholeNumberField(widget=HiddenInput(), validators=[InputRequired()])
    submit = SubmitField("Save")


class ModerateForm(Form):
    action = StringField(validators=[InputRequired("Choose a moderation action.")])
    reason = StringField("Reason", validators=[Optional(), Length(max=1000)])
