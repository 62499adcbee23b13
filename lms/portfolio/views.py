"""The learner's portfolio per level, its review submission, and the shared read-only view."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from lms.accounts.current import signed_in
from lms.accounts.models import User
from lms.catalog.models import Level
from lms.coursework import services as coursework
from lms.coursework.models import AssignmentKind, Attachment, Submission, SubmissionStatus
from lms.coursework.sharing import groups_of
from lms.coursework.views import send_attachment
from lms.database import utcnow
from lms.extensions import db
from lms.grading import services as grading
from lms.learning.services import learner_schedule
from lms.portfolio import services
from lms.portfolio.forms import CsrfForm
from lms.web.markdown import render_user_markdown

bp = Blueprint("portfolio", __name__, template_folder="templates")


def _level(key: str) -> Level:
    return db.session.scalar(select(Level).where(Level.key == key, Level.retired_at.is_(None))) or abort(404)


def _context(level: Level, *, create: bool = True) -> dict[str, Any]:
    now = utcnow()
    assignment = services.review_assignment(db.session, level)
    user = signed_in()
    eligible = services.eligible_work(db.session, user.id, level)
    plan = learner_schedule(db.session, user, now)
    review = coursework.submission_for(db.session, assignment, user.id) if assignment else None
    portfolio = services.portfolio_for(db.session, user.id, level, now, create=create)
    dates = coursework.dates_for(assignment, plan, review) if assignment and plan else None
    return {
        "level": level, "assignment": assignment, "eligible": eligible,
        "grades": services.grades_of(db.session, eligible, user.id),
        "teams": groups_of(db.session, [s.id for s in eligible]),  # team work is each member's (lms.coursework.sharing)
        "codes": [o.key for o in assignment.objectives] if assignment else [],
        "objectives": assignment.objectives if assignment else [],
        "portfolio": portfolio, "base": services.portfolio_mark(portfolio),  # what a save from the page started from
        "review": review, "closed": services.closed_because(review),  # handed in: read-only
        # what the grader sent back with each version returned for revision, the newest first
        "returns": grading.returns_of(db.session, review) if review and review.versions else [],
        # what each version handed in held (its pieces at their versions), as kept then
        "hand_ins": services.hand_ins_of(db.session, review.versions) if review else {},
        "pieces_handed_in": services.pieces_in,
        "dates": dates,
        # the learner's program has closed and the review is past due: saved, not handed in
        "program_closed": dates.closed(now) if dates else None,
        "form": CsrfForm(), "share_url": None, "error": None, "saved_meanwhile": False,
        # no current enrolment (``LEARNER_OR_FORMER``): the program over or left, the portfolio is
        # theirs to read and its link theirs to turn off or on; nothing more is handed in
        "former": plan is None,
    }


@bp.get("/portfolio")
def levels() -> Any:
    items = list(db.session.scalars(select(Level).where(Level.retired_at.is_(None)).order_by(Level.position)))
    user = signed_in()
    plan = learner_schedule(db.session, user, utcnow())
    return render_template("portfolio/levels.html", lines=services.level_lines(db.session, user.id, items, plan),
                           today=plan.today if plan else None, statuses=SubmissionStatus)


@bp.get("/portfolio/<level_key>")
def portfolio(level_key: str) -> str:
    context = _context(_level(level_key), create=False)
    return render_template("portfolio/portfolio.html", **context)


@bp.post("/portfolio/<level_key>")
def save(level_key: str) -> Any:
    context = _context(_level(level_key))
    chosen = [int(v) for v in request.form.getlist("artifact") if v.isdecimal() and len(v) < 10]
    reflections = {c: request.form.get(f"reflection-{c}", "") for c in context["codes"]}
    now = utcnow()
    # A hand-in before the review opens (a page or tab left open) saves what was typed and says when.
    waiting = services.review_waits(context["level"], context["dates"]) if context["assignment"] else None
    try:
        services.curate(db.session, context["portfolio"], chosen, reflections, context["eligible"], context["codes"], now,
                        expected=request.form.get("base") or None)
        if request.form.get("action") == "submit" and waiting is None:
            services.submit_for_review(db.session, context["portfolio"], signed_in(), context["eligible"], now,
                                       context["dates"])
    except services.PortfolioError as exc:
        db.session.rollback()
        context = _context(_level(level_key))
        stale = isinstance(exc, services.StalePortfolio)  # the saved one shown to copy from; the page's next save is meant
        context.update(error=str(exc), posted=request.form, saved_meanwhile=stale)
        return render_template("portfolio/portfolio.html", **context), 409 if stale else 400
    if request.form.get("action") == "submit" and waiting is not None:
        flash(f"Portfolio saved, not handed in. {waiting}", "warning")
    else:
        flash("Portfolio submitted for review." if request.form.get("action") == "submit" else "Portfolio saved.", "success")
    return redirect(url_for("portfolio.portfolio", level_key=level_key))


@bp.post("/portfolio/<level_key>/share")
def share(level_key: str) -> str:
    context = _context(_level(level_key))
    token = services.share(db.session, context["portfolio"], utcnow())
    context["share_url"] = url_for("portfolio.shared", token=token, _external=True)
    return render_template("portfolio/portfolio.html", **context)


@bp.post("/portfolio/<level_key>/share/revoke")
def unshare(level_key: str) -> Any:
    context = _context(_level(level_key), create=False)  # no portfolio stored: no link to turn off
    services.unshare(db.session, context["portfolio"])
    flash("The shared link is turned off.", "success")
    return redirect(url_for("portfolio.portfolio", level_key=level_key))


@bp.get("/shared/portfolios/<token>")
def shared(token: str) -> str:
    item = services.shared(db.session, token) or abort(404)
    owner = db.session.get(User, item.user_id)
    eligible = services.eligible_work(db.session, item.user_id, item.level)
    chosen = [s for i in item.artifact_ids for s in eligible if s.id == i]
    return render_template("portfolio/shared.html", portfolio=item, owner=owner, artifacts=chosen, token=token,
                           teams=groups_of(db.session, [s.id for s in chosen]),
                           bodies={s.id: render_user_markdown(s.latest.body) for s in chosen if s.latest},
                           reflections={c: render_user_markdown(t) for c, t in item.reflections.items()})


@bp.get("/shared/portfolios/<token>/files/<int:attachment_id>")
def shared_file(token: str, attachment_id: int) -> Any:
    """A file of a chosen piece of work, as handed in: nothing else is reachable by the link."""
    item = services.shared(db.session, token) or abort(404)
    eligible = services.eligible_work(db.session, item.user_id, item.level)
    allowed = {a for s in eligible if s.id in item.artifact_ids and s.latest for a in s.latest.attachment_ids}
    if attachment_id not in allowed:
        abort(404)
    return send_attachment(db.session.get(Attachment, attachment_id) or abort(404))


# --------------------------------------------------------------------------- the grader's side


@bp.app_template_global("portfolio_pieces")
def portfolio_pieces(submission: Submission) -> list[services.Piece]:
    """On the grading page of a portfolio review: the work it holds, each linked to ``piece``."""
    return services.pieces_of(db.session, submission)


def _piece(cohort_id: int, submission_id: int, piece_id: int) -> tuple[Submission, services.Piece]:
    """A piece of work in the portfolio review ``submission_id`` handed in to cohort ``cohort_id``
    (whose staff the access rule let in): only the work the portfolio holds, whatever cohort
    or team it was done in."""
    review = db.session.get(Submission, submission_id)
    if (review is None or review.cohort_id != cohort_id or review.latest is None
            or review.assignment.kind != AssignmentKind.PORTFOLIO):
        abort(404)
    found = next((p for p in services.pieces_of(db.session, review) if p.submission.id == piece_id), None)
    return review, found or abort(404)


@bp.get("/cohorts/<int:cohort_id>/submissions/<int:submission_id>/pieces/<int:piece_id>")
def piece(cohort_id: int, submission_id: int, piece_id: int) -> str:
    """A piece of work in a portfolio, as the grader reads it: the version handed in with the
    portfolio and its files."""
    review, chosen = _piece(cohort_id, submission_id, piece_id)
    work = chosen.submission
    return render_template(
        "portfolio/piece.html", review=review, piece=chosen, learner=db.session.get(User, review.user_id),
        team=groups_of(db.session, [work.id]).get(work.id), body=render_user_markdown(chosen.version.body),
        files=[a for a in work.attachments if a.id in chosen.version.attachment_ids])


@bp.get("/cohorts/<int:cohort_id>/submissions/<int:submission_id>/pieces/<int:piece_id>/files/<int:attachment_id>")
def piece_file(cohort_id: int, submission_id: int, piece_id: int, attachment_id: int) -> Any:
    """A file of that version of the piece; nothing else is reachable this way."""
    _review, chosen = _piece(cohort_id, submission_id, piece_id)
    if attachment_id not in chosen.version.attachment_ids:
        abort(404)
    return send_attachment(db.session.get(Attachment, attachment_id) or abort(404))
