"""Sign in and out, account settings, password reset."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import login_user, logout_user
from werkzeug.wrappers import Response

from lms.accounts import devices, services, sign_ins
from lms.accounts.current import load_signed_in_user, signed_in, signed_in_user
from lms.accounts.forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    LoginForm,
    NewPasswordForm,
    ProfileForm,
    SignOutForm,
    UnlockForm,
)
from lms.accounts.models import User
from lms.accounts.notices import SecurityChange, tell_of_change
from lms.accounts.second_step import PasswordAccepted, second_step
from lms.accounts.secret_checks import limit_secret_checks, note_refused
from lms.accounts.signin_guard import (
    DEVICE_COOKIE,
    DEVICE_COOKIE_DAYS,
    SignInGuard,
    Verdict,
    device_cookie_value,
    device_for,
)
from lms.accounts.timezones import countries_of, grouped_choices, likely_zones
from lms.database import utcnow
from lms.extensions import db, limiter
from lms.mail.services import queue_mail
from lms.web.forms import add_error
from lms.web.unit_of_work import SAFE_METHODS

bp = Blueprint("accounts", __name__, template_folder="templates", static_folder="static", static_url_path="/static/accounts")
REMEMBERED_FOR = timedelta(days=30)  # REMEMBER_COOKIE_DURATION when the config leaves it out (config.py: LMS_REMEMBER_DAYS)


USER_KEY = "_user_id"  # Flask-Login's session key of the signed-in person (``User.get_id()``)


def load_user(user_id: str) -> User | None:
    """Flask-Login's user loader, for the session's id and then, when that signs nobody in,
    the remember cookie's. A session that carries a sign-in id (``lms.accounts.sign_ins``)
    was checked when its sign-in began; it goes on while that sign-in and its device are
    not ended (the rate-limit storage says, no database read). Any other id (the remember
    cookie's, beginning a new sign-in) signs in only with a live device row whose secret
    matches (``lms.accounts.devices``)."""
    carried = devices.parse_id(user_id)
    if carried is None:
        sign_ins.forget()
        return None
    if sign_ins.SIGN_IN in session:
        user = (load_signed_in_user(db.session, carried.user_id) if sign_ins.still_on(carried.device_id) else None)
        # A deactivated user's session ends at their next request; so does one of an older password.
        if user is None or user.session_version != carried.version or not user.is_active:
            sign_ins.forget()  # (the remember cookie, if any, is tried next: as a new sign-in)
            return None
    else:
        user = devices.check(db.session, carried, utcnow())
        if user is None:
            return None
    user.carry_sign_in(carried.token)
    return user


def this_device() -> devices.Carried | None:
    """What this request's session id carries (its device, when the sign-in has a row)."""
    raw = session.get(USER_KEY)
    return devices.parse_id(raw) if isinstance(raw, str) else None


def login_redirect() -> Response:
    return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))


def same_site_path(target: str | None) -> str | None:
    """``target`` when it is a path of this site, else None. A backslash or a control
    character is refused: browsers read ``/\\evil.example`` and ``/<tab>/evil.example`` as
    ``//evil.example``, another site."""
    if (target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc
            and "\\" not in target and not any(ord(c) < 32 or ord(c) == 127 for c in target)):
        return target
    return None


def safe_next(target: str | None) -> str:
    """Only same-site paths (``same_site_path``); anything else goes home."""
    return same_site_path(target) or url_for("learning.home")


CSRF_KEY = "csrf_token"  # where Flask-WTF keeps the session's CSRF secret (and, signed, in ``g``)
KEPT_AT_SIGN_OUT = frozenset({"_remember"})  # Flask-Login's note to delete the remember cookie


