"""Template pages: the library, one template (Markdown rendered, CSV as a table) and its
download as the raw file."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template

from lms.catalog.models import Module
from lms.extensions import db
from lms.resources import services
from lms.resources.content import csv_rows
from lms.resources.models import Template, TemplateFormat
from lms.web.downloads import content_disposition

bp = Blueprint("resources", __name__, template_folder="templates")


@bp.app_template_global("module_templates")
def module_templates(module: Module) -> list[Template]:
    """For the module page: the templates that serve it."""
    return services.templates_for_module(db.session, module.id)


@bp.app_template_global("assignment_artifact")
def assignment_artifact(key: str | None) -> Template | None:
    """For the assignment page: the active template a critique asks the learner to assess."""
    return services.active_template(db.session, key) if key else None


@bp.get("/templates")
def library() -> str:
    return render_template("resources/library.html", shelves=services.library(db.session))


@bp.get("/templates/<key>")
def template(key: str) -> str:
    item = services.active_template(db.session, key) or abort(404)
    rows = csv_rows(item.body) if item.format is TemplateFormat.CSV else []
    return render_template("resources/template.html", template=item, rows=rows)


@bp.get("/templates/<key>/download")
def download(key: str) -> Response:
    item = services.active_template(db.session, key) or abort(404)
    return Response(item.body, mimetype=item.format.mimetype, headers={"Content-Disposition": content_disposition(item.filename)})
