"""Token pages: everyone's personal tokens (account), an organization's tokens (its
admins). The secret is shown once, on the page answering the POST that created it."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for

from lms.accounts.current import signed_in
from lms.accounts.secret_checks import limit_secret_checks, note_refused
from lms.accounts.services import password_matches
from lms.api import tokens
from lms.api.forms import RevokeForm, TokenForm
from lms.api.models import ApiToken
from lms.cohorts.models import Organization
from lms.database import utcnow, zone_named
from lms.extensions import db
from lms.web.forms import add_error

bp = Blueprint("api", __name__, template_folder="templates")


def _expiry(form: TokenForm, zone: str | None) -> datetime | None:
    """The start of the chosen day on the maker's own calendar (their time zone), in UTC."""
    day = form.expires_on.data
    return datetime.combine(day, time.min, tzinfo=zone_named(zone)).astimezone(UTC) if day else None


def _page(form: TokenForm, listed: list[ApiToken], organization: Organization | None, secret: str | None = None,
          status: int = 200, already: ApiToken | None = None) -> tuple[str, int]:
    return render_template("api/tokens.html", form=form, tokens=listed, organization=organization, secret=secret,
                           already=already, revoke=RevokeForm(), now=utcnow()), status


def _create(organization: Organization | None) -> Any:
    user = signed_in()
    form = TokenForm()

    def listed() -> list[ApiToken]:
        return tokens.organization_tokens(db.session, organization) if organization else tokens.personal_tokens(db.session, user)

    if not form.validate_on_submit():
        return _page(form, listed(), organization, status=400 if form.is_submitted() else 200)
    # A token outlives the session (signing out, a changed password): whoever held a session
    # made one and kept the account. The person's password is asked again (an account signing
    # in through its organization's provider has none to ask).
    if user.has_password and not password_matches(user, form.password.data or ""):
        note_refused()
        add_error(form.password, "That is not your password: it is asked again before a token is made.")
        return _page(form, listed(), organization, status=400)
    try:
        made = tokens.create_token(db.session, user, form.name.data or "", form.scopes.data or [], _expiry(form, user.timezone),
                                   organization, utcnow(), form.form_token.value)
    except tokens.TokenError as exc:
        db.session.rollback()
        add_error(form[exc.field], str(exc))
        return _page(form, listed(), organization, status=400)
    if not made.made:  # the same form again (a reload, a double click): its token, never its secret again
        return _page(TokenForm(formdata=None), listed(), organization, already=made.token)
    return _page(TokenForm(formdata=None), listed(), organization, secret=made.secret)


@bp.route("/account/api-tokens", methods=["GET", "POST"])
@limit_secret_checks
def personal() -> Any:
    return _create(None)


@bp.post("/account/api-tokens/<int:token_id>/revoke")
def revoke_personal(token_id: int) -> Any:
    user = signed_in()
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id or token.organization_id is not None:
        abort(404)
    tokens.revoke_token(db.session, token)
    flash(f"Token {token.name} revoked.", "success")
    return redirect(url_for("api.personal"))


@bp.route("/organizations/<int:org_id>/api-tokens", methods=["GET", "POST"])
@limit_secret_checks
def organization(org_id: int) -> Any:
    return _create(db.session.get(Organization, org_id) or abort(404))


@bp.post("/organizations/<int:org_id>/api-tokens/<int:token_id>/revoke")
def revoke_organization(org_id: int, token_id: int) -> Any:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.organization_id != org_id:
        abort(404)
    tokens.revoke_token(db.session, token)
    flash(f"Token {token.name} revoked.", "success")
    return redirect(url_for("api.organization", org_id=org_id))
