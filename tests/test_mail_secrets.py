"""One-time links in the outbox: a sent message keeps no usable reset, unlock or invitation
link (its body is replaced by a copy with them blanked), an unsent one keeps it for its
retries, and the site admin's outbox page only ever shows the blanked copy."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from lms.accounts import services as accounts
from lms.accounts.models import PasswordResetToken
from lms.database import utcnow
from lms.extensions import db
from lms.mail import services as mail
from lms.mail.models import REDACTED, MailStatus, OutboxMessage
from tests.conftest import sent_body

RESET = re.compile(r"http://localhost/password/reset/([A-Za-z0-9_-]+)")


class Broken(mail.Transport):
    name = "broken"

    def send(self, message: Any) -> None:
        raise ConnectionRefusedError(111, "Connection refused")


class Recording(mail.Transport):
    name = "recording"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.bodies: list[str] = []

    def send(self, message: Any) -> None:
        self.bodies.append(message.body)


def stored() -> OutboxMessage:
    db.session.expire_all()
    return db.session.scalars(select(OutboxMessage)).one()


def test_a_sent_reset_mail_keeps_no_usable_link_and_the_outbox_page_shows_it_blanked(client, make_user, login) -> None:
    """The outbox kept every password reset link in plain text after sending it: anyone who
    could read the table (a backup, a database console) could take over the account."""
    make_user(email="ada@example.com", name="Ada")
    assert client.post("/password/forgot", data={"email": "ada@example.com"}).status_code == 302
    message = stored()
    assert message.status is MailStatus.SENT
    token = RESET.search(sent_body(message))  # what went out had the link
    assert token is not None
    row = db.session.scalars(select(PasswordResetToken)).one()
    assert row.token_hash == accounts.hash_token(token.group(1))  # and it is a live link
    assert token.group(1) not in message.body and "/password/reset/" not in message.body
    assert f"choose a new password:\n{REDACTED}\n" in message.body and message.redacted_body is None
    # The site admin reads what was sent, the link blanked.
    login(client, make_user(email="root@example.com", admin=True))
    page = client.get("/admin/mail").get_data(as_text=True)
    assert "Sent lately" in page and "Reset your password" in page and REDACTED in page
    assert token.group(1) not in page


def test_an_unsent_message_keeps_its_link_for_retries_and_loses_it_once_sent(app, client, make_user, login) -> None:
    link = "https://lms.example.org/unlock/SECRET-one-time-token"
    mail.queue_mail(db.session, "bo@example.com", "Unlock", f"Use this link:\n{link}\nThanks.\n", one_time=[link])
    db.session.commit()
    assert mail.deliver_pending(db.session, Broken({})) == 0
    db.session.commit()
    message = stored()
    assert message.status is MailStatus.PENDING and link in message.body  # the next try still sends it
    # The admin sees it waiting for another try, never with its live link.
    login(client, make_user(email="root@example.com", admin=True))
    page = client.get("/admin/mail").get_data(as_text=True)
    assert "ConnectionRefusedError" in page and REDACTED in page and "SECRET-one-time-token" not in page
    db.session.execute(OutboxMessage.__table__.update().values(status=MailStatus.FAILED))
    db.session.commit()
    assert mail.retry(db.session, [message.id]) == 1
    db.session.commit()
    working = Recording({})
    assert mail.deliver_pending(db.session, working, now=utcnow() + timedelta(minutes=1)) == 1
    db.session.commit()
    assert working.bodies == [f"Use this link:\n{link}\nThanks.\n"]  # the retry sent the link
    message = stored()
    assert message.status is MailStatus.SENT
    assert message.body == f"Use this link:\n{REDACTED}\nThanks.\n" and message.redacted_body is None
    # A mail without one-time links is kept as it was sent.
    mail.queue_mail(db.session, "cy@example.com", "News", "See https://lms.example.org/news\n")
    db.session.commit()
    mail.deliver_pending(db.session, working)
    db.session.commit()
    db.session.expire_all()
    news = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "cy@example.com")).one()
    assert news.status is MailStatus.SENT and news.body == "See https://lms.example.org/news\n"
