from __future__ import annotations

from flask import Blueprint

from lms.kpi import models  # noqa: F401 - the views will use them

bp = Blueprint("kpi", __name__, template_folder="templates")
