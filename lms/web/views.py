"""The shell blueprint: shared templates, static files and a health check."""

from flask import Blueprint

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/web",
)


@bp.get("/healthz")
def health() -> tuple[str, int]:
    return "ok", 200
