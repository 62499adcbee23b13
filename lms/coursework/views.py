"""Assessed work for learners and staff: the list with dates, and each brief with its rubric."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from lms.accounts.current import signed_in
from lms.cohorts.models import Cohort
from lms.cohorts.roles import staff_cohorts
from lms.coursework import content as _content  # noqa: F401 - registers the coursework content section
from lms.coursework import services
from lms.coursework.forms import CsrfForm, WorkForm
from lms.coursework.models import KINDS, Assignment, Attachment, Submission
from lms.coursework.services import Dates
from lms.database import utcnow
from lms.extensions import db
from lms.learning.services import Schedule, build_schedule, learner_schedule
from lms.storage.backends import Storage, file_storage
from lms.web.converters import as_id
from lms.web.downloads import content_disposition
from lms.web.forms import add_error
from lms.web.markdown import render_content_markdown, render_user_markdown

bp = Blueprint("coursework", __name__, template_folder="templates")


@bp.get("/coursework")
def assignments() -> str:
    """A learner's dates are their own; staff see the dates of one of their cohorts
    (``?cohort=``, default the first), as the cohort's schedule sets them."""
    user, now = signed_in(), utcnow()
    plan = learner_schedule(db.session, user, now)
    cohorts: list[Cohort] = []
    chosen: Cohort | None = None
    # A learner's own state of each piece of work, read in one statement; staff see none.
    states = services.work_states(db.session, user.id) if plan is not None else None
    if plan is None:
        cohorts = staff_cohorts(db.session, user)
        wanted = request.args.get("cohort", type=as_id)
        chosen = next((c for c in cohorts if c.id == wanted), None) if wanted is not None else next(iter(cohorts), None)
        if wanted is not None and chosen is None:
            abort(404)
        plan = build_schedule(db.session, chosen, None, now, kept=True) if chosen is not None else None
    # In the order the months open them (then module, then the module's own order).
    items = sorted(services.active_assignments(db.session),
                   key=lambda a: (a.phase.month if a.phase else 13, a.module.position if a.module else 0, a.position))
    dates = {a.id: services.dates_for(a, plan) for a in items} if plan else {}
    return render_template("coursework/assignments.html", assignments=items, dates=dates, kinds=KINDS,
                           cohorts=cohorts, chosen=chosen, states=states, not_started=services.NOT_STARTED)


@bp.get("/assignments/<key>")
def assignment(key: str) -> str:
    item = services.get_assignment(db.session, key) or abort(404)
    plan = learner_schedule(db.session, signed_in(), utcnow())
    dates = services.dates_for(item, plan) if plan else None
    return render_template("coursework/assignment.html", assignment=item, brief=render_content_markdown(item.body),
                           rubric=item.rubric.current, dates=dates, closed=dates.closed(utcnow()) if dates else None)


def _uploads() -> Storage:
    """Where uploads are kept (FILE_STORAGE: the local upload folder or the database)."""
    return file_storage()


def _work_context(key: str) -> tuple[Assignment, Schedule | None]:
    item = services.get_assignment(db.session, key) or abort(404)
    return item, learner_schedule(db.session, signed_in(), utcnow())


def _dates(item: Assignment, plan: Schedule | None, submission: Submission | None) -> Dates | None:
    """The learner's dates for ``item``: a revision window when their work was returned."""
    return services.dates_for(item, plan, submission) if plan else None


def _render_work(item: Assignment, submission: Submission | None, dates: Dates | None, form: WorkForm,
                 error: str | None = None, status: int = 200, saved_meanwhile: str | None = None) -> tuple[str, int]:
    versions = submission.versions if submission else []
    changes = services.compare(versions[-2], versions[-1]) if len(versions) >= 2 else []
    # What each field takes, read with the field (aria-describedby), not only as text beside it.
    form.body.description = f"Markdown works: headings, lists, tables. Deliverables: {'; '.join(item.deliverables)}"
    return render_template("coursework/work.html", assignment=item, submission=submission, dates=dates, form=form,
                           button=CsrfForm(), error=error, closed=dates.closed(utcnow()) if dates else None,
                           changes=changes, saved_meanwhile=saved_meanwhile,
                           preview=render_user_markdown(submission.draft_body) if submission and submission.draft_body else None), status


