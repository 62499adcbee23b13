"""The catalog feature's wiring: its pages; the content revision noticed on every write to content."""

from __future__ import annotations

from flask import Flask

from lms.catalog import revision
from lms.catalog.views import bp
from lms.web.page_cache import PageInput, add_cohort_input, add_page_input


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    revision.listen()
    # Every kept page shows the curriculum; the token its stamp read is the request's (no second read).
    content = PageInput("content", revision.stamp_columns, seen=revision.seen)
    add_page_input(app, content)
    add_cohort_input(app, content)
