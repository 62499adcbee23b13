"""Two-factor's wiring: its pages, the code step after the password (accounts' second
step) and the template helpers the account page and the admin console's user page use."""

from __future__ import annotations

from flask import Flask, current_app

from lms.accounts.models import User
from lms.accounts.second_step import set_second_step
from lms.extensions import db
from lms.twofactor import services
from lms.twofactor.forms import PlainForm, ResetForm
from lms.twofactor.views import bp, sign_in_step


def _status(user: User) -> services.Status:
    return services.status(db.session, user, bool(current_app.config.get("TWO_FACTOR_REQUIRED", True)))


def _enrolled(user: User) -> bool:
    return services.is_enrolled(db.session, user.id)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    set_second_step(app, sign_in_step)
    app.add_template_global(_status, "two_factor_status")
    app.add_template_global(_enrolled, "two_factor_enrolled")
    app.add_template_global(PlainForm, "two_factor_plain_form")
    app.add_template_global(ResetForm, "two_factor_reset_form")
