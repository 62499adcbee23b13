"""Organizations and cohorts: admin pages, cohort rosters, invitations, CSV import."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response
from wtforms import Field

from lms.accounts.current import signed_in, signed_in_user
from lms.accounts.models import User
from lms.accounts.timezones import canonical_zones, countries_of, grouped_choices, likely_zones
from lms.accounts.views import sign_in
from lms.cohorts import calendar, csv_import, enrolment, invitations, roles, services
from lms.cohorts.forms import (
    PACE_LABELS,
    AcceptInvitationForm,
    ButtonForm,
    CohortForm,
    ConfirmForm,
    EditCohortForm,
    EndEnrolmentForm,
    ImportForm,
    InviteForm,
    InviteInstructorForm,
    MoveForm,
    OrganizationForm,
    PersonForm,
)
from lms.cohorts.models import Cohort, EnrolmentImport, Invitation, InvitationRole, Organization, Pace
from lms.database import utcnow
from lms.extensions import db
from lms.web.forms import add_error, labelled_choices

bp = Blueprint("cohorts", __name__, template_folder="templates")


@bp.app_template_global("cohort_stage")
def cohort_stage(cohort: Cohort) -> calendar.CohortStage:
    """Where the cohort's program stands today, on its clock: what the cohort lists say (and
    the organization's comparison, from the same definition)."""
    return calendar.stage_of(cohort, utcnow())


@bp.app_template_global("nav_is_learner")
def nav_is_learner() -> bool:
    """Whether the signed-in user is enrolled now, for the layout's learner-only links;
    one query, at most once per request."""
    user = signed_in_user()
    if user is None:
        return False
    if "nav_is_learner" not in g:
        g.nav_is_learner = enrolment.active_enrolment(db.session, user.id) is not None
    return bool(g.nav_is_learner)


def invitation_link(token: str) -> str:
    return url_for("cohorts.accept_invitation", token=token, _external=True)


def _org(org_id: int) -> Organization:
    return db.session.get(Organization, org_id) or abort(404)


def _cohort(cohort_id: int) -> Cohort:
    return db.session.get(Cohort, cohort_id) or abort(404)


# ------------------------------------------------------------------ site admin


@bp.route("/admin/organizations", methods=["GET", "POST"])
def organizations() -> Any:
    form = OrganizationForm()
    if form.validate_on_submit():
        try:
            org = services.create_organization(db.session, form.name.data or "")
        except services.CohortError as exc:
            db.session.rollback()
            add_error(form.name, str(exc))
        else:
            flash(f"{org.name} is created. Add its administrators.", "success")
            return redirect(url_for("cohorts.organization_admin", org_id=org.id))
    return render_template("cohorts/organizations.html", form=form,
                           rows=services.organizations_overview(db.session))


@bp.route("/admin/organizations/<int:org_id>", methods=["GET", "POST"])
def organization_admin(org_id: int) -> Any:
    org = _org(org_id)
    form = PersonForm()
    form.submit.label.text = "Send invitation"
    if form.validate_on_submit():
        try:
            invitation = roles.add_organization_admin(db.session, org, form.email.data or "", form.name.data or "",
                                                      invitation_link, invited_by_id=signed_in().id)
        except services.CohortError as exc:
            db.session.rollback()
            add_error(form.email, str(exc))
        else:
            flash(f"An invitation is on its way to {invitation.email}. They become an administrator of {org.name} "
                  "when they accept it.", "success")
            return redirect(url_for("cohorts.organization_admin", org_id=org.id))
    return render_template("cohorts/organization_admin.html", org=org, form=form, button=ButtonForm(), now=utcnow(),
                           invitations=invitations.unanswered_admin_invitations(db.session, org)), (400 if form.errors else 200)


@bp.post("/admin/organizations/<int:org_id>/invitations/<int:invitation_id>/withdraw")
def withdraw_admin_invitation(org_id: int, invitation_id: int) -> Response:
    org = _org(org_id)
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.organization_id != org.id or invitation.role is not InvitationRole.ORGANIZATION_ADMIN:
        abort(404)
    _withdraw(invitation)
    return redirect(url_for("cohorts.organization_admin", org_id=org.id))


