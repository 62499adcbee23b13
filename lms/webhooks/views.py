"""An organization admin's webhook pages: the endpoints (add one, its secret shown once;
pause, resume, rotate the secret), each endpoint's delivery log, and redelivery."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from lms.accounts.current import signed_in
from lms.cohorts.models import Organization
from lms.database import utcnow
from lms.extensions import db
from lms.web.forms import add_error
from lms.webhooks import services
from lms.webhooks.forms import ActionForm, EndpointForm, RotateForm
from lms.webhooks.models import EVENT_LABELS, WebhookEndpoint, WebhookEvent

DELIVERIES_SHOWN = 100  # the latest deliveries an endpoint's log lists

bp = Blueprint("webhooks", __name__, template_folder="templates")


def _allow_local_http() -> bool:
    return bool(current_app.config.get("WEBHOOK_ALLOW_LOCAL_HTTP"))


def _overlap() -> timedelta:
    """How long a replaced secret keeps signing beside the new one."""
    return timedelta(hours=float(current_app.config.get("WEBHOOK_SECRET_OVERLAP_HOURS") or 0))


def _overlap_hours() -> float | int:
    """The overlap as the confirmations say it: whole hours without a decimal point."""
    hours = _overlap().total_seconds() / 3600
    return int(hours) if hours.is_integer() else round(hours, 2)


def _list(org: Organization, form: EndpointForm, secret: str | None = None,
          created: WebhookEndpoint | None = None, already: WebhookEndpoint | None = None) -> str:
    return render_template("webhooks/endpoints.html", org=org, form=form, action=ActionForm(),
                           endpoints=services.endpoints_of(db.session, org.id), secret=secret, created=created,
                           already=already, now=utcnow(), overlap_hours=_overlap_hours(),
                           labels={e.value: label for e, label in EVENT_LABELS.items()},
                           allow_local_http=_allow_local_http())


def _endpoint(org_id: int, endpoint_id: int) -> tuple[Organization, WebhookEndpoint]:
    org = db.get_or_404(Organization, org_id)
    endpoint = services.endpoint_of(db.session, org.id, endpoint_id)
    if endpoint is None:
        abort(404)
    return org, endpoint


@bp.route("/organizations/<int:org_id>/webhooks", methods=["GET", "POST"])
def endpoints(org_id: int) -> Any:
    org = db.get_or_404(Organization, org_id)
    form = EndpointForm()
    if not form.is_submitted():
        return _list(org, form)
    if not form.validate():
        return _list(org, form), 400
    try:
        endpoint, secret = services.create_endpoint(
            db.session, org.id, form.url.data or "", form.events.data or [], form.description.data or "",
            str(current_app.config["SECRET_KEY"]), signed_in().id, _allow_local_http(), form_token=form.form_token.value)
    except services.WebhookError as exc:
        db.session.rollback()
        add_error(form.url, str(exc))
        return _list(org, form), 400
    if not secret:  # the same form again (a reload, a double click): its endpoint, never its secret again
        return _list(org, EndpointForm(formdata=None), already=endpoint), 200
    # Shown once, on this answer to the POST (committed: < 400); never again.
    return _list(org, EndpointForm(formdata=None), secret=secret, created=endpoint), 201


@bp.get("/organizations/<int:org_id>/webhooks/<int:endpoint_id>")
def endpoint(org_id: int, endpoint_id: int) -> str:
    """The endpoint's delivery log; ``?test=<id>``: the test event just sent, and how it went."""
    org, hook = _endpoint(org_id, endpoint_id)
    test = request.args.get("test", type=int)
    ping = services.ping_of(db.session, hook, test) if test is not None and 0 < test < 2**31 else None
    return render_template("webhooks/endpoint.html", org=org, endpoint=hook, action=ActionForm(), ping=ping,
                           deliveries=services.deliveries_of(db.session, hook, DELIVERIES_SHOWN), most=DELIVERIES_SHOWN,
                           labels={e.value: label for e, label in EVENT_LABELS.items()}, events=WebhookEvent)


