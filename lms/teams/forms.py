from __future__ import annotations

from flask_wtf.file import FileField
from wtforms import HiddenField, TextAreaField

from lms.web.forms import Form


class TeamWorkForm(Form):
    body = TextAreaField("The team's answer (Markdown)")
    file = FileField("Attach a file")
    revision = HiddenField()


class CsrfForm(Form):
    """POST buttons and small hand-written forms: the CSRF token only."""
