from __future__ import annotations

from flask_wtf import FlaskForm


class CheckForm(FlaskForm):
    """The "Check for new certificates" button: nothing but its CSRF token."""
