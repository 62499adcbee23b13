"""The shell blueprint: shared templates, static files, the favicon and a health check."""

from pathlib import Path

from flask import Blueprint, Response

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


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for /favicon.ico whatever the page links: the same icon, cached a day."""
    assert bp.static_folder is not None  # set above
    icon = (Path(bp.static_folder) / "favicon.svg").read_bytes()  # a few hundred bytes: no file left open
    return Response(icon, mimetype="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})
