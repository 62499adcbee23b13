"""The site admin console (users: search, detail, deactivate / reactivate, reset link, end
sessions) and the audit log page with its exports. Views parse the request, call a
service with the actor and address (``lms.audit.services.origin``), and render."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from lms.accounts.current import signed_in
from lms.accounts.models import User
from lms.admin import log, services
from lms.admin.forms import ConfirmedActionForm, UserActionForm
from lms.audit.models import AuditAction
from lms.audit.services import origin
from lms.cohorts.roles import Roles, roles_of
from lms.database import DbSession, utcnow
from lms.extensions import db
from lms.gradebook.exports import EXPORTERS
from lms.jobs.models import JobStatus
from lms.learning.services import Schedule
from lms.mail.models import MailStatus
from lms.mail.services import queue_mail
from lms.web.downloads import streamed_download
from lms.web.forms import DayOutOfRange, Form, parse_day

bp = Blueprint("admin", __name__, template_folder="templates")

# An action's name read from its value ("cohort_edited": "Cohort edited"), except where that
# would misspell an acronym or a compound ("Api token", "Sso", "Two factor").
_NAMED = {
    AuditAction.ADMIN_GRANTED: "Site admin rights granted",
    AuditAction.TWO_FACTOR_RESET: "Two-factor reset",
    AuditAction.TWO_FACTOR_POLICY_CHANGED: "Two-factor policy changed",
    AuditAction.SSO_CONFIGURED: "Single sign-on configured",
    AuditAction.API_TOKEN_CREATED: "API token created",
    AuditAction.API_TOKEN_REVOKED: "API token revoked",
}
ACTION_LABELS = {action: _NAMED.get(action) or action.value.replace("_", " ").capitalize() for action in AuditAction}


def home_panel(session: DbSession, user: User, roles: Roles, now: datetime,
               plan: Schedule | None) -> dict[str, Any] | None:
    """The site admin's panel on the home page: what failed or waits, and the console's pages."""
    return {"attention": services.attention(session), "statuses": JobStatus, "mail": MailStatus} if user.is_admin else None


def _page(value: str | None) -> int:
    return int(value) if value and value.isdigit() and len(value) < 6 else 1


def _user(user_id: int) -> User:
    return db.session.get(User, user_id) or abort(404)


# ------------------------------------------------------------------ users


@bp.get("/admin/users")
def users() -> str:
    query = request.args.get("q", "")
    found = services.search_users(db.session, query, _page(request.args.get("page")))
    return render_template("admin/users.html", query=query, found=found)


def _user_page(user: User, status: int = 200, **forms: Form) -> tuple[str, int]:
    version = str(user.session_version)
    deactivate = forms.get("deactivate") or ConfirmedActionForm(formdata=None, version=version)
    reactivate = forms.get("reactivate") or ConfirmedActionForm(formdata=None, version=version)
    end_sessions = forms.get("end_sessions") or UserActionForm(formdata=None, version=version)
    reset = forms.get("reset") or UserActionForm(formdata=None, version=version)
    page = render_template("admin/user.html", user=user, memberships=services.memberships(db.session, user),
                           deactivate=deactivate, reactivate=reactivate, end_sessions=end_sessions, reset=reset)
    return page, status


@bp.get("/admin/users/<int:user_id>")
def user(user_id: int) -> tuple[str, int]:
    return _user_page(_user(user_id))


def _act(user: User, form: Form, name: str, action: Any, done: str) -> Any:
    """Validate ``form``, run ``action(version)``, and answer: back to the user with a
    message, or the page again with the form's errors (400) or the refusal (409)."""
    if not form.validate_on_submit():
        return _user_page(user, 400, **{name: form})
    try:
        action(int(form.version.data))
    except services.AdminError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _user_page(_user(user.id), 409)
    flash(done, "success")
    return redirect(url_for("admin.user", user_id=user.id))


@bp.post("/admin/users/<int:user_id>/deactivate")
def deactivate(user_id: int) -> Any:
    user = _user(user_id)
    return _act(user, ConfirmedActionForm(), "deactivate",
                lambda version: services.deactivate(db.session, user, version, origin(db.session)),
                f"{user.name} is deactivated: they cannot sign in, and their sessions have ended.")


