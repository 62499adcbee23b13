"""Mail has no pages; what a request queued is delivered once its work is committed."""

from __future__ import annotations

from flask import current_app

from lms.database import DbSession
from lms.mail.services import PENDING, deliver_pending, transport_for


def deliver_after_commit(session: DbSession) -> None:
    """Messages queued by a request are in the outbox once it committed; send them."""
    if session.info.pop(PENDING, False):
        deliver_pending(session, transport_for(current_app.config))