def fresh_session_on_sign_in(sender: Flask, **_extra: Any) -> None:
    """Flask-Login's ``user_logged_in``, whichever way the person signs in (password, second
    step, invitation, single sign-on, LTI): the session's CSRF secret is made anew, and the
    sign-in gets an id of its own (``lms.accounts.sign_ins``). A CSRF secret
    planted before signing in (a cookie set for the site by someone else) would otherwise
    still be valid after, and let its author's forms act as the person."""
    session.pop(CSRF_KEY, None)
    g.pop(CSRF_KEY, None)
    sign_ins.begin()


def new_sign_in_from_cookie(sender: Flask, **_extra: Any) -> None:
    """Flask-Login's ``user_loaded_from_cookie``: the remember cookie began a new sign-in
    (of the same device row: it is not written, since a page view never writes)."""
    sign_ins.begin()


def empty_session_on_sign_out(sender: Flask, user: Any = None, **_extra: Any) -> None:
    """Flask-Login's ``user_logged_out`` (signing out, an idle session ended): nothing the
    session held is left for the next person at the browser, its CSRF secret included; the
    sign-in is marked ended for any copy of the session's cookie (``lms.accounts.sign_ins``),
    and so is its device, when it has a row."""
    # (Flask-Login took its id out of the session already; the user still carries it.)
    carried = devices.parse_id(user.get_id()) if isinstance(user, User) else None
    if carried is not None and carried.device_id is not None:
        sign_ins.end_device(carried.device_id)
    sign_ins.end()
    for key in [key for key in session if key not in KEPT_AT_SIGN_OUT]:
        session.pop(key)
    g.pop(CSRF_KEY, None)


def _failed(response: Response) -> bool:
    return request.method == "POST" and response.status_code != 302


def sign_in_guard() -> SignInGuard:
    """Failure counts in the rate-limit storage (Redis when REDIS_URL is set)."""
    config = current_app.config
    return SignInGuard(limiter.limiter, config["LOGIN_SLOWDOWN"], config["LOGIN_LOCK"],
                       config.get("RATELIMIT_KEY_PREFIX", ""))


def _device(user: User | None) -> str | None:
    return device_for(current_app.config["SECRET_KEY"], request.cookies.get(DEVICE_COOKIE),
                      user.id if user is not None else None)


