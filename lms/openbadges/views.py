"""Open Badges 3.0 documents and pages: the issuer profile and its keys, a certificate's
signed credential (download), the revocation status list, verification (a page and a JSON
endpoint), and revoking a certificate's credential."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for

from lms.accounts.current import signed_in
from lms.accounts.views import same_site_path
from lms.catalog.services import active_program
from lms.certificates.services import Urls, by_code, revocation_of
from lms.database import utcnow
from lms.extensions import db
from lms.openbadges import services
from lms.openbadges.forms import RevokeForm, VerifyForm
from lms.web.forms import add_error
from lms.web.site_url import site_root

bp = Blueprint("openbadges", __name__, template_folder="templates")


def _base() -> str:
    return site_root()


def _issuer_name() -> str:
    program = active_program(db.session)
    return program.title if program else "AI Operations"


def _json(document: Any, status: int = 200, mimetype: str = "application/json") -> Response:
    response = Response(json.dumps(document, indent=2, ensure_ascii=False), status=status, mimetype=mimetype)
    response.headers["Access-Control-Allow-Origin"] = "*"  # wallets and verifiers read these from anywhere
    return response


def _problem(status: int, reason: str) -> Response:
    return _json({"error": {404: "Not found", 503: "Not available yet", 400: "Bad request"}.get(status, "Error"),
                  "reason": reason}, status)


NO_KEY = ("The issuer has no signing key yet: it is made with the first certificate, "
          "or by `flask lms badge-key`.")


@bp.get("/badges/v3/issuer")
def issuer() -> Response:
    document = services.issuer_profile(_base(), _issuer_name(), current_app.config["MAIL_FROM"], services.keys(db.session))
    return _json(document, mimetype="application/ld+json" if request.accept_mimetypes.best == "application/ld+json"
                 else "application/json")


@bp.get("/badges/v3/jwks.json")
def jwks() -> Response:
    return _json({"keys": [k.public_jwk for k in services.keys(db.session)]})


@bp.get("/badges/v3/credentials/<code>.jwt")
def credential(code: str) -> Response:
    certificate = by_code(db.session, code)
    if certificate is None:
        return _problem(404, "No certificate has this code.")
    key = services.current_key(db.session)
    if key is None:
        return _problem(503, NO_KEY)
    secret = current_app.config["SECRET_KEY"]
    token = services.sign(services.credential(certificate, _base(), secret, _issuer_name()), key, secret, _base())
    response = Response(token, mimetype="application/vc+jwt")
    response.headers["Content-Disposition"] = f'attachment; filename="{certificate.level.key}-open-badge-3.jwt"'
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/badges/v3/credentials/<code>")
def credential_json(code: str) -> Response:
    """The credential unsigned, for reading (its ``id``); the signed one is the .jwt."""
    certificate = by_code(db.session, code)
    if certificate is None:
        return _problem(404, "No certificate has this code.")
    return _json(services.credential(certificate, _base(), current_app.config["SECRET_KEY"], _issuer_name()))


@bp.get("/badges/v3/status/revocation")
def status_list() -> Response:
    key = services.current_key(db.session)
    if key is None:
        return _problem(503, NO_KEY)
    document = services.status_list_credential(db.session, _base(), utcnow())
    response = Response(services.sign(document, key, current_app.config["SECRET_KEY"], _base()), mimetype="application/vc+jwt")
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.route("/badges/v3/verify", methods=["GET", "POST"])
def verify_page() -> tuple[str, int]:
    form = VerifyForm()
    result = None
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            result = services.verify(db.session, form.credential.data or "", _base())
        else:
            status = 422
    return render_template("openbadges/verify.html", form=form, result=result, urls=services.Urls3.at(_base())), status


@bp.route("/badges/v3/verify.json", methods=["GET", "POST"])
def verify_json() -> Response:
    """POST the VC-JWT (the body as text, or JSON ``{"credential": "<jwt>"}``), or GET with
    ``?credential=``; answers ``{"valid", "revoked", "reasons", "credential"}``."""
    if request.method == "GET":
        token = request.args.get("credential", "")
    elif request.is_json:
        body = request.get_json(silent=True)
        token = body.get("credential", "") if isinstance(body, dict) else ""
        if not isinstance(token, str):
            return _problem(400, "Give the credential as a VC-JWT string in \"credential\".")
    else:
        token = request.get_data(as_text=True)
    if len(token) > services.MAX_TOKEN:
        return _problem(400, "The credential is too long.")
    result = services.verify(db.session, token, _base())
    return _json(result.as_json())


@bp.route("/badges/v3/manage/<code>", methods=["GET", "POST"])
def manage(code: str) -> Any:
    certificate = by_code(db.session, code) or abort(404)
    # Where the admin came from (the cohort's certified learners), kept through the POST:
    # the page's way back. Only a path of this site; else home.
    back = same_site_path(request.args.get("back"))
    form = RevokeForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            services.revoke(db.session, certificate, signed_in().id, form.reason.data or "", utcnow())
        except services.BadgeError as exc:
            db.session.rollback()
            add_error(form.reason, str(exc))
        else:
            flash(f"The Open Badges 3.0 credential of {certificate.holder_name} for the {certificate.level.title} level "
                  "certificate is revoked.", "success")
            return redirect(url_for("openbadges.manage", code=code, back=back))
    status = 422 if request.method == "POST" else 200
    return render_template("openbadges/manage.html", certificate=certificate, form=form, back=back,
                           back_url=back or url_for("learning.home"),
                           revocation=revocation_of(db.session, certificate),
                           urls=Urls.at(_base()), urls3=services.Urls3.at(_base())), status