@bp.post("/admin/organizations/<int:org_id>/admins/<int:user_id>/remove")
def remove_organization_admin(org_id: int, user_id: int) -> Any:
    org = _org(org_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        user = roles.remove_organization_admin(db.session, org, user_id)
    except services.CohortError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(f"{user.email} is no longer an administrator of {org.name}.", "success")
    return redirect(url_for("cohorts.organization_admin", org_id=org.id))


# ------------------------------------------------------------------ organization admins


@bp.get("/organizations/<int:org_id>/admins")
def organization_admins(org_id: int) -> str:
    """Who administers the organization (read only: site admins add and remove them)."""
    org = _org(org_id)
    return render_template("cohorts/organization_admins.html", org=org,
                           admins=services.organization_admin_list(db.session, org.id))


@bp.get("/organizations/<int:org_id>")
def organization(org_id: int) -> str:
    org = _org(org_id)
    return render_template("cohorts/organization.html", org=org,
                           cohorts=services.organization_cohorts(db.session, [org.id]))


def _cohort_field(form: CohortForm, exc: services.CohortError) -> Field:
    """The field of the cohort form a refusal is about (the name when it names none)."""
    return {"start_date": form.start_date, "timezone": form.timezone, "instructors": form.instructors}.get(
        exc.field, form.name)


@bp.route("/organizations/<int:org_id>/cohorts/new", methods=["GET", "POST"])
def new_cohort(org_id: int) -> Any:
    org = _org(org_id)
    form = CohortForm()
    if request.method == "GET" and signed_in().timezone in canonical_zones():
        # The admin's own zone, not UTC: months open at midnight there, and UTC left unnoticed
        # opens them an hour or more off for everyone in, say, London (the demo's cohorts).
        form.timezone.data = signed_in().timezone
    if form.validate_on_submit():
        assert form.start_date.data is not None  # DataRequired: a validated form has the parsed date
        try:
            cohort = services.create_cohort(
                db.session, org, form.name.data or "", form.start_date.data, form.timezone.data or "UTC",
                services.parse_email_list(form.instructors.data or ""))
        except services.CohortError as exc:
            db.session.rollback()
            add_error(_cohort_field(form, exc), str(exc))
        else:
            flash(f"{cohort.name} is created.", "success")
            return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))
    return render_template("cohorts/cohort_form.html", form=form, org=org, cohort=None)


def _cohort_values(cohort: Cohort) -> dict[str, str]:
    """The cohort's fields as its edit form shows them."""
    return {"name": cohort.name, "start_date": cohort.start_date.isoformat(), "timezone": cohort.timezone,
            "instructors": ", ".join(u.email for u in cohort.instructors)}


def _posted_values(form: EditCohortForm) -> dict[str, str]:
    return {"name": (form.name.data or "").strip(),
            "start_date": form.start_date.data.isoformat() if form.start_date.data else "",
            "timezone": form.timezone.data or "", "instructors": ", ".join(services.parse_email_list(form.instructors.data or ""))}


def _rebase(form: EditCohortForm, current: Cohort) -> None:
    """After a save refused because someone else saved first: each field the person left as
    the form showed it takes the cohort's value now, each one they changed stays theirs, so
    saving again applies their changes on top of the other save instead of undoing it."""
    try:
        shown = json.loads(form.shown.data or "")
    except ValueError:
        shown = None
    now = _cohort_values(current)
    if isinstance(shown, dict):
        shown_instructors = ", ".join(services.parse_email_list(str(shown.get("instructors", ""))))
        for name, posted in _posted_values(form).items():
            was = shown_instructors if name == "instructors" else str(shown.get(name, ""))
            if posted == was:
                field = form[name]
                field.data, field.raw_data = (current.start_date if name == "start_date" else now[name]), []
    form.shown.data = json.dumps(now)


