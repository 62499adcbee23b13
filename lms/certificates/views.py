from __future__ import annotations

from flask import Blueprint

from lms.certificates import models  # noqa: F401 - the views will use them

bp = Blueprint("certificates", __name__, template_folder="templates")
