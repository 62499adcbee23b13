"""The outbox page's one form: a retry button (its CSRF token is all it carries)."""

from __future__ import annotations

from wtforms import SubmitField

from lms.web.forms import Form


class RetryForm(Form):
    submit = SubmitField("Retry")
