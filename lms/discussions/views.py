"""Module discussions: the cohort's modules, a module's threads (pinned first), a thread
with its replies, replying, editing one's own post, and the staff's moderation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from lms.accounts.current import signed_in
from lms.accounts.models import User
from lms.catalog.models import Module
from lms.cohorts.models import Cohort
from lms.cohorts.roles import Roles, roles_of, staff_cohorts
from lms.database import DbSession, utcnow
from lms.discussions import services
from lms.discussions.access import Role, role_in
from lms.discussions.forms import EditPostForm, ModerateForm, ReplyForm, ThreadForm
from lms.discussions.models import ModerationAction, Post, Thread
from lms.discussions.moderation import MODERATORS
from lms.extensions import db
from lms.learning.services import Schedule
from lms.web.forms import add_error, refuse_field

bp = Blueprint("discussions", __name__, template_folder="templates")


def link_for(post: Post) -> str:
    return url_for("discussions.thread", thread_id=post.thread_id, _anchor=f"post-{post.id}")


def discussion_cohorts(user: User) -> list[Cohort]:
    """The cohorts whose discussions ``user`` takes part in: their own as a learner, the
    ones they teach or administer."""
    roles = roles_of(db.session, user)
    cohorts = [roles.enrolment.cohort] if roles.enrolment is not None else []
    if roles.is_staff:
        cohorts += [c for c in staff_cohorts(db.session, user) if not c.archived and c not in cohorts]
    return cohorts


def home_panel(session: DbSession, user: User, roles: Roles, now: datetime,
               plan: Schedule | None) -> dict[str, Any] | None:
    """The learner's home panel: a link to their cohort's discussions."""
    return {"cohort_id": roles.enrolment.cohort_id} if roles.enrolment is not None else None


def _staff(cohort: Cohort) -> bool:
    return role_in(signed_in(), cohort) is Role.STAFF


def _cohort(cohort_id: int) -> Cohort:
    return db.session.get(Cohort, cohort_id) or abort(404)


def _module(key: str) -> Module:
    return services.module_by_key(db.session, key) or abort(404)


def _thread(thread_id: int) -> tuple[Thread, bool]:
    """The thread and whether the asker is staff; a hidden thread is not found for learners."""
    thread = db.session.get(Thread, thread_id) or abort(404)
    staff = _staff(thread.cohort)
    if thread.hidden and not staff:
        abort(404)
    return thread, staff


@bp.get("/discussions")
def start() -> Any:
    """The way in (from the module page, ``?module=<key>``): a learner goes straight to
    their cohort's discussions (of that module); staff choose among their cohorts."""
    module_key = request.args.get("module", "")
    item = services.module_by_key(db.session, module_key) if module_key else None
    cohorts = discussion_cohorts(signed_in())
    if len(cohorts) == 1:
        if item is not None:
            return redirect(url_for("discussions.module", cohort_id=cohorts[0].id, key=item.key))
        return redirect(url_for("discussions.index", cohort_id=cohorts[0].id))
    return render_template("discussions/start.html", cohorts=cohorts, module=item)


@bp.get("/cohorts/<int:cohort_id>/discussions")
def index(cohort_id: int) -> str:
    cohort = _cohort(cohort_id)
    return render_template("discussions/index.html", cohort=cohort,
                           rows=services.cohort_modules(db.session, cohort, _staff(cohort)))


def _module_page(cohort: Cohort, module: Module, form: ThreadForm | None = None, status: int = 200) -> tuple[str, int]:
    staff = _staff(cohort)
    return render_template("discussions/module.html", cohort=cohort, module=module, staff=staff,
                           rows=services.module_threads(db.session, cohort, module, staff),
                           form=form or ThreadForm()), status


@bp.get("/cohorts/<int:cohort_id>/discussions/<key>")
def module(cohort_id: int, key: str) -> tuple[str, int]:
    return _module_page(_cohort(cohort_id), _module(key))


@bp.post("/cohorts/<int:cohort_id>/discussions/<key>")
def new_thread(cohort_id: int, key: str) -> Any:
    cohort, item = _cohort(cohort_id), _module(key)
    form = ThreadForm()
    if form.validate_on_submit():
        try:
            thread = services.start_thread(db.session, cohort, item, signed_in(), form.title.data or "",
                                           form.body.data or "", utcnow(), link_for)
        except services.DiscussionError as exc:
            db.session.rollback()
            add_error(form.body, str(exc))
        else:
            flash("Thread started.", "success")
            return redirect(url_for("discussions.thread", thread_id=thread.id))
    return _module_page(cohort, item, form, 400)