@bp.route("/cohorts/<int:cohort_id>/edit", methods=["GET", "POST"])
def edit_cohort(cohort_id: int) -> Any:
    cohort = _cohort(cohort_id)
    # The cohort's values, for the page and for a field a request leaves out (built from the
    # cohort itself, a missing instructors field took its list of users and answered 500).
    form = EditCohortForm(data={"name": cohort.name, "start_date": cohort.start_date, "timezone": cohort.timezone,
                                "instructors": _cohort_values(cohort)["instructors"], "revision": cohort.revision})
    if not form.is_submitted():
        form.shown.data = json.dumps(_cohort_values(cohort))
    if form.validate_on_submit():
        assert form.start_date.data is not None  # DataRequired: a validated form has the parsed date
        assert form.revision.data is not None  # InputRequired
        try:
            services.update_cohort(
                db.session, cohort, form.name.data or "", form.start_date.data, form.timezone.data or "UTC",
                services.parse_email_list(form.instructors.data or ""), form.revision.data,
                later_start_confirmed=bool(form.later_start.data))
        except services.StaleCohort as exc:
            db.session.rollback()
            # A save from here applies to what is there now (the posted value is shown otherwise).
            current = _cohort(cohort_id)
            form.revision.data, form.revision.raw_data = current.revision, []
            _rebase(form, current)
            return render_template("cohorts/cohort_form.html", form=form, org=cohort.organization, cohort=cohort,
                                   stale=str(exc)), 409
        except services.CohortError as exc:
            db.session.rollback()
            add_error(_cohort_field(form, exc), str(exc))
            if isinstance(exc, services.LaterStart):
                return render_template("cohorts/cohort_form.html", form=form, org=cohort.organization, cohort=cohort,
                                       ask_later_start=True), 400
        else:
            flash("The cohort is saved.", "success")
            return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))
    return render_template("cohorts/cohort_form.html", form=form, org=cohort.organization, cohort=cohort)


ARCHIVE_CHOICES = {"archive": True, "unarchive": False}  # the button's ``to``: what the person asked for


@bp.post("/cohorts/<int:cohort_id>/archive")
def archive_cohort(cohort_id: int) -> Response:
    """The button says which state it asks for (``to``), so that a second press from a page
    shown before the first (two admins, two tabs, a resent form) is not read as the opposite
    request: a cohort already as asked is left alone, and the person is told."""
    cohort = _cohort(cohort_id)
    wanted = ARCHIVE_CHOICES.get(request.form.get("to", ""))
    if wanted is None:
        flash("Nothing was changed: the button did not say whether to archive the cohort. Open the page again.", "error")
    elif wanted == cohort.archived:
        flash(f"{cohort.name} was already {'archived' if wanted else 'active'}: nothing was changed.", "info")
    elif wanted:
        services.archive_cohort(db.session, cohort)
        flash(f"{cohort.name} is archived.", "success")
    else:
        services.unarchive_cohort(db.session, cohort)
        flash(f"{cohort.name} is active again.", "success")
    return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))


# ------------------------------------------------------------------ cohort pages


LEARNERS_PER_PAGE = 100  # learners on one page of the cohort page
INVITED_PER_PAGE = 100  # invitations not answered on one page of the cohort page


