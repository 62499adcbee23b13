from __future__ import annotations

from flask_wtf import FlaskForm


class ActionForm(FlaskForm):
    """A button that changes something (open, mark read, mark all read): its CSRF token only."""


class PreferencesForm(FlaskForm):
    """The preferences page's CSRF token; the choices, one select per kind of event shown,
    are read by the view (which kinds are shown depends on the user's roles)."""
