"""The instructors' grading queue, the grading page, and the audit trail."""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Blueprint, Response, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from sqlalchemy import select

from lms.accounts.current import signed_in
from lms.accounts.models import User
from lms.cohorts.enrolment import cohort_learners
from lms.cohorts.models import Cohort
from lms.cohorts.moved import moved_page, was_learner_of
from lms.cohorts.roles import roles_of, staff_cohorts
from lms.coursework import services as coursework
from lms.coursework import sharing
from lms.coursework.models import Attachment, Submission, SubmissionStatus
from lms.coursework.views import send_attachment
from lms.database import utcnow
from lms.extensions import db
from lms.grading import peer, services
from lms.grading.exports import EXPORTERS, grade_rows
from lms.grading.forms import CsrfForm
from lms.grading.models import GradeAction, PeerReview, PeerReviewKind, PeerReviewStatus, QueueFilter
from lms.jobs import exports
from lms.learning.services import build_schedule
from lms.web.converters import as_id
from lms.web.downloads import export_name, streamed_download
from lms.web.filters import localdeadline, localtime
from lms.web.markdown import render_user_markdown

bp = Blueprint("grading", __name__, template_folder="templates", static_folder="static", static_url_path="/static/grading")


@bp.get("/grading")
def queue() -> str:
    cohorts = staff_cohorts(db.session, signed_in())
    try:
        status = QueueFilter(request.args.get("status", QueueFilter.TO_GRADE))
    except ValueError:
        status = QueueFilter.TO_GRADE
    cohort_id = request.args.get("cohort", type=as_id)
    result = services.queue(db.session, [c.id for c in cohorts], cohort_id=cohort_id if cohort_id in {c.id for c in cohorts} else None,
                            module=request.args.get("module") or None, status=status, late_only=request.args.get("late") == "1",
                            page=request.args.get("page", 1, type=int))
    return render_template("grading/queue.html", queue=result, cohorts=cohorts, status=status,
                           statuses=services.STATUSES, args=request.args, modules=services.queue_modules(db.session))


def _submission(cohort_id: int, submission_id: int) -> Submission:
    submission = db.session.get(Submission, submission_id)
    # A draft that was never submitted is the learner's alone.
    if submission is None or submission.latest is None:
        abort(404)
    if submission.cohort_id != cohort_id:
        _moved_with_its_learner(cohort_id, submission)
    return submission


def _moved_with_its_learner(cohort_id: int, submission: Submission) -> NoReturn:
    """Work of a learner moved out of the route's cohort since the grading page was opened
    (their own work moves with them, ``coursework.services.carry_work``): its staff (the
    access rule let them in) are told where it is now and linked to its grading page there
    when they have a role on that cohort, nothing saved; otherwise a 404 as before."""
    cohort = db.session.get(Cohort, cohort_id)
    if cohort is None or not was_learner_of(db.session, cohort_id, submission.user_id):
        abort(404)
    page, status = moved_page(db.session, signed_in(), cohort, submission.user_id,
                              lambda there: url_for("grading.grade", cohort_id=there.id, submission_id=submission.id)
                              if there.id == submission.cohort_id else url_for("cohorts.cohort", cohort_id=there.id),
                              what="Their work, with its grade,")
    abort(make_response(page, status))


def _page(submission: Submission, grade: Any = None, error: str | None = None, stale: bool = False,
          posted: Any = None, status: int = 200, unchosen: tuple[str, ...] = ()) -> tuple[str, int]:
    """The grading page; ``unchosen``: the criteria a release was refused for, left without a level."""
    grade = grade if grade is not None else services.grade_of(db.session, submission)
    user = signed_in()
    cohort = db.session.get(Cohort, submission.cohort_id) or abort(404)  # the route's cohort: _submission matched them
    can_audit = user.is_admin or cohort.organization_id in roles_of(db.session, user).admin_of
    latest = submission.latest
    classmates = [e.user for e in cohort_learners(db.session, cohort) if e.user_id != submission.user_id]
    next_work = services.next_to_grade(db.session, submission)
    teams = sharing.groups_of(db.session, [submission.id, *([next_work.submission_id] if next_work else [])])
    team = teams.get(submission.id)
    # a team's work is due with the latest of its members' dates: its lateness is told as kept (the header)
    due = None if team else services.due_date_of(db.session, submission, build_schedule(db.session, cohort, submission.user_id, utcnow()))
    return render_template(
        "grading/grade.html", submission=submission, grade=grade, error=error, stale=stale, posted=posted, unchosen=unchosen,
        rubric=services.rubric_for(db.session, submission, grade), form=CsrfForm(),
        body=render_user_markdown(latest.body) if latest else None, changes=services.changes_since_last(submission),
        files=[a for a in submission.attachments if latest and a.id in latest.attachment_ids],
        learner=db.session.get(User, submission.user_id),
        team=team, due=due,
        history=services.history(db.session, grade) if grade is not None and can_audit else None,
        peer_reviews=peer.reviews_of(db.session, submission), classmates=classmates,
        names={u.id: u.name for u in classmates}, next_work=next_work,
        next_team=teams.get(next_work.submission_id) if next_work else None,
    ), status