def _cohort_page(cohort: Cohort, invite: InviteForm | None = None, invite_teacher: InviteInstructorForm | None = None,
                 status: int = 200) -> tuple[str, int]:
    user = signed_in()
    roster = enrolment.roster_page(db.session, cohort, request.args.get("page", 1, type=int) or 1, LEARNERS_PER_PAGE)
    learners, page, total = roster.learners, roster.page, roster.total
    move = MoveForm(prefix="move")
    move.target.choices = labelled_choices({c.id: c.name for c in cohort.organization.cohorts if c.id != cohort.id and not c.archived})
    now = utcnow()
    return render_template(
        "cohorts/cohort.html", cohort=cohort, learners=learners, learner_count=total, closed_count=roster.closed, page=page,
        per_page=LEARNERS_PER_PAGE,
        pages=max((total + LEARNERS_PER_PAGE - 1) // LEARNERS_PER_PAGE, 1), invite=invite or InviteForm(),
        invite_teacher=invite_teacher or InviteInstructorForm(prefix="instructor"),
        move=move, button=ButtonForm(),
        invited=invitations.unanswered_page(db.session, cohort, request.args.get("invited", 1, type=int) or 1,
                                            INVITED_PER_PAGE), invited_per_page=INVITED_PER_PAGE,
        now=now, started=invitations.has_started(cohort, now), pace_labels=PACE_LABELS,
        can_manage=user.is_admin or cohort.organization_id in roles.roles_of(db.session, user).admin_of,
    ), status


@bp.get("/cohorts/<int:cohort_id>")
def cohort(cohort_id: int) -> tuple[str, int]:
    return _cohort_page(_cohort(cohort_id))


@bp.post("/cohorts/<int:cohort_id>/invitations")
def invite(cohort_id: int) -> Any:
    cohort = _cohort(cohort_id)
    form = InviteForm()
    if form.validate_on_submit():
        try:
            invitation = invitations.invite_learner(db.session, cohort, form.email.data or "", form.name.data or "",
                                                 signed_in(), invitation_link, pace=Pace(form.pace.data))
        except services.CohortError as exc:
            db.session.rollback()
            add_error(form.email, str(exc))
        else:
            # The same words whoever the address belongs to: nothing about other organizations.
            flash(f"An invitation is on its way to {invitation.email}. They join {cohort.name} when they accept it.", "success")
            return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))
    return _cohort_page(cohort, invite=form, status=400)


@bp.post("/cohorts/<int:cohort_id>/instructor-invitations")
def invite_instructor(cohort_id: int) -> Any:
    cohort = _cohort(cohort_id)
    form = InviteInstructorForm(prefix="instructor")
    if form.validate_on_submit():
        try:
            invitation = invitations.invite_instructor(db.session, cohort, form.email.data or "", "", signed_in(),
                                                       invitation_link)
        except services.CohortError as exc:
            db.session.rollback()
            add_error(form.email, str(exc))
        else:
            # The same words whoever the address belongs to: no name, nothing of an account.
            flash(f"An invitation is on its way to {invitation.email}. They become an instructor of {cohort.name} "
                  "when they accept it.", "success")
            return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))
    return _cohort_page(cohort, invite_teacher=form, status=400)


def _invitation(cohort: Cohort, invitation_id: int) -> Invitation:
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.cohort_id != cohort.id:
        abort(404)
    return invitation


def _back_to_invited(cohort: Cohort) -> Response:
    """The cohort page again at the page of invitations the button was on (its ``invited``),
    so that working down a long list does not start again from its first page each time."""
    page = request.form.get("invited", "")
    return redirect(url_for("cohorts.cohort", cohort_id=cohort.id,
                            invited=int(page) if page.isdigit() and 1 < int(page) < 10_000 else None, _anchor="invited"))


@bp.post("/cohorts/<int:cohort_id>/invitations/<int:invitation_id>/resend")
def resend_invitation(cohort_id: int, invitation_id: int) -> Response:
    cohort = _cohort(cohort_id)
    invitation = _invitation(cohort, invitation_id)
    if ButtonForm().validate_on_submit():
        try:
            invitations.resend_invitation(db.session, invitation, invitation_link)
        except services.CohortError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            flash(f"A new invitation link is on its way to {invitation.email}; the old link no longer works.", "success")
    return _back_to_invited(cohort)


@bp.post("/cohorts/<int:cohort_id>/invitations/<int:invitation_id>/withdraw")
def withdraw_invitation(cohort_id: int, invitation_id: int) -> Response:
    cohort = _cohort(cohort_id)
    invitation = _invitation(cohort, invitation_id)
    _withdraw(invitation)
    return _back_to_invited(cohort)


def _withdraw(invitation: Invitation) -> None:
    """Withdraw ``invitation`` when its button's form is valid, and say how it went."""
    if ButtonForm().validate_on_submit():
        try:
            invitations.withdraw_invitation(db.session, invitation)
        except services.CohortError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            flash(f"The invitation of {invitation.email} is withdrawn; its link no longer works.", "success")


