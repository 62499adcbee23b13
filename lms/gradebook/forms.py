from __future__ import annotations

from lms.web.forms import Form


class CsrfForm(Form):
    """The bulk-action form is built from the table (a checkbox per row); this carries its CSRF token."""