@bp.get("/cohorts/<int:cohort_id>/submissions/<int:submission_id>")
def grade(cohort_id: int, submission_id: int) -> tuple[str, int]:
    return _page(_submission(cohort_id, submission_id))


@bp.post("/cohorts/<int:cohort_id>/submissions/<int:submission_id>")
def save(cohort_id: int, submission_id: int) -> Any:
    submission = _submission(cohort_id, submission_id)
    form = request.form
    rubric = services.rubric_for(db.session, submission, services.grade_of(db.session, submission))
    levels = {c.id: form.get(f"level-{c.id}") for c in rubric.criteria}
    levels.update({k[6:]: v for k, v in form.items() if k.startswith("level-") and k[6:] not in levels})
    comments = {c.id: form.get(f"comment-{c.id}", "") for c in rubric.criteria}
    revision = form.get("revision", type=as_id)
    action = form.get("action", GradeAction.DRAFT)
    was_released = submission.status == SubmissionStatus.RELEASED
    try:
        services.save_grade(db.session, submission, signed_in(), levels, comments, form.get("feedback", ""),
                            revision, action, utcnow(), expected_version=form.get("version", type=int))
    except services.StaleGrade as exc:
        db.session.rollback()
        if exc.changed_by_id == signed_in().id:  # their own save from another tab or window
            message = (f"Not saved: you changed this grade at {localtime(exc.changed_at)} in another tab or window, "
                       "after this page was opened. That version is shown below and this page's input is kept in "
                       "the form: save again to replace that version with it.")
        else:
            message = (f"Not saved: this grade was changed by {exc.changed_by} at {localtime(exc.changed_at)}, after "
                       "you opened it. Their version is shown below and your input is kept in the form: save again to "
                       "replace their version with yours.")
        return _page(submission, error=message, stale=True, posted=form, status=409)
    except services.NewerVersion as exc:
        db.session.rollback()
        message = (f"Not saved: version {exc.number} was handed in at {localtime(exc.submitted_at)}, after you opened "
                   "this page. It is shown below, with what changed; your choices are kept in the form: read it, then "
                   "save again.")
        return _page(submission, error=message, posted=form, status=409)
    except services.GradingBusy as exc:
        db.session.rollback()
        return _page(submission, error=str(exc), posted=form, status=409)
    except services.LevelsMissing as exc:
        db.session.rollback()
        return _page(submission, error=str(exc), posted=form, status=400, unchosen=exc.criteria)
    except services.GradingError as exc:
        db.session.rollback()
        return _page(submission, error=str(exc), posted=form, status=400)
    taken_back = "Draft saved; the grade the learner had is taken back until you release it again."
    flash({GradeAction.DRAFT: taken_back if was_released else "Draft saved; the learner sees nothing yet.",
           GradeAction.RELEASE: "Grade released to the learner.",
           GradeAction.RETURN: _returned_until(submission)}[GradeAction(action)], "success")
    return redirect(url_for("grading.grade", cohort_id=cohort_id, submission_id=submission.id))


def _returned_until(submission: Submission) -> str:
    """What the grader is told of a return: until when the work may be handed in again on
    the learner's schedule (the revision window, or their due date when later), with the
    hour on the grader's clock when that is not their midnight, as the learner's pages say it."""
    cohort = db.session.get(Cohort, submission.cohort_id) if submission.cohort_id is not None else None
    plan = build_schedule(db.session, cohort, submission.user_id, utcnow()) if cohort is not None else None
    dates = coursework.dates_for(submission.assignment, plan, submission) if plan is not None else None
    if dates is None:
        return "Returned for revision; the learner can edit and resubmit."
    until = localdeadline(dates.deadline)
    return (f"Returned for revision; the revision is due {dates.due_on:%d %B %Y}"
            f"{f' (by {until}, your time)' if until else ''}.")


