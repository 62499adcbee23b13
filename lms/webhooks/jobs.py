"""Where webhook deliveries run: never in the request whose work queued them.

- With ``REDIS_URL`` set, the ids go to the RQ queue ``webhooks`` as one job, run by
  ``flask lms webhook-worker`` (an RQ worker inside the app). The Redis connection is
  mail's (``lms.mail.jobs.redis_link``): one link per app, left alone for a while after
  a failure.
- Otherwise (or when Redis does not answer) they are sent right after the commit, by the
  process that served the request once its response has gone out
  (``response.call_on_close``), at most ``WEBHOOK_AFTER_RESPONSE_LIMIT`` of them, stopping
  at the first failure.

Whatever is not delivered there stays due, and ``flask lms deliver-webhooks`` (cron,
every minute) retries it with exponential backoff."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from flask import Flask, Response, current_app, g
from redis.exceptions import RedisError
from rq import Queue

from lms.database import DbSession
from lms.extensions import db
from lms.mail.jobs import redis_link
from lms.webhooks.services import deliver_pending, take_pending

log = logging.getLogger("lms.webhooks")

QUEUE = "webhooks"
AFTER_RESPONSE = "lms_webhooks_after_response"


def enqueue(app: Flask, ids: Sequence[int]) -> bool:
    """Hand the deliveries to the RQ queue; False when there is no (reachable) Redis."""
    link = redis_link(app)
    if link is None or not link.usable():
        return False
    try:
        Queue(QUEUE, connection=link.connection).enqueue(deliver_job, list(ids), job_timeout=600)
    except RedisError as exc:
        link.failed(exc)
        return False
    return True


def deliver_job(ids: list[int]) -> int:
    """The RQ job: deliver these (those still due); run by ``flask lms webhook-worker``."""
    try:
        return deliver_pending(db.session, current_app.config, ids=ids)
    finally:
        db.session.remove()


def deliver_after_response(app: Flask, ids: list[int]) -> None:
    """Send a request's deliveries once its response has gone; never raises."""
    if not ids:
        return
    with app.app_context():
        try:
            deliver_pending(db.session, app.config, ids=ids, limit=int(app.config.get("WEBHOOK_AFTER_RESPONSE_LIMIT", 20)),
                            stop_on_failure=True)
        except Exception:  # the response is gone: log it, the cron command retries
            log.exception("webhook delivery after the response failed")
        finally:
            db.session.remove()


def arm_after_response(response: Response) -> Response:
    """Before the request's commit: a place for its deliveries, sent when the server closes
    the response (after sending it)."""
    ids: list[int] = []
    setattr(g, AFTER_RESPONSE, ids)
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    response.call_on_close(lambda: deliver_after_response(app, ids))
    return response


def deliver_after_commit(session: DbSession) -> None:
    """The request's work has committed: its deliveries go out, away from the request."""
    ids = take_pending(session)
    if not ids:
        return
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if enqueue(app, ids):
        return
    after_response: list[int] | None = g.get(AFTER_RESPONSE)
    if after_response is None:  # no response to wait for
        deliver_after_response(app, ids)
    else:
        after_response.extend(ids)