def _thread_page(thread: Thread, staff: bool, form: ReplyForm | None = None, status: int = 200,
                 error: str | None = None, moderated: tuple[str, ModerateForm] | None = None) -> tuple[str, int]:
    """``moderated``: a moderation refused about its reason, with what it was about (``"thread"``
    or ``"post-<id>"``): that form's reason is shown as the field, marked invalid by its message."""
    posts = services.thread_posts(db.session, thread)
    return render_template("discussions/thread.html", thread=thread, staff=staff, posts=posts,
                           opening=posts[0], replies=posts[1:], form=form or ReplyForm(),
                           moderate=moderated[1] if moderated else ModerateForm(formdata=None),
                           refused_on=moderated[0] if moderated else None,
                           log=services.moderation_log(db.session, thread) if staff else [],
                           labels={a: m.label for a, m in MODERATORS.items()}, actions=ModerationAction,
                           me=signed_in(), error=error), status


@bp.get("/threads/<int:thread_id>")
def thread(thread_id: int) -> tuple[str, int]:
    return _thread_page(*_thread(thread_id))


@bp.post("/threads/<int:thread_id>")
def reply(thread_id: int) -> Any:
    item, staff = _thread(thread_id)
    form = ReplyForm()
    if form.validate_on_submit():
        try:
            post = services.reply(db.session, item, signed_in(), form.body.data or "", utcnow(), link_for)
        except services.DiscussionError as exc:
            db.session.rollback()
            add_error(form.body, str(exc))
            return _thread_page(item, staff, form, 409 if item.locked else 400)
        flash("Reply posted.", "success")
        return redirect(link_for(post))
    return _thread_page(item, staff, form, 400)


def _moderate(item: Thread, post: Post | None) -> Any:
    form = ModerateForm()
    on = "thread" if post is None else f"post-{post.id}"
    if form.validate_on_submit():
        try:
            entry = services.moderate(db.session, signed_in(), form.action.data or "", item, post,
                                      form.reason.data or "", utcnow())
        except services.DiscussionError as exc:
            db.session.rollback()
            if refuse_field(form, exc.field, str(exc)):  # by the reason it is about, invalid and in the summary
                return _thread_page(item, True, status=400, moderated=(on, form))
            return _thread_page(item, True, status=400, error=str(exc))
        flash(MODERATORS[entry.action].done, "success")
        return redirect(url_for("discussions.thread", thread_id=item.id,
                                _anchor=f"post-{post.id}" if post is not None else None))
    if form.reason.errors:  # too long: said by the reason, kept as typed
        return _thread_page(item, True, status=400, moderated=(on, form))
    return _thread_page(item, True, status=400, error="Choose a moderation action.")


@bp.post("/threads/<int:thread_id>/moderate")
def moderate_thread(thread_id: int) -> Any:
    return _moderate(db.session.get(Thread, thread_id) or abort(404), None)


@bp.post("/posts/<int:post_id>/moderate")
def moderate_post(post_id: int) -> Any:
    post = db.session.get(Post, post_id) or abort(404)
    return _moderate(post.thread, post)


def _own_post(post_id: int) -> Post:
    post = db.session.get(Post, post_id) or abort(404)
    if post.thread.hidden and not _staff(post.thread.cohort):
        abort(404)
    return post


def _edit_page(post: Post, form: EditPostForm, status: int = 200, stale: str | None = None) -> tuple[str, int]:
    return render_template("discussions/edit.html", post=post, thread=post.thread, form=form, stale=stale), status


@bp.get("/posts/<int:post_id>/edit")
def edit_post(post_id: int) -> Any:
    post = _own_post(post_id)
    refused = services.why_not_editable(post, signed_in())
    if refused is not None:  # said before anything is typed, not on saving
        flash(refused, "error")
        return redirect(link_for(post))
    return _edit_page(post, EditPostForm(data={"title": post.thread.title, "body": post.body,
                                               "revision": post.revision}))


@bp.post("/posts/<int:post_id>/edit")
def save_post(post_id: int) -> Any:
    post = _own_post(post_id)
    form = EditPostForm()
    if form.validate_on_submit():
        try:
            services.edit_post(db.session, post, signed_in(), form.body.data or "",
                               form.title.data if post.opening else None, form.revision.data or 0, utcnow())
        except services.StalePost as exc:
            db.session.rollback()
            current = _own_post(post_id)
            form.revision.data = current.revision
            return _edit_page(current, form, 409, stale=str(exc))
        except services.DiscussionError as exc:
            db.session.rollback()
            add_error(form.body, str(exc))
        else:
            flash("Post saved.", "success")
            return redirect(link_for(post))
    return _edit_page(post, form, 400)


