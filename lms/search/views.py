"""The search page: one box, results a page at a time."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from lms.accounts.current import signed_in
from lms.extensions import db
from lms.search import services

bp = Blueprint("search", __name__, template_folder="templates")


def _page(value: str | None) -> int:
    return int(value) if value and value.isdigit() and len(value) < 6 else 1


@bp.get("/search")
def search() -> str:
    raw = request.args.get("q", "")
    results = services.search(db.session, signed_in(), raw, _page(request.args.get("page")),
                              learner_page=_page(request.args.get("learners_page")))
    return render_template("search/results.html", results=results, raw=raw)
