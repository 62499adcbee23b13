"""Two-factor pages: the code step of signing in, set-up (QR code and recovery codes,
shown once), turning it off, forgetting remembered devices, the organization setting and
a site admin's reset. The password step hands over through ``sign_in_step`` (registered
as accounts' second step in the wiring)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, session, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from lms.accounts.current import signed_in, signed_in_user
from lms.accounts.models import User
from lms.accounts.notices import SecurityChange
from lms.accounts.second_step import PasswordAccepted
from lms.accounts.secret_checks import limit_secret_checks, note_refused
from lms.accounts.services import password_matches
from lms.accounts.signin_guard import SignInGuard, Verdict
from lms.accounts.views import finish_sign_in, tell_of
from lms.audit.services import origin
from lms.cohorts.models import Organization
from lms.extensions import db, limiter
from lms.twofactor import services
from lms.twofactor.access import PENDING
from lms.twofactor.forms import CodeForm, ConfirmForm, DisableForm, NewCodesForm, PlainForm, PolicyForm, ResetForm
from lms.web.forms import add_error

bp = Blueprint("twofactor", __name__, template_folder="templates")

DEVICE_COOKIE = "lms_2fa_device"
_DEVICE_SALT = "lms.two-factor-device"
PENDING_SECONDS = 600  # the code step must follow the password within ten minutes


def _key() -> bytes:
    return services.cipher_key(current_app.config["SECRET_KEY"])


def _enforced() -> bool:
    return bool(current_app.config.get("TWO_FACTOR_REQUIRED", True))


# --------------------------------------------------------------------------- the pending sign-in


@dataclass(frozen=True)
class Pending:
    user: User
    accepted: PasswordAccepted
    enrol: bool


def _pending() -> Pending | None:
    """The half-finished sign-in this browser holds, if it is still good."""
    raw = session.get(PENDING)
    if not isinstance(raw, dict) or time.time() - float(raw.get("at", 0)) > PENDING_SECONDS:
        return None
    user = db.session.get(User, int(raw.get("user", 0)))
    if user is None or not user.is_active or user.session_version != raw.get("version"):
        return None
    accepted = PasswordAccepted(user, bool(raw.get("remember")), str(raw.get("next") or url_for("learning.home")),
                                raw.get("device") if isinstance(raw.get("device"), str) else None)
    return Pending(user, accepted, bool(raw.get("enrol")))


def _hold(accepted: PasswordAccepted, enrol: bool) -> None:
    session[PENDING] = {"user": accepted.user.id, "version": accepted.user.session_version,
                        "remember": accepted.remember, "next": accepted.next_url, "device": accepted.device,
                        "enrol": enrol, "at": time.time()}


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_DEVICE_SALT)


def device_cookie_value(user_id: int, token: str) -> str:
    return _serializer().dumps([user_id, token])


def _device_token(user: User) -> str | None:
    cookie = request.cookies.get(DEVICE_COOKIE)
    if not cookie:
        return None
    try:
        payload: Any = _serializer().loads(cookie)
    except BadSignature:
        return None
    if isinstance(payload, list) and len(payload) == 2 and payload[0] == user.id and isinstance(payload[1], str):
        return payload[1]
    return None


def sign_in_step(accepted: PasswordAccepted) -> Response | None:
    """After a right password: None lets the sign-in finish (no two-factor, or a
    remembered device); else the browser holds a pending sign-in and goes to the code
    step, or to set-up when the person's role requires two-factor they lack."""
    user = accepted.user
    session.pop(PENDING, None)
    if services.is_enrolled(db.session, user.id):
        token = _device_token(user)
        if token is not None and services.remembered(db.session, user, token):
            return None
        _hold(accepted, enrol=False)
        return redirect(url_for("twofactor.challenge"))
    if _enforced() and services.required_for(db.session, user):
        _hold(accepted, enrol=True)
        flash("Your role requires two-factor sign-in. Set it up to continue.", "info")
        return redirect(url_for("twofactor.setup"))
    return None


def _guard() -> SignInGuard:
    """Wrong codes are counted like wrong passwords, in their own keys."""
    config = current_app.config
    prefix = (config.get("RATELIMIT_KEY_PREFIX", "") or "lms") + "-2fa"
    return SignInGuard(limiter.limiter, config["LOGIN_SLOWDOWN"], config["LOGIN_LOCK"], prefix)


def _failed(response: Response) -> bool:
    return request.method == "POST" and response.status_code != 302


