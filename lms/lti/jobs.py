"""Where scores are sent from: never before the request's work has committed. With
REDIS_URL the ids go to the RQ queue ``lti`` (run by ``flask lms mail-worker``'s sibling
``rq worker lti`` or any RQ worker inside the app); otherwise, or when Redis does not
answer, the process sends them right after the commit. What fails stays pending for
``flask lms lti-sync``."""

from __future__ import annotations

import logging

from flask import Flask, current_app
from redis.exceptions import RedisError
from rq import Queue

from lms.database import DbSession
from lms.extensions import db
from lms.jobs.outbox import redis_link
from lms.lti.grades import send_pending, take_queued

log = logging.getLogger("lms.lti")
QUEUE = "lti"


def send_job(ids: list[int]) -> int:
    """The RQ job: send these scores (those still due)."""
    try:
        return send_pending(db.session, current_app.config, ids=ids).sent
    finally:
        db.session.remove()


def enqueue(app: Flask, ids: list[int]) -> bool:
    link = redis_link(app)
    if link is None or not link.usable():
        return False
    try:
        Queue(QUEUE, connection=link.connection).enqueue(send_job, ids, job_timeout=600)
    except RedisError as exc:
        link.failed(exc)
        return False
    return True


def send_after_commit(session: DbSession) -> None:
    ids = take_queued(session)
    if not ids:
        return
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if enqueue(app, ids):
        return
    try:
        send_pending(session, app.config, ids=ids)
    except Exception:  # the request's work is committed: log it, lti-sync retries
        log.exception("sending LTI scores after the commit failed")
