"""Accounts' wiring: sign-in pages, who is asking (for the access policy and filters), the
session's user loader (a new CSRF secret and sign-in id at each sign-in, an emptied
session and the sign-in marked ended at each sign-out: ``lms.accounts.sign_ins``), the
idle sign-out (``lms.accounts.idle``), the devices' last-seen time
(``lms.accounts.devices``), ``flask lms create-admin`` and ``flask lms prune-sign-ins``; in production, a refusal to
start several workers on unshared (in-memory) sign-in limits."""

from __future__ import annotations

from flask import Flask
from flask_login import user_loaded_from_cookie, user_logged_in, user_logged_out

from lms.accounts import idle
from lms.accounts.cli import create_admin_command, prune_sign_ins_command
from lms.accounts.current import signed_in_user
from lms.accounts.signin_guard import check_limit_storage, worker_count
from lms.accounts.views import (
    bp,
    empty_session_on_sign_out,
    fresh_session_on_sign_in,
    load_user,
    login_redirect,
    new_sign_in_from_cookie,
    note_device_seen,
    wait_for_answer_time,
)
from lms.cli import add_commands
from lms.extensions import login_manager
from lms.web.access import Identity, set_identity


def init_app(app: Flask) -> None:
    check_limit_storage(app.config, worker_count())
    app.register_blueprint(bp)
    login_manager.user_loader(load_user)
    user_logged_in.connect(fresh_session_on_sign_in, app)
    user_logged_out.connect(empty_session_on_sign_out, app)
    user_loaded_from_cookie.connect(new_sign_in_from_cookie, app)
    app.teardown_request(wait_for_answer_time)
    app.after_request(note_device_seen)  # before the unit of work's commit (registered earlier, it runs later)
    idle.init_app(app)  # before the access policy's hook (installed last): an idle session is signed out first
    set_identity(app, Identity(current_user=signed_in_user, login_redirect=login_redirect))
    add_commands(app, create_admin_command, prune_sign_ins_command)
