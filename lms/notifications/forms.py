from __future__ import annotations

from lms.web.forms import Form


class ActionForm(Form):
    """A button that changes something (open, mark read, mark all read): its CSRF token only."""


class PreferencesForm(Form):
    """The preferences page's CSRF token; the choices, one select per kind of event shown,
    are read by the view (which kinds are shown depends on the user's roles)."""
