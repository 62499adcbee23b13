"""The inbox: the conversations a person takes part in, one conversation with its messages,
replying, and marking read (a POST: reading a page never writes)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, has_request_context, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from lms.accounts.current import count_loaded_with_user, signed_in
from lms.accounts.models import User
from lms.cohorts.enrolment import active_enrolment
from lms.cohorts.models import Cohort
from lms.database import utcnow
from lms.extensions import db
from lms.inbox import services
from lms.inbox.forms import ActionForm, NewConversationForm, ReplyForm
from lms.inbox.models import Conversation
from lms.notifications.views import unread_notifications
from lms.web.forms import add_error

bp = Blueprint("inbox", __name__, template_folder="templates", static_folder="static", static_url_path="/static/inbox")

UNREAD = "inbox_unread"  # read with the signed-in user (lms.accounts.current) on safe requests


def unread_conversations() -> int:
    """The signed-in user's conversations with unread messages (read with the user on safe
    requests; otherwise one statement), 0 for nobody signed in."""
    return count_loaded_with_user(UNREAD, lambda user_id: services.unread_count(db.session, user_id))


def unread_context() -> dict[str, Any]:
    return {"unread_conversations": unread_conversations}


def link_for(conversation: Conversation) -> str:
    """The conversation's page: its notices link there (a service called outside a request,
    by a command or a test, gets the path all the same)."""
    if has_request_context():
        return url_for("inbox.conversation", conversation_id=conversation.id)
    return current_app.url_map.bind("localhost").build("inbox.conversation", {"conversation_id": conversation.id})


def _conversation(conversation_id: int) -> Conversation:
    return db.session.get(Conversation, conversation_id) or abort(404)


@bp.get("/inbox")
def index() -> str:
    user = signed_in()
    # A learner may write to their cohort's instructors (``write_to_staff``), or ask in their
    # cohort's discussions, whose instructors are told of a new thread.
    enrolment = active_enrolment(db.session, user.id)
    return render_template("inbox/index.html", rows=services.inbox(db.session, user), form=ActionForm(), me=user,
                           listed=services.LISTED, ask_in=enrolment.cohort_id if enrolment is not None else None)


def _page(conversation: Conversation, form: ReplyForm | None = None, status: int = 200) -> tuple[str, int]:
    user = signed_in()
    messages = services.messages_of(db.session, conversation)
    read = services.read_up_to(db.session, conversation, user.id)
    unread = [m for m in messages if m.id > read and m.author_id != user.id]
    return render_template("inbox/conversation.html", conversation=conversation, messages=messages,
                           first_unread=unread[0].id if unread else None, form=form or ReplyForm(),
                           action=ActionForm(up_to=messages[-1].id if messages else None), me=user,
                           staff=conversation.learner_id != user.id), status


@bp.get("/inbox/<int:conversation_id>")
def conversation(conversation_id: int) -> tuple[str, int]:
    return _page(_conversation(conversation_id))


@bp.post("/inbox/<int:conversation_id>")
def reply(conversation_id: int) -> Any:
    item = _conversation(conversation_id)
    form = ReplyForm()
    if form.validate_on_submit():
        try:
            sent = services.reply(db.session, item, signed_in(), form.body.data or "", utcnow(), link_for,
                                  form.token.value)
        except services.InboxError as exc:
            db.session.rollback()
            add_error(form.body, str(exc))
        else:
            flash("Message sent." if sent.made else "That message had already been sent.", "success")
            return redirect(url_for("inbox.conversation", conversation_id=item.id, _anchor=f"message-{sent.message.id}"))
    return _page(item, form, 400)


@bp.post("/inbox/<int:conversation_id>/read")
def mark_read(conversation_id: int) -> WerkzeugResponse:
    """Mark the conversation read, and its notices in the notification centre, then open it
    (the inbox's Open, up to the latest message; the page's Mark read, up to the last it showed).
    Asked for JSON (the page's script, mark_read.js): the person's unread counts once marked,
    ``{"read": true, "unread": {"inbox": n, "notifications": n}}``, for the navigation's badges."""
    item = _conversation(conversation_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    services.mark_read(db.session, item, signed_in().id, form.up_to.data, utcnow())
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json":
        return jsonify(read=True, unread={"inbox": unread_conversations(), "notifications": unread_notifications()})
    return redirect(url_for("inbox.conversation", conversation_id=item.id))


def _cohort_and_learner(cohort_id: int, user_id: int) -> tuple[Cohort, User]:
    return db.session.get(Cohort, cohort_id) or abort(404), db.session.get(User, user_id) or abort(404)


def _new_page(cohort: Cohort, learner: User, form: NewConversationForm, status: int = 200) -> tuple[str, int]:
    return render_template("inbox/new.html", cohort=cohort, learner=learner, form=form), status


@bp.get("/cohorts/<int:cohort_id>/learners/<int:user_id>/message")
def new_conversation(cohort_id: int, user_id: int) -> tuple[str, int]:
    """Staff write to one learner of their cohort: the message opens a conversation."""
    cohort, learner = _cohort_and_learner(cohort_id, user_id)
    return _new_page(cohort, learner, NewConversationForm())


@bp.post("/cohorts/<int:cohort_id>/learners/<int:user_id>/message")
def start_conversation(cohort_id: int, user_id: int) -> Any:
    cohort, learner = _cohort_and_learner(cohort_id, user_id)
    form = NewConversationForm()
    if form.validate_on_submit():
        try:
            started = services.start_conversation(db.session, cohort, signed_in(), learner, form.subject.data or "",
                                                  form.body.data or "", utcnow(), link_for, form.token.value)
        except services.InboxError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
        else:
            if not started.made:
                flash("That message had already been sent.", "success")
            elif started.notified:
                flash(f"Message sent to {learner.name}.", "success")
            else:
                flash(f"Message sent to {learner.name}. They switched staff messages off: it waits in their inbox, "
                      "with no notice.", "success")
            return redirect(url_for("inbox.conversation", conversation_id=started.conversation.id))
    return _new_page(cohort, learner, form, 400)


def _to_staff_page(form: NewConversationForm, status: int = 200) -> tuple[str, int]:
    enrolment = active_enrolment(db.session, signed_in().id)
    return render_template("inbox/to_staff.html", form=form,
                           cohort=enrolment.cohort if enrolment is not None else None), status


@bp.get("/inbox/new")
def new_to_staff() -> tuple[str, int]:
    """A learner writes to their own cohort's instructors: the message opens a conversation."""
    return _to_staff_page(NewConversationForm())


@bp.post("/inbox/new")
def write_to_staff() -> Any:
    form = NewConversationForm()
    if form.validate_on_submit():
        try:
            started = services.write_to_staff(db.session, signed_in(), form.subject.data or "", form.body.data or "",
                                               utcnow(), link_for, form.token.data or "")
        except services.InboxError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
        else:
            flash("Message sent to your instructors." if started.made else "That message had already been sent.",
                  "success")
            return redirect(url_for("inbox.conversation", conversation_id=started.conversation.id))
    return _to_staff_page(form, 400)
