"""Where webhook deliveries run: never in the request whose work queued them (lms/jobs/outbox's
``Courier``).

- With ``REDIS_URL`` set, the ids go to the RQ queue ``webhooks`` as one job, run by
  ``flask lms webhook-worker`` (an RQ worker inside the app), over the app's one Redis link.
- Otherwise (or when Redis does not answer) they are sent right after the commit, by the
  process that served the request once its response has gone out
  (``response.call_on_close``), at most ``WEBHOOK_AFTER_RESPONSE_LIMIT`` of them, stopping
  at the first failure.

Whatever is not delivered there stays due, and ``flask lms deliver-webhooks`` (cron,
every minute) retries it with exponential backoff."""

from __future__ import annotations

import logging

from lms.database import DbSession
from lms.jobs.outbox import Courier
from lms.webhooks.services import PENDING, deliver_pending

QUEUE = "webhooks"
COURIER = Courier(QUEUE, f"{__name__}.deliver_job", PENDING, "lms_webhooks_after_response", deliver_pending,
                  "webhook delivery", logging.getLogger("lms.webhooks"), limit_setting="WEBHOOK_AFTER_RESPONSE_LIMIT")
arm_after_response = COURIER.arm  # the app's after_request: a place for the response's close to send from


def deliver_job(ids: list[int]) -> int:
    """The RQ job: deliver these (those still due); run by ``flask lms webhook-worker``."""
    return COURIER.run_job(ids)


def deliver_after_commit(session: DbSession) -> None:
    COURIER.after_commit(session)
