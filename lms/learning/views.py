"""Homes for every role, the learner's schedule and calendar feed, and the staff view of
one learner's schedule with extensions and early access, pace and time allowance."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, url_for
from sqlalchemy import exists, select
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import Field

from lms.accounts.current import signed_in, signed_in_user
from lms.accounts.models import User
from lms.catalog.services import schedule as schedule_items
from lms.cohorts import services as cohorts
from lms.cohorts.access import RoleFlags, loaded_role_flags
from lms.cohorts.enrolment import last_enrolment
from lms.cohorts.models import Cohort, Enrolment, Organization, Pace, TimeAllowance, cohort_instructors, organization_admins
from lms.cohorts.roles import instructor_cohorts, roles_of
from lms.database import utcnow
from lms.extensions import db
from lms.learning import services
from lms.learning.calendar import calendar_events
from lms.learning.forms import FeedForm, OverrideForm, PaceForm, RemoveExtensionForm, RevokeFeedForm, TimeAllowanceForm
from lms.learning.home import panels_of
from lms.learning.models import OverrideKind
from lms.web.downloads import content_disposition
from lms.web.forms import Form, add_error, labelled_choices
from lms.web.page_cache import Viewer, cached_page

bp = Blueprint("learning", __name__, template_folder="templates")


@dataclass(frozen=True)
class NavRoles:
    """What the navigation needs to know of the signed-in person: learner, staff or both, or
    a former learner (enrolled before, not now: what they keep is linked)."""

    learner: bool
    staff: bool
    former: bool = False


@bp.app_template_global("nav_roles")
def nav_roles() -> NavRoles | None:
    """The signed-in person's roles for the navigation (None: anonymous), once per request:
    the role flags read with the user (lms.cohorts.access) or, on other than safe requests, one statement."""
    user = signed_in_user()
    if user is None:
        return None
    if "nav_roles" not in g:
        flags = loaded_role_flags(user)
        if flags is None:
            row = db.session.execute(select(
                exists().where(Enrolment.user_id == user.id, Enrolment.active),
                exists().where(organization_admins.c.user_id == user.id),
                exists().where(cohort_instructors.c.user_id == user.id),
                exists().where(Enrolment.user_id == user.id))).one()
            flags = RoleFlags(learns=bool(row[0]), administers=bool(row[1]), instructs=bool(row[2]), enrolled=bool(row[3]))
        g.nav_roles = NavRoles(learner=flags.learns, staff=flags.is_staff(user), former=flags.former)
        g.nav_is_learner = g.nav_roles.learner  # the same answer lms.cohorts.views.nav_is_learner caches for the page
    roles: NavRoles = g.nav_roles
    return roles


@dataclass(frozen=True)
class Locked:
    """What the signed-in learner's schedule has not released yet: phase id and lesson key -> opening day."""

    phases: dict[int, date]
    lessons: dict[str, date]


def _locked() -> Locked:
    if "locked" not in g:
        locked = Locked({}, {})
        roles = nav_roles()
        user = signed_in_user()
        plan = (services.learner_schedule(db.session, user)
                if roles is not None and user is not None and roles.learner and not roles.staff else None)
        if plan is not None:
            closed = [s for s in plan.slots if not s.is_open]
            locked = Locked({s.phase.id: s.opens_on for s in closed},
                            {lesson.key: s.opens_on for s in closed for lesson in s.lessons})
        g.locked = locked
    result: Locked = g.locked
    return result


@bp.app_template_global("phase_opens_on")
def phase_opens_on(phase_id: int) -> date | None:
    """The day a phase opens for the signed-in learner when it is not open yet; None when
    they may open its pages (staff and visitors see every link: they are let in or asked to sign in)."""
    return _locked().phases.get(phase_id)


@bp.app_template_global("lesson_opens_on")
def lesson_opens_on(key: str) -> date | None:
    """``phase_opens_on`` for a lesson, by its key."""
    return _locked().lessons.get(key)


@bp.app_template_global("schedule_closed")
def schedule_closed() -> bool:
    """True for a signed-in person who is neither staff nor an enrolled learner: no lesson
    or assignment opens for them (its page answers 403), so pages list them without links.
    Visitors are asked to sign in by those pages, staff and learners are let in (or see
    ``phase_opens_on``)."""
    roles = nav_roles()
    return roles is not None and not roles.learner and not roles.staff


@bp.get("/home")
def home() -> str:
    user = signed_in()
    now = utcnow()
    return cached_page(db.session, "home", Viewer(user.id, user.name, user.timezone, user.is_admin), now,
                       lambda: _home(user, now))


