from __future__ import annotations

from lms.web.forms import Form


class CheckForm(Form):
    """The "Check for new certificates" button: nothing but its CSRF token."""
