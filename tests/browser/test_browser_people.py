"""An organization admin invites a learner; the learner sets a password and lands home."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lms.accounts.models import User
from lms.cohorts.roles import add_organization_admin
from lms.extensions import db
from lms.mail.models import OutboxMessage
from tests.browser.test_browser import sign_in
from tests.conftest import sent_body

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
    link = re.search(r"https?://\S+/invitations/\S+", sent_body(mail)).group(0)
    assert mail.sent_at is not None

    learner = browser.new_context(timezone_id="Asia/Tokyo")
    page = learner.new_page()
    page.goto(link)
    assert page.get_by_label("Your name").input_value() == "Nia Founder"
    # The browser's clock is chosen for the new account (the server offered the cohort's).
    page.wait_for_function("document.querySelector('select[name=timezone]').value === 'Asia/Tokyo'")
    page.get_by_label("Choose a password").fill("short")
    page.get_by_label("Repeat it").fill("short")
    page.get_by_role("button", name="Join the cohort").click()
    page.locator(".error").first.wait_for()
    assert "at least 10" in page.locator(".error").first.inner_text().lower()

    page.get_by_label("Choose a password").fill("a-real-passphrase-42")
    page.get_by_label("Repeat it").fill("a-real-passphrase-42")
    page.get_by_role("button", name="Join the cohort").click()
    page.wait_for_url("**/home")
    db.session.expire_all()
    assert db.session.scalars(select(User).where(User.email == "new.founder@example.com")).one().timezone == "Asia/Tokyo"
    home = page.locator("#learner-home")
    assert "Month 6 of 12" in home.inner_text()
    assert world.cohort_a.name in home.inner_text()
    home.get_by_role("link", name="Your 12-month schedule").click()
    page.wait_for_url("**/schedule")
    assert page.locator(".schedule > li").count() == 12
    learner.close()


def test_the_account_page_offers_the_devices_time_zone_and_saves_it_only_when_asked(server_url: str, world, browser) -> None:
    """An account on UTC (made by an administrator, by single sign-on...) opened on a device in
    Berlin: the page says so beside the saved zone, and its button selects Berlin; nothing
    changes until the form is saved. On a device whose clock agrees, nothing is offered."""
    person = world.learner_a
    person.timezone = "UTC"
    db.session.commit()
    context = browser.new_context(timezone_id="Europe/Berlin")
    page = context.new_page()
    sign_in(page, server_url, person.email)
    page.goto(f"{server_url}/account")
    offer = page.locator(".zone-offer")
    offer.wait_for()
    assert "Europe/Berlin" in offer.inner_text()
    assert page.locator("select[name='profile-timezone']").input_value() == "UTC"
    db.session.expire_all()
    assert db.session.get(User, person.id).timezone == "UTC"
    page.get_by_role("button", name="Use Europe/Berlin").click()
    assert page.locator("select[name='profile-timezone']").input_value() == "Europe/Berlin"
    page.locator("form:has(select[name='profile-timezone'])").get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    db.session.expire_all()
    assert db.session.get(User, person.id).timezone == "Europe/Berlin"
    page.goto(f"{server_url}/account")
    page.wait_for_load_state("load")
    assert page.locator(".zone-offer").count() == 0
    context.close()


def test_an_administrator_accepting_starts_on_the_devices_zone_and_is_told_so(server_url: str, world, browser) -> None:
    """An administrator's invitation has no cohort: the server preselects the zone of most of
    the organization's cohorts and says so; with scripts on, the device's zone is selected
    instead, the form says that, and the account starts on it."""
    world.cohort_a.timezone = world.cohort_a2.timezone = "Asia/Tokyo"
    db.session.commit()
    add_organization_admin(db.session, world.org_a, "new.admin@example.com", "Ada Admin",
                           lambda token: f"{server_url}/invitations/{token}")
    db.session.commit()
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "new.admin@example.com")).one()
    link = re.search(r"https?://\S+/invitations/\S+", sent_body(mail)).group(0)

    context = browser.new_context(timezone_id="Europe/Berlin")
    page = context.new_page()
    page.goto(link)
    page.wait_for_function("document.querySelector('select[name=timezone]').value === 'Europe/Berlin'")
    assert page.locator("#timezone-help").inner_text().startswith(
        "Preselected: Europe/Berlin, the time zone of this device.")
    page.get_by_label("Choose a password").fill("a-real-passphrase-42")
    page.get_by_label("Repeat it").fill("a-real-passphrase-42")
    page.get_by_role("button", name="Accept the invitation").click()
    page.wait_for_url(lambda url: "/invitations/" not in url)
    db.session.expire_all()
    assert db.session.scalars(select(User).where(User.email == "new.admin@example.com")).one().timezone == "Europe/Berlin"
    context.close()
