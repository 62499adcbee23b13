"""The learning feature's wiring: its pages."""

from __future__ import annotations

from flask import Flask

from lms.accounts.current import load_stamp_with_user
from lms.learning import services
from lms.learning.views import bp, nav_roles
from lms.web.page_cache import PageInput, add_page_input, add_viewer_input


def init_app(app: Flask) -> None:
    add_page_input(app, PageInput("learning", services.page_stamp))
    add_page_input(app, PageInput("staff", services.staff_stamp, bypass=True))
    load_stamp_with_user(app, "learning.home")  # a kept page: one statement
    add_viewer_input(app, nav_roles)  # the links every page's navigation shows the person
    app.register_blueprint(bp)
