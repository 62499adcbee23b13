from __future__ import annotations

from wtforms import SelectField, StringField, TextAreaField

from lms.gradebook.services import MAX_SUBJECT
from lms.web.forms import Form


class CsrfForm(Form):
    """A form built by hand (the confirmation of "Remove extension"): this carries its CSRF token."""


class BulkForm(Form):
    """The bulk actions' fields; the learners' boxes are the table's rows and the actions are
    its buttons (``action``). The services check what is sent, and a refusal about one of
    these fields is shown by it (``refuse_field``). ``column``'s choices are the page's items."""

    column = SelectField("Item", validate_choice=False)
    until = StringField("Extend until", render_kw={"type": "date"})
    note = StringField("Note", render_kw={"size": 24})
    subject = StringField("Subject", render_kw={"size": 40, "maxlength": MAX_SUBJECT})
    body = TextAreaField("Message", render_kw={"rows": 3})


class AtRiskMessageForm(Form):
    """The message to the heat map's learners at risk (the learners are ticked boxes of the page)."""

    subject = StringField("Subject", id="at-risk-subject", render_kw={"size": 60, "maxlength": MAX_SUBJECT, "required": True})
    body = TextAreaField("Message", id="at-risk-body", render_kw={"rows": 6, "cols": 60, "required": True})
