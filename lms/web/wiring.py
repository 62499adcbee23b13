"""The shell's wiring: shared templates and static files, error pages, template filters,
the request's unit of work and the security headers on every response."""

from __future__ import annotations

from flask import Flask

from lms.web import converters, error_summary, filters, links, page_cache, security, site_url, unit_of_work
from lms.web.errors import register_error_handlers
from lms.web.inputs import InputRequest
from lms.web.markdown import render_content_markdown, render_content_markdown_under, render_user_markdown
from lms.web.views import bp


def markdown_filter(text: str) -> str:
    """The course's own Markdown (quiz, simulation and template texts), kept rendered."""
    return render_content_markdown(text).html


def markdown_under_filter(text: str, top: int) -> str:
    """The course's own Markdown under the page's headings: its first level shown as ``top``."""
    return render_content_markdown_under(text, top)


def user_markdown_filter(text: str) -> str:
    """Markdown people wrote: images only from the platform's uploads."""
    return render_user_markdown(text)


def init_app(app: Flask) -> None:
    site_url.init_app(app)  # first: production refuses to start without LMS_BASE_URL
    app.request_class = InputRequest  # form fields and query arguments without NUL (PostgreSQL refuses it)
    converters.init_app(app)  # before any rule: <int:...> ids are bounded everywhere
    app.register_blueprint(bp)
    unit_of_work.init_app(app)
    page_cache.init_app(app)
    security.init_app(app)
    filters.init_app(app)
    error_summary.init_app(app)
    links.init_app(app)
    register_error_handlers(app)
    app.add_template_filter(markdown_filter, "markdown")
    app.add_template_filter(markdown_under_filter, "markdown_under")
    app.add_template_filter(user_markdown_filter, "user_markdown")
