"""The learner's "your data" page and download, and the site admin's erasure form."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from lms.accounts.current import signed_in
from lms.accounts.models import User
from lms.database import utcnow
from lms.extensions import db
from lms.privacy import services
from lms.privacy.forms import EraseForm, ExportForm
from lms.privacy.kinds import KINDS
from lms.storage.backends import Storage, file_storage
from lms.web.downloads import content_disposition
from lms.web.forms import add_error

bp = Blueprint("privacy", __name__, template_folder="templates")


def uploads() -> Storage:
    return file_storage()


def delete_committed_files(session: Session) -> None:
    """After the request's commit: the files its erasure doomed."""
    services.delete_doomed(session, uploads())


def _data_page(form: ExportForm, error: str | None = None) -> str:
    contact = services.erasure_contact(db.session, signed_in(), current_app.config["PRIVACY_CONTACT"])
    return render_template("privacy/data.html", form=form, kinds=[k for k in KINDS if k.exported], contact=contact,
                           error=error)


@bp.get("/account/data")
def data() -> ResponseReturnValue:
    return _data_page(ExportForm())


@bp.post("/account/data/export")
def export() -> ResponseReturnValue:
    form = ExportForm()
    if not form.validate_on_submit():
        return _data_page(form, error="The form expired; try again."), 400
    user, now = signed_in(), utcnow()
    bundle = services.export_bundle(db.session, user, now)
    services.record_export(db.session, user, actor_id=user.id, ip=request.remote_addr)
    filename = f"my-data-{now:%Y%m%d}.zip"
    return Response(services.zip_stream(bundle, uploads()), mimetype="application/zip",
                    headers={"Content-Disposition": content_disposition(filename), "Cache-Control": "private, no-store"})


@bp.route("/admin/users/<int:user_id>/erase", methods=["GET", "POST"])
def erase(user_id: int) -> ResponseReturnValue:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    form = EraseForm()
    refused = services.erasable(db.session, user)
    if request.method == "POST":
        if refused is None and form.validate_on_submit():
            try:
                services.erase_learner(db.session, user, form.confirm_email.data or "", actor_id=signed_in().id,
                                       ip=request.remote_addr, now=utcnow())
            except services.ErasureRefused as exc:
                add_error(form.confirm_email, str(exc))  # by the field, invalid and in the summary (shared)
            else:
                flash("The learner's personal data was erased; their scores stay in the cohort's statistics.", "success")
                return redirect(url_for("privacy.erase", user_id=user.id))
        return render_template("privacy/erase.html", user=user, form=form, refused=refused,
                               kinds=KINDS), 400
    return render_template("privacy/erase.html", user=user, form=form, refused=refused, kinds=KINDS)
