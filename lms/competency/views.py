from __future__ import annotations

from flask import Blueprint

bp = Blueprint("competency", __name__, template_folder="templates")
