"""Expert evaluation: the learner's and the staff's invitation pages for one submission,
the public rating form behind a single-use link, and the panel of ratings shown on the
learner's work page and the staff grading page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for

from lms.accounts.current import signed_in
from lms.accounts.models import User
from lms.coursework import services as coursework
from lms.coursework import sharing
from lms.coursework.models import Assignment, Attachment, Submission
from lms.coursework.views import send_attachment
from lms.database import utcnow
from lms.expert import services
from lms.expert.forms import CsrfForm, InviteForm
from lms.expert.models import ExpertEvaluation, ExpertInvite
from lms.extensions import db
from lms.web.forms import refuse_field
from lms.web.markdown import render_user_markdown

bp = Blueprint("expert", __name__, template_folder="templates")

_FACTS = {"status_labels": services.STATUS_LABELS, "status_of": services.status_of}


@bp.app_template_global("expert_evaluations")
def expert_evaluations(submission: Submission) -> list[ExpertEvaluation]:
    """For the learner's work page and the staff grading page: the submission's expert ratings."""
    return services.evaluations_for(db.session, submission.id)


def expert_link(token: str) -> str:
    return url_for("expert.evaluate", token=token, _external=True)


def _days_valid() -> int:
    return int(current_app.config.get("EXPERT_LINK_DAYS", services.DEFAULT_DAYS_VALID))


# ------------------------------------------------------------------ inviting: the learner and the staff


def _page(submission: Submission | None, assignment: Assignment, form: InviteForm, staff: bool,
          error: str | None = None, status: int = 200) -> tuple[str, int]:
    learner = db.session.get(User, submission.user_id) if submission else None
    team = sharing.groups_of(db.session, [submission.id]).get(submission.id) if submission else None
    return render_template(
        "expert/invites.html", submission=submission, assignment=assignment, learner=learner, team=team, form=form,
        error=error,
        staff=staff, button=CsrfForm(), now=utcnow(), days=_days_valid(),
        can_invite=submission is not None and services.handed_in(submission),
        invites=services.invites_for(db.session, submission.id) if submission else [],
        evaluations=services.evaluations_for(db.session, submission.id) if submission else [], **_FACTS), status


def _create(submission: Submission | None, assignment: Assignment, staff: bool, back: str) -> Any:
    form = InviteForm()
    if not form.validate_on_submit():
        return _page(submission, assignment, form, staff, status=400)
    try:
        if submission is None:
            raise services.ExpertError("Hand the work in first: an expert rates submitted work.")
        item, _token = services.invite(db.session, submission, signed_in(), form.name.data or "", form.email.data or "",
                                       form.note.data or "", utcnow(), expert_link, _days_valid())
    except services.ExpertError as exc:
        db.session.rollback()
        # said once: by the field it is about (invalid, described by it, in the summary), else above the form
        shown = refuse_field(form, exc.field, f"{exc} Nothing was sent.")
        return _page(submission, assignment, form, staff, error=None if shown else str(exc), status=400)
    flash(f"Invitation sent to {item.name} ({item.email}). Their rating will appear here.", "success")
    return redirect(back)


@bp.get("/assignments/<key>/experts")
def mine(key: str) -> tuple[str, int]:
    assignment = coursework.get_assignment(db.session, key) or abort(404)
    # their own work, or the shared work they are a member of (a team's: any member may invite)
    return _page(sharing.work_for(db.session, assignment, signed_in().id), assignment, InviteForm(), staff=False)


@bp.post("/assignments/<key>/experts")
def invite_mine(key: str) -> Any:
    assignment = coursework.get_assignment(db.session, key) or abort(404)
    submission = sharing.work_for(db.session, assignment, signed_in().id)
    return _create(submission, assignment, False, url_for("expert.mine", key=key))


def _staff_submission(cohort_id: int, submission_id: int) -> Submission:
    submission = db.session.get(Submission, submission_id)
    # A draft that was never submitted is the learner's alone.
    if submission is None or submission.cohort_id != cohort_id or submission.latest is None:
        abort(404)
    return submission


@bp.get("/cohorts/<int:cohort_id>/submissions/<int:submission_id>/experts")
def submission(cohort_id: int, submission_id: int) -> tuple[str, int]:
    work = _staff_submission(cohort_id, submission_id)
    return _page(work, work.assignment, InviteForm(), staff=True)


@bp.post("/cohorts/<int:cohort_id>/submissions/<int:submission_id>/experts")
def invite_staff(cohort_id: int, submission_id: int) -> Any:
    work = _staff_submission(cohort_id, submission_id)
    return _create(work, work.assignment, True,
                   url_for("expert.submission", cohort_id=cohort_id, submission_id=submission_id))


@bp.post("/experts/<int:invite_id>/revoke")
def revoke(invite_id: int) -> Any:
    item = db.session.get(ExpertInvite, invite_id) or abort(404)  # the policy let through its sender and the cohort's staff
    work = item.submission
    group = sharing.groups_of(db.session, [work.id]).get(work.id)
    if signed_in().id in sharing.learner_ids(work, group):  # the learner, or a member of the team whose work it is
        back = url_for("expert.mine", key=work.assignment.key)
    else:
        back = url_for("expert.submission", cohort_id=work.cohort_id, submission_id=work.id)
    try:
        services.revoke(db.session, item, utcnow())
    except services.ExpertError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(back)
    flash(f"The link sent to {item.name} no longer works.", "success")
    return redirect(back)


# ------------------------------------------------------------------ the expert's side


def _closed(exc: services.LinkError) -> tuple[str, int]:
    """An unknown link is 404; a used, withdrawn or expired one is 410 (gone)."""
    return render_template("expert/closed.html", message=str(exc)), exc.http_status


def _form_page(item: ExpertInvite, token: str, error: str | None = None, posted: Any = None,
               status: int = 200) -> tuple[str, int]:
    work = item.submission
    files = [a for a in work.attachments if a.id in item.version.attachment_ids]
    return render_template(
        "expert/evaluate.html", invite=item, token=token, learner=db.session.get(User, work.user_id),
        body=render_user_markdown(item.version.body), files=files, rubric=item.rubric_version,
        show_key=services.shows_key(db.session, item), form=CsrfForm(),
        error=error, posted=posted, max_comment=services.MAX_COMMENT_CHARS, max_years=services.MAX_YEARS), status


@bp.get("/e/<token>")
def evaluate(token: str) -> tuple[str, int]:
    try:
        item = services.open_invite(db.session, token, utcnow())
    except services.LinkError as exc:
        return _closed(exc)
    return _form_page(item, token)


@bp.post("/e/<token>")
def rate(token: str) -> tuple[str, int]:
    try:
        item = services.open_invite(db.session, token, utcnow())
    except services.LinkError as exc:
        return _closed(exc)
    form = request.form
    criteria = item.rubric_version.criteria
    levels: dict[str, str | None] = {c.id: form.get(f"level-{c.id}") for c in criteria}
    comments = {c.id: form.get(f"comment-{c.id}", "") for c in criteria}
    credentials = {k: form.get(k, "") for k in ("role", "organization", "years", "qualification")}
    try:
        services.rate(db.session, token, credentials, levels, comments, form.get("comment", ""), utcnow())
    except services.LinkError as exc:
        db.session.rollback()
        return _closed(exc)
    except services.ExpertError as exc:
        db.session.rollback()
        return _form_page(item, token, str(exc), form, 400)
    return render_template("expert/thanks.html", invite=item, learner=db.session.get(User, item.submission.user_id)), 200


@bp.get("/e/<token>/files/<int:attachment_id>")
def file(token: str, attachment_id: int) -> Response | tuple[str, int]:
    try:
        item = services.open_invite(db.session, token, utcnow())
    except services.LinkError as exc:
        return _closed(exc)
    found = db.session.get(Attachment, attachment_id)
    if found is None or found.id not in item.version.attachment_ids:
        abort(404)
    return send_attachment(found)
