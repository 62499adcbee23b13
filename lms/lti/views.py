"""LTI pages: the tool's endpoints the platform calls (login initiation, launch, JWKS), the
deep-linking picker, and a site admin's registrations, course mappings and configuration.

The login and the launch come from the platform's pages (cross-site): they are exempt from
CSRF (the launch is protected by its signed id_token, the state cookie and the nonce), and
their cookies are SameSite=None over HTTPS. Every refusal is a page that says why."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, session, url_for
from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.lineitem import LineItem
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from lms.accounts.current import signed_in
from lms.accounts.second_step import PasswordAccepted, second_step
from lms.accounts.views import finish_sign_in
from lms.cohorts.models import Cohort
from lms.database import utcnow
from lms.extensions import db
from lms.lti import grades, keys, roster, services, targets, tool
from lms.lti.forms import ActionForm, ContextForm, DeepLinkForm, PlatformForm
from lms.lti.models import LtiContext, LtiPlatform, LtiScore, ScoreStatus
from lms.web.forms import add_error
from lms.web.security import CONTENT_SECURITY_POLICY

bp = Blueprint("lti", __name__, template_folder="templates", static_folder="static", static_url_path="/static/lti")

DEEP_LINK = "lms.lti.deep_link"  # the deep-linking request waiting for the instructor's choice
DEEP_LINK_FOR = 30 * 60           # seconds to choose


def _secret_key() -> str:
    return str(current_app.config["SECRET_KEY"])


def _refuse(problem: str, status: int = 400) -> tuple[str, int]:
    return render_template("lti/refused.html", problem=problem), status


def _allow_local() -> bool:
    return current_app.config.get("ENV_NAME") != "production"


# The platform's calls --------------------------------------------------------------------

@bp.get("/lti/jwks")
def jwks() -> Any:
    return jsonify(keys.jwks(db.session))


@bp.route("/lti/login", methods=["GET", "POST"])
def login() -> Any:
    try:
        return tool.login_redirect(db.session, _secret_key(), url_for("lti.launch", _external=True))
    except tool.Refusal as exc:
        return _refuse(str(exc), exc.status)


@bp.post("/lti/launch")
def launch() -> Any:
    now = utcnow()
    try:
        claims, platform = tool.validated_launch(db.session, _secret_key())
        services.use_nonce(db.session, platform, str(claims.get("nonce") or ""), claims.get("exp"), now)
        launched = services.read_launch(claims)
        accepted = services.accept(db.session, platform, launched, now)
    except tool.Refusal as exc:
        return _refuse(str(exc), exc.status)
    _sync_roster_on_launch(accepted.context, now)
    if launched.deep_link:
        settings = dict(launched.deep_linking)
        if "ltiResourceLink" not in (settings.get("accept_types") or []) or not settings.get("deep_link_return_url"):
            return _refuse("The platform asks for content this tool does not offer (it places LTI resource links only).", 400)
        back = urlsplit(str(settings["deep_link_return_url"]))
        if back.scheme not in ("https", "http") or not back.netloc:
            return _refuse("The platform's deep-linking return address is not a web address (http or https).", 400)
        session[DEEP_LINK] = {"platform": platform.id, "deployment": launched.deployment_id, "settings": settings,
                              "user": accepted.user.id, "at": int(time.time())}
        return _sign_in(accepted.user, url_for("lti.deep_link"))
    target_name = launched.custom.get("target") or targets.from_link(launched.target_link_uri, request.host)
    link = services.remember_link(db.session, accepted.context, launched, targets.parse(target_name) and target_name)
    if not target_name and link is not None and link.target:
        target_name = link.target
    target = targets.find(db.session, target_name)
    if target_name and target is None:
        flash(f"The launched item ({target_name}) is not in the program any more: here is your home page.", "warning")
    return _sign_in(accepted.user, target.url() if target else url_for("learning.home"))


def _sync_roster_on_launch(context: LtiContext, now: Any) -> None:
    every = float(current_app.config.get("LTI_ROSTER_SYNC_EVERY", 600))
    if not context.memberships_url or (context.roster_synced_at and (now - context.roster_synced_at).total_seconds() < every):
        return
    try:
        with db.session.begin_nested():
            roster.sync(db.session, context, _secret_key(), now)
    except roster.RosterError as exc:
        current_app.logger.warning("LTI roster sync on launch failed for context %s: %s", context.id, exc)


def _sign_in(user: Any, next_url: str) -> Response:
    """The platform stands in for the password: the second step (two-factor sign-in) still
    follows when the person has it or their role requires it."""
    accepted = PasswordAccepted(user, False, next_url, None)
    step = second_step()
    pending = step(accepted) if step is not None else None
    return pending if pending is not None else finish_sign_in(accepted)


# Deep linking ----------------------------------------------------------------------------

def _pending_deep_link() -> dict[str, Any] | None:
    pending = session.get(DEEP_LINK)
    if (not isinstance(pending, dict) or int(pending.get("at", 0)) + DEEP_LINK_FOR < time.time()
            or pending.get("user") != signed_in().id):
        return None
    return pending


@bp.route("/lti/deep-link", methods=["GET", "POST"])
def deep_link() -> Any:
    pending = _pending_deep_link()
    if pending is None:
        return _refuse("There is no content placement waiting in this browser, or it took too long: start it again "
                       "from the course in the platform.", 400)
    platform = db.session.get(LtiPlatform, int(pending["platform"]))
    if platform is None:
        return _refuse("The platform's registration was removed meanwhile.", 404)
    settings = pending["settings"]
    offered = targets.choices(db.session)
    form = DeepLinkForm()
    form.items.choices = [(t.name, t.title) for t in offered]
    if form.validate_on_submit():
        by_name = {t.name: t for t in offered}
        chosen = [by_name[name] for name in dict.fromkeys(form.items.data or []) if name in by_name]
        multiple = settings.get("accept_multiple") not in (False, "false")
        if not chosen:
            add_error(form.items, "Choose at least one item.")
        elif len(chosen) > 1 and not multiple:
            add_error(form.items, "The platform accepts one item here: choose one.")
        else:
            return _deep_link_answer(platform, pending, chosen)
    return render_template("lti/deep_link.html", form=form, offered=offered, platform=platform,
                           multiple=settings.get("accept_multiple") not in (False, "false")), 400 if form.errors else 200


def _deep_link_answer(platform: LtiPlatform, pending: dict[str, Any], chosen: list[targets.Target]) -> Any:
    registration = tool.registration_for(db.session, platform, _secret_key())
    if registration.get_tool_private_key() is None:
        return _refuse("The tool's signing key is missing or unreadable: a site administrator saves the platform's "
                       "registration again to create one.", 409)
    resources = []
    for target in chosen:
        resource = (DeepLinkResource().set_url(url_for("lti.launch", _external=True)).set_title(target.title)
                    .set_custom_params({"target": target.name}))
        if target.graded:
            resource.set_lineitem(LineItem().set_label(target.title).set_score_maximum(100)
                                  .set_resource_id(target.name).set_tag(target.name))
        resources.append(resource)
    settings = pending["settings"]
    answer = DeepLink(registration, str(pending["deployment"]), settings).get_response_jwt(resources)
    session.pop(DEEP_LINK, None)
    return_url = str(settings["deep_link_return_url"])
    page = render_template("lti/deep_link_return.html", return_url=return_url, jwt=answer, platform=platform,
                           chosen=chosen)
    response = current_app.make_response(page)
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(return_url))
    response.headers["Content-Security-Policy"] = tool_csp(origin)
    return response


def tool_csp(form_origin: str) -> str:
    """The site's policy, with the platform's origin as a place forms may post to."""
    return CONTENT_SECURITY_POLICY.replace("form-action 'self'", f"form-action 'self' {form_origin}")


# Administration --------------------------------------------------------------------------

def _settings(form: PlatformForm) -> services.PlatformSettings:
    return services.PlatformSettings(
        name=form.name.data or "", issuer=form.issuer.data or "", client_id=form.client_id.data or "",
        auth_login_url=form.auth_login_url.data or "", auth_token_url=form.auth_token_url.data or "",
        key_set_url=form.key_set_url.data or "",
        deployment_ids=services.parse_deployment_ids(form.deployment_ids.data or ""), trust_emails=bool(form.trust_emails.data))


@bp.route("/admin/lti", methods=["GET", "POST"])
def platforms() -> Any:
    form = PlatformForm()
    if form.validate_on_submit():
        try:
            platform = services.save_platform(db.session, None, _settings(form), revision=None, secret_key=_secret_key(),
                                              allow_local=_allow_local(), actor_id=signed_in().id)
        except services.LtiError as exc:
            db.session.rollback()
            add_error(form.issuer, str(exc))
        else:
            flash(f"{platform.name} is registered. Map its courses to cohorts below.", "success")
            return redirect(url_for("lti.platform", platform_id=platform.id))
    rows = db.session.execute(
        select(LtiPlatform, func.count(LtiContext.id)).outerjoin(LtiContext, LtiContext.platform_id == LtiPlatform.id)
        .group_by(LtiPlatform.id).order_by(LtiPlatform.name).options(selectinload(LtiPlatform.deployments))).all()
    counts = dict(db.session.execute(select(LtiScore.status, func.count()).group_by(LtiScore.status)).all())
    return render_template("lti/platforms.html", form=form, rows=rows, counts=counts, action=ActionForm(),
                           ScoreStatus=ScoreStatus), 400 if form.errors else 200


@bp.route("/admin/lti/platforms/<int:platform_id>", methods=["GET", "POST"])
def platform(platform_id: int) -> Any:
    found = db.get_or_404(LtiPlatform, platform_id)
    form = PlatformForm(obj=found) if request.method == "GET" else PlatformForm()
    if request.method == "GET":
        form.deployment_ids.data = "\n".join(d.deployment_id for d in found.deployments)
        form.revision.data = str(found.revision)
    status = 200
    if form.validate_on_submit():
        text = (form.revision.data or "").strip()
        try:
            services.save_platform(db.session, found, _settings(form), revision=int(text) if text.isdigit() and len(text) < 10 else None,
                                   secret_key=_secret_key(), allow_local=_allow_local(), actor_id=signed_in().id)
        except services.LtiError as exc:
            db.session.rollback()
            add_error(form.issuer, str(exc))
            status = 409
        else:
            flash("Registration saved.", "success")
            return redirect(url_for("lti.platform", platform_id=platform_id))
    elif form.errors:
        status = 400
    return _platform_page(db.session.get(LtiPlatform, platform_id) or found, form, _context_form()), status


def _context_form() -> ContextForm:
    form = ContextForm(prefix="context")
    cohorts = db.session.scalars(select(Cohort).where(Cohort.archived_at.is_(None)).options(
        selectinload(Cohort.organization)).order_by(Cohort.name))
    form.cohort_id.choices = [(0, "— none —")] + [(c.id, f"{c.organization.name} — {c.name}") for c in cohorts]
    return form


def _platform_page(found: LtiPlatform, form: PlatformForm, context_form: ContextForm) -> str:
    contexts = list(db.session.scalars(select(LtiContext).where(LtiContext.platform_id == found.id)
                                       .options(selectinload(LtiContext.cohort)).order_by(LtiContext.context_id)))
    return render_template("lti/platform.html", platform=found, form=form, context_form=context_form, contexts=contexts,
                           action=ActionForm())


@bp.post("/admin/lti/platforms/<int:platform_id>/contexts")
def map_context(platform_id: int) -> Any:
    found = db.get_or_404(LtiPlatform, platform_id)
    form = _context_form()
    if form.validate_on_submit():
        cohort = db.session.get(Cohort, form.cohort_id.data) if form.cohort_id.data else None
        try:
            context = services.map_context(db.session, found, form.context_id.data or "", cohort, form.title.data or "")
        except services.LtiError as exc:
            db.session.rollback()
            add_error(form.context_id, str(exc))
        else:
            flash(f"Course {context.context_id} → {cohort.name if cohort else 'no cohort'}.", "success")
            return redirect(url_for("lti.platform", platform_id=platform_id))
    page_form = PlatformForm(obj=found)
    page_form.deployment_ids.data = "\n".join(d.deployment_id for d in found.deployments)
    page_form.revision.data = str(found.revision)
    return _platform_page(found, page_form, form), 400


@bp.post("/admin/lti/contexts/<int:context_id>/roster")
def sync_roster(context_id: int) -> Any:
    context = db.get_or_404(LtiContext, context_id)
    if not ActionForm().validate_on_submit():
        return _refuse("The page had expired: go back and try again.", 400)
    try:
        result = roster.sync(db.session, context, _secret_key(), utcnow())
    except roster.RosterError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("lti.platform", platform_id=context.platform_id))
    flash(result.summary(), "success")
    return redirect(url_for("lti.platform", platform_id=context.platform_id))


@bp.post("/admin/lti/scores/retry")
def retry_scores() -> Any:
    if not ActionForm().validate_on_submit():
        return _refuse("The page had expired: go back and try again.", 400)
    count = grades.retry_failed(db.session)
    session_ids: list[int] = list(db.session.scalars(select(LtiScore.id).where(LtiScore.status == ScoreStatus.PENDING)))
    db.session.info.setdefault(grades.QUEUED, []).extend(session_ids)
    flash(f"{count} failed score{'s' * (count != 1)} will be sent again.", "success")
    return redirect(url_for("lti.platforms"))


@bp.get("/admin/lti/configuration")
def configuration() -> Any:
    key = keys.current_key(db.session)
    urls = {"login": url_for("lti.login", _external=True), "launch": url_for("lti.launch", _external=True),
            "jwks": url_for("lti.jwks", _external=True), "deep_link": url_for("lti.launch", _external=True),
            "domain": request.host}
    return render_template("lti/configuration.html", urls=urls, key=key)
