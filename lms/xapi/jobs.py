"""Where statements are sent: never in the request whose work queued them (lms/jobs/outbox's
``Courier``). With ``REDIS_URL`` set the ids go to the RQ queue ``xapi`` (run by
``flask lms send-xapi --worker``); otherwise, or when Redis does not answer, they are sent
once the response has gone out, stopping at the first failure. Whatever is not stored
there stays due, and ``flask lms send-xapi`` (cron) retries it with backoff."""

from __future__ import annotations

import logging

from lms.database import DbSession
from lms.jobs.outbox import Courier
from lms.xapi.services import PENDING, enabled, send_pending

QUEUE = "xapi"
COURIER = Courier(QUEUE, f"{__name__}.send_job", PENDING, "lms_xapi_after_response", send_pending, "xAPI sending",
                  logging.getLogger("lms.xapi"), armed=enabled)
arm_after_response = COURIER.arm  # the app's after_request: a place for the response's close to send from


def send_job(ids: list[int]) -> int:
    """The RQ job: send these statements (those still due)."""
    return COURIER.run_job(ids)


def send_after_commit(session: DbSession) -> None:
    COURIER.after_commit(session)
