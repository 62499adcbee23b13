"""Where statements are sent: never in the request whose work queued them (lms/webhooks'
pattern). With ``REDIS_URL`` set the ids go to the RQ queue ``xapi`` (run by
``flask lms send-xapi --worker``); otherwise, or when Redis does not answer, they are sent
once the response has gone out, stopping at the first failure. Whatever is not stored
there stays due, and ``flask lms send-xapi`` (cron) retries it with backoff."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from flask import Flask, Response, current_app, g
from redis.exceptions import RedisError
from rq import Queue

from lms.database import DbSession
from lms.extensions import db
from lms.mail.jobs import redis_link
from lms.xapi.services import enabled, send_pending, take_pending

log = logging.getLogger("lms.xapi")

QUEUE = "xapi"
AFTER_RESPONSE = "lms_xapi_after_response"


def enqueue(app: Flask, ids: Sequence[int]) -> bool:
    link = redis_link(app)
    if link is None or not link.usable():
        return False
    try:
        Queue(QUEUE, connection=link.connection).enqueue(send_job, list(ids), job_timeout=600)
    except RedisError as exc:
        link.failed(exc)
        return False
    return True


def send_job(ids: list[int]) -> int:
    """The RQ job: send these statements (those still due)."""
    try:
        return send_pending(db.session, current_app.config, ids=ids)
    finally:
        db.session.remove()


def send_after_response(app: Flask, ids: list[int]) -> None:
    if not ids:
        return
    with app.app_context():
        try:
            send_pending(db.session, app.config, ids=ids, stop_on_failure=True)
        except Exception:  # the response is gone: log it, the cron command retries
            log.exception("xAPI sending after the response failed")
        finally:
            db.session.remove()


def arm_after_response(response: Response) -> Response:
    if not enabled(current_app.config):
        return response
    ids: list[int] = []
    setattr(g, AFTER_RESPONSE, ids)
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    response.call_on_close(lambda: send_after_response(app, ids))
    return response


def send_after_commit(session: DbSession) -> None:
    ids = take_pending(session)
    if not ids:
        return
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if enqueue(app, ids):
        return
    after_response: list[int] | None = g.get(AFTER_RESPONSE)
    if after_response is None:
        send_after_response(app, ids)
    else:
        after_response.extend(ids)
