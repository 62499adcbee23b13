"""The outbox page's one form: a retry button (its CSRF token is all it carries)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SubmitField


class RetryForm(FlaskForm):
    submit = SubmitField("Retry")