@bp.get("/assignments/<key>/feedback")
def feedback(key: str) -> str:
    assignment = coursework.get_assignment(db.session, key) or abort(404)
    user = signed_in()
    submission = sharing.work_for(db.session, assignment, user.id)  # their own, or their team's
    grade = services.released_grade(db.session, submission) if submission else None
    team = sharing.groups_of(db.session, [submission.id]).get(submission.id) if submission else None
    score = team.score_of(user.id, grade.score, grade.max_score) if team and grade else (grade.score if grade else None)
    return render_template("grading/feedback.html", assignment=assignment, submission=submission, grade=grade,
                           rubric=grade.rubric_version if grade else None, team=team, score=score,
                           adjustment=team.adjustments.get(user.id) if team else None,
                           returns=services.returns_of(db.session, submission) if submission else [])


@bp.app_template_global("returned_feedback")
def returned_feedback(submission: Submission) -> list[services.ReturnedVersion]:
    """For the learner's work page (lms.coursework, below this feature): what the grader
    sent back with each version returned for revision, the newest first."""
    return services.returns_of(db.session, submission)


@bp.get("/cohorts/<int:cohort_id>/grades.<fmt>")
def export(cohort_id: int, fmt: str) -> Response | str:
    """Streamed row by row; a cohort past EXPORT_BACKGROUND_ABOVE learners is offered a background job."""
    cohort = db.session.get(Cohort, cohort_id) or abort(404)
    exporter = EXPORTERS.get(fmt) or abort(404)
    if exports.in_background(db.session, current_app.config, cohort.id):
        return exports.offer(cohort, "grades", fmt, request.args)
    filename = export_name("grades", cohort.name, day=utcnow(), extension=exporter.extension)
    found = grade_rows(db.session, cohort)  # read a chunk of learners at a time as the body is sent
    return streamed_download(exporter.stream_rows(found.columns, found.rows), mimetype=exporter.mimetype,
                             filename=filename)


# --------------------------------------------------------------------------- peer review


@bp.get("/assignments/<key>/peer-reviews")
def peer_reviews(key: str) -> str:
    assignment = coursework.get_assignment(db.session, key) or abort(404)
    user = signed_in()
    own = coursework.submission_for(db.session, assignment, user.id)
    mine = list(db.session.scalars(select(PeerReview).join(PeerReview.submission).where(
        PeerReview.reviewer_id == user.id, PeerReview.status != PeerReviewStatus.CANCELLED,
        Submission.assignment_id == assignment.id).order_by(PeerReview.id)))
    required = [r for r in mine if r.kind == PeerReviewKind.REQUIRED]
    extras = [r for r in mine if r.kind == PeerReviewKind.EXTRA]
    done = sum(1 for r in required if r.status == PeerReviewStatus.DONE)
    # An extra review is offered once theirs are done and no extra of theirs is open.
    finished = bool(assignment.peer_reviews) and done >= assignment.peer_reviews and done == len(required) \
        and all(r.status == PeerReviewStatus.DONE for r in extras)
    return render_template("grading/peer_reviews.html", assignment=assignment, own=own, required=required, extras=extras,
                           done=done, finished=finished, form=CsrfForm(),
                           waiting=peer.waiting_for_reviewers(db.session, assignment, user.id) if finished else 0,
                           received=peer.received(db.session, own) if own else [])


@bp.post("/assignments/<key>/peer-reviews")
def request_reviews(key: str) -> Any:
    assignment = coursework.get_assignment(db.session, key) or abort(404)
    try:
        asked = peer.ask_for_reviews(db.session, assignment, signed_in(), utcnow())
    except services.GradingError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(*asked.message)
    return redirect(url_for("grading.peer_reviews", key=key))


@bp.post("/assignments/<key>/peer-reviews/one-more")
def review_one_more(key: str) -> Any:
    """A learner whose reviews are done offers one more, for work short of reviewers."""
    assignment = coursework.get_assignment(db.session, key) or abort(404)
    try:
        review = peer.review_one_more(db.session, assignment, signed_in(), utcnow())
    except peer.NothingWaits as exc:
        db.session.rollback()
        flash(str(exc), "info")
    except services.GradingError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash("One more piece of work to review: an extra, so it is optional, and it gives a classmate the "
              "feedback they are waiting for. Thank you.", "success")
        return redirect(url_for("grading.peer_review", review_id=review.id))
    return redirect(url_for("grading.peer_reviews", key=key))


