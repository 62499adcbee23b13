"""Notifications: once per (user, key), the user's channel per event, email through the
outbox, the centre (unread count, mark read), and the reminder command."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from lms.extensions import db
from lms.mail.models import OutboxMessage
from lms.notifications.models import Channel, Notification, NotificationEvent
from lms.notifications.services import (
    Notice,
    mark_all_read,
    mark_read,
    notify,
    notify_all,
    preferences,
    set_preferences,
    unread_count,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def outbox() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_notify_once_per_key_and_emails_by_default(make_user) -> None:
    user = make_user()
    made = notify(db.session, user_id=user.id, event=NotificationEvent.GRADE_RELEASED, key="grade:1:released",
                  title="Your grade for Case study 1 is released", body="Score 8/10", link="/grading/1")
    assert made is not None and made.read_at is None and made.channel == Channel.EMAIL
    again = notify(db.session, user_id=user.id, event=NotificationEvent.GRADE_RELEASED, key="grade:1:released",
                   title="Your grade for Case study 1 is released")
    assert again is None
    db.session.commit()
    mails = outbox()
    assert [(m.recipient, m.subject) for m in mails] == [(user.email, "Your grade for Case study 1 is released")]
    assert "/grading/1" in mails[0].body
    assert unread_count(db.session, user.id) == 1


def test_preferences_choose_the_channel(make_user) -> None:
    user = make_user()
    assert preferences(db.session, user.id)[NotificationEvent.PEER_REVIEW_RECEIVED] == Channel.IN_APP
    set_preferences(db.session, user.id, {NotificationEvent.GRADE_RELEASED: Channel.IN_APP,
                                          NotificationEvent.MESSAGE: Channel.OFF})
    set_preferences(db.session, user.id, {NotificationEvent.MESSAGE: "off"})  # an upsert, not a clash
    db.session.commit()
    assert preferences(db.session, user.id)[NotificationEvent.GRADE_RELEASED] == Channel.IN_APP
    assert notify(db.session, user_id=user.id, event=NotificationEvent.MESSAGE, key="m1", title="Hi") is None
    made = notify(db.session, user_id=user.id, event=NotificationEvent.GRADE_RELEASED, key="g1", title="Grade")
    assert made is not None and made.channel == Channel.IN_APP
    db.session.commit()
    assert outbox() == []


def test_mark_read_and_all_read(make_user) -> None:
    user, other = make_user(), make_user()
    first = notify(db.session, user_id=user.id, event=NotificationEvent.ANNOUNCEMENT, key="a1", title="One")
    notify(db.session, user_id=user.id, event=NotificationEvent.ANNOUNCEMENT, key="a2", title="Two")
    notify(db.session, user_id=other.id, event=NotificationEvent.ANNOUNCEMENT, key="a1", title="One")
    assert first is not None
    mark_read(db.session, first, NOW)
    assert unread_count(db.session, user.id) == 1
    assert mark_all_read(db.session, user.id, NOW) == 1
    db.session.commit()
    assert unread_count(db.session, user.id) == 0 and unread_count(db.session, other.id) == 1


def test_notify_all_is_a_fixed_number_of_statements(make_user, count_queries) -> None:
    def run(users: list, tag: str) -> int:
        notices = [Notice(u.id, NotificationEvent.MONTH_OPENS, f"month:{tag}", "Month 2 opens", link="/")
                   for u in users]
        count = count_queries(lambda: notify_all(db.session, notices))
        db.session.commit()
        return count

    few = [make_user() for _ in range(2)]
    many = few + [make_user() for _ in range(8)]
    assert run(few, "a") == run(many, "b")
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 12
    assert len(outbox()) == 12
