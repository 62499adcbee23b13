"""An organization admin, required to use two-factor sign-in, sets it up after their
password in Chromium (QR code and key, a code, the recovery codes shown once), then signs
in with a code and has the browser remembered, so the next sign-in skips the code."""

from __future__ import annotations

import pyotp
import pytest
from flask import Flask

from tests.conftest import PASSWORD
from tests.two_factor import fresh_code

pytestmark = pytest.mark.browser


def password_step(page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_an_org_admin_sets_up_two_factor_then_signs_in_with_a_code_and_a_remembered_device(
        app: Flask, server_url: str, world, page) -> None:
    app.config["TWO_FACTOR_REQUIRED"] = True
    boss = world.org_admin_a
    password_step(page, server_url, boss.email)
    page.wait_for_url("**/account/two-factor")
    page.get_by_text("Your role requires two-factor sign-in").first.wait_for()
    assert page.locator(".twofactor-qr svg").is_visible()
    page.goto(server_url + f"/organizations/{world.org_a.id}")  # nothing else until it is set up
    page.wait_for_url("**/login?next=**")
    page.go_back()
    page.reload()  # a new key each time the page is shown
    secret = page.locator("#twofactor-secret").inner_text().strip()
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    codes = page.locator("#recovery-codes li")
    codes.first.wait_for()
    assert codes.count() == 10
    page.get_by_role("link", name="I have kept them: continue").click()
    page.wait_for_url("**/home")
    page.goto(server_url + "/account")
    assert "On. 10 recovery codes left." in page.locator("#two-factor").inner_text()
    page.get_by_role("button", name="Sign out", exact=True).click()

    password_step(page, server_url, boss.email)
    page.wait_for_url("**/login/two-factor")
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("alert").filter(has_text="That code is not right").wait_for()  # under the field (the summary above it links there)
    page.get_by_label("Code").fill(fresh_code(secret, boss.id))
    page.get_by_label("Remember this device for 30 days").check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/home")
    page.get_by_role("button", name="Sign out", exact=True).click()

    password_step(page, server_url, boss.email)  # a remembered device: no code
    page.wait_for_url("**/home")
    page.goto(server_url + "/account")
    devices = page.locator(".twofactor-devices li")
    assert devices.count() == 1
    devices.first.get_by_role("button", name="Forget").click()
    page.get_by_text("That device will be asked for a code").wait_for()