def _home(user: User, now: datetime) -> str:
    roles = roles_of(db.session, user)
    orgs = (list(db.session.scalars(select(Organization).where(Organization.id.in_(roles.admin_of)).order_by(Organization.name)))
            if roles.admin_of else [])
    org_cohorts = cohorts.organization_cohorts(db.session, roles.admin_of) if roles.admin_of else []
    plan = (services.build_schedule(db.session, roles.enrolment.cohort, user.id, now, roles.enrolment, kept=True)
            if roles.enrolment else None)  # built once, shown by the page and its panels
    return render_template(
        "learning/home.html",
        roles=roles,
        plan=plan,
        former=None if roles.enrolment else last_enrolment(db.session, user.id),  # an ended enrolment: a former learner
        panels=panels_of(current_app, db.session, user, roles, now, plan),
        taught=instructor_cohorts(db.session, user) if roles.instructs else [],
        orgs=[(org, [row for row in org_cohorts if row.cohort.organization_id == org.id]) for org in orgs],
    )


@bp.get("/schedule")
def schedule() -> str:
    user = signed_in()
    plan = services.learner_schedule(db.session, user) or abort(403)
    return render_template("learning/schedule.html", plan=plan, feed=services.active_feed(db.session, user),
                           feed_form=FeedForm(), revoke_form=RevokeFeedForm(), feed_url=None,
                           final_due=_final_due(plan, user.id))


@bp.post("/schedule/calendar")
def calendar_link() -> Any:
    user = signed_in()
    token = services.new_feed(db.session, user)
    plan = services.learner_schedule(db.session, user) or abort(403)
    flash("Your private calendar link is ready. Anyone with it can see your schedule; turn it off here at any time.", "success")
    return render_template("learning/schedule.html", plan=plan, feed=services.active_feed(db.session, user),
                           feed_form=FeedForm(), revoke_form=RevokeFeedForm(),
                           feed_url=url_for("learning.calendar_feed", token=token, _external=True),
                           final_due=_final_due(plan, user.id))


def _final_due(plan: services.Schedule, user_id: int) -> date | None:
    """When the learner's final work falls after month 12: the day it is due by (their assessed
    items are known by the features above learning, through the calendar's sources)."""
    return services.final_work_due(plan, calendar_events(current_app, db.session, plan, user_id))


@bp.post("/schedule/calendar/revoke")
def revoke_calendar_link() -> Any:
    services.revoke_feed(db.session, signed_in())
    flash("The calendar link is turned off.", "success")
    return redirect(url_for("learning.schedule"))


@bp.get("/calendar/<token>.ics")
def calendar_feed(token: str) -> Response:
    owner = services.feed_owner(db.session, token) or abort(404)
    plan = services.learner_schedule(db.session, owner) or abort(404)
    events = calendar_events(current_app, db.session, plan, owner.id)  # assessed work, quizzes, exams

    def link(endpoint: str, args: Mapping[str, str]) -> str:
        return url_for(endpoint, _external=True, **args)

    return Response(services.calendar_ics(plan, owner, utcnow(), events, link), mimetype="text/calendar",
                    headers={"Content-Disposition": content_disposition("ai-operations.ics", inline=True),
                             "Cache-Control": "private, max-age=300"})


def _learner_page(cohort: Cohort, learner: User, form: OverrideForm, status: int = 200,
                  pace_form: PaceForm | None = None, allowance_form: TimeAllowanceForm | None = None,
                  removal_error: str | None = None) -> tuple[str, int]:
    enrolment = services.enrolment_in(db.session, cohort, learner.id)  # read once: the schedule and the allowance
    plan = services.build_schedule(db.session, cohort, learner.id, utcnow(), enrolment)
    roles = roles_of(db.session, signed_in())
    if pace_form is None:
        pace_form = PaceForm(prefix="pace", data={"pace": plan.timeline.pace.value})
    allowance = enrolment.time_allowance if enrolment else TimeAllowance.STANDARD
    if allowance_form is None:
        allowance_form = TimeAllowanceForm(prefix="allowance", data={"allowance": allowance.value})
    allowance_form.seen.data = allowance.value  # what this page shows: a save is conditional on it
    manages = roles.is_admin or cohort.organization_id in roles.admin_of
    history = services.override_history(db.session, learner.id)
    form.seen.data = str(max((o.id for o in history), default=0))  # what this page shows: a grant is conditional on it
    form.on_date.description = (f"Early access: the day it opens. Extension: the new due date, "
                                f"{services.extension_limit(plan.timeline)}.")
    return render_template("learning/learner.html", cohort=cohort, learner=learner, plan=plan, form=form,
                           pace_form=pace_form, pace_labels=services.PACES, manages=manages, allowance=allowance,
                           allowance_form=allowance_form, history=history, remove_form=RemoveExtensionForm(),
                           removal_error=removal_error, replaced=services.replaced_overrides(history)), status