def _device_label() -> str:
    agent = request.user_agent
    parts = [p for p in (agent.browser, agent.platform) if p]
    return " on ".join(str(p).capitalize() for p in parts) or (agent.string[:80] or "A browser")


@bp.route("/login/two-factor", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"], methods=["POST"], deduct_when=_failed)
def challenge() -> Any:
    if signed_in_user() is not None:
        return redirect(url_for("learning.home"))
    pending = _pending()
    if pending is None:
        session.pop(PENDING, None)
        flash("Sign in again: the code step must follow your password within ten minutes.", "info")
        return redirect(url_for("accounts.login"))
    if pending.enrol:
        return redirect(url_for("twofactor.setup"))
    form = CodeForm()
    if form.validate_on_submit():
        guard, email = _guard(), pending.user.email
        check = guard.check(email)
        if check.verdict is not Verdict.ALLOWED:
            add_error(form.code, f"Too many wrong codes: wait {check.retry_after} seconds, then try again.")
            page = render_template("twofactor/challenge.html", form=form)
            return page, 429, {"Retry-After": str(check.retry_after)}
        try:
            outcome = services.verify(db.session, pending.user, form.code.data or "", _key())
        except services.TwoFactorError as exc:
            add_error(form.code, str(exc))
            return render_template("twofactor/challenge.html", form=form), 200
        if outcome is None:
            guard.failed(email)
            add_error(form.code, "That code is not right, or it was used already. Wait for the next one.")
            return render_template("twofactor/challenge.html", form=form), 200
        guard.unlock(email)
        session.pop(PENDING, None)
        response = finish_sign_in(pending.accepted)
        if form.remember.data:
            token = services.remember_device(db.session, pending.user, _device_label())
            response.set_cookie(DEVICE_COOKIE, device_cookie_value(pending.user.id, token),
                                max_age=services.DEVICE_DAYS * 86400, httponly=True, samesite="Lax",
                                secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
        if outcome == services.Outcome.RECOVERY:
            left = services.status(db.session, pending.user, _enforced()).recovery_codes_left
            flash(f"You signed in with a recovery code; {left} left. Make new ones on your account page "
                  "if you are running out.", "info")
        return response
    return render_template("twofactor/challenge.html", form=form), 200


# --------------------------------------------------------------------------- set-up


def _enrolling_user() -> tuple[User, Pending | None]:
    user = signed_in_user()
    if user is not None:
        return user, None
    pending = _pending()
    if pending is None or not pending.enrol:
        abort(401)
    return pending.user, pending


@bp.route("/account/two-factor", methods=["GET", "POST"])
@limit_secret_checks
def setup() -> Any:
    user, pending = _enrolling_user()
    if services.is_enrolled(db.session, user.id):
        if pending is not None:  # enrolled meanwhile (another tab): sign in with a code as usual
            _hold(pending.accepted, enrol=False)
            return redirect(url_for("twofactor.challenge"))
        flash("Two-factor sign-in is already on.", "info")
        return redirect(url_for("accounts.account"))
    form = ConfirmForm()
    # On the account page the password is asked again: a session's holder (a browser left signed
    # in, a stolen cookie) would otherwise put their own phone's key on the account, and its owner
    # could no longer sign in. During a sign-in it was just given; an account signing in through
    # its organization's provider has none to ask.
    ask_password = pending is None and user.has_password
    if not ask_password:
        del form.password
    if form.validate_on_submit():
        if ask_password and not password_matches(user, form.password.data or ""):
            note_refused()
            add_error(form.password, "That is not your password: it is asked again before two-factor sign-in is turned on.")
            return render_template("twofactor/setup.html", form=form, enrolment=None, pending=pending), 400
        try:
            codes = services.confirm_enrolment(db.session, user, form.key.data or "", form.code.data or "", _key())
        except services.TwoFactorError as exc:
            db.session.rollback()
            add_error(form.code, str(exc))
            return render_template("twofactor/setup.html", form=form, enrolment=None, pending=pending), 400
        tell_of(user, SecurityChange.TWO_FACTOR_ON)
        page = make_response(render_template("twofactor/codes.html", codes=codes,
                                             next_url=pending.accepted.next_url if pending else url_for("accounts.account")))
        if pending is not None:
            session.pop(PENDING, None)
            signed = finish_sign_in(pending.accepted)
            for cookie in signed.headers.getlist("Set-Cookie"):
                page.headers.add("Set-Cookie", cookie)
        page.headers["Cache-Control"] = "no-store"
        return page
    if request.method == "POST":
        return render_template("twofactor/setup.html", form=form, enrolment=None, pending=pending), 400
    enrolment = services.new_enrolment(db.session, user, _key())
    form.key.data = enrolment.token
    page = make_response(render_template("twofactor/setup.html", form=form, enrolment=enrolment, pending=pending))
    page.headers["Cache-Control"] = "no-store"
    return page


@bp.post("/account/two-factor/cancel")
def cancel() -> Response:
    """Leave a required set-up half-way: the pending sign-in ends."""
    session.pop(PENDING, None)
    if signed_in_user() is not None:
        return redirect(url_for("accounts.account"))
    flash("You are not signed in: the sign-in was not finished.", "info")
    return redirect(url_for("accounts.login"))


@bp.route("/account/two-factor/off", methods=["GET", "POST"])
@limit_secret_checks
def disable() -> Any:
    user = signed_in()
    form = DisableForm()
    if form.validate_on_submit():
        try:
            services.disable(db.session, user, form.code.data or "", _key(), _enforced())
        except services.TwoFactorError as exc:
            note_refused()
            add_error(form.code, str(exc))
            return render_template("twofactor/disable.html", form=form), 400
        tell_of(user, SecurityChange.TWO_FACTOR_OFF)
        flash("Two-factor sign-in is off.", "success")
        return redirect(url_for("accounts.account"))
    return render_template("twofactor/disable.html", form=form), 400 if request.method == "POST" else 200


@bp.route("/account/two-factor/codes", methods=["GET", "POST"])
@limit_secret_checks
def new_codes() -> Any:
    """New recovery codes, shown once, for a person who spent or lost theirs."""
    user = signed_in()
    if not services.is_enrolled(db.session, user.id):
        flash("Two-factor sign-in is off for your account: set it up first.", "info")
        return redirect(url_for("accounts.account"))
    form = NewCodesForm()
    if form.validate_on_submit():
        try:
            codes = services.replace_recovery_codes(db.session, user, form.code.data or "", _key())
        except services.TwoFactorError as exc:
            note_refused()
            add_error(form.code, str(exc))
            return render_template("twofactor/new_codes.html", form=form), 400
        tell_of(user, SecurityChange.RECOVERY_CODES)
        page = make_response(render_template("twofactor/codes.html", codes=codes, replaced=True,
                                             next_url=url_for("accounts.account")))
        page.headers["Cache-Control"] = "no-store"
        return page
    return render_template("twofactor/new_codes.html", form=form), 400 if request.method == "POST" else 200


@bp.post("/account/two-factor/devices/<int:device_id>/forget")
def forget_device(device_id: int) -> Response:
    user = signed_in()
    if not PlainForm().validate_on_submit():
        abort(400)
    if not services.forget_device(db.session, user, device_id):
        abort(404)
    flash("That device will be asked for a code at its next sign-in.", "success")
    return redirect(url_for("accounts.account"))


# --------------------------------------------------------------------------- organization setting


@bp.route("/organizations/<int:org_id>/two-factor", methods=["GET", "POST"])
def organization_policy(org_id: int) -> Any:
    org = db.session.get(Organization, org_id) or abort(404)
    form = PolicyForm()
    if form.validate_on_submit():
        try:
            changed = services.set_instructor_requirement(db.session, org.id, bool(form.require_for_instructors.data),
                                                          origin(db.session))
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            flash("Someone saved this setting at the same moment; check it and save again.", "error")
            return redirect(url_for("twofactor.organization_policy", org_id=org.id))
        flash("Saved." if changed else "Nothing changed.", "success")
        return redirect(url_for("twofactor.organization_policy", org_id=org.id))
    if request.method == "GET":
        form.require_for_instructors.data = services.requires_instructors(db.session, org.id)
    return render_template("twofactor/policy.html", org=org, form=form), 400 if request.method == "POST" else 200


# --------------------------------------------------------------------------- site admin's reset


@bp.post("/admin/users/<int:user_id>/two-factor/reset")
def admin_reset(user_id: int) -> Response:
    user = db.session.get(User, user_id) or abort(404)
    form = ResetForm()
    if not form.validate_on_submit():
        flash("Tick the box to confirm the two-factor reset.", "error")
        return redirect(url_for("admin.user", user_id=user.id))
    try:
        services.reset(db.session, user, origin(db.session))
    except services.TwoFactorError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.user", user_id=user.id))
    tell_of(user, SecurityChange.TWO_FACTOR_RESET)
    flash(f"Two-factor sign-in of {user.name} is reset; they set it up again at their next sign-in "
          "if their role requires it.", "success")
    return redirect(url_for("admin.user", user_id=user.id))