def _trust_device(response: Response, user: User, nonce: str | None) -> Response:
    """Mark this browser as one the account's owner uses (signed, one account per browser)."""
    value = device_cookie_value(current_app.config["SECRET_KEY"], user.id, nonce or secrets.token_urlsafe(16))
    response.set_cookie(DEVICE_COOKIE, value, max_age=DEVICE_COOKIE_DAYS * 86400, httponly=True, samesite="Lax",
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
    return response


DEVICE_SEEN = "lms_device_seen"  # session: when this device's last-seen time was last written (unix seconds)


def _remembered_for() -> timedelta:
    """How long the remember cookie lives (Flask-Login's ``REMEMBER_COOKIE_DURATION``)."""
    value = current_app.config.get("REMEMBER_COOKIE_DURATION", REMEMBERED_FOR)
    return value if isinstance(value, timedelta) else timedelta(seconds=int(value))


def sign_in(user: User, remember: bool = False) -> None:
    """Sign ``user`` in on this device, as a new sign-in: on a request that may write, with
    a device row (``lms.accounts.devices``), which the session and, with ``remember``, the
    remember cookie carry. A sign-in on a page view (none is made now: single sign-on
    completes with a POST) would get none, and is never remembered. A sign-in again of the person this session
    already carries, on its live device (an LTI launch repeated from the same browser),
    reuses that device's row instead of adding one each time."""
    token = None
    if request.method not in SAFE_METHODS:
        now = utcnow()
        lifetime = _remembered_for() if remember else timedelta(seconds=sign_ins.MAX_AGE)
        carried = this_device()
        if carried is not None and carried.device_id is not None and sign_ins.device_on(carried.device_id):
            token = devices.resume(db.session, user, carried, remembered=remember, lifetime=lifetime, now=now)
        if token is None:
            token = devices.begin(db.session, user, remembered=remember, lifetime=lifetime,
                                  user_agent=request.user_agent.string, address=request.remote_addr, now=now)
        session[DEVICE_SEEN] = int(now.timestamp())
    user.carry_sign_in(token)
    login_user(user, remember=remember and token is not None)


def sign_in_again(user: User) -> None:
    """After the session version moved on (a new password, "Sign out everywhere else"): this
    device stays signed in, with its own device row, and its remember cookie is written
    again when it has one."""
    carried = this_device()
    token = carried.token if carried is not None else None
    device = (devices.device_of(db.session, user.id, carried.device_id)
              if carried is not None and carried.device_id is not None else None)
    if device is not None and device.remembered:  # the remember cookie is written anew: its row lasts as long
        devices.resume(db.session, user, carried, remembered=True, lifetime=_remembered_for(), now=utcnow())
    user.carry_sign_in(token)
    login_user(user, remember=device is not None and device.remembered)


def finish_sign_in(accepted: PasswordAccepted) -> Response:
    """Sign the person in (after the password, and the second step if there is one) and
    mark this browser as theirs for the sign-in guard."""
    sign_in(accepted.user, remember=accepted.remember)
    return _trust_device(redirect(accepted.next_url), accepted.user, accepted.device)


def tell_of(user: User, change: SecurityChange) -> None:
    """Mail ``user`` the security notice of ``change``, made by this request (its address)."""
    tell_of_change(db.session, user, change, utcnow(), request.remote_addr,
                   url_for("accounts.account", _external=True), url_for("accounts.forgot_password", _external=True))


LOCKED_MESSAGE = ("Too many failed sign-ins: this account is locked. If the address has an account, a link "
                  "to unlock it has been sent there; follow it (or reset your password), then sign in.")


def revoked_tokens_said(revoked: int) -> str:
    """What a password change or reset says of the personal API tokens it revoked: nothing
    when none were (none asked for, or none to revoke)."""
    if not revoked:
        return ""
    return " Your personal API token is revoked." if revoked == 1 else f" Your {revoked} personal API tokens are revoked."


def _mail_unlock_link(user: User) -> None:
    token = services.issue_unlock_token(db.session, user)
    link = url_for("accounts.unlock", token=token, _external=True)
    queue_mail(db.session, user.email, "Your account was locked after failed sign-ins",
               f"Hello {user.name},\n\nSomeone (perhaps you) entered a wrong password for your account too many "
               f"times, so signing in with the password is locked. Use this link within a day to unlock it "
               f"from your browser:\n{link}\n\nIf it was not you, your password is still safe; consider "
               "changing it to a long one.\n", one_time=[link])


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"], methods=["POST"], deduct_when=_failed)
def login() -> Any:
    if signed_in_user() is not None:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        email = (form.email.data or "").strip().lower()
        owner = services.find_user(db.session, email)
        device = _device(owner)
        guard = sign_in_guard()
        check = guard.check(email, device)
        if check.verdict is not Verdict.ALLOWED:
            # Refused before the password is looked at: a guess here tells nothing.
            message = (LOCKED_MESSAGE if check.verdict is Verdict.LOCKED
                       else f"Too many failed sign-ins: wait {check.retry_after} seconds, then try again.")
            add_error(form.password, message)
            page = render_template("accounts/login.html", form=form)
            return page, 429, {"Retry-After": str(check.retry_after)}
        user = services.authenticate(db.session, email, form.password.data or "")
        if user is not None and not user.is_active:  # deactivated by a site admin (lms.admin)
            add_error(form.password, "This account is deactivated. Ask your organization's administrator.")
            return render_template("accounts/login.html", form=form), 403
        if user is not None:
            if device is None:  # this browser never signed in to this account (or lost its cookie)
                tell_of(user, SecurityChange.NEW_BROWSER)
            accepted = PasswordAccepted(user, bool(form.remember.data), safe_next(request.args.get("next")), device)
            step = second_step()
            pending = step(accepted) if step is not None else None
            return pending if pending is not None else finish_sign_in(accepted)
        failure = guard.failed(email, device)
        if failure.just_locked:
            if owner is not None:
                _mail_unlock_link(owner)
            add_error(form.password, LOCKED_MESSAGE)
        else:
            add_error(form.password, "That email and password do not match an account.")
    return render_template("accounts/login.html", form=form), 200


@bp.route("/login/unlock/<token>", methods=["GET", "POST"])
def unlock(token: str) -> Any:
    check = services.check_unlock_token(db.session, token)
    if check.unlock is None:
        return render_template("accounts/unlock.html", form=None, problem=check.problem), 400
    form = UnlockForm()
    if form.validate_on_submit():
        try:
            user = services.use_unlock_token(db.session, token)
        except services.AccountError as exc:
            db.session.rollback()
            return render_template("accounts/unlock.html", form=None, problem=str(exc)), 400
        sign_in_guard().unlock(user.email)
        flash("Your account is unlocked in this browser. Sign in with your password.", "success")
        return _trust_device(redirect(url_for("accounts.login")), user, _device(user))
    return render_template("accounts/unlock.html", form=form, problem=None)


@bp.post("/logout")
def logout() -> Response:
    user, carried = signed_in_user(), this_device()
    if user is not None and carried is not None and carried.device_id is not None:
        devices.end(db.session, user.id, carried.device_id, utcnow())  # its remember cookie signs nobody in again
    logout_user()
    flash("You are signed out.", "success")
    return redirect(url_for("accounts.login"))


@bp.route("/account", methods=["GET", "POST"])
@limit_secret_checks
def account() -> Any:
    user = signed_in()
    profile = ProfileForm(obj=user, prefix="profile")
    profile.timezone.choices = grouped_choices(likely_zones(user.timezone, countries_of(request.accept_languages.values())))
    password = ChangePasswordForm(prefix="password")
    carried = this_device()
    here = carried.device_id if carried is not None else None
    if profile.submit.data and profile.validate_on_submit():
        try:
            services.update_profile(db.session, user, profile.name.data or "", profile.timezone.data or "UTC")
        except services.AccountError as exc:
            db.session.rollback()
            add_error(profile.name, str(exc))
        else:
            flash("Your settings are saved.", "success")
            return redirect(url_for("accounts.account"))
    if password.submit.data and password.validate_on_submit():
        try:
            revoked = services.change_password(db.session, user, password.current.data or "", password.password.data or "",
                                     keep_device=here, revoke_api_tokens=bool(password.revoke_api_tokens.data))
        except services.AccountError as exc:
            db.session.rollback()
            target = password.current if "current" in str(exc) else password.password
            if target is password.current:
                note_refused()
            add_error(target, str(exc))
        else:
            tell_of(user, SecurityChange.PASSWORD_CHANGED)
            sign_in_again(user)  # the session carries the new session version
            flash("Your password is changed; other devices are signed out."
                  + revoked_tokens_said(revoked), "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/account.html", profile=profile, password=password, sign_out=SignOutForm(),
                           devices=_live_devices(user), here=here)


def _live_devices(user: User) -> list[Any]:
    """The person's live sign-ins; one whose session was ended by the idle sign-out (a page
    view, which cannot write its row) is left out too."""
    return [device for device in devices.live_devices(db.session, user.id, utcnow()) if sign_ins.device_on(device.id)]


@bp.post("/account/sign-ins/<int:device_id>/end")
def end_sign_in(device_id: int) -> Response:
    """"Sign out" on one of the person's sign-ins (the access rule: their own only)."""
    user = signed_in()
    carried = this_device()
    if carried is not None and carried.device_id == device_id:
        return logout()
    if devices.end(db.session, user.id, device_id, utcnow()):
        sign_ins.end_device(device_id)
        flash("That device is signed out.", "success")
    else:
        flash("That device was already signed out.", "info")
    return redirect(url_for("accounts.account"))


@bp.post("/account/sign-ins/end-others")
def end_other_sign_ins() -> Response:
    """"Sign out everywhere else": every other sign-in ends, remembered or not."""
    user = signed_in()
    carried = this_device()
    services.end_other_sign_ins(db.session, user, carried.device_id if carried is not None else None, utcnow())
    sign_in_again(user)
    flash("You are signed out everywhere else.", "success")
    return redirect(url_for("accounts.account"))


def note_device_seen(response: Response) -> Response:
    """``after_request``: the device's last-seen time, on a request that writes anyway (never
    a page view) and at most once every ``devices.SEEN_EVERY``."""
    if request.method in SAFE_METHODS or response.status_code >= 400:
        return response
    carried = this_device()
    if carried is None or carried.device_id is None:
        return response
    now = utcnow()
    seen = session.get(DEVICE_SEEN)
    if isinstance(seen, int) and now.timestamp() - seen < devices.SEEN_EVERY.total_seconds():
        return response
    devices.note_seen(db.session, carried.device_id, now)
    session[DEVICE_SEEN] = int(now.timestamp())
    return response


ANSWER_NOT_BEFORE = "lms_answer_not_before"  # g: the monotonic time this request's answer waits for


def answer_not_before(seconds: float) -> None:
    """Hold this request's answer until ``seconds`` after now have gone, its commit and
    after-commit work (mail) included (``wait_for_answer_time``)."""
    setattr(g, ANSWER_NOT_BEFORE, time.monotonic() + seconds)


def wait_for_answer_time(_error: BaseException | None = None) -> None:
    """Teardown, after the unit of work and before the answer is sent: wait out the time a
    view asked for."""
    not_before = g.pop(ANSWER_NOT_BEFORE, None)
    if not_before is not None:
        left = not_before - time.monotonic()
        if left > 0:
            time.sleep(left)


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"], methods=["POST"])
def forgot_password() -> Any:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        # The same answer whether or not the address has an account, and in the same time: the
        # link and its mail (written, committed, handed to the transport) took some 25 ms
        # that an unknown address did not, which told who has an account.
        answer_not_before(float(current_app.config["FORGOT_PASSWORD_SECONDS"]))
        user = services.find_user(db.session, form.email.data or "")
        links = int(current_app.config["FORGOT_PASSWORD_LINKS_PER_HOUR"])
        if user is not None and services.reset_links_since(db.session, user, utcnow() - timedelta(hours=1)) < links:
            token = services.issue_reset_token(db.session, user)
            link = url_for("accounts.reset_password", token=token, _external=True)
            queue_mail(db.session, user.email, "Reset your password",
                       f"Hello {user.name},\n\nUse this link within two hours to choose a new password:\n{link}\n\n"
                       "If you did not ask for it, ignore this message; your password stays as it is.\n", one_time=[link])
        flash("If that address has an account, a reset link is on its way.", "success")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/forgot.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> Any:
    check = services.check_reset_token(db.session, token)
    if check.reset is None:
        return render_template("accounts/reset.html", form=None, problem=check.problem), 400
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            reset = services.reset_password(db.session, token, form.password.data or "",
                                            revoke_api_tokens=bool(form.revoke_api_tokens.data))
            user = reset.user
        except services.AccountError as exc:
            db.session.rollback()
            add_error(form.password, str(exc))
        else:
            tell_of(user, SecurityChange.PASSWORD_RESET)
            sign_in_guard().unlock(user.email)  # a new password lifts a sign-in lock
            flash("Your password is set. Sign in with it now."
                  + revoked_tokens_said(reset.revoked_tokens), "success")
            return redirect(url_for("accounts.login"))
    return render_template("accounts/reset.html", form=form, problem=None)
