"""Stakeholder feedback: the learner's invitations, the public rating form behind a
single-use link, and the staff view of one learner's feedback."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from lms.accounts.current import signed_in
from lms.accounts.models import User
from lms.catalog.models import Module
from lms.cohorts.models import Cohort
from lms.database import utcnow
from lms.extensions import db
from lms.feedback import services
from lms.feedback.forms import CsrfForm, InviteForm
from lms.feedback.models import FeedbackInvite
from lms.learning.services import learner_schedule
from lms.web.forms import labelled_choices, refuse_field

bp = Blueprint("feedback", __name__, template_folder="templates")

_FACTS = {"questions": services.QUESTIONS, "scale": services.SCALE, "relations": services.RELATIONS,
          "status_labels": services.STATUS_LABELS, "status_of": services.status_of, "mean_rating": services.mean_rating}


def feedback_link(token: str) -> str:
    return url_for("feedback.respond", token=token, _external=True)


def _invite_form(modules: list[Module]) -> InviteForm:
    form = InviteForm()
    form.module.choices = labelled_choices({m.id: m.title for m in modules})
    return form


def _frameworks() -> services.Frameworks:
    return services.framework_modules(db.session, learner_schedule(db.session, signed_in(), utcnow()))


def _learner_page(form: InviteForm, frameworks: services.Frameworks, error: str | None = None,
                  status: int = 200) -> tuple[str, int]:
    learner_id = signed_in().id
    return render_template(
        "feedback/mine.html", form=form, error=error, button=CsrfForm(), now=utcnow(), later=frameworks.later,
        invites=services.invites_of(db.session, learner_id),
        responses=services.responses_for_learner(db.session, learner_id), **_FACTS), status


@bp.get("/feedback")
def mine() -> tuple[str, int]:
    frameworks = _frameworks()
    return _learner_page(_invite_form(frameworks.open), frameworks)


@bp.post("/feedback")
def create() -> Any:
    frameworks = _frameworks()
    form = _invite_form(frameworks.open)
    if not form.validate_on_submit():
        return _learner_page(form, frameworks, status=400)
    module = next(m for m in frameworks.open if m.id == form.module.data)
    try:
        item, _token = services.invite(db.session, signed_in(), module, form.name.data or "",
                                       form.email.data or "", form.relation.data or "", utcnow(), feedback_link)
    except services.FeedbackError as exc:
        db.session.rollback()
        # said once: by the field it is about (invalid, described by it, in the summary), else above the form
        shown = refuse_field(form, exc.field, f"{exc} Nothing was sent.")
        return _learner_page(form, frameworks, error=None if shown else str(exc), status=400)
    flash(f"Invitation sent to {item.name} ({item.email}). You will see their answer here.", "success")
    return redirect(url_for("feedback.mine"))


@bp.post("/feedback/<int:invite_id>/revoke")
def revoke(invite_id: int) -> Any:
    item = db.session.get(FeedbackInvite, invite_id)
    if item is None or item.learner_id != signed_in().id:
        abort(404)
    try:
        services.revoke(db.session, item, utcnow())
    except services.FeedbackError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("feedback.mine"))
    flash(f"The link sent to {item.name} no longer works.", "success")
    return redirect(url_for("feedback.mine"))


def _closed(exc: services.LinkError) -> tuple[str, int]:
    """An unknown link is 404; a used, withdrawn or expired one is 410 (gone)."""
    return render_template("feedback/closed.html", message=str(exc)), exc.http_status


def _form_page(item: FeedbackInvite, error: str | None = None, posted: Any = None, status: int = 200) -> tuple[str, int]:
    return render_template("feedback/respond.html", invite=item, form=CsrfForm(), error=error, posted=posted,
                           max_comment=services.MAX_COMMENT_CHARS,
                           taking_part=services.learner_taking_part(db.session, item.learner, utcnow()), **_FACTS), status


@bp.get("/f/<token>")
def respond(token: str) -> tuple[str, int]:
    try:
        item = services.open_invite(db.session, token, utcnow())
    except services.LinkError as exc:
        return _closed(exc)
    return _form_page(item)


@bp.post("/f/<token>")
def answer(token: str) -> tuple[str, int]:
    try:
        item = services.open_invite(db.session, token, utcnow())
    except services.LinkError as exc:
        return _closed(exc)
    ratings = {q.id: request.form.get(q.id, "") for q in services.QUESTIONS}
    try:
        services.answer(db.session, token, ratings, request.form.get("comment", ""), utcnow())
    except services.LinkError as exc:
        return _closed(exc)
    except services.FeedbackError as exc:
        db.session.rollback()
        return _form_page(item, str(exc), request.form, 400)
    return render_template("feedback/thanks.html", invite=item), 200


@bp.get("/cohorts/<int:cohort_id>/learners/<int:user_id>/feedback")
def learner(cohort_id: int, user_id: int) -> str:
    cohort = db.session.get(Cohort, cohort_id) or abort(404)
    person = db.session.get(User, user_id) or abort(404)
    return render_template("feedback/learner.html", cohort=cohort, learner=person, now=utcnow(),
                           invites=services.invites_of(db.session, person.id),
                           responses=services.responses_for_learner(db.session, person.id), **_FACTS)
