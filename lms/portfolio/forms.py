from __future__ import annotations

from flask_wtf import FlaskForm


class CsrfForm(FlaskForm):
    """The curation form is built from the learner's work and the level's objectives."""
