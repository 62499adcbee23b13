"""Webhooks: endpoints an organization admin registers, events queued for them (flush
only), and their delivery outside the request, signed and retried with backoff.

Signing follows the Standard Webhooks specification (https://www.standardwebhooks.com/):
each request carries ``Webhook-Id`` (the delivery's id, the same on every retry),
``Webhook-Timestamp`` (Unix seconds of this attempt) and ``Webhook-Signature``:
``v1,`` + base64 of HMAC-SHA256 over ``"{id}.{timestamp}.{body}"``, keyed with the
endpoint's secret (``whsec_`` + base64 of 24 random bytes, the key being the decoded
bytes). So the signature covers the timestamp and the exact body, and the receiver can
verify it with any Standard Webhooks library or a few lines of its own.

The secret must be readable to sign with, so it cannot be kept as a hash: it is stored
Fernet-encrypted under a key derived from ``SECRET_KEY`` (a database dump alone does not
give it away) and shown once, when the endpoint is made or its secret rotated.

Rotating keeps the previous secret for an overlap (``WEBHOOK_SECRET_OVERLAP_HOURS``, 24):
until then each delivery carries two signatures in ``Webhook-Signature``, separated by a
space as the specification allows (``v1,<new> v1,<previous>``), so a receiver still
checking with the old secret keeps accepting deliveries while it switches to the new one.

Delivery is lms/jobs/outbox's (claim with a lease, send with no transaction open, record
the answer: delivered on 2xx, else the status code or error and the next try, failed after
``WEBHOOK_MAX_ATTEMPTS``). Before each attempt the endpoint's host name is resolved again
and an address that is not public (loopback, private, link-local...) is refused, the
reason recorded, unless ``WEBHOOK_ALLOW_LOCAL_HTTP`` (development and tests)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import ColumnElement, Select, select, update

from lms.audit.models import AuditAction
from lms.audit.services import record_from
from lms.database import DbSession, upsert_insert, utcnow
from lms.jobs import outbox
from lms.jobs.outbox import Backoff, HttpOutbox, Outcome, deliver, note_pending, post
from lms.web.addresses import NotPublic, guard, public_addresses
from lms.webhooks.models import SUBSCRIBABLE, DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent

log = logging.getLogger("lms.webhooks")

# session.info key: ids of the deliveries this unit of work queued, sent once it committed
PENDING = "lms.webhooks.pending"
SECRET_PREFIX = "whsec_"
USER_AGENT = "lms-webhooks/1"
MAX_ENDPOINTS = 20  # per organization


class WebhookError(ValueError):
    """Input the webhook pages refuse; nothing was saved."""


# --------------------------------------------------------------------------- secrets & signatures


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"lms.webhooks.endpoint-secret:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_secret(secret_key: str, secret: str) -> str:
    return _fernet(secret_key).encrypt(secret.encode()).decode()


def decrypt_secret(secret_key: str, encrypted: str) -> str:
    try:
        return _fernet(secret_key).decrypt(encrypted.encode()).decode()
    except InvalidToken:
        raise WebhookError("The endpoint's secret cannot be read (was SECRET_KEY changed?): rotate it.") from None


def signing_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The ``Webhook-Signature`` header's value for one attempt."""
    content = f"{message_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(signing_key(secret), content, hashlib.sha256).digest()).decode()


