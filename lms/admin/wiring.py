"""Admin's wiring: the console's and the audit log's pages, the site admin's panel on the
home page, and the receivers that write the other features' actions to the audit log."""

from __future__ import annotations

from flask import Flask

from lms.admin import receivers
from lms.admin.views import bp, home_panel
from lms.grading.services import grade_saved
from lms.learning.home import HomePanel, Place, add_home_panel


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    grade_saved.connect(receivers.on_grade_saved)
    add_home_panel(app, HomePanel(Place.STAFF, "admin/_home.html", home_panel))