def _review_page(review: PeerReview, error: str | None = None, posted: Any = None, status: int = 200) -> tuple[str, int]:
    files = [a for a in review.submission.attachments if a.id in review.version.attachment_ids]
    return render_template("grading/peer_review.html", review=review, body=render_user_markdown(review.version.body),
                           files=files, rubric=review.rubric_version, form=CsrfForm(), error=error, posted=posted), status


@bp.get("/peer-reviews/<int:review_id>")
def peer_review(review_id: int) -> tuple[str, int]:
    return _review_page(db.session.get(PeerReview, review_id) or abort(404))


@bp.post("/peer-reviews/<int:review_id>")
def save_peer_review(review_id: int) -> Any:
    review = db.session.get(PeerReview, review_id) or abort(404)
    levels = {c.id: request.form.get(f"level-{c.id}") for c in review.rubric_version.criteria}
    try:
        peer.complete_review(db.session, review, levels, request.form.get("comment", ""), utcnow())
    except services.GradingError as exc:
        db.session.rollback()
        return _review_page(review, error=str(exc), posted=request.form, status=400)
    flash("Thank you: your review is saved and shown to the author without your name.", "success")
    return redirect(url_for("grading.peer_reviews", key=review.submission.assignment.key))


@bp.get("/peer-reviews/<int:review_id>/files/<int:attachment_id>")
def peer_review_file(review_id: int, attachment_id: int) -> Any:
    review = db.session.get(PeerReview, review_id) or abort(404)
    item = db.session.get(Attachment, attachment_id)
    if item is None or item.id not in review.version.attachment_ids:
        abort(404)
    return send_attachment(item)


@bp.post("/cohorts/<int:cohort_id>/peer-reviews/<int:review_id>/reassign")
def reassign_review(cohort_id: int, review_id: int) -> Any:
    review = db.session.get(PeerReview, review_id)
    if review is None or review.submission.cohort_id != cohort_id:
        abort(404)
    target = db.session.get(User, request.form.get("reviewer", type=as_id) or 0)
    try:
        if target is None:
            raise services.GradingError("Choose a learner to review this work.")
        peer.reassign(db.session, review, target, utcnow())
    except services.GradingError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(f"The review now goes to {target.name}.", "success")
    return redirect(url_for("grading.grade", cohort_id=cohort_id, submission_id=review.submission_id))


def _peer_assignment(key: str) -> Any:
    assignment = coursework.get_assignment(db.session, key)
    if assignment is None or not assignment.peer_reviews:
        abort(404)
    return assignment


@bp.get("/cohorts/<int:cohort_id>/assignments/<key>/peer-reviews")
def cohort_peer_reviews(cohort_id: int, key: str) -> str:
    """The cohort's handed-in work of a peer-reviewed assignment and its reviewers, the work
    short of its k first, each with a form to give it one more."""
    cohort = db.session.get(Cohort, cohort_id) or abort(404)
    assignment = _peer_assignment(key)
    pieces, names = peer.cohort_pieces(db.session, assignment, cohort)
    return render_template("grading/cohort_peer_reviews.html", cohort=cohort, assignment=assignment, pieces=pieces,
                           names=names, short=sum(1 for p in pieces if p.short), form=CsrfForm())


@bp.post("/cohorts/<int:cohort_id>/assignments/<key>/peer-reviews/assign")
def assign_reviewer(cohort_id: int, key: str) -> Any:
    assignment = _peer_assignment(key)
    back = redirect(url_for("grading.cohort_peer_reviews", cohort_id=cohort_id, key=key))
    submission = db.session.get(Submission, request.form.get("submission", type=as_id) or 0)
    target = db.session.get(User, request.form.get("reviewer", type=as_id) or 0)
    try:
        if submission is None or submission.cohort_id != cohort_id or submission.assignment_id != assignment.id:
            raise services.GradingError("Choose a piece of this cohort's work to give a reviewer.")
        if target is None:
            raise services.GradingError("Choose a learner to review this work.")
        peer.assign(db.session, submission, target, utcnow())
    except services.GradingError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return back
    count = len(peer.reviews_of(db.session, submission))
    author = db.session.get(User, submission.user_id)
    flash(f"{target.name} now reviews the work of {author.name if author else 'this learner'}: it has {count} of its "
          f"{assignment.peer_reviews} reviewer{'s' * (assignment.peer_reviews != 1)}. It is one of their required reviews.", "success")
    return back