@bp.route("/cohorts/<int:cohort_id>/import", methods=["GET", "POST"])
def import_learners(cohort_id: int) -> Any:
    cohort = _cohort(cohort_id)
    form = ImportForm()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            preview = csv_import.preview_import(db.session, cohort, upload.filename or "", upload.read(), signed_in())
        except services.CohortError as exc:
            db.session.rollback()
            add_error(form.file, str(exc))
        else:
            return redirect(url_for("cohorts.import_preview", cohort_id=cohort.id, import_id=preview.record.id))
    return render_template("cohorts/import.html", cohort=cohort, form=form), (400 if form.errors else 200)


def _import(cohort: Cohort, import_id: int) -> EnrolmentImport:
    record = db.session.get(EnrolmentImport, import_id)
    if record is None or record.cohort_id != cohort.id:
        abort(404)
    return record


@bp.get("/cohorts/<int:cohort_id>/import/<int:import_id>")
def import_preview(cohort_id: int, import_id: int) -> str:
    cohort = _cohort(cohort_id)
    preview = csv_import.split_preview(_import(cohort, import_id))
    return render_template("cohorts/import_preview.html", cohort=cohort, preview=preview, form=ConfirmForm(), problem=None,
                           started=invitations.has_started(cohort))


@bp.post("/cohorts/<int:cohort_id>/import/<int:import_id>")
def confirm_import(cohort_id: int, import_id: int) -> Any:
    cohort = _cohort(cohort_id)
    record = _import(cohort, import_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            count = csv_import.confirm_import(db.session, record, invitation_link, pace=Pace(form.pace.data))
        except services.CohortError as exc:
            db.session.rollback()
            return render_template("cohorts/import_preview.html", cohort=cohort, form=form, problem=str(exc),
                                   preview=csv_import.split_preview(_import(cohort, import_id)),
                                   started=invitations.has_started(cohort)), 400
        flash(f"{count} invitation{'s' * (count != 1)} sent for {cohort.name}. Each person joins when they accept; "
              "until then they are listed as invited, not joined.", "success")
        return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))
    return redirect(url_for("cohorts.import_preview", cohort_id=cohort.id, import_id=record.id))


@bp.post("/cohorts/<int:cohort_id>/learners/<int:user_id>/move")
def move_learner(cohort_id: int, user_id: int) -> Any:
    cohort = _cohort(cohort_id)
    learner = db.session.get(User, user_id) or abort(404)
    form = MoveForm(prefix="move")
    form.target.choices = labelled_choices({c.id: c.name for c in cohort.organization.cohorts if c.id != cohort.id})
    if form.validate_on_submit():
        target = db.session.get(Cohort, form.target.data) or abort(404)
        try:
            moved = enrolment.move_learner(db.session, learner, cohort, target, pace=Pace(form.pace.data))
        except services.CohortError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))
        flash(" ".join(filter(None, (f"{learner.name} moved to {target.name}.", moved.summary))), "success")
    else:
        flash("Choose a pace for the learner." if form.pace.errors else "Choose a cohort to move the learner to.", "error")
    return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))


@bp.route("/cohorts/<int:cohort_id>/learners/<int:user_id>/end", methods=["GET", "POST"])
def end_enrolment(cohort_id: int, user_id: int) -> Any:
    """Ask, then end a learner's enrolment in the cohort (``enrolment.end_enrolment``)."""
    cohort = _cohort(cohort_id)
    learner = db.session.get(User, user_id) or abort(404)
    current = enrolment.active_enrolment(db.session, learner.id)
    if current is None or current.cohort_id != cohort.id:
        abort(404)
    form = EndEnrolmentForm()
    error = None
    if form.validate_on_submit():
        try:
            enrolment.end_enrolment(db.session, learner, cohort, form.reason.data or "")
        except services.CohortError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            flash(f"The enrolment of {learner.name} in {cohort.name} has ended. Their work, grades and certificates "
                  "stay with the cohort's records.", "success")
            return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))
    status = 400 if error or form.errors else 200
    return render_template("cohorts/end_enrolment.html", cohort=cohort, learner=learner, enrolment=current, form=form,
                           error=error), status