def verify(secret: str, headers: Mapping[str, str], body: str, now: datetime | None = None,
           tolerance: timedelta = timedelta(minutes=5)) -> bool:
    """What a receiver does (the README's example; the tests use it too): the timestamp is
    recent and one of the header's ``v1`` signatures matches, compared in constant time."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        message_id, timestamp = lowered["webhook-id"], int(lowered["webhook-timestamp"])
        signatures = lowered["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs((now or utcnow()).timestamp() - timestamp) > tolerance.total_seconds():
        return False
    expected = sign(secret, message_id, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in signatures)


# --------------------------------------------------------------------------- endpoints


def check_url(url: str, allow_local_http: bool) -> str:
    """An endpoint URL: https to a named host or a public address; http://127.0.0.1 or
    http://localhost only when ``allow_local_http`` (testing and development)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port out of range raises ValueError here)
    except ValueError:
        raise WebhookError("That is not a valid URL.") from None
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password:
        raise WebhookError("Give a full URL with a host and no user name or password, e.g. https://hooks.example.org/lms.")
    local = host in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme == "http" and local and allow_local_http:
        return url
    if parts.scheme != "https":
        raise WebhookError("Webhook endpoints must use https://"
                           + (" (http:// only to 127.0.0.1 on a development server)." if allow_local_http else "."))
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if (local or (address is not None and not address.is_global)) and not allow_local_http:
        raise WebhookError("Webhook endpoints must be reachable on the internet, not a local or private address.")
    return url


def refuse_private_host(url: str) -> None:
    """Raise WebhookError when the URL's host resolves (now) to an address that is not
    public (lms/web/addresses). A name checked at registration may point elsewhere
    since, so this is asked again before each delivery."""
    parts = urlsplit(url)
    try:
        public_addresses(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
    except NotPublic as exc:
        raise WebhookError(str(exc)) from None


def read_events(chosen: Iterable[str]) -> list[str]:
    values = set(chosen)
    unknown = values - {e.value for e in SUBSCRIBABLE}
    if unknown:
        raise WebhookError(f"Unknown events: {', '.join(sorted(unknown))}.")
    if not values:
        raise WebhookError("Choose at least one event.")
    return [e.value for e in SUBSCRIBABLE if e.value in values]


def endpoints_of(session: DbSession, organization_id: int) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.organization_id == organization_id)
                                .order_by(WebhookEndpoint.id)))


def endpoint_of(session: DbSession, organization_id: int, endpoint_id: int) -> WebhookEndpoint | None:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    return endpoint if endpoint is not None and endpoint.organization_id == organization_id else None


