"""In Chromium: the site admin's home says mail waits; from the Mail tab they send it now,
the job's page says what it did, and from the Background jobs tab they run another
periodic job by choosing it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from lms.database import unit_of_work
from lms.extensions import db
from lms.mail.services import queue_mail
from tests.browser.test_browser import sign_in

pytestmark = pytest.mark.browser


def test_the_admin_sends_waiting_mail_and_runs_a_job_from_the_console(server_url: str, world, browser) -> None:
    with unit_of_work(db.session):
        for n in range(2):
            queue_mail(db.session, f"waiting{n}@example.com", f"Waiting {n}", "Body")
    db.session.info.clear()  # left waiting, as by a process that stopped before delivering them

    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, server_url, world.admin.email)
    panel = page.locator("#admin-home")
    expect(panel).to_contain_text("none failed, 2 waiting to be sent")
    panel.get_by_role("link", name="Mail", exact=True).first.click()
    expect(page.get_by_role("heading", name="Mail delivery")).to_be_visible()
    page.get_by_role("button", name="Send what is due now").click()
    expect(page.locator(".jobs-status")).to_contain_text("Delivered 2 emails.")

    page.get_by_role("link", name="Background jobs").first.click()
    expect(page.locator("nav.admin-tabs a[aria-current='page']")).to_have_text("Background jobs")
    expect(page.locator("table.jobs-table").last).to_contain_text("Deliver the outbox's due mail")
    page.get_by_role("combobox", name=re.compile(r"^Job")).select_option(label="Keep each cohort's trend by month")
    page.get_by_role("button", name="Run now").click()
    expect(page.locator(".jobs-status")).to_contain_text("Stored the trend of")
    page.goto(f"{server_url}/home")
    expect(page.locator("#admin-home")).to_contain_text("none failed, 0 waiting to be sent")
    context.close()
