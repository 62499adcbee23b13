"""The site admin's view of mail that could not be delivered: messages given up on and
messages waiting for their next try, each with its last error, and retry buttons."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from lms.audit.services import origin
from lms.extensions import db
from lms.mail import services
from lms.mail.forms import RetryForm

bp = Blueprint("mail", __name__, template_folder="templates")


@bp.get("/admin/mail")
def outbox() -> str:
    return render_template("mail/outbox.html", trouble=services.troubled(db.session), form=RetryForm())


def _retried(count: int) -> Response:
    if count:
        flash(f"{count} message{'s' * (count != 1)} will be sent again now.", "success")
    else:
        flash("Nothing to retry: the message was sent meanwhile.", "info")
    return redirect(url_for("mail.outbox"))


@bp.post("/admin/mail/<int:message_id>/retry")
def retry(message_id: int) -> Response | tuple[str, int]:
    form = RetryForm()
    if not form.validate_on_submit():
        return render_template("mail/outbox.html", trouble=services.troubled(db.session), form=form), 400
    return _retried(services.retry(db.session, [message_id], by=origin(db.session)))


@bp.post("/admin/mail/retry-failed")
def retry_failed() -> Response | tuple[str, int]:
    form = RetryForm()
    if not form.validate_on_submit():
        return render_template("mail/outbox.html", trouble=services.troubled(db.session), form=form), 400
    return _retried(services.retry(db.session, services.failed_ids(db.session), by=origin(db.session),
                                   target="mail:failed"))
