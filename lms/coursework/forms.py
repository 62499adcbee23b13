from __future__ import annotations

from flask_wtf.file import FileField
from wtforms import HiddenField, TextAreaField

from lms.web.forms import Form


class WorkForm(Form):
    body = TextAreaField("Your answer (Markdown)")
    file = FileField("Attach a file", description="PDF, images, text, CSV, Word, Excel or PowerPoint files up to 10 MB each.")
    base = HiddenField()  # draft_mark of the draft the page showed: a save from a stale page is refused


class CsrfForm(Form):
    """POST buttons: the CSRF token only."""
