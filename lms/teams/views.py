"""Team projects for learners (form or join a team, the team's work, rating teammates, the
grade) and for staff (forming teams per cohort and assignment, contributions, adjustments)."""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from lms.accounts.current import signed_in, signed_in_user
from lms.accounts.models import User
from lms.cohorts.enrolment import active_enrolment, cohort_learners
from lms.cohorts.models import Cohort
from lms.cohorts.roles import staff_cohorts
from lms.coursework import services as coursework
from lms.coursework.models import Assignment, Attachment
from lms.coursework.services import Dates
from lms.coursework.views import send_attachment
from lms.database import utcnow
from lms.extensions import db
from lms.grading import services as grading
from lms.learning.services import learner_schedule
from lms.storage.backends import Storage, file_storage
from lms.teams import services
from lms.teams.forms import CsrfForm, NewTeamForm, RenameTeamForm, TeamNameForm, TeamWorkForm, rename_form
from lms.teams.models import Team
from lms.web.converters import as_id
from lms.web.forms import refuse_field
from lms.web.markdown import render_user_markdown

bp = Blueprint("teams", __name__, template_folder="templates")


# --------------------------------------------------------------------------- learners


def _assignment(key: str) -> Assignment:
    item = coursework.get_assignment(db.session, key)
    if item is None or not item.is_team:
        abort(404)
    return item


def _cohort_id() -> int:
    enrolment = active_enrolment(db.session, signed_in().id)
    if enrolment is None:  # the access rule lets only enrolled learners in
        abort(403)
    return enrolment.cohort_id


def _dates(item: Assignment, team: Team | None) -> Dates | None:
    """The learner's dates for ``item``: a revision window when their team's work was
    returned, due by the team's deadline (the latest of its members': ``services.team_dates``)."""
    plan = learner_schedule(db.session, signed_in(), utcnow())
    return services.team_dates(db.session, item, team, plan) if plan else None


def _uploads() -> Storage:
    return file_storage()


def _team_page(item: Assignment, form: TeamWorkForm | None = None, error: str | None = None, status: int = 200,
               rating_error: str | None = None, name_form: TeamNameForm | None = None) -> tuple[str, int]:
    """The learner's team page; ``rating_error``: their ratings were refused, and are shown again as sent;
    ``name_form``: the name of the team they tried to start, as typed, with its refusal by the field."""
    user = signed_in()
    cohort_id = _cohort_id()
    team = services.team_of(db.session, item.id, user.id)
    context: dict[str, Any] = {}
    if team is None:
        context["teams"] = services.teams_for(db.session, item.id, cohort_id)
    else:
        submission = team.submission
        if form is None:
            form = TeamWorkForm(body=submission.draft_body if submission else "")
        form.revision.data = str(team.draft_revision)
        versions = submission.versions if submission else []
        grade = services.released_grade(db.session, team)
        adjustment = services.adjustments_of(db.session, team).get(user.id) if grade else None
        context.update(
            team=team, submission=submission, form=form, minimum=services.hand_in_minimum(db.session, team),
            changes=coursework.compare(versions[-2], versions[-1]) if len(versions) >= 2 else [],
            preview=render_user_markdown(submission.draft_body) if submission and submission.draft_body else None,
            mine=services.ratings_by(db.session, team, user.id) if team.submitted else {},
            grade=grade, adjustment=adjustment,
            my_score=services.adjusted_score(grade, adjustment) if grade else None,
            feedback=render_user_markdown(grade.feedback) if grade and grade.feedback else None,
            returns=grading.returns_of(db.session, submission) if submission and submission.versions else [])
    dates = _dates(item, team)
    return render_template("teams/team.html", assignment=item, dates=dates, button=CsrfForm(), error=error,
                           closed=dates.closed(utcnow()) if dates else None,
                           name_form=name_form or TeamNameForm(formdata=None), user=user, rating_error=rating_error,
                           posted=request.form if rating_error else None,
                           **context), status


@bp.get("/assignments/<key>/team")
def team(key: str) -> tuple[str, int]:
    return _team_page(_assignment(key))


def _back(key: str) -> WerkzeugResponse:
    return redirect(url_for("teams.team", key=key))