def create_endpoint(session: DbSession, organization_id: int, url: str, events: Iterable[str], description: str,
                    secret_key: str, actor_id: int | None, allow_local_http: bool,
                    now: datetime | None = None, form_token: str | None = None) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its secret (shown once, then only stored encrypted).
    One endpoint per organization and URL: registering a URL again (twice at once too, a
    double click or two admins) is refused, or every event would be delivered twice.
    ``form_token`` is the one-time value of the form it came from: the same form sent again
    by ``actor_id`` (a reload, a double click, at once too) finds the endpoint it added and
    returns it with no secret ("": that was shown once, when it was added)."""
    token = form_token if form_token and actor_id is not None else None

    def sent_before() -> WebhookEndpoint | None:
        if token is None:
            return None
        return session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.created_by_id == actor_id,
                                                             WebhookEndpoint.form_token == token)
                               .execution_options(populate_existing=True)).first()

    checked, chosen = check_url(url, allow_local_http), read_events(events)
    known = endpoints_of(session, organization_id)
    # Looked for after the endpoints are read: one the same form added in the meantime (a
    # double click's first request, committed) is found here, not refused as a URL taken.
    before = sent_before()
    if before is not None:
        return before, ""
    if any(e.url == checked for e in known):
        raise WebhookError(_registered(checked))
    if len(known) >= MAX_ENDPOINTS:
        raise WebhookError(f"An organization has at most {MAX_ENDPOINTS} endpoints; remove one first.")
    secret = new_secret()
    # Another request registering the URL, or sending the same form, at this moment (a double
    # click, two admins) has this one wait for it (no conflict target: either unique key),
    # then find the form's endpoint (said so) or the URL taken (refused): nothing written.
    statement = (upsert_insert(session)(WebhookEndpoint).on_conflict_do_nothing().returning(WebhookEndpoint.id))
    made = session.execute(statement, {
        "organization_id": organization_id, "url": checked, "events": chosen, "description": description.strip(),
        "secret_encrypted": encrypt_secret(secret_key, secret), "active": True, "created_at": now or utcnow(),
        "created_by_id": actor_id, "form_token": token}).first()
    if made is None:
        before = sent_before()
        if before is not None:
            return before, ""
        raise WebhookError(_registered(checked))
    endpoint = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id == made[0])).one()
    record_from(session, action=AuditAction.WEBHOOK_CREATED, organization_id=organization_id,
                target=f"webhook:{endpoint.id}", before=None, after=_audited(endpoint), actor_id=actor_id)
    return endpoint, secret


def _registered(url: str) -> str:
    return (f"{url} is already an endpoint of this organization (each event is sent once to each URL): "
            "use that one, and resume it if it is paused.")


def _audited(endpoint: WebhookEndpoint) -> dict[str, object]:
    """What the audit log keeps of an endpoint: never its secret."""
    return {"url": endpoint.url, "description": endpoint.description, "events": list(endpoint.events),
            "active": endpoint.active}


def rotate_secret(session: DbSession, endpoint: WebhookEndpoint, secret_key: str, overlap: timedelta,
                  now: datetime) -> str:
    """A new secret for the endpoint (returned, to show once); the one it replaces still
    signs each delivery beside it until ``now + overlap`` (none when ``overlap`` is zero).
    Rotating again within the overlap drops the oldest: two secrets at most."""
    secret = new_secret()
    if overlap > timedelta(0):
        endpoint.previous_secret_encrypted, endpoint.previous_secret_until = endpoint.secret_encrypted, now + overlap
    else:
        endpoint.previous_secret_encrypted, endpoint.previous_secret_until = None, None
    endpoint.secret_encrypted = encrypt_secret(secret_key, secret)
    session.flush()
    record_from(session, action=AuditAction.WEBHOOK_SECRET_ROTATED, organization_id=endpoint.organization_id,
                target=f"webhook:{endpoint.id}", before=None, after={"url": endpoint.url})
    return secret


def set_active(session: DbSession, endpoint: WebhookEndpoint, active: bool) -> None:
    """Pause or resume the endpoint; audited when that changes it."""
    if endpoint.active == active:
        return
    before = _audited(endpoint)
    endpoint.active = active
    session.flush()
    record_from(session, action=AuditAction.WEBHOOK_RESUMED if active else AuditAction.WEBHOOK_PAUSED,
                organization_id=endpoint.organization_id, target=f"webhook:{endpoint.id}", before=before,
                after=_audited(endpoint))


# --------------------------------------------------------------------------- queueing events


def _note_pending(session: DbSession, ids: Iterable[int]) -> None:
    note_pending(session, PENDING, ids)


def take_pending(session: DbSession) -> list[int]:
    return outbox.take_pending(session, PENDING)


def subscribed(session: DbSession, organization_ids: ColumnElement[Any] | Sequence[int],
               event: WebhookEvent) -> list[WebhookEndpoint]:
    """The active endpoints of these organizations (ids or a subquery) that take ``event``."""
    rows = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.organization_id.in_(organization_ids),
                                                         WebhookEndpoint.active.is_(True)))
    return [e for e in rows if event.value in e.events]


def payload(event: WebhookEvent, data: Mapping[str, Any], now: datetime) -> str:
    """The body sent: the event's type, when it happened and its data (compact JSON)."""
    return json.dumps({"type": event.value, "timestamp": now.isoformat().replace("+00:00", "Z"), "data": data},
                      separators=(",", ":"), sort_keys=True, default=str)


