"""xAPI statements for a Learning Record Store: built from other features' events, written
to the outbox (``xapi_statements``) in the event's own unit of work (flush only), and sent
outside the request, retried with backoff until the LRS has them.

- Off unless ``XAPI_LRS_ENDPOINT`` is set (the LRS's xAPI base, e.g.
  ``https://lrs.example.org/xAPI/``; statements go to ``<endpoint>/statements`` with HTTP
  Basic ``XAPI_LRS_USERNAME``/``XAPI_LRS_PASSWORD``).
- Actors are accounts, never e-mail addresses: ``{"homePage": <the site's base URL>,
  "name": <an opaque id>}``, the id an HMAC of the user id under the app's SECRET_KEY (stable,
  and not the database id).
- Statement ids are uuid5s of the event's key (e.g. ``attempt:12:completed``) in a
  namespace of this installation: an event is queued once, and a statement sent again
  (a retry after a timeout, ``send-xapi --retry-failed``) is the same statement, which an
  LRS stores once (xAPI 1.0.3, 2.1.3: an identical statement with a known id is not stored
  again).
- Verbs and activity types are the ADL vocabulary's (http://adlnet.gov/expapi/...).
- Statements are immutable (xAPI 1.0.3, 2.3.2): a fact that changes afterwards (work's
  lateness, when an extension or a moved cohort start changes its deadline) voids the
  statement that said otherwise (verb ``voided``, object a ``StatementRef`` to it) and sends
  a corrected one, whose context refers to the voided statement. xAPI has an LRS leave a
  voided statement out of its query answers, but not every LRS does: Ralph 5.1 still lists
  it (the tests read it back), so a report built on such an LRS leaves out the statements
  that a ``voided`` statement names. The site itself lists no statements: the outbox is only
  sent (``send-xapi`` prints how many are pending and failed)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import requests
from flask import has_request_context, request
from sqlalchemy import func, select, update

from lms.database import DbSession
from lms.jobs import outbox
from lms.jobs.outbox import Backoff, HttpOutbox, Outcome, deliver, note_pending, post
from lms.xapi.models import StatementStatus, XapiStatement

log = logging.getLogger("lms.xapi")

# session.info key: ids of the statements this unit of work queued, sent once it committed
PENDING = "lms.xapi.pending"
XAPI_VERSION = "1.0.3"
USER_AGENT = "lms-xapi/1"

ADL = "http://adlnet.gov/expapi"
VERBS: dict[str, dict[str, Any]] = {
    name: {"id": f"{ADL}/verbs/{name}", "display": {"en-US": name}}
    for name in ("attempted", "completed", "passed", "failed", "scored", "progressed", "mastered", "experienced", "voided")
}
# ADL has no "submitted" verb of its own: its vocabulary lists Activity Streams' "submit".
VERBS["submitted"] = {"id": "http://activitystrea.ms/schema/1.0/submit", "display": {"en-US": "submitted"}}
ACTIVITY_TYPES = {name: f"{ADL}/activities/{name}"
                  for name in ("lesson", "assessment", "performance", "objective", "course")}


class XapiError(ValueError):
    """The LRS settings cannot be used; the message says why."""


# --------------------------------------------------------------------------- statements


def enabled(config: Mapping[str, Any]) -> bool:
    return bool(str(config.get("XAPI_LRS_ENDPOINT") or "").strip())


def homepage(config: Mapping[str, Any]) -> str:
    """The site's base URL with a trailing slash: XAPI_HOMEPAGE, else BASE_URL, else the request's."""
    configured = str(config.get("XAPI_HOMEPAGE") or config.get("BASE_URL") or "").strip()
    if configured:
        return configured.rstrip("/") + "/"
    if has_request_context():
        return request.url_root
    return "http://localhost/"


def opaque_id(secret_key: str, user_id: int) -> str:
    return hmac.new(secret_key.encode(), f"lms.xapi.actor:{user_id}".encode(), hashlib.sha256).hexdigest()[:24]


def actor(config: Mapping[str, Any], user_id: int) -> dict[str, Any]:
    return {"objectType": "Agent",
            "account": {"homePage": homepage(config), "name": opaque_id(str(config["SECRET_KEY"]), user_id)}}


def namespace(secret_key: str, site: str = "") -> uuid.UUID:
    """This installation's uuid5 namespace: from the app's secret and the configured site."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "lms:xapi:" + site + ":" + hmac.new(secret_key.encode(), b"lms.xapi.namespace",
                                                                            hashlib.sha256).hexdigest())


def statement_id(config: Mapping[str, Any], key: str) -> str:
    return str(uuid.uuid5(namespace(str(config["SECRET_KEY"]), str(config.get("XAPI_HOMEPAGE") or "")), key))


def activity(config: Mapping[str, Any], kind: str, path: str, name: str) -> dict[str, Any]:
    return {"objectType": "Activity", "id": homepage(config) + path,
            "definition": {"type": ACTIVITY_TYPES[kind], "name": {"en-US": name}}}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def statement(config: Mapping[str, Any], key: str, user_id: int, verb: str, obj: dict[str, Any], now: datetime,
              result: dict[str, Any] | None = None, context: dict[str, Any] | None = None) -> dict[str, Any]:
    made: dict[str, Any] = {"id": statement_id(config, key), "actor": actor(config, user_id), "verb": VERBS[verb],
                            "object": obj, "timestamp": iso(now)}
    if result is not None:
        made["result"] = result
    made["context"] = {"platform": "lms", **(context or {})}
    return made


