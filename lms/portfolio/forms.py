from __future__ import annotations

from lms.web.forms import Form


class CsrfForm(Form):
    """The curation form is built from the learner's work and the level's objectives."""
