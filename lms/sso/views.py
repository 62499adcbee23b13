"""Single sign-on pages: an organization admin's settings, and the sign-in steps
(find the organization by email domain or an organization's own link, go to the
provider, come back to the callback, confirm a first sign-in).

The callback is a GET (the provider redirects the browser there) and so only reads: it
keeps the checked identity in the session and shows a form whose POST (``confirm``)
completes the sign-in, writing what a sign-in writes (its device row: the account page's
"Where you are signed in"). For an account already linked the form sends itself (a
"Continue" button without JavaScript); a first sign-in, which links or creates an account,
waits for the person's confirmation. Every refusal is a page that says why (never a 500)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

from lms.accounts.current import signed_in, signed_in_user
from lms.accounts.models import User
from lms.accounts.second_step import PasswordAccepted, second_step
from lms.accounts.views import finish_sign_in, safe_next
from lms.cohorts.invitations import invited_to, zone_reason
from lms.cohorts.models import Organization
from lms.extensions import db
from lms.sso import services
from lms.sso.forms import ConfirmForm, FindOrganizationForm, SettingsForm
from lms.sso.models import SsoConfig
from lms.sso.oidc import Identity, Request, SsoError, authorization_request, finish
from lms.web.forms import add_error

bp = Blueprint("sso", __name__, template_folder="templates", static_folder="static", static_url_path="/static/sso")

STARTED = "lms.sso.started"    # the request sent to the provider (state, nonce, PKCE verifier)
PENDING = "lms.sso.pending"    # a checked identity waiting for the person's confirmation
STARTED_FOR = 15 * 60          # seconds a sign-in at the provider may take
PENDING_FOR = 10 * 60          # seconds to confirm a first sign-in


def _refuse(problem: str, status: int = 403) -> tuple[str, int]:
    return render_template("sso/refused.html", problem=problem), status


def _allow_local() -> bool:
    """Calls to the provider may reach local and private addresses (development and tests)."""
    return bool(current_app.config.get("SSO_ALLOW_LOCAL"))


def _secret_key() -> str:
    return str(current_app.config["SECRET_KEY"])


def _sign_in(user: User, next_url: str) -> Response:
    """The provider stands in for the password: the second step (two-factor sign-in, when
    the person has it or their role requires it) still follows, as after a password."""
    accepted = PasswordAccepted(user, False, safe_next(next_url), None)
    step = second_step()
    pending = step(accepted) if step is not None else None
    return pending if pending is not None else finish_sign_in(accepted)


# Settings --------------------------------------------------------------------------------

@bp.route("/organizations/<int:org_id>/single-sign-on", methods=["GET", "POST"])
def settings(org_id: int) -> Any:
    org = db.get_or_404(Organization, org_id)
    config = services.config_of(db.session, org.id)
    form = SettingsForm()
    if request.method == "GET" and config is not None:
        form.issuer.data, form.client_id.data = config.issuer, config.client_id
        form.allowed_domains.data = " ".join(config.domains)
        form.create_accounts.data, form.enabled.data = config.create_accounts, config.enabled
        form.revision.data = str(config.revision)
    if form.validate_on_submit():
        revision_text = (form.revision.data or "").strip()
        revision = int(revision_text) if revision_text.isdigit() and len(revision_text) < 10 else None
        choice = services.Settings(issuer=form.issuer.data or "", client_id=form.client_id.data or "",
                                   client_secret=form.client_secret.data or None,
                                   allowed_domains=form.allowed_domains.data or "",
                                   create_accounts=bool(form.create_accounts.data), enabled=bool(form.enabled.data))
        try:
            services.save_settings(db.session, org, choice, revision=revision, secret_key=_secret_key(),
                                   actor_id=signed_in().id)
        except services.SsoSettingsError as exc:
            db.session.rollback()
            add_error(form.issuer, str(exc))
            return _settings_page(org, services.config_of(db.session, org.id), form), 409
        flash("Single sign-on settings saved.", "success")
        return redirect(url_for("sso.settings", org_id=org.id))
    return _settings_page(org, config, form), 400 if form.errors else 200


def _settings_page(org: Organization, config: SsoConfig | None, form: SettingsForm) -> str:
    link = url_for("sso.begin", org_id=org.id, _external=True)
    callback = url_for("sso.callback", _external=True)
    return render_template("sso/settings.html", org=org, config=config, form=form, link=link, callback=callback)


# Sign-in ---------------------------------------------------------------------------------

@bp.route("/login/organization", methods=["GET", "POST"])
def start() -> Any:
    if signed_in_user() is not None:
        return redirect(safe_next(request.args.get("next")))
    form = FindOrganizationForm()
    if form.validate_on_submit():
        config = services.config_for_email(db.session, form.email.data or "")
        if config is not None:
            # A link, not a redirect: the Content-Security-Policy's form-action keeps a form's
            # redirects on this site, so the browser would refuse to follow one to the provider.
            org = db.session.get(Organization, config.organization_id)
            link = url_for("sso.begin", org_id=config.organization_id, next=request.args.get("next"))
            return render_template("sso/start.html", form=form, org=org, link=link)
        add_error(form.email, "No organization signs in people of this address through single sign-on: "
                              "sign in with your password instead.")
    return render_template("sso/start.html", form=form, org=None, link=None), 400 if form.errors else 200


@bp.get("/login/organization/<int:org_id>")
def begin(org_id: int) -> Any:
    if signed_in_user() is not None:
        return redirect(safe_next(request.args.get("next")))
    config = services.config_of(db.session, org_id)
    if config is None or not config.enabled:
        return _refuse("This organization does not offer single sign-on.", 404)
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    try:
        sent = authorization_request(services.client_of(config, _secret_key(), _allow_local()), url_for("sso.callback", _external=True),
                                     state, nonce, verifier)
    except (SsoError, services.SsoSettingsError) as exc:
        return _refuse(str(exc), 502)
    session[STARTED] = {"org": org_id, "state": state, "nonce": nonce, "verifier": verifier,
                        "next": safe_next(request.args.get("next")), "at": int(time.time())}
    return redirect(sent.url)


@bp.get("/login/organization/callback")
def callback() -> Any:
    started = session.pop(STARTED, None)
    if not isinstance(started, dict) or int(started.get("at", 0)) + STARTED_FOR < time.time():
        return _refuse("This sign-in was not started in this browser, or took too long: start again.", 400)
    config = services.config_of(db.session, int(started["org"]))
    if config is None:
        return _refuse("This organization does not offer single sign-on.", 404)
    expected = Request(url="", state=str(started["state"]), nonce=str(started["nonce"]),
                       code_verifier=str(started["verifier"]))
    returned = {key: value for key, value in request.args.items() if isinstance(value, str)}
    try:
        identity = finish(services.client_of(config, _secret_key(), _allow_local()), url_for("sso.callback", _external=True),
                          expected, returned)
        found = services.match(db.session, config, identity)
    except (SsoError, services.SsoSettingsError, services.Refusal) as exc:
        return _refuse(str(exc))
    session[PENDING] = {"org": config.organization_id, "iss": identity.issuer, "sub": identity.subject,
                        "email": identity.email, "verified": identity.email_verified, "name": identity.name,
                        "zone": identity.zoneinfo,
                        "next": started.get("next"), "at": int(time.time())}
    if found.outcome is services.Outcome.SIGN_IN:  # already linked: the page sends itself on
        return render_template("sso/continue.html", form=ConfirmForm(), found=found)
    return render_template("sso/confirm.html", form=ConfirmForm(), found=found, create=found.outcome is services.Outcome.CREATE,
                           offer=invited_to(found.invitation) if found.invitation is not None else None)


@bp.post("/login/organization/confirm")
def confirm() -> Any:
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or int(pending.get("at", 0)) + PENDING_FOR < time.time():
        session.pop(PENDING, None)
        return _refuse("There is no sign-in waiting for confirmation in this browser, or it took too long: "
                       "start again.", 400)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _refuse("The confirmation form expired: start the sign-in again.", 400)
    session.pop(PENDING, None)
    config = services.config_of(db.session, int(pending["org"]))
    if config is None:
        return _refuse("This organization does not offer single sign-on.", 404)
    identity = Identity(issuer=str(pending["iss"]), subject=str(pending["sub"]), email=pending.get("email"),
                        email_verified=pending.get("verified") is True, name=pending.get("name"),
                        zoneinfo=pending.get("zone"))
    try:
        confirmed = services.confirm(db.session, config, identity)
    except services.Refusal as exc:
        return _refuse(str(exc), 409)
    if confirmed.zone is not None:  # a new account: which clock it shows times on, and where to change it
        organization = db.session.get(Organization, config.organization_id)
        flash(Markup("{} <a href=\"{}\">{}</a>").format(
            f"Your account shows times in {confirmed.zone.zone}, "
            f"{zone_reason(confirmed.zone, organization.name if organization else 'your organization')}.",
            url_for("accounts.account", _anchor="timezone"), "Change your time zone on your account page."), "info")
    if confirmed.accepted is not None:
        flash(f"You accepted the invitation to {invited_to(confirmed.accepted)}.", "success")
    elif confirmed.refused is not None:
        flash(f"Your invitation could not be accepted: {confirmed.refused}", "error")
    return _sign_in(confirmed.user, str(pending.get("next") or ""))
