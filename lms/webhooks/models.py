"""An organization's webhook endpoints and the log of every delivery made to them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.cohorts.models import Organization
from lms.database import UTCDateTime, enum_type, utcnow
from lms.extensions import Model


class WebhookEvent(StrEnum):
    """The ``type`` of each payload: the events an endpoint may subscribe to (``SUBSCRIBABLE``)
    and the test event."""

    GRADE_RELEASED = "grade.released"
    MASTERY_LEVEL_CHANGED = "mastery.level_changed"
    LEARNER_AT_RISK = "learner.at_risk"
    CERTIFICATE_ISSUED = "certificate.issued"
    ENROLMENT_ACCEPTED = "enrolment.accepted"
    # The test event an admin sends from an endpoint's page (services.send_test_event): sent
    # to that one endpoint whatever it takes; never subscribed to (not in EVENT_LABELS).
    PING = "ping"


EVENT_LABELS: dict[WebhookEvent, str] = {
    WebhookEvent.GRADE_RELEASED: "A grade is released to a learner",
    WebhookEvent.MASTERY_LEVEL_CHANGED: "A learner's named mastery level on an objective changes",
    WebhookEvent.LEARNER_AT_RISK: "A learner is newly at risk",
    WebhookEvent.CERTIFICATE_ISSUED: "A certificate is issued",
    WebhookEvent.ENROLMENT_ACCEPTED: "An invitation is accepted (a learner joins a cohort)",
}
# The events an endpoint may take (the add form's choices): all but the test event.
SUBSCRIBABLE: tuple[WebhookEvent, ...] = tuple(EVENT_LABELS)


class DeliveryStatus(StrEnum):
    PENDING = "pending"      # not delivered yet: due at next_attempt_at (now when empty)
    DELIVERED = "delivered"  # the endpoint answered 2xx
    FAILED = "failed"        # gave up after WEBHOOK_MAX_ATTEMPTS; the admin may redeliver


class WebhookEndpoint(Model):
    """One URL an organization's events are POSTed to: one endpoint per organization and
    URL, so that no event is delivered twice to the same place. ``form_token`` is the one-time
    value of the page form that added it: the same form sent again (a reload, a double
    click) finds this endpoint instead of trying to add it again."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (UniqueConstraint("organization_id", "url"),
                      UniqueConstraint("created_by_id", "form_token", name="uq_webhook_endpoints_created_by_id_form_token"))

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(String(200), default="")
    # The subscribed events' values (WebhookEvent), in a stable order.
    events: Mapped[list[str]] = mapped_column(JSON)
    # The signing secret ("whsec_..."), Fernet-encrypted with a key derived from SECRET_KEY:
    # it must be readable to sign, so it cannot be a hash; shown once when made.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    # After a rotation, the secret before it (encrypted the same way) and until when each
    # delivery is signed with it as well as with the new one, so a receiver can switch over.
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    form_token: Mapped[str | None] = mapped_column(String(64), default=None)
    organization: Mapped[Organization] = relationship()


class WebhookDelivery(Model):
    """One event for one endpoint: the exact body signed and sent, and how sending went.
    ``message_id`` is the ``Webhook-Id`` header, the same on every retry (receivers use it
    to drop duplicates); ``event_key`` names the occurrence, so it is queued once."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("endpoint_id", "event_key"),
                      Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    event: Mapped[WebhookEvent] = mapped_column(enum_type(WebhookEvent, length=40, name="event"))
    event_key: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[str] = mapped_column(String(60), unique=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[DeliveryStatus] = mapped_column(enum_type(DeliveryStatus, length=10, name="status"),
                                                   default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)  # since it was queued, or last redelivered
    # The attempts made before the admin last redelivered it (a redelivery starts a fresh set
    # of WEBHOOK_MAX_ATTEMPTS, and the log still counts every try).
    earlier_attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The last attempt's HTTP status (None: no answer) and error ("" once delivered).
    response_status: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str] = mapped_column(Text, default="")
    # The start of the receiver's answer to the last attempt it accepted (a failure's is in
    # ``error``): what the delivery log shows of a success.
    response_excerpt: Mapped[str] = mapped_column(Text, default="", server_default="")
    endpoint: Mapped[WebhookEndpoint] = relationship()