def queue_event(session: DbSession, endpoints: Sequence[WebhookEndpoint], event: WebhookEvent, key: str,
                data: Mapping[str, Any], now: datetime) -> list[WebhookDelivery]:
    """One delivery per endpoint for this occurrence (``key``); an occurrence already queued
    for an endpoint is not queued again. Sent once the caller's work commits. Flushes only."""
    if not endpoints:
        return []
    ids = [e.id for e in endpoints]
    known = set(session.scalars(select(WebhookDelivery.endpoint_id).where(
        WebhookDelivery.endpoint_id.in_(ids), WebhookDelivery.event_key == key)))
    body = payload(event, data, now)
    made = [WebhookDelivery(endpoint_id=e.id, event=event, event_key=key, message_id=f"msg_{uuid.uuid4().hex}", body=body,
                            created_at=now) for e in endpoints if e.id not in known]
    if made:
        session.add_all(made)
        session.flush()
        _note_pending(session, [d.id for d in made])
    return made


# --------------------------------------------------------------------------- delivery


@dataclass(frozen=True)
class Claimed:
    """A delivery taken for one attempt (plain values: no session is held meanwhile)."""

    id: int
    url: str
    secret_encrypted: str
    message_id: str
    body: str
    attempts: int
    previous_secret_encrypted: str | None = None  # after a rotation, until previous_secret_until
    previous_secret_until: datetime | None = None


class WebhookOutbox(HttpOutbox[Claimed]):
    """The deliveries of active endpoints, signed and POSTed (``WEBHOOK_*`` backoff)."""

    model, pending, done, failed = WebhookDelivery, DeliveryStatus.PENDING, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED
    done_at = "delivered_at"

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(Backoff.from_config(config, "WEBHOOK"))
        self.timeout = float(config.get("WEBHOOK_TIMEOUT") or 10)
        self.secret_key = str(config["SECRET_KEY"])
        self.allow_local = bool(config.get("WEBHOOK_ALLOW_LOCAL_HTTP"))

    @contextmanager
    def sending(self) -> Iterator[None]:
        with super().sending():
            if not self.allow_local:
                guard(self.http)  # connects only to the public addresses it resolves (no rebinding)
            yield

    def columns(self, outcome: Outcome) -> dict[str, Any]:
        # The receiver's answer to a success, as the error keeps a failure's (the latest try's).
        return super().columns(outcome) | {"response_excerpt": outcome.answer if outcome.done else ""}

    @classmethod
    def candidates(cls, now: datetime) -> Select[tuple[int]]:
        return super().candidates(now).join(WebhookDelivery.endpoint).where(WebhookEndpoint.active.is_(True))

    @classmethod
    def load(cls, session: DbSession, ids: Iterable[int]) -> list[Claimed]:
        rows = session.execute(select(WebhookDelivery.id, WebhookEndpoint.url, WebhookEndpoint.secret_encrypted,
                                      WebhookDelivery.message_id, WebhookDelivery.body, WebhookDelivery.attempts,
                                      WebhookEndpoint.previous_secret_encrypted, WebhookEndpoint.previous_secret_until)
                               .join(WebhookDelivery.endpoint).where(WebhookDelivery.id.in_(ids)).order_by(WebhookDelivery.id))
        return [Claimed(*row) for row in rows]

    def send(self, group: Sequence[Claimed], now: datetime) -> list[tuple[Sequence[Claimed], Outcome]]:
        [delivery] = group
        outcome = post_signed(self.http, delivery, self.secret_key, self.timeout, now, self.allow_local)
        if not outcome.done:
            log.warning("webhook %s to %s not delivered (attempt %d): %s", delivery.message_id, delivery.url,
                        delivery.attempts + 1, outcome.error)
        return [(group, replace(outcome, halt=not outcome.done))]