# ------------------------------------------------------------------ invitations


def _welcome(invitation: Invitation) -> Response:
    """Where a person lands once their invitation is accepted, told what they now are."""
    if invitation.role is InvitationRole.ORGANIZATION_ADMIN:
        flash(f"You are now an administrator of {invitation.organization.name}.", "success")
        return redirect(url_for("cohorts.organization", org_id=invitation.organization_id))
    if invitation.role is InvitationRole.INSTRUCTOR and invitation.cohort is not None:
        flash(f"You are now an instructor of {invitation.cohort.name}.", "success")
        return redirect(url_for("cohorts.cohort", cohort_id=invitation.cohort.id))
    flash(f"Welcome to {invitation.cohort.name if invitation.cohort else invitation.organization.name}.", "success")
    return redirect(url_for("learning.home"))


def _zone_preselected(invited: invitations.InvitedZone, organization: str) -> Markup:
    """What the acceptance form says of the zone it preselected for an administrator (no
    cohort to take it from). With scripts on, accounts/static/timezone.js selects the
    browser's zone instead and rewrites the marked sentence to say so."""
    return Markup("<span data-zone-default>{}</span> {}").format(
        f"Preselected: {invited.zone}, {invitations.zone_reason(invited, organization)}.",
        "Deadlines and times are shown on this clock. You can change it later on your account page.")


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def accept_invitation(token: str) -> Any:
    check = invitations.check_invitation(db.session, token)
    visitor = signed_in_user()
    if check.accepted is not None and visitor is not None and visitor.email == check.accepted.email:
        # Its owner, signed in, following the mail's link again (week one's way back in): not
        # an error page telling them to sign in.
        flash("You accepted this invitation already: there is nothing more to do.", "success")
        return redirect(url_for("learning.home"))
    if check.invitation is None:
        return render_template("cohorts/accept.html", problem=check.problem, form=None, check=check), 400
    if visitor is not None:
        if visitor.email != check.invitation.email:
            return render_template("cohorts/accept.html", form=None, check=check, problem=(
                f"This invitation is for {check.invitation.email}; you are signed in as {visitor.email}. "
                "Sign out and open the link again.")), 400
        button = ButtonForm()
        if button.validate_on_submit():
            try:
                invitations.accept_invitation_as(db.session, token, visitor)
            except services.CohortError as exc:
                db.session.rollback()
                return render_template("cohorts/accept.html", problem=str(exc), form=None, check=check), 400
            return _welcome(check.invitation)
        return render_template("cohorts/accept.html", problem=None, form=None, button=button, check=check,
                               offer=invitations.invited_to(check.invitation))
    if check.existing_user is not None and check.existing_user.has_password:
        return redirect(url_for("accounts.login", next=url_for("cohorts.accept_invitation", token=token)))
    invited = invitations.invited_zone(db.session, check.invitation)
    zone = invited.zone
    form = AcceptInvitationForm(name=check.invitation.name or None, timezone=zone)
    form.timezone.choices = grouped_choices(likely_zones(zone, countries_of(request.accept_languages.values())))
    if check.invitation.role is not InvitationRole.LEARNER:
        form.submit.label.text = "Accept the invitation"
    if invited.source is not invitations.ZoneSource.COHORT and not form.is_submitted():
        form.timezone.description = _zone_preselected(invited, check.invitation.organization.name)
    if form.validate_on_submit():
        try:
            user = invitations.accept_invitation(db.session, token, form.name.data or "", form.password.data or "",
                                                 timezone=form.timezone.data or zone)
        except services.CohortError as exc:
            db.session.rollback()
            add_error(form.password, str(exc))
        else:
            sign_in(user)
            return _welcome(check.invitation)
    return render_template("cohorts/accept.html", problem=None, form=form, check=check,
                           offer=invitations.invited_to(check.invitation)), (400 if form.errors else 200)
