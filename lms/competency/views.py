"""Cohort competency pages: the heat map (and its exports), the trend by month, an
organization's cohorts side by side, and an at-risk learner's reviews (the one form)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from lms.accounts.current import signed_in
from lms.accounts.models import User
from lms.cohorts.models import Cohort, Organization
from lms.competency import services
from lms.competency.charts import trend_chart
from lms.competency.exports import EXPORTERS, ORGANIZATION_EXPORTERS, organization_export
from lms.competency.forms import ReviewForm
from lms.competency.lines import lines_of
from lms.competency.render import heat_rows, kept_table, reason_items, risk_items
from lms.database import utcnow
from lms.extensions import db
from lms.jobs import exports
from lms.web.downloads import export_name, streamed_download
from lms.web.forms import add_error
from lms.web.page_cache import Viewer, cached_page

bp = Blueprint("competency", __name__, template_folder="templates")
bp.add_app_template_global(reason_items, "competency_reasons")
bp.add_app_template_global(risk_items, "competency_risk_items")
bp.add_app_template_global(kept_table, "competency_kept")


def _cohort(cohort_id: int) -> Cohort:
    return db.session.get(Cohort, cohort_id) or abort(404)


def _heat_map(cohort: Cohort) -> services.HeatMap:
    """The heat map sorted as the query string asks (``?sort=KO2&dir=desc``; an unknown
    column sorts by name), one page of it (``?page=2``, out of range: the nearest page),
    filtered by name or email (``?q=``) or to the learners at risk (``?risk=1``). Its exports
    hold no learner: their rows are read in the map's order a chunk at a time."""
    the_page = request.endpoint == "competency.heat_map"
    return services.heat_map(db.session, cohort, utcnow(), request.args.get("sort"), request.args.get("dir") == "desc",
                             page=request.args.get("page", 1, type=int), query=request.args.get("q", "")[:100],
                             risk_only=request.args.get("risk") == "1", risk_page=request.args.get("risk_page", 1, type=int),
                             date_all=not the_page, streamed=not the_page,  # the page completes the rows it shows
                             lines=lines_of(current_app) if the_page else None)


@bp.get("/cohorts/<int:cohort_id>/competency")
def heat_map(cohort_id: int) -> str:
    """Kept (``lms.web.page_cache``) while nothing it shows has changed: one statement then."""
    user = signed_in()

    def render() -> str:
        return render_template("competency/heat_map.html", heat=_heat_map(_cohort(cohort_id)),
                               exporters=EXPORTERS.values(), heat_rows=heat_rows)

    return cached_page(db.session, "heat_map", Viewer(user.id, user.name, user.timezone, user.is_admin), utcnow(), render,
                       cohort_id=cohort_id, variant=request.query_string.decode("latin-1"))


@bp.get("/cohorts/<int:cohort_id>/competency.<fmt>")
def export(cohort_id: int, fmt: str) -> Response | str:
    """Streamed row by row; a cohort past EXPORT_BACKGROUND_ABOVE learners is offered a background job."""
    exporter = EXPORTERS.get(fmt) or abort(404)
    cohort = _cohort(cohort_id)
    if exports.in_background(db.session, current_app.config, cohort.id):
        return exports.offer(cohort, "competency", fmt, request.args)
    heat = _heat_map(cohort)
    filename = export_name(heat.file_kind, cohort.name, day=utcnow(), extension=exporter.extension)
    return streamed_download(exporter.stream(heat), mimetype=exporter.mimetype, filename=filename)


@bp.get("/cohorts/<int:cohort_id>/competency/trend")
def trend(cohort_id: int) -> str:
    """Kept like the heat map: the cohort's stamp changes with every evidence its learners
    get (each rewrites their mastery), its members, the cohort and the curriculum. Built, it
    replays the evidence of the months gone by unless they are kept (``services.trend``);
    kept, it costs the stamp."""
    user = signed_in()

    def render() -> str:
        page = services.trend_page(db.session, _cohort(cohort_id), utcnow())
        return render_template("competency/trend.html", page=page, chart=trend_chart(page))

    return cached_page(db.session, "trend", Viewer(user.id, user.name, user.timezone, user.is_admin), utcnow(), render,
                       cohort_id=cohort_id)


def _organization(org_id: int) -> Organization:
    return db.session.get(Organization, org_id) or abort(404)


@bp.get("/organizations/<int:org_id>/competency")
def organization(org_id: int) -> str:
    org = _organization(org_id)
    return render_template("competency/organization.html", comparison=services.compare(db.session, org, utcnow()),
                           exporters=ORGANIZATION_EXPORTERS.values())


@bp.get("/organizations/<int:org_id>/competency.<fmt>")
def organization_export_file(org_id: int, fmt: str) -> Response | str:
    """Every learner of the organization's active cohorts, streamed row by row; past
    EXPORT_BACKGROUND_ABOVE learners, offered as a background job."""
    if fmt not in ORGANIZATION_EXPORTERS:
        abort(404)
    org = _organization(org_id)
    made = organization_export(db.session, org, fmt, utcnow())
    if exports.too_many(current_app.config, made.total - 1):
        return exports.offer_organization(org, "competency", fmt)
    return streamed_download(made.chunks, mimetype=made.mimetype, filename=made.filename)


def _risk(cohort_id: int, user_id: int) -> services.LearnerRisk:
    cohort = _cohort(cohort_id)
    learner = db.session.get(User, user_id) or abort(404)
    try:
        return services.learner_risk(db.session, cohort, learner, utcnow())
    except services.ReviewError:
        abort(404)


def _risk_page(risk: services.LearnerRisk, form: ReviewForm, status: int = 200) -> tuple[str, int]:
    return render_template("competency/at_risk_learner.html", risk=risk, form=form), status


@bp.get("/cohorts/<int:cohort_id>/learners/<int:user_id>/at-risk")
def at_risk_learner(cohort_id: int, user_id: int) -> tuple[str, int]:
    return _risk_page(_risk(cohort_id, user_id), ReviewForm())


@bp.post("/cohorts/<int:cohort_id>/learners/<int:user_id>/at-risk")
def review(cohort_id: int, user_id: int) -> Any:
    risk = _risk(cohort_id, user_id)
    form = ReviewForm()
    if form.validate_on_submit():
        try:
            services.record_review(db.session, risk.cohort, risk.learner, signed_in(), form.note.data or "",
                                   form.follow_up_on.data, utcnow())
        except services.ReviewError as exc:
            db.session.rollback()
            risk = _risk(cohort_id, user_id)  # read again: the rollback expired what was loaded
            add_error(form.follow_up_on if exc.field == "follow_up_on" else form.note, str(exc))
        else:
            flash(f"Review of {risk.learner.name} recorded.", "success")
            return redirect(url_for("competency.heat_map", cohort_id=risk.cohort.id, _anchor="at-risk"))
    return _risk_page(risk, form, status=400)