@bp.post("/admin/users/<int:user_id>/reactivate")
def reactivate(user_id: int) -> Any:
    user = _user(user_id)
    return _act(user, ConfirmedActionForm(), "reactivate",
                lambda version: services.reactivate(db.session, user, version, origin(db.session)),
                f"{user.name} is active again and can sign in.")


@bp.post("/admin/users/<int:user_id>/end-sessions")
def end_sessions(user_id: int) -> Any:
    user = _user(user_id)
    return _act(user, UserActionForm(), "end_sessions",
                lambda version: services.end_sessions(db.session, user, version, origin(db.session)),
                f"Every session of {user.name} has ended; they must sign in again.")


@bp.post("/admin/users/<int:user_id>/reset-link")
def send_reset_link(user_id: int) -> Any:
    user = _user(user_id)

    def send(version: int) -> None:
        token = services.send_reset_link(db.session, user, origin(db.session))
        link = url_for("accounts.reset_password", token=token, _external=True)
        queue_mail(db.session, user.email, "Reset your password",
                   f"Hello {user.name},\n\nA site administrator sent you this link to choose a new password; use it "
                   f"within two hours:\n{link}\n\nIf you did not expect it, ignore this message.\n", one_time=[link])

    return _act(user, UserActionForm(), "reset", send, f"A password reset link is on its way to {user.email}.")


# ------------------------------------------------------------------ the audit log


def _scope() -> frozenset[int] | None:
    """None for a site admin (every entry); else the organizations the reader administers."""
    reader = signed_in()
    return None if reader.is_admin else roles_of(db.session, reader).admin_of


def _date(name: str, problems: list[str]) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return parse_day(raw)
    except DayOutOfRange as exc:
        problems.append(str(exc))
    except ValueError:
        problems.append(f"{raw[:20]!r} is not a date (use YYYY-MM-DD).")
    return None


def _filters() -> tuple[log.LogFilters, list[str]]:
    problems: list[str] = []
    action: AuditAction | None = None
    raw_action = request.args.get("action", "")
    if raw_action:
        try:
            action = AuditAction(raw_action)
        except ValueError:
            problems.append("Unknown action.")
    raw_org = request.args.get("organization", "")
    org_id = int(raw_org) if raw_org.isdigit() and len(raw_org) < 10 else None
    if raw_org and org_id is None:
        problems.append("Unknown organization.")
    since, until = _date("since", problems), _date("until", problems)
    if since and until and since > until:
        problems.append("The first day comes after the last.")
    filters = log.LogFilters(actor=request.args.get("actor", ""), action=action, organization_id=org_id,
                             target=request.args.get("target", ""), since=since, until=until, zone=signed_in().timezone or "UTC")
    return filters, problems


@bp.get("/admin/audit")
def audit() -> tuple[str, int]:
    filters, problems = _filters()
    scope = _scope()
    found = None if problems else log.entries(db.session, filters, scope, _page(request.args.get("page")))
    args = {k: v for k, v in request.args.items() if k != "page"}
    page = render_template("admin/audit.html", filters=filters, problems=problems, found=found, args=args,
                           actions=ACTION_LABELS, organizations=log.organizations(db.session, scope),
                           exporters=EXPORTERS.values(), site_wide=scope is None)
    return page, 400 if problems else 200


@bp.get("/admin/audit/export.<fmt>")
def audit_export(fmt: str) -> Response:
    exporter = EXPORTERS.get(fmt) or abort(404)
    filters, problems = _filters()
    if problems:
        return Response("\n".join(problems) + "\n", status=400, mimetype="text/plain")
    rows = log.stream_rows(db.session, filters, _scope(), structured=fmt == "json")  # read in chunks as it is sent
    filename = f"audit-log-{utcnow():%Y%m%d-%H%M}.{exporter.extension}"
    return streamed_download(exporter.stream_rows(log.COLUMNS, rows), mimetype=exporter.mimetype, filename=filename)