def _csrf() -> None:
    if not CsrfForm().validate_on_submit():
        abort(400)


@bp.post("/assignments/<key>/team/new")
def create(key: str) -> WerkzeugResponse | tuple[str, int]:
    item = _assignment(key)
    _csrf()
    name_form = TeamNameForm()
    try:
        made = services.create_team(db.session, item, _cohort_id(), name_form.name.data or "", signed_in(), utcnow(),
                                    as_learner=True)
    except services.TeamError as exc:
        db.session.rollback()  # the name typed is shown again; the refusal by it when it is about it
        shown = refuse_field(name_form, exc.field, str(exc))
        return _team_page(item, error=None if shown else str(exc), status=400, name_form=name_form)
    else:
        flash(f"You started {made.name}. Teammates can join it from this assignment's team page.", "success")
    return _back(key)


@bp.post("/assignments/<key>/teams/<int:team_id>/join")
def join(key: str, team_id: int) -> WerkzeugResponse:
    item = _assignment(key)
    _csrf()
    chosen = services.get_team(db.session, team_id)
    if chosen is None or chosen.assignment_id != item.id or chosen.cohort_id != _cohort_id():
        abort(404)
    try:
        if not item.team_self_formed:
            raise services.TeamError("Your instructors form the teams for this assignment.")
        services.add_member(db.session, chosen, signed_in(), utcnow())
    except services.TeamError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(f"You joined {chosen.name}.", "success")
    return _back(key)


@bp.post("/assignments/<key>/team/leave")
def leave(key: str) -> WerkzeugResponse:
    item = _assignment(key)
    _csrf()
    mine = services.team_of(db.session, item.id, signed_in().id) or abort(404)
    name = mine.name
    try:
        if not item.team_self_formed:
            raise services.TeamError("Your instructors form the teams for this assignment: ask them to move you.")
        services.remove_member(db.session, mine, signed_in().id)
    except services.TeamError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(f"You left {name}.", "success")
    return _back(key)


@bp.post("/assignments/<key>/team/work")
def save_work(key: str) -> tuple[str, int] | WerkzeugResponse:
    item = _assignment(key)
    form = TeamWorkForm()
    if not form.validate_on_submit():
        abort(400)
    user = signed_in()
    mine = services.team_of(db.session, item.id, user.id)
    if mine is None:
        return _team_page(item, error="You are not in a team for this assignment yet.", status=400)
    if _int(form.revision.data) is None:
        return _team_page(item, form=form, error="The form was incomplete: reload the page and save again.", status=400)
    submit = request.form.get("action") == "submit"
    upload = form.file.data
    try:
        version = services.save_work(
            db.session, mine, user.id, _int(form.revision.data), form.body.data or "",
            services.Upload(upload.filename, upload.read()) if upload and upload.filename else None,
            submit, _dates(item, mine), _uploads(), utcnow())
    except services.TeamError as exc:
        db.session.rollback()
        return _team_page(item, form=form, error=str(exc), status=409 if isinstance(exc, services.StaleTeamWork) else 400)
    if version is not None:
        flash(f"Version {version.number} handed in for the team{' (after the due date)' if version.late else ''}. "
              "Now rate each teammate's contribution.", "success")
    else:
        flash("The team's draft is saved.", "success")
    return _back(key)


def _int(value: Any) -> int | None:
    """An id or a revision as sent, or None for what no id column holds."""
    try:
        return as_id(value)
    except (TypeError, ValueError):
        return None


