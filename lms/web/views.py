"""The shell blueprint: shared templates, static files, the favicon, a health check and the
accessibility statement."""

from pathlib import Path

from flask import Blueprint, Response, render_template

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


@bp.get("/accessibility")
def accessibility() -> str:
    """What the platform does for people who use it with a screen reader, a keyboard, a small
    screen or more time, how that is checked, what is known not to be done, and whom to ask."""
    return render_template("accessibility.html")
