"""The resources feature's wiring: the template library's pages and the module page's
list of templates."""

from __future__ import annotations

from flask import Flask

from lms.resources.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