def _refused(org_id: int, endpoint_id: int) -> Response:
    flash("This page had expired, so nothing was done. Try again.", "error")
    return redirect(url_for("webhooks.endpoint", org_id=org_id, endpoint_id=endpoint_id))


@bp.post("/organizations/<int:org_id>/webhooks/<int:endpoint_id>/active")
def toggle(org_id: int, endpoint_id: int) -> Response | tuple[str, int]:
    org, hook = _endpoint(org_id, endpoint_id)
    if not ActionForm().validate_on_submit():
        return _list(org, EndpointForm(formdata=None)), 400
    # The button says what it asks for: a second press from a page shown before the first
    # (another admin, another tab) must not read as the opposite request.
    wanted = {"resume": True, "pause": False}.get(request.form.get("to", ""))
    if wanted is None:
        flash("Nothing was changed: the button did not say whether to pause or resume. Open the page again.", "error")
    elif wanted == hook.active:
        flash(f"{hook.url} was already {'active' if wanted else 'paused'}: nothing was changed.", "info")
    else:
        services.set_active(db.session, hook, wanted)
        flash(f"{hook.url}: " + ("deliveries resume." if hook.active else
                                 "paused. Events that happen while it is paused are not sent to it, not even once you "
                                 "resume; deliveries queued before the pause wait until you resume."), "success")
    return redirect(url_for("webhooks.endpoints", org_id=org.id))


@bp.post("/organizations/<int:org_id>/webhooks/<int:endpoint_id>/secret")
def rotate(org_id: int, endpoint_id: int) -> Response | tuple[str, int]:
    """A new secret, once the admin has confirmed (the list's "New secret" asks first). A
    POST without the confirmation (a form from elsewhere, an old page) changes nothing and
    shows what the new secret would do, with the button that confirms."""
    org, hook = _endpoint(org_id, endpoint_id)
    form = RotateForm()
    if not form.validate_on_submit():
        return _list(org, EndpointForm(formdata=None)), 400
    if not form.confirmed:
        return render_template("webhooks/rotate.html", org=org, endpoint=hook, action=ActionForm(), now=utcnow(),
                               overlap_hours=_overlap_hours()), 200
    secret = services.rotate_secret(db.session, hook, str(current_app.config["SECRET_KEY"]), _overlap(), utcnow())
    return _list(org, EndpointForm(formdata=None), secret=secret, created=hook), 200


@bp.post("/organizations/<int:org_id>/webhooks/<int:endpoint_id>/test")
def send_test(org_id: int, endpoint_id: int) -> Response:
    """Send the endpoint a signed ``ping`` through the usual delivery (after this response);
    its page then says how it went (``?test=``) and its log lists it."""
    org, hook = _endpoint(org_id, endpoint_id)
    if not ActionForm().validate_on_submit():
        return _refused(org.id, hook.id)
    try:
        delivery = services.send_test_event(db.session, hook, utcnow())
    except services.EndpointPaused as exc:
        db.session.rollback()
        flash(f"Nothing was sent: {exc}", "error")
        return redirect(url_for("webhooks.endpoint", org_id=org.id, endpoint_id=hook.id))
    return redirect(url_for("webhooks.endpoint", org_id=org.id, endpoint_id=hook.id, test=delivery.id))


@bp.post("/organizations/<int:org_id>/webhooks/deliveries/<int:delivery_id>/redeliver")
def redeliver(org_id: int, delivery_id: int) -> Response:
    org = db.get_or_404(Organization, org_id)
    delivery = services.delivery_of(db.session, org.id, delivery_id)
    if delivery is None:
        abort(404)
    if not ActionForm().validate_on_submit():
        return _refused(org.id, delivery.endpoint_id)
    services.redeliver(db.session, delivery)
    flash(f"Delivery {delivery.message_id} will be sent again now.", "success")
    return redirect(url_for("webhooks.endpoint", org_id=org.id, endpoint_id=delivery.endpoint_id))
