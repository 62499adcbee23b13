"""Homes for every role, the learner's schedule and calendar feed, and the staff view of
one learner's schedule with extensions and early access."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from sqlalchemy import select

from lms.accounts.current import signed_in
from lms.accounts.models import User
from lms.catalog.services import schedule as schedule_items
from lms.cohorts import services as cohorts
from lms.cohorts.models import Cohort, Organization, Pace
from lms.cohorts.roles import instructor_cohorts, roles_of
from lms.database import utcnow
from lms.extensions import db
from lms.learning import services
from lms.learning.forms import FeedForm, OverrideForm, PaceForm, RevokeFeedForm
from lms.learning.models import OverrideKind
from lms.web.downloads import content_disposition
from lms.web.forms import add_error, labelled_choices

bp = Blueprint("learning", __name__, template_folder="templates")


@bp.get("/home")
def home() -> str:
    user = signed_in()
    roles = roles_of(db.session, user)
    orgs = (list(db.session.scalars(select(Organization).where(Organization.id.in_(roles.admin_of)).order_by(Organization.name)))
            if roles.admin_of else [])
    org_cohorts = cohorts.organization_cohorts(db.session, roles.admin_of) if roles.admin_of else []
    return render_template(
        "learning/home.html",
        roles=roles,
        plan=services.build_schedule(db.session, roles.enrolment.cohort, user.id, utcnow()) if roles.enrolment else None,
        taught=instructor_cohorts(db.session, user) if roles.instructs else [],
        orgs=[(org, [row for row in org_cohorts if row.cohort.organization_id == org.id]) for org in orgs],
    )


@bp.get("/schedule")
def schedule() -> str:
    user = signed_in()
    plan = services.learner_schedule(db.session, user) or abort(403)
    return render_template("learning/schedule.html", plan=plan, feed=services.active_feed(db.session, user),
                           feed_form=FeedForm(), revoke_form=RevokeFeedForm(), feed_url=None)


@bp.post("/schedule/calendar")
def calendar_link() -> Any:
    user = signed_in()
    token = services.new_feed(db.session, user)
    plan = services.learner_schedule(db.session, user) or abort(403)
    flash("Your private calendar link is ready. Anyone with it can see your schedule; turn it off here at any time.", "success")
    return render_template("learning/schedule.html", plan=plan, feed=services.active_feed(db.session, user),
                           feed_form=FeedForm(), revoke_form=RevokeFeedForm(),
                           feed_url=url_for("learning.calendar_feed", token=token, _external=True))


@bp.post("/schedule/calendar/revoke")
def revoke_calendar_link() -> Any:
    services.revoke_feed(db.session, signed_in())
    flash("The calendar link is turned off.", "success")
    return redirect(url_for("learning.schedule"))


@bp.get("/calendar/<token>.ics")
def calendar_feed(token: str) -> Response:
    owner = services.feed_owner(db.session, token) or abort(404)
    plan = services.learner_schedule(db.session, owner) or abort(404)
    return Response(services.calendar_ics(plan, owner, utcnow()), mimetype="text/calendar",
                    headers={"Content-Disposition": content_disposition("ai-operations.ics", inline=True),
                             "Cache-Control": "private, max-age=300"})


def _learner_page(cohort: Cohort, learner: User, form: OverrideForm, status: int = 200,
                  pace_form: PaceForm | None = None) -> tuple[str, int]:
    plan = services.build_schedule(db.session, cohort, learner.id, utcnow())
    roles = roles_of(db.session, signed_in())
    if pace_form is None:
        pace_form = PaceForm(prefix="pace", data={"pace": plan.timeline.pace.value})
    manages = roles.is_admin or cohort.organization_id in roles.admin_of
    return render_template("learning/learner.html", cohort=cohort, learner=learner, plan=plan, form=form,
                           pace_form=pace_form, pace_labels=services.PACES, manages=manages,
                           history=services.override_history(db.session, learner.id)), status


def _override_form() -> OverrideForm:
    form = OverrideForm()
    form.phase.choices = labelled_choices({item.phase.id: f"Month {item.phase.month} · {item.module.title}: {item.phase.title}"
                                           for item in schedule_items(db.session)})
    return form


@bp.get("/cohorts/<int:cohort_id>/learners/<int:user_id>")
def learner(cohort_id: int, user_id: int) -> tuple[str, int]:
    cohort = db.session.get(Cohort, cohort_id) or abort(404)
    person = db.session.get(User, user_id) or abort(404)
    return _learner_page(cohort, person, _override_form())


@bp.post("/cohorts/<int:cohort_id>/learners/<int:user_id>/overrides")
def grant_override(cohort_id: int, user_id: int) -> Any:
    cohort = db.session.get(Cohort, cohort_id) or abort(404)
    person = db.session.get(User, user_id) or abort(404)
    form = _override_form()
    if form.validate_on_submit():
        assert form.on_date.data is not None  # DataRequired: a validated form has the parsed date
        try:
            services.grant_override(db.session, cohort, person, form.phase.data, form.kind.data or "",
                                    form.on_date.data, form.note.data or "", signed_in())
        except cohorts.CohortError as exc:
            db.session.rollback()
            add_error(form.on_date, str(exc))
        else:
            flash(f"{services.OVERRIDE_KINDS[OverrideKind(form.kind.data)]} granted to {person.name}.", "success")
            return redirect(url_for("learning.learner", cohort_id=cohort.id, user_id=person.id))
    return _learner_page(cohort, person, form, status=400)


@bp.post("/cohorts/<int:cohort_id>/learners/<int:user_id>/pace")
def set_pace(cohort_id: int, user_id: int) -> Any:
    cohort = db.session.get(Cohort, cohort_id) or abort(404)
    person = db.session.get(User, user_id) or abort(404)
    pace_form = PaceForm(prefix="pace")
    if pace_form.validate_on_submit():
        try:
            services.set_pace(db.session, cohort, person, pace_form.pace.data or "")
        except cohorts.CohortError as exc:
            db.session.rollback()
            add_error(pace_form.pace, str(exc))
        else:
            flash(f"{person.name}'s pace is now: {services.PACES[Pace(pace_form.pace.data)]}.", "success")
            return redirect(url_for("learning.learner", cohort_id=cohort.id, user_id=person.id))
    return _learner_page(cohort, person, _override_form(), status=400, pace_form=pace_form)
