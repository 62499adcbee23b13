"""Audit's wiring: before each request, who is asking and from which address go into the
session's ``info`` (``lms.audit.services.origin``), for the entries written during it."""

from __future__ import annotations

from flask import Flask, request

from lms.audit.services import Origin, set_origin
from lms.extensions import db
from lms.web.access import identity


def remember_origin() -> None:
    user = identity().current_user()
    actor_id = getattr(user, "id", None)
    set_origin(db.session, Origin(actor_id=actor_id if isinstance(actor_id, int) else None, ip=request.remote_addr))


def init_app(app: Flask) -> None:
    app.before_request(remember_origin)
