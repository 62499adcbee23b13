from __future__ import annotations

from flask_wtf import FlaskForm


class CsrfForm(FlaskForm):
    """The grading form is built from the rubric; this carries its CSRF token."""
