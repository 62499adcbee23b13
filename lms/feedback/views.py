from __future__ import annotations

from flask import Blueprint

from lms.feedback import models  # noqa: F401 - the views will use them

bp = Blueprint("feedback", __name__, template_folder="templates")
