"""Catalog pages: program, level, module, lesson, objectives."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from lms.catalog import content as _content  # noqa: F401 - registers the catalog content section
from lms.catalog import services
from lms.extensions import db

bp = Blueprint("catalog", __name__, template_folder="templates")


@bp.get("/")
def program() -> str:
    overview = services.program_overview(db.session)
    return render_template("catalog/program.html", overview=overview)


@bp.get("/levels/<key>")
def level(key: str) -> str:
    page = services.level_page(db.session, key) or abort(404)
    return render_template("catalog/level.html", page=page)


@bp.get("/modules/<key>")
def module(key: str) -> str:
    page = services.module_page(db.session, key) or abort(404)
    return render_template("catalog/module.html", page=page)


@bp.get("/lessons/<key>")
def lesson(key: str) -> str:
    page = services.lesson_page(db.session, key) or abort(404)
    return render_template("catalog/lesson.html", page=page)


@bp.get("/objectives")
def objectives() -> str:
    return render_template(
        "catalog/objectives.html", objectives=services.active_objectives(db.session)
    )
