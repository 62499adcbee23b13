from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.widgets import HiddenInput

MARKDOWN = "Markdown: **bold**, lists, `code`, links."


class ThreadForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired("Give the thread a title."), Length(max=200)])
    body = TextAreaField("Your question or topic", validators=[DataRequired("Write something first."),
                                                               Length(max=20_000)], description=MARKDOWN)
    submit = SubmitField("Start thread")


class ReplyForm(FlaskForm):
    body = TextAreaField("Your reply", validators=[DataRequired("Write something first."), Length(max=20_000)],
                         description=MARKDOWN)
    submit = SubmitField("Reply")


class EditPostForm(FlaskForm):
    title = StringField("Title", validators=[Optional(), Length(max=200)])
    body = TextAreaField("Text", validators=[DataRequired("Write something first."), Length(max=20_000)],
                         description=MARKDOWN)
    revision = IntegerField(widget=HiddenInput(), validators=[InputRequired()])
    submit = SubmitField("Save")


class ModerateForm(FlaskForm):
    action = StringField(validators=[InputRequired("Choose a moderation action.")])
    reason = StringField("Reason", validators=[Optional(), Length(max=1000)])
