"""Where delivery runs: never in the request that queued the mail (lms/jobs/outbox's
``Courier``).

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
from collections.abc import Mapping, Sequence
from typing import Any

from lms.database import DbSession
from lms.jobs.outbox import Courier
from lms.jobs.outbox import redis_link as redis_link  # where the mail and LTI commands look for it
from lms.mail.services import PENDING, deliver_pending, transport_for

QUEUE = "mail"


def _deliver(session: DbSession, config: Mapping[str, Any], *, ids: Sequence[int] | None = None, limit: int | None = None,
             stop_on_failure: bool = False) -> int:
    return deliver_pending(session, transport_for(config), ids=ids, limit=limit, stop_on_failure=stop_on_failure)


COURIER = Courier(QUEUE, f"{__name__}.deliver_job", PENDING, "lms_mail_after_response", _deliver, "mail delivery",
                  logging.getLogger("lms.mail"), limit_setting="MAIL_AFTER_RESPONSE_LIMIT",
                  inline=lambda config: not transport_for(config).remote)
arm_after_response = COURIER.arm  # the app's after_request: a place for the response's close to send from


def deliver_job(ids: list[int]) -> int:
    """The RQ job: deliver these messages (those still due); run by ``flask lms mail-worker``."""
    return COURIER.run_job(ids)


def deliver_after_commit(session: DbSession) -> None:
    COURIER.after_commit(session)