def _team_work(item: Assignment) -> WerkzeugResponse:
    """A team assignment's work is the team's, on the team page (lms.teams)."""
    return redirect(url_for("teams.team", key=item.key), code=303)


@bp.get("/assignments/<key>/work")
def work(key: str) -> tuple[str, int] | WerkzeugResponse:
    item, plan = _work_context(key)
    if item.is_team:
        return _team_work(item)
    submission = services.submission_for(db.session, item, signed_in().id)
    draft = submission.draft_body if submission else ""
    form = WorkForm(body=draft, base=services.draft_mark(draft or ""))
    return _render_work(item, submission, _dates(item, plan, submission), form)


@bp.post("/assignments/<key>/work")
def save_work(key: str) -> tuple[str, int] | WerkzeugResponse:
    item, plan = _work_context(key)
    if item.is_team:
        return _team_work(item)
    form = WorkForm()
    if not form.validate_on_submit():
        abort(400)
    now = utcnow()
    user_id = signed_in().id
    submission = services.start_own_submission(db.session, item, user_id, now)
    dates = _dates(item, plan, submission)
    action = request.form.get("action", "save")
    try:
        services.save_draft(db.session, submission, form.body.data or "", dates, now, expected=form.base.data or None)
        upload = form.file.data
        if upload and upload.filename:
            services.add_attachment(db.session, submission, upload.filename, upload.read(), dates, _uploads(), now)
        if action == "submit":
            version = services.submit(db.session, submission, dates, now)
    except services.SubmissionError as exc:
        db.session.rollback()
        # Re-render with what the learner typed: nothing they wrote is lost.
        stored = services.submission_for(db.session, item, user_id)
        if isinstance(exc, services.StaleDraft) and stored is not None:
            # The draft saved from the other tab, to copy from; saving again from here is now meant.
            form.base.data = services.draft_mark(stored.draft_body or "")
            return _render_work(item, stored, _dates(item, plan, stored), form, error=str(exc), status=409,
                                saved_meanwhile=stored.draft_body or "")
        if exc.field in ("body", "file"):
            # shown by its field, which is marked invalid, and in the summary the page opens on
            add_error(form.body if exc.field == "body" else form.file, f"{exc} Nothing was saved.")
            return _render_work(item, stored, _dates(item, plan, stored), form, status=400)
        return _render_work(item, stored, _dates(item, plan, stored), form, error=str(exc), status=400)
    if action == "submit":
        flash(f"Version {version.number} submitted{' (after the due date)' if version.late else ''}. "
              "Your instructor will grade it; you will see the grade once it is released.", "success")
    else:
        flash("Draft saved.", "success")
    return redirect(url_for("coursework.work", key=item.key))


@bp.post("/assignments/<key>/work/attachments/<int:attachment_id>/remove")
def remove_attachment(key: str, attachment_id: int) -> WerkzeugResponse:
    item, plan = _work_context(key)
    submission = services.submission_for(db.session, item, signed_in().id) or abort(404)
    try:
        services.remove_attachment(db.session, submission, attachment_id, _dates(item, plan, submission), utcnow())
    except services.SubmissionError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("coursework.work", key=item.key))
    flash("File removed from your draft.", "success")
    return redirect(url_for("coursework.work", key=item.key))


def send_attachment(item: Attachment) -> Response:
    """The stored file, streamed chunk by chunk from either storage; each chunk opens and
    closes its own handle or connection, so nothing outlives an abandoned download."""
    opened = _uploads().open(item.stored_name)
    if opened is None:
        abort(404)
    inline = item.content_type.startswith("image/") or item.content_type == "application/pdf"
    response = Response(opened.chunks, mimetype=item.content_type, direct_passthrough=True)
    response.content_length = opened.size
    response.headers["Content-Disposition"] = content_disposition(item.filename, inline=inline)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/attachments/<int:attachment_id>")
def attachment(attachment_id: int) -> Response:
    return send_attachment(db.session.get(Attachment, attachment_id) or abort(404))