def post_signed(http: requests.Session, delivery: Claimed, secret_key: str, timeout: float, now: datetime,
                allow_local: bool = False) -> Outcome:
    """Send one attempt: a signed POST; 2xx is delivered, anything else an error. A host
    that resolves to a local or private address is refused, unless ``allow_local``. Never raises."""
    try:
        secrets_now = [decrypt_secret(secret_key, delivery.secret_encrypted)]
        if delivery.previous_secret_encrypted and delivery.previous_secret_until and delivery.previous_secret_until > now:
            secrets_now.append(decrypt_secret(secret_key, delivery.previous_secret_encrypted))
        if not allow_local:
            refuse_private_host(delivery.url)
    except WebhookError as exc:
        return Outcome(str(exc))
    timestamp = int(now.timestamp())
    signatures = " ".join(sign(secret, delivery.message_id, timestamp, delivery.body) for secret in secrets_now)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Webhook-Id": delivery.message_id,
               "Webhook-Timestamp": str(timestamp), "Webhook-Signature": signatures}
    return post(http, delivery.url, delivery.body, headers, timeout)


def deliver_pending(session: DbSession, config: Mapping[str, Any], *, ids: Sequence[int] | None = None,
                    limit: int | None = None, now: datetime | None = None, stop_on_failure: bool = False) -> int:
    """Send the due deliveries (of ``ids`` when given, at most ``limit``); returns how many
    were delivered (``lms.jobs.outbox.deliver``)."""
    return deliver(session, WebhookOutbox(config), ids=ids, limit=limit, now=now, stop_on_failure=stop_on_failure)


# --------------------------------------------------------------------------- the admin's log


def deliveries_of(session: DbSession, endpoint: WebhookEndpoint, limit: int = 100) -> list[WebhookDelivery]:
    return list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
                                .order_by(WebhookDelivery.id.desc()).limit(limit)))


def delivery_of(session: DbSession, organization_id: int, delivery_id: int) -> WebhookDelivery | None:
    row = session.execute(select(WebhookDelivery, WebhookEndpoint.organization_id).join(WebhookDelivery.endpoint)
                          .where(WebhookDelivery.id == delivery_id)).first()
    return row[0] if row is not None and row[1] == organization_id else None


def redeliver(session: DbSession, delivery: WebhookDelivery) -> None:
    """Send a delivery again now, with a fresh set of attempts (the same ``Webhook-Id`` and
    body, so a receiver that already has it can tell). The attempts made so far are kept in
    ``earlier_attempts``: the log counts every try. Sent once the caller's work commits."""
    session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery.id)
                    .values(status=DeliveryStatus.PENDING, next_attempt_at=None, attempts=0,
                            earlier_attempts=WebhookDelivery.earlier_attempts + WebhookDelivery.attempts)
                    .execution_options(synchronize_session=False))
    session.flush()
    _note_pending(session, [delivery.id])


# --------------------------------------------------------------------------- the test event


class EndpointPaused(WebhookError):
    """A test event asked for a paused endpoint: nothing is sent to it while paused."""


def send_test_event(session: DbSession, endpoint: WebhookEndpoint, now: datetime) -> WebhookDelivery:
    """Queue a ``ping`` for this endpoint alone, whatever events it takes: signed and sent as
    every delivery is (the same headers, retries and log), so the admin sees on its log
    whether the receiver takes it and what it answered. Each press is a delivery of its own.
    Refused (EndpointPaused) for a paused endpoint. Sent once the caller's work commits."""
    if not endpoint.active:
        raise EndpointPaused(f"{endpoint.url} is paused: resume it to send it a test event.")
    data = {"test": True, "endpoint": {"id": endpoint.id, "url": endpoint.url},
            "organization": {"id": endpoint.organization_id, "name": endpoint.organization.name},
            "note": "A test event sent from the endpoint's page: it needs no action."}
    [delivery] = queue_event(session, [endpoint], WebhookEvent.PING, f"ping:{uuid.uuid4().hex}", data, now)
    return delivery


def ping_of(session: DbSession, endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery | None:
    """A test event sent to this endpoint (the page it was sent from says how it went)."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint.id or delivery.event is not WebhookEvent.PING:
        return None
    return delivery
