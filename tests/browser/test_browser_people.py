"""An organization admin invites a learner; the learner sets a password and lands home."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lms.extensions import db
from lms.mail.models import OutboxMessage
from tests.browser.test_browser import sign_in

pytestmark = pytest.mark.browser


def test_invite_set_password_learner_home(server_url: str, load_content, world, browser) -> None:
    load_content()
    admin = browser.new_context()
    page = admin.new_page()
    sign_in(page, server_url, world.org_admin_a.email)
    page.goto(f"{server_url}/cohorts/{world.cohort_a.id}")
    page.get_by_label("Learner's email").fill("new.founder@example.com")
    page.get_by_label("Name").fill("Nia Founder")
    page.get_by_role("button", name="Send invitation").click()
    page.get_by_text("An invitation is on its way to new.founder@example.com").wait_for()
    admin.close()

    db.session.expire_all()
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "new.founder@example.com")).one()
    link = re.search(r"https?://\S+/invitations/\S+", mail.body).group(0)
    assert mail.sent_at is not None

    learner = browser.new_context()
    page = learner.new_page()
    page.goto(link)
    assert page.get_by_label("Your name").input_value() == "Nia Founder"
    page.get_by_label("Choose a password").fill("short")
    page.get_by_label("Repeat it").fill("short")
    page.get_by_role("button", name="Join the cohort").click()
    page.locator(".error").first.wait_for()
    assert "at least 10" in page.locator(".error").first.inner_text().lower()

    page.get_by_label("Choose a password").fill("a-real-passphrase-42")
    page.get_by_label("Repeat it").fill("a-real-passphrase-42")
    page.get_by_role("button", name="Join the cohort").click()
    page.wait_for_url("**/home")
    home = page.locator("#learner-home")
    assert "Month 6 of 12" in home.inner_text()
    assert world.cohort_a.name in home.inner_text()
    home.get_by_role("link", name="Your 12-month schedule").click()
    page.wait_for_url("**/schedule")
    assert page.locator(".schedule > li").count() == 12
    learner.close()
