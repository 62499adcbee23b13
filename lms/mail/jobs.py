"""Where delivery runs: never in the request that queued the mail.

- A local transport (the log) cannot hang: its messages are delivered as soon as the
  request's work has committed.
- With ``REDIS_URL`` set, the ids go to the RQ queue ``mail`` as one job, run by
  ``flask lms mail-worker`` (an RQ worker inside the app).
- Without Redis, or when Redis does not answer (a warning is logged, and Redis is left
  alone for ``REDIS_RETRY_AFTER`` seconds), the process that served the request sends
  them once its response has gone out (``response.call_on_close``), at most
  ``MAIL_AFTER_RESPONSE_LIMIT`` of them, stopping at the first failure.

Whatever is not delivered there stays due in the outbox, and ``flask lms deliver-mail``
(cron, every minute) retries it with exponential backoff."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from flask import Flask, Response, current_app, g
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from lms.database import DbSession
from lms.extensions import db
from lms.mail.services import deliver_pending, take_pending, transport_for

log = logging.getLogger("lms.mail")

QUEUE = "mail"
AFTER_RESPONSE = "lms_mail_after_response"
REDIS_KEY = "lms.mail.redis"


class RedisLink:
    """The app's Redis connection for jobs, with short timeouts; after a failure it is not
    tried again for ``retry_after`` seconds (requests meanwhile fall back at once)."""

    def __init__(self, url: str, retry_after: float) -> None:
        self.url = url
        self.retry_after = retry_after
        self.connection = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        self.down_until = 0.0

    def usable(self) -> bool:
        return time.monotonic() >= self.down_until

    def failed(self, exc: Exception) -> None:
        self.down_until = time.monotonic() + self.retry_after
        log.warning("Redis at %s is unreachable (%s): jobs run in this process instead", self.url, exc)


def redis_link(app: Flask) -> RedisLink | None:
    url = app.config.get("REDIS_URL") or ""
    if not url:
        return None
    link: RedisLink | None = app.extensions.get(REDIS_KEY)
    if link is None or link.url != url:
        link = app.extensions[REDIS_KEY] = RedisLink(url, float(app.config.get("REDIS_RETRY_AFTER", 30)))
    return link


def enqueue(app: Flask, ids: Sequence[int]) -> bool:
    """Hand the messages to the RQ queue; False when there is no (reachable) Redis."""
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
    """The RQ job: deliver these messages (those still due); run by ``flask lms mail-worker``."""
    try:
        return deliver_pending(db.session, transport_for(current_app.config), ids=ids)
    finally:
        db.session.remove()


def deliver_after_response(app: Flask, ids: list[int]) -> None:
    """Send a request's messages once its response has gone; never raises."""
    if not ids:
        return
    with app.app_context():
        try:
            deliver_pending(db.session, transport_for(app.config), ids=ids,
                            limit=int(app.config.get("MAIL_AFTER_RESPONSE_LIMIT", 20)), stop_on_failure=True)
        except Exception:  # the response is gone: log it, the cron command retries
            log.exception("mail delivery after the response failed")
        finally:
            db.session.remove()


def arm_after_response(response: Response) -> Response:
    """Before the request's commit: prepare a place for its messages, sent when the
    server closes the response (after sending it)."""
    ids: list[int] = []
    setattr(g, AFTER_RESPONSE, ids)
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # Flask types the proxy as the app itself
    response.call_on_close(lambda: deliver_after_response(app, ids))
    return response


def deliver_after_commit(session: DbSession) -> None:
    """The request's work has committed: its messages go out, away from the request."""
    ids = take_pending(session)
    if not ids:
        return
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # Flask types the proxy as the app itself
    transport = transport_for(app.config)
    if not transport.remote:
        deliver_pending(session, transport, ids=ids)
    elif not enqueue(app, ids):
        after_response: list[int] | None = g.get(AFTER_RESPONSE)
        if after_response is None:  # no response to wait for
            deliver_after_response(app, ids)
        else:
            after_response.extend(ids)