def _override_form() -> OverrideForm:
    form = OverrideForm()
    form.phase.choices = labelled_choices({item.phase.id: f"Month {item.phase.month} · {item.module.title}: {item.phase.title}"
                                           for item in schedule_items(db.session)})
    return form


@bp.get("/cohorts/<int:cohort_id>/learners/<int:user_id>")
def learner(cohort_id: int, user_id: int) -> tuple[str, int]:
    cohort, person = _cohort_and_person(cohort_id, user_id)
    return _learner_page(cohort, person, _override_form())


def _cohort_and_person(cohort_id: int, user_id: int) -> tuple[Cohort, User]:
    return db.session.get(Cohort, cohort_id) or abort(404), db.session.get(User, user_id) or abort(404)


def _saved(cohort: Cohort, person: User, form: Form, field: Field, save: Callable[[], str],
           anchor: str | None = None) -> WerkzeugResponse | None:
    """A change to a learner's schedule or access posted through ``form``: when it validates,
    ``save`` calls the service and answers what to flash, then back to the learner's page.
    None, for the caller to show the page again (400), when the form is refused or the
    service refuses the change (rolled back; its reason under ``field``)."""
    if not form.validate_on_submit():
        return None
    try:
        message = save()
    except cohorts.CohortError as exc:
        db.session.rollback()
        add_error(field, str(exc))
        return None
    flash(message, "success")
    return redirect(url_for("learning.learner", cohort_id=cohort.id, user_id=person.id, _anchor=anchor))


@bp.post("/cohorts/<int:cohort_id>/learners/<int:user_id>/overrides")
def grant_override(cohort_id: int, user_id: int) -> Any:
    cohort, person = _cohort_and_person(cohort_id, user_id)
    form = _override_form()

    def save() -> str:
        assert form.on_date.data is not None  # DataRequired: a validated form has the parsed date
        seen = form.seen.data or ""
        services.grant_override(db.session, cohort, person, form.phase.data, form.kind.data or "", form.on_date.data,
                                form.note.data or "", signed_in(), seen=int(seen) if seen.isdigit() else None)
        return f"{services.OVERRIDE_KINDS[OverrideKind(form.kind.data)]} granted to {person.name}."

    return _saved(cohort, person, form, form.on_date, save) or _learner_page(cohort, person, form, status=400)


@bp.post("/cohorts/<int:cohort_id>/learners/<int:user_id>/overrides/<int:override_id>/remove")
def remove_extension(cohort_id: int, user_id: int, override_id: int) -> Any:
    """Remove an extension the page listed as applying (asked first on the page)."""
    cohort, person = _cohort_and_person(cohort_id, user_id)
    form = RemoveExtensionForm()
    if not form.validate_on_submit():
        return _learner_page(cohort, person, _override_form(), status=400,
                             removal_error="Nothing was removed: the page had expired. Open it again and remove the extension.")
    try:
        removed = services.remove_extension(db.session, cohort, person, override_id, signed_in())
    except cohorts.CohortError as exc:  # a grant made since the page was opened is a conflict: it is shown now
        db.session.rollback()
        return _learner_page(cohort, person, _override_form(), status=409 if isinstance(exc, services.StaleOverride) else 400,
                             removal_error=str(exc))
    flash(f"The extension of {person.name} to {removed.on_date:%d %B %Y} is removed: the regular due dates apply "
          "again, and they are told.", "success")
    return redirect(url_for("learning.learner", cohort_id=cohort.id, user_id=person.id, _anchor="granted"))


@bp.post("/cohorts/<int:cohort_id>/learners/<int:user_id>/time-allowance")
def set_time_allowance(cohort_id: int, user_id: int) -> Any:
    cohort, person = _cohort_and_person(cohort_id, user_id)
    form = TimeAllowanceForm(prefix="allowance")

    def save() -> str:
        enrolment = services.set_time_allowance(db.session, cohort, person, form.allowance.data or "", form.seen.data or "",
                                                signed_in())
        return f"Time on timed quizzes and exams for {person.name}: {enrolment.time_allowance.label}."

    return (_saved(cohort, person, form, form.allowance, save, anchor="time-allowance")
            or _learner_page(cohort, person, _override_form(), status=400, allowance_form=form))


@bp.post("/cohorts/<int:cohort_id>/learners/<int:user_id>/pace")
def set_pace(cohort_id: int, user_id: int) -> Any:
    cohort, person = _cohort_and_person(cohort_id, user_id)
    form = PaceForm(prefix="pace")

    def save() -> str:
        services.set_pace(db.session, cohort, person, form.pace.data or "")
        return f"The pace of {person.name} is now: {services.PACES[Pace(form.pace.data)]}."

    return _saved(cohort, person, form, form.pace, save) or _learner_page(cohort, person, _override_form(), status=400,
                                                                           pace_form=form)
