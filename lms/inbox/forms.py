from __future__ import annotations

from wtforms import IntegerField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import HiddenInput

from lms.inbox.models import BODY_LENGTH, SUBJECT_LENGTH
from lms.web.forms import Form, OneTimeField

MARKDOWN = "Markdown: **bold**, lists, `code`, links."


class ReplyForm(Form):
    """``token``: the form's one-time value (``OneTimeField``): the same form sent twice (a
    double click on Send) posts one reply."""

    token = OneTimeField()
    body = TextAreaField("Your reply", validators=[DataRequired("Write a message first."),
                                                   Length(max=BODY_LENGTH, message=f"Keep a message to {BODY_LENGTH:,} characters.")],
                         description=MARKDOWN)
    submit = SubmitField("Send")


class ActionForm(Form):
    """Open or mark read: carries the CSRF token. ``up_to`` is the last message the page
    showed (the conversation's Mark read): what came after it stays unread. Empty (the
    inbox's Open, which shows the whole conversation next): up to its latest message."""

    up_to = IntegerField(validators=[Optional(), NumberRange(min=0, max=2**63 - 1)], widget=HiddenInput())


class NewConversationForm(Form):
    """Staff's message to one learner, opening a conversation (the learner's pages). ``token``
    as ``ReplyForm``'s: a double click on Send opens one conversation."""

    token = OneTimeField()
    subject = StringField("Subject", validators=[DataRequired("Write a subject."),
                                                 Length(max=SUBJECT_LENGTH, message=f"Keep the subject to {SUBJECT_LENGTH} characters.")])
    body = TextAreaField("Message", validators=[DataRequired("Write a message first."),
                                                Length(max=BODY_LENGTH, message=f"Keep a message to {BODY_LENGTH:,} characters.")],
                         description=MARKDOWN)
    submit = SubmitField("Send")
