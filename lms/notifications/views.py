"""The notification centre (list, open, mark read, mark all read) and the preferences page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from lms.accounts.current import count_loaded_with_user, signed_in
from lms.cohorts.roles import roles_of
from lms.database import utcnow
from lms.extensions import db
from lms.notifications import services
from lms.notifications.forms import ActionForm, PreferencesForm
from lms.notifications.models import EVENTS, Audience, Channel, EventKind

bp = Blueprint("notifications", __name__, template_folder="templates")

CHANNEL_LABELS: dict[Channel, str] = {Channel.IN_APP: "In the app", Channel.EMAIL: "In the app and by email",
                                      Channel.DIGEST: "In the app and in a daily email", Channel.OFF: "Off"}
AUDIENCE_LABELS: dict[Audience, str] = {Audience.LEARNER: "Your learning", Audience.STAFF: "Teaching",
                                        Audience.ANYONE: "Announcements, discussions and messages"}


UNREAD = "notifications_unread"  # read with the signed-in user (lms.accounts.current) on safe requests


def unread_notifications() -> int:
    """The signed-in user's unread count (read with the user on safe requests; otherwise one
    statement), 0 for nobody signed in."""
    return count_loaded_with_user(UNREAD, lambda user_id: services.unread_count(db.session, user_id))


def unread_context() -> dict[str, Any]:
    """``unread_notifications()`` in every template, run only by a template that calls it."""
    return {"unread_notifications": unread_notifications}


@bp.get("/notifications")
def centre() -> str:
    user = signed_in()
    items = services.recent(db.session, user.id)
    return render_template("notifications/centre.html", items=items, form=ActionForm(),
                           unread=sum(1 for n in items if n.read_at is None))


def _own(notification_id: int) -> Any:
    return services.own_notification(db.session, signed_in().id, notification_id) or abort(404)


@bp.post("/notifications/<int:notification_id>/open", endpoint="open")
def open_(notification_id: int) -> WerkzeugResponse:
    """Mark the notification read and go where it points (the centre if nowhere)."""
    notification = _own(notification_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    target = services.open_notification(db.session, notification, utcnow())  # a page of this site only
    return redirect(target or url_for("notifications.centre"))


@bp.post("/notifications/<int:notification_id>/read")
def read(notification_id: int) -> WerkzeugResponse:
    notification = _own(notification_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    services.mark_read(db.session, notification, utcnow())
    return redirect(url_for("notifications.centre"))


@bp.post("/notifications/read-all")
def read_all() -> WerkzeugResponse:
    if not ActionForm().validate_on_submit():
        abort(400)
    count = services.mark_all_read(db.session, signed_in().id, utcnow())
    flash(f"Marked {count} notification{'s' * (count != 1)} read." if count else "Nothing was unread.", "success")
    return redirect(url_for("notifications.centre"))


def _kinds_for_user() -> list[tuple[Audience, list[EventKind]]]:
    """The kinds of event this user can receive, grouped: a learner's, staff's, everyone's."""
    roles = roles_of(db.session, signed_in())
    audiences = [Audience.ANYONE]
    if roles.enrolment is not None or not roles.is_staff:
        audiences.insert(0, Audience.LEARNER)
    if roles.is_staff:
        audiences.insert(-1, Audience.STAFF)
    return [(audience, [kind for kind in EVENTS.values() if kind.audience == audience]) for audience in audiences]


def _preferences_page(form: PreferencesForm, error: str | None = None, status: int = 200) -> tuple[str, int]:
    chosen = services.preferences(db.session, signed_in().id)
    return render_template("notifications/preferences.html", form=form, groups=_kinds_for_user(), chosen=chosen,
                           channels=CHANNEL_LABELS, audiences=AUDIENCE_LABELS, error=error), status


@bp.get("/notifications/preferences")
def preferences() -> tuple[str, int]:
    return _preferences_page(PreferencesForm())


@bp.post("/notifications/preferences")
def save_preferences() -> tuple[str, int] | WerkzeugResponse:
    form = PreferencesForm()
    if not form.validate_on_submit():
        return _preferences_page(form, "The form had expired; nothing was saved. Choose again and save.", 400)
    choices: dict[Any, Channel] = {}
    for _audience, kinds in _kinds_for_user():
        for kind in kinds:
            value = request.form.get(kind.event.value)
            if value is None:
                continue  # not sent: left as it was
            try:
                choices[kind.event] = Channel(value)
            except ValueError:
                return _preferences_page(form, f"{kind.label}: choose one of the listed options.", 400)
    services.set_preferences(db.session, signed_in().id, choices)
    flash("Your notification preferences are saved.", "success")
    return redirect(url_for("notifications.preferences"))
