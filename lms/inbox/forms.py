from __future__ import annotations

import secrets

from wtforms import HiddenField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from lms.inbox.models import BODY_LENGTH
from lms.web.forms import Form

MARKDOWN = "Markdown: **bold**, lists, `code`, links."


class ReplyForm(Form):
    """``token`` is drawn afresh for each form shown (and kept when it comes back with an
    error): the same form sent twice (a double click on Send) posts one reply."""

    token = HiddenField(default=lambda: secrets.token_hex(16))
    body = TextAreaField("Your reply", validators=[DataRequired("Write a message first."),
                                                   Length(max=BODY_LENGTH, message=f"Keep a message to {BODY_LENGTH:,} characters.")],
                         description=MARKDOWN)
    submit = SubmitField("Send")


class ActionForm(Form):
    """Open or mark read: carries the CSRF token."""
