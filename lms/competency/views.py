"""Cohort competency pages: the heat map (and its exports), the trend by month, and an
organization's cohorts side by side. Read only: nothing to commit."""

from __future__ import annotations

import re

from flask import Blueprint, abort, render_template, request
from werkzeug.wrappers import Response

from lms.cohorts.models import Cohort, Organization
from lms.competency import services
from lms.competency.charts import trend_chart
from lms.competency.exports import EXPORTERS
from lms.database import utcnow
from lms.extensions import db

bp = Blueprint("competency", __name__, template_folder="templates")


def _cohort(cohort_id: int) -> Cohort:
    return db.session.get(Cohort, cohort_id) or abort(404)


def _heat_map(cohort: Cohort) -> services.HeatMap:
    """The heat map sorted as the query string asks (``?sort=KO2&dir=desc``); an unknown
    column sorts by name."""
    return services.heat_map(db.session, cohort, utcnow(), request.args.get("sort"), request.args.get("dir") == "desc")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "cohort"


@bp.get("/cohorts/<int:cohort_id>/competency")
def heat_map(cohort_id: int) -> str:
    return render_template("competency/heat_map.html", heat=_heat_map(_cohort(cohort_id)), exporters=EXPORTERS.values())


@bp.get("/cohorts/<int:cohort_id>/competency.<fmt>")
def export(cohort_id: int, fmt: str) -> Response:
    exporter = EXPORTERS.get(fmt) or abort(404)
    cohort = _cohort(cohort_id)
    body = exporter.render(_heat_map(cohort))
    filename = f"competency-{_slug(cohort.name)}-{utcnow():%Y%m%d}.{exporter.extension}"
    return Response(body, mimetype=exporter.mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/cohorts/<int:cohort_id>/competency/trend")
def trend(cohort_id: int) -> str:
    page = services.trend_page(db.session, _cohort(cohort_id), utcnow())
    return render_template("competency/trend.html", page=page, chart=trend_chart(page))


@bp.get("/organizations/<int:org_id>/competency")
def organization(org_id: int) -> str:
    org = db.session.get(Organization, org_id) or abort(404)
    return render_template("competency/organization.html", comparison=services.compare(db.session, org, utcnow()))
