"""Open Badges 3.0's wiring: the public documents, verification and revocation pages, the
issuer key made with the first certificate, and ``flask lms badge-key``."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from lms.certificates.models import Certificate
from lms.certificates.services import certificate_issued
from lms.cli import add_commands
from lms.database import DbSession
from lms.extensions import csrf
from lms.openbadges.cli import badge_key_command
from lms.openbadges.services import ensure_key
from lms.openbadges.views import bp, verify_json


def on_certificate_issued(certificate: Certificate, *, session: DbSession, **_: Any) -> None:
    """The first certificate makes the issuer's signing key (a GET that signs never writes)."""
    ensure_key(session, str(current_app.config["SECRET_KEY"]))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    csrf.exempt(verify_json)  # a verifier's POST of a credential: nothing is written
    certificate_issued.connect(on_certificate_issued)
    add_commands(app, badge_key_command)
