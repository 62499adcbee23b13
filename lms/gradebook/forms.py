from __future__ import annotations

from flask_wtf import FlaskForm


class CsrfForm(FlaskForm):
    """The bulk-action form is built from the table (a checkbox per row); this carries its CSRF token."""