def score(raw: float, maximum: float) -> dict[str, float]:
    scaled = 0.0 if not maximum else max(-1.0, min(1.0, raw / maximum))
    return {"scaled": round(scaled, 4), "raw": raw, "min": 0.0, "max": maximum}


def queue(session: DbSession, config: Mapping[str, Any], key: str, made: dict[str, Any], now: datetime, *,
          base: str | None = None) -> XapiStatement | None:
    """Put one statement in the outbox (once per event key), sent after the caller's commit.
    ``base`` is the key of the event a correction is about (the key itself when not given).
    Flushes only; nothing when xAPI is off."""
    if not enabled(config):
        return None
    if session.scalar(select(XapiStatement.id).where(XapiStatement.statement_id == made["id"])) is not None:
        return None
    row = XapiStatement(statement_id=made["id"], event_key=key[:200], event_base=(key if base is None else base)[:200],
                        created_at=now, body=json.dumps(made, separators=(",", ":"), sort_keys=True))
    session.add(row)
    session.flush()
    note_pending(session, PENDING, [row.id])
    return row


def take_pending(session: DbSession) -> list[int]:
    return outbox.take_pending(session, PENDING)


# --------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class Claimed:
    id: int
    statement_id: str
    body: str
    attempts: int


class StatementOutbox(HttpOutbox[Claimed]):
    """Statements POSTed to the LRS in batches of ``XAPI_BATCH`` (``XAPI_*`` backoff). A batch
    the LRS refuses as a whole (4xx) is sent again one statement at a time, so one bad
    statement does not hold the others back; only an LRS that does not answer halts a run."""

    model, pending, done, failed = XapiStatement, StatementStatus.PENDING, StatementStatus.SENT, StatementStatus.FAILED
    done_at = "sent_at"

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.size = max(1, int(config.get("XAPI_BATCH") or 50))
        super().__init__(Backoff.from_config(config, "XAPI", attempts=20), claim_size=self.size)  # a POST a claim
        self.config = config

    @classmethod
    def load(cls, session: DbSession, ids: Iterable[int]) -> list[Claimed]:
        rows = session.execute(select(XapiStatement.id, XapiStatement.statement_id, XapiStatement.body, XapiStatement.attempts)
                               .where(XapiStatement.id.in_(ids)).order_by(XapiStatement.id))
        return [Claimed(*row) for row in rows]

    def groups(self, claimed: Sequence[Claimed]) -> Iterator[Sequence[Claimed]]:
        for start in range(0, len(claimed), self.size):
            yield claimed[start:start + self.size]

    def send(self, group: Sequence[Claimed], now: datetime) -> list[tuple[Sequence[Claimed], Outcome]]:
        answer = post_statements(self.http, self.config, group)
        results: list[tuple[Sequence[Claimed], Outcome]] = [(group, replace(answer, halt=answer.status is None and not answer.done))]
        if answer.status is not None and 400 <= answer.status < 500 and len(group) > 1:
            results = [([item], post_statements(self.http, self.config, [item])) for item in group]
        for items, got in results:
            if not got.done:
                log.warning("xAPI statements %s not stored (attempt %d): %s", [i.statement_id for i in items],
                            items[0].attempts + 1, got.error)
        return results


def statements_url(config: Mapping[str, Any]) -> str:
    return str(config["XAPI_LRS_ENDPOINT"]).strip().rstrip("/") + "/statements"


def post_statements(http: requests.Session, config: Mapping[str, Any], claimed: Sequence[Claimed]) -> Outcome:
    """POST a batch of statements; 2xx is stored. Never raises."""
    body = "[" + ",".join(item.body for item in claimed) + "]"
    headers = {"Content-Type": "application/json", "X-Experience-API-Version": XAPI_VERSION, "User-Agent": USER_AGENT}
    auth = (str(config.get("XAPI_LRS_USERNAME") or ""), str(config.get("XAPI_LRS_PASSWORD") or ""))
    return post(http, statements_url(config), body, headers, float(config.get("XAPI_TIMEOUT") or 10), auth)


def send_pending(session: DbSession, config: Mapping[str, Any], *, ids: Sequence[int] | None = None,
                 limit: int | None = None, now: datetime | None = None, stop_on_failure: bool = False) -> int:
    """Send the due statements (of ``ids`` when given, at most ``limit``); returns how many
    the LRS stored (``lms.jobs.outbox.deliver``). Nothing when xAPI is off."""
    if not enabled(config):
        return 0
    return deliver(session, StatementOutbox(config), ids=ids, limit=limit, now=now, stop_on_failure=stop_on_failure)


def retry_failed(session: DbSession) -> int:
    """Statements given up on are due again with a fresh set of attempts. Flushes only."""
    ids = list(session.scalars(select(XapiStatement.id).where(XapiStatement.status == StatementStatus.FAILED)))
    if ids:
        session.execute(update(XapiStatement).where(XapiStatement.id.in_(ids))
                        .values(status=StatementStatus.PENDING, next_attempt_at=None, attempts=0)
                        .execution_options(synchronize_session=False))
        session.flush()
    return len(ids)


def counts(session: DbSession) -> dict[str, int]:
    return {str(status): int(n) for status, n in session.execute(
        select(XapiStatement.status, func.count()).group_by(XapiStatement.status))}
