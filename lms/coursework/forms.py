from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import TextAreaField


class WorkForm(FlaskForm):
    body = TextAreaField("Your answer (Markdown)")
    file = FileField("Attach a file")


class CsrfForm(FlaskForm):
    """POST buttons: the CSRF token only."""
