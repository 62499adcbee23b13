from __future__ import annotations

from wtforms import StringField
from wtforms.validators import DataRequired, Length

from lms.web.forms import Form


class EraseForm(Form):
    """The admin types the account's email to confirm an erasure."""

    confirm_email = StringField("Type the account's email address to confirm",
                                validators=[DataRequired(), Length(max=254)])


class ExportForm(Form):
    """Carries the CSRF token of the download button (a POST: it writes an audit entry)."""
