from __future__ import annotations

from lms.web.forms import Form


class CsrfForm(Form):
    """The grading form is built from the rubric; this carries its CSRF token."""
