"""The feedback feature's wiring: its pages."""

from __future__ import annotations

from flask import Flask

from lms.feedback import services
from lms.feedback.views import bp
from lms.web.page_cache import PageInput, add_page_input


def init_app(app: Flask) -> None:
    add_page_input(app, PageInput("feedback", services.page_stamp))
    app.register_blueprint(bp)
