"""A site admin finds a user by part of their email, deactivates them (the user's open
session ends and they cannot sign in again), and reads and exports the audit entry."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.test_browser import sign_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_admin_deactivates_a_user_found_by_email_and_the_log_shows_it(server_url: str, world, browser) -> None:
    learner = browser.new_context()
    learner_page = learner.new_page()
    sign_in(learner_page, server_url, world.learner_a.email)

    admin = browser.new_context(accept_downloads=True)
    page = admin.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, server_url, world.admin.email)
    page.get_by_role("link", name="Admin", exact=True).click()
    part = world.learner_a.email.split("@")[0][2:]  # "rson5" of person5@example.com
    page.get_by_label("Find a user by part of their name or email").fill(part)
    page.get_by_role("button", name="Find").click()
    page.get_by_role("link", name=world.learner_a.name).click()
    assert "Alpha 1" in page.locator(".admin-memberships").inner_text()

    page.locator("form[action$='/deactivate']").get_by_label("I am sure").check()
    page.get_by_role("button", name="Deactivate").click()
    page.get_by_text(f"{world.learner_a.name} is deactivated").wait_for()
    assert page.locator("#user-status").inner_text().startswith("Deactivated")

    learner_page.goto(f"{server_url}/account")  # the open session has ended
    learner_page.wait_for_url("**/login**")
    learner_page.get_by_label("Email").fill(world.learner_a.email)
    learner_page.get_by_label("Password").fill(PASSWORD)
    learner_page.get_by_role("button", name="Sign in").click()
    learner_page.get_by_text("This account is deactivated").first.wait_for()  # in the error summary and under the form
    learner.close()

    page.get_by_role("link", name="Audit log").first.click()
    page.get_by_label("Action").select_option(label="User deactivated")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**action=user_deactivated**")
    row = page.locator("#audit-log tbody tr")
    expect(row).to_have_count(1)  # waits for the filtered page; count() alone raced the navigation
    text = row.first.inner_text()
    assert world.admin.name in text and f"user:{world.learner_a.id}" in text and "127.0.0.1" in text
    with page.expect_download() as info:
        page.get_by_role("link", name="CSV").click()
    download = info.value
    assert download.suggested_filename.startswith("audit-log-")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert [(r["action"], r["actor_email"], r["target"]) for r in rows] == [
        ("user_deactivated", world.admin.email, f"user:{world.learner_a.id}")]
    admin.close()