def _score(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


@bp.post("/assignments/<key>/team/work/attachments/<int:attachment_id>/remove")
def remove_file(key: str, attachment_id: int) -> WerkzeugResponse:
    item = _assignment(key)
    _csrf()
    user = signed_in()
    mine = services.team_of(db.session, item.id, user.id) or abort(404)
    try:
        services.remove_file(db.session, mine, user.id, _int(request.form.get("revision")), attachment_id, _dates(item, mine), utcnow())
    except services.TeamError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash("File removed from the team's draft.", "success")
    return _back(key)


@bp.post("/assignments/<key>/team/ratings")
def rate(key: str) -> WerkzeugResponse | tuple[str, int]:
    item = _assignment(key)
    _csrf()
    user = signed_in()
    mine = services.team_of(db.session, item.id, user.id) or abort(404)
    scores: dict[int, int | None] = {}
    comments: dict[int, str] = {}
    for name, value in request.form.items():  # a comment comes without a score when no score was chosen
        if name.startswith("score-") and (uid := _int(name[6:])) is not None:
            scores[uid] = _score(value) if value else None
        elif name.startswith("comment-") and (uid := _int(name[8:])) is not None:
            comments[uid] = value
    try:
        saved = services.rate(db.session, mine, user.id, scores, comments, utcnow())
    except services.TeamError as exc:
        db.session.rollback()
        return _team_page(item, status=400, rating_error=str(exc))  # shown again as sent: nothing typed is lost
    flash(f"{saved} rating{'s' * (saved != 1)} saved. Your teammates never see who rated what.", "success")
    return _back(key)


@bp.get("/teams/<int:team_id>/files/<int:attachment_id>")
def file(team_id: int, attachment_id: int) -> Any:
    return send_attachment(db.session.get(Attachment, attachment_id) or abort(404))


# --------------------------------------------------------------------------- staff


@bp.app_template_global("team_staff_cohorts")
def team_staff_cohorts() -> list[Cohort]:
    """The cohorts whose teams the signed-in person manages (for the assignment page's links)."""
    user = signed_in_user()
    return staff_cohorts(db.session, user) if user is not None else []


def _cohort(cohort_id: int) -> Cohort:
    return db.session.get(Cohort, cohort_id) or abort(404)


def _staff_team(cohort_id: int, team_id: int) -> Team:
    found = services.get_team(db.session, team_id)
    if found is None or found.cohort_id != cohort_id:
        abort(404)
    return found


@bp.get("/cohorts/<int:cohort_id>/teams")
def cohort(cohort_id: int) -> str:
    return render_template("teams/cohort.html", cohort=_cohort(cohort_id), assignments=services.team_assignments(db.session))


def _manage_page(cohort_id: int, key: str, error: str | None = None, renamed: RenameTeamForm | None = None,
                 renamed_id: int | None = None, new_team: NewTeamForm | None = None) -> str:
    """The staff page of an assignment's teams; ``renamed``: the rename form of team ``renamed_id``
    as posted, its refusal by its field; ``new_team``: a new team's name as typed, with its refusal by it."""
    group = _cohort(cohort_id)
    item = _assignment(key)
    teams = services.teams_for(db.session, item.id, group.id)
    placed = {uid for t in teams for uid in t.member_ids}
    learners = [e.user for e in cohort_learners(db.session, group)]
    renames = {t.id: renamed if renamed is not None and t.id == renamed_id else rename_form(t.id, t.name) for t in teams}
    return render_template("teams/manage.html", cohort=group, assignment=item, teams=teams, button=CsrfForm(),
                           error=error, renames=renames, new_team=new_team or NewTeamForm(formdata=None),
                           unplaced=[u for u in learners if u.id not in placed], grades=services.grades_of(db.session, teams))


@bp.get("/cohorts/<int:cohort_id>/assignments/<key>/teams")
def manage(cohort_id: int, key: str) -> str:
    return _manage_page(cohort_id, key)


def _to_manage(cohort_id: int, key: str) -> WerkzeugResponse:
    return redirect(url_for("teams.manage", cohort_id=cohort_id, key=key))


@bp.post("/cohorts/<int:cohort_id>/assignments/<key>/teams")
def staff_create(cohort_id: int, key: str) -> WerkzeugResponse | tuple[str, int]:
    group = _cohort(cohort_id)
    item = _assignment(key)
    _csrf()
    new_team = NewTeamForm()
    try:
        made = services.create_team(db.session, item, group.id, new_team.name.data or "", signed_in(), utcnow())
    except services.TeamError as exc:
        db.session.rollback()
        shown = refuse_field(new_team, exc.field, str(exc))
        return _manage_page(cohort_id, key, None if shown else str(exc), new_team=new_team), 400
    else:
        flash(f"{made.name} created: add its members below.", "success")
    return _to_manage(cohort_id, key)


@bp.post("/cohorts/<int:cohort_id>/teams/<int:team_id>/rename")
def rename(cohort_id: int, team_id: int) -> WerkzeugResponse | tuple[str, int]:
    found = _staff_team(cohort_id, team_id)
    _csrf()
    key = found.assignment.key
    form = rename_form(team_id)
    try:
        services.rename_team(db.session, found, form.name.data or "")
    except services.TeamError as exc:
        db.session.rollback()
        shown = refuse_field(form, exc.field, str(exc))
        return _manage_page(cohort_id, key, None if shown else str(exc), form, team_id), 400
    else:
        flash(f"Renamed to {found.name}.", "success")
    return _to_manage(cohort_id, key)


@bp.post("/cohorts/<int:cohort_id>/teams/<int:team_id>/members")
def add(cohort_id: int, team_id: int) -> WerkzeugResponse:
    found = _staff_team(cohort_id, team_id)
    _csrf()
    key = found.assignment.key
    learner = db.session.get(User, _int(request.form.get("user")) or 0)
    try:
        if learner is None:
            raise services.TeamError("Choose a learner to add.")
        services.add_member(db.session, found, learner, utcnow())
    except services.TeamError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(f"{learner.name} added to {found.name}.", "success")
    return _to_manage(cohort_id, key)


@bp.post("/cohorts/<int:cohort_id>/teams/<int:team_id>/members/<int:user_id>/remove")
def remove(cohort_id: int, team_id: int, user_id: int) -> WerkzeugResponse:
    found = _staff_team(cohort_id, team_id)
    _csrf()
    key, name = found.assignment.key, found.name
    try:
        services.remove_member(db.session, found, user_id)
    except services.TeamError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(f"Removed from {name}.", "success")
    return _to_manage(cohort_id, key)


@bp.post("/cohorts/<int:cohort_id>/teams/<int:team_id>/dissolve")
def dissolve(cohort_id: int, team_id: int) -> WerkzeugResponse:
    found = _staff_team(cohort_id, team_id)
    _csrf()
    key, name = found.assignment.key, found.name
    try:
        services.dissolve(db.session, found)
    except services.TeamError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(f"{name} dissolved; its members can be placed in other teams.", "success")
    return _to_manage(cohort_id, key)


def _detail_page(found: Team, error: str | None = None, posted: Any = None, status: int = 200) -> tuple[str, int]:
    grade = services.grades_of(db.session, [found]).get(found.id)
    return render_template("teams/detail.html", cohort=_cohort(found.cohort_id), team=found, assignment=found.assignment,
                           grade=grade, contributions=services.contributions(db.session, found), button=CsrfForm(),
                           adjusted=services.adjusted_score, error=error, posted=posted), status


@bp.get("/cohorts/<int:cohort_id>/teams/<int:team_id>")
def detail(cohort_id: int, team_id: int) -> tuple[str, int]:
    return _detail_page(_staff_team(cohort_id, team_id))


@bp.post("/cohorts/<int:cohort_id>/teams/<int:team_id>/members/<int:user_id>/adjustment")
def adjust(cohort_id: int, team_id: int, user_id: int) -> tuple[str, int] | WerkzeugResponse:
    found = _staff_team(cohort_id, team_id)
    _csrf()
    try:
        points = float(request.form.get("points", ""))
    except ValueError:
        points = math.nan
    try:
        if math.isnan(points):
            raise services.TeamError("Give the adjustment in points, e.g. -2 or 1.5.")
        services.adjust(db.session, found, user_id, points, request.form.get("note", ""),
                        _int(request.form.get("revision")), signed_in(), utcnow())
    except services.TeamError as exc:
        db.session.rollback()
        return _detail_page(services.get_team(db.session, team_id) or abort(404), error=str(exc),
                            posted=request.form, status=409 if isinstance(exc, services.StaleAdjustment) else 400)
    flash("Adjustment saved; the learner sees it with a note beside their grade.", "success")
    return redirect(url_for("teams.detail", cohort_id=cohort_id, team_id=team_id))
