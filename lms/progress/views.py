from __future__ import annotations

from flask import Blueprint

from lms.progress import content as _content  # noqa: F401 - registers the mastery policy content section
from lms.progress import evidence as _evidence  # noqa: F401 - turns quiz, grade and peer results into evidence

bp = Blueprint("progress", __name__, template_folder="templates")
