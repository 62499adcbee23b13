"""How long an invitation works: 14 days after it is sent, and an invitation to a cohort (a
learner's or an instructor's) at least 14 days after the cohort's first day begins, so that
people invited a month ahead can still accept in the cohort's first days. The mail and the
"invited, not joined" list give the expiry in their reader's zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from lms.cohorts.invitations import (
    check_invitation,
    invite_instructor,
    invite_learner,
    invite_organization_admin,
    resend_invitation,
)
from lms.extensions import db
from lms.mail.models import OutboxMessage

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
SENT = datetime(2027, 1, 4, 10, 0, tzinfo=UTC)  # four weeks before the cohort's first day
STARTS = date(2027, 2, 1)
# The cohort's first day begins at midnight in Berlin; 14 days later the link stops working.
EXPIRES = datetime(2027, 2, 15, 0, 0, tzinfo=BERLIN)


def link(token: str) -> str:
    return f"http://localhost/invitations/{token}"


def mail_to(address: str) -> OutboxMessage:
    [message] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == address)
                                   .order_by(OutboxMessage.id.desc()).limit(1))
    return message


def token_of(message: OutboxMessage) -> str:
    found = re.search(r"/invitations/([A-Za-z0-9_-]+)", message.body)
    assert found, message.body
    return found.group(1)


def test_an_invitation_a_month_ahead_works_until_two_weeks_into_the_cohort(app, make_cohort, make_user) -> None:
    """The QA report: an org admin inviting a month before the cohort starts sent links that
    expired before its first day."""
    admin = make_user(name="Org Admin")
    cohort = make_cohort(start=STARTS, timezone="Europe/Berlin", name="Spring")
    invitation = invite_learner(db.session, cohort, "new@example.com", "New Person", admin, link, SENT)
    db.session.commit()
    assert invitation.expires_at == EXPIRES
    token = token_of(mail_to("new@example.com"))
    on_day_one = datetime(2027, 2, 1, 9, 0, tzinfo=BERLIN)
    assert check_invitation(db.session, token, on_day_one).invitation is not None
    assert check_invitation(db.session, token, EXPIRES - timedelta(seconds=1)).invitation is not None
    assert "expired" in (check_invitation(db.session, token, EXPIRES).problem or "")
    # No account for the address: the mail gives the expiry in the cohort's zone.
    assert "Accept here by 15 February 2027 at 00:00 CET, when this link stops working:" in mail_to("new@example.com").body


def test_the_mail_gives_the_expiry_in_its_readers_zone(app, make_cohort, make_user) -> None:
    admin = make_user(name="Org Admin")
    reader = make_user(email="reader@example.com", timezone="America/New_York")
    cohort = make_cohort(start=STARTS, timezone="Europe/Berlin")
    invite_learner(db.session, cohort, reader.email, "", admin, link, SENT)
    db.session.commit()
    assert "Accept here by 14 February 2027 at 18:00 EST" in mail_to(reader.email).body


def test_fourteen_days_from_sending_when_that_is_later(app, make_cohort, make_user) -> None:
    admin = make_user()
    started = make_cohort(start=date(2026, 11, 2), timezone="Europe/Berlin")  # started two months before SENT
    soon = make_cohort(start=date(2027, 1, 5), timezone="Europe/Berlin")     # starts the day after SENT
    assert invite_learner(db.session, started, "a@example.com", "", admin, link, SENT).expires_at == SENT + timedelta(days=14)
    # Starting tomorrow: 14 days from its first day are later than 14 days from sending.
    assert invite_learner(db.session, soon, "b@example.com", "", admin, link, SENT).expires_at == datetime(
        2027, 1, 19, 0, 0, tzinfo=BERLIN)


def test_staff_invitations_to_a_cohort_keep_the_same_rule(app, make_cohort, make_user, make_org) -> None:
    admin = make_user()
    cohort = make_cohort(start=STARTS, timezone="Europe/Berlin")
    teacher = invite_instructor(db.session, cohort, "teacher@example.com", "", admin, link, SENT)
    assert teacher.expires_at == EXPIRES
    # An organization's administrator belongs to no cohort: 14 days from sending.
    org_admin = invite_organization_admin(db.session, make_org("Gamma Org"), "boss@example.com", "", None, link, SENT)
    assert org_admin.expires_at == SENT + timedelta(days=14)
    db.session.commit()
    assert "Accept here by 18 January 2027 at 10:00 UTC" in mail_to("boss@example.com").body


def test_sending_again_gives_a_new_expiry_by_the_same_rule(app, make_cohort, make_user) -> None:
    admin = make_user()
    cohort = make_cohort(start=STARTS, timezone="Europe/Berlin")
    invitation = invite_learner(db.session, cohort, "new@example.com", "", admin, link, SENT)
    db.session.commit()
    resend_invitation(db.session, invitation, link, SENT + timedelta(days=3))
    assert invitation.expires_at == EXPIRES
    late = SENT + timedelta(days=30)  # after the cohort started: 14 days from now
    resend_invitation(db.session, invitation, link, late)
    db.session.commit()
    assert invitation.expires_at == late + timedelta(days=14)
    assert "Accept here by 17 February 2027 at 11:00 CET" in mail_to("new@example.com").body


def test_the_invited_list_gives_the_expiry_in_the_readers_zone(app, client, login, make_org, make_cohort,
                                                               make_user) -> None:
    admin = make_user(timezone="America/New_York")
    org = make_org("Delta Org", admins=[admin])
    today = datetime.now(UTC).date()
    cohort = make_cohort(org, start=today + timedelta(days=30), timezone="Europe/Berlin")
    invitation = invite_learner(db.session, cohort, "new@example.com", "", admin, link)
    db.session.commit()
    expires = datetime.combine(cohort.start_date + timedelta(days=14), datetime.min.time(), BERLIN)
    assert invitation.expires_at == expires
    login(client, admin)
    page = client.get(f"/cohorts/{cohort.id}").get_data(as_text=True)
    local = expires.astimezone(NEW_YORK)
    assert f"expires {local:%d %b %Y, %H:%M} {local.tzname()}" in page
