from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, TextAreaField


class TeamWorkForm(FlaskForm):
    body = TextAreaField("The team's answer (Markdown)")
    file = FileField("Attach a file")
    revision = HiddenField()


class CsrfForm(FlaskForm):
    """POST buttons and small hand-written forms: the CSRF token only."""
