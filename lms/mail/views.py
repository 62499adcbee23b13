"""Mail has no pages; delivery runs after each request that queued mail."""

from __future__ import annotations

from flask import Flask, Response, current_app

from lms.extensions import db
from lms.mail.services import PENDING, deliver_pending, transport_for


def deliver_after_request(response: Response) -> Response:
    """Messages queued by a view are in the outbox once the view committed; send them."""
    if db.session.info.pop(PENDING, False):
        db.session.rollback()  # only what the view committed is delivered
        deliver_pending(db.session, transport_for(current_app.config))
        db.session.commit()
    return response


def init_app(app: Flask) -> None:
    app.after_request(deliver_after_request)
