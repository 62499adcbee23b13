"""Admin's wiring: the console's and the audit log's pages, and the receivers that write
the other features' actions to the audit log."""

from __future__ import annotations

from flask import Flask

from lms.admin import receivers
from lms.admin.views import bp
from lms.grading.services import grade_saved


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    grade_saved.connect(receivers.on_grade_saved)
