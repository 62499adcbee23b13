"""In Chromium: a person of an organization with single sign-on goes from the sign-in page
to the organization's provider (a real one on 127.0.0.1, ``tests/oidc_provider.py``) and
back, confirms their first sign-in and lands signed in; the next time goes straight in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from lms.extensions import db
from lms.sso.services import Settings, save_settings
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, serve

pytestmark = pytest.mark.browser


@pytest.fixture()
def provider() -> Iterator[Provider]:
    yield from serve()


def test_sign_in_through_the_organizations_provider(request: pytest.FixtureRequest, app: Flask, make_user, make_org,
                                                    provider: Provider, page: Any) -> None:
    org = make_org("Alpha Org", admins=[make_user(name="Org Admin")])
    save_settings(db.session, org, Settings(issuer=provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                            allowed_domains="alpha.example.org", create_accounts=True, enabled=True),
                  revision=None, secret_key=app.config["SECRET_KEY"], actor_id=org.admins[0].id)
    db.session.commit()
    provider.next_user = {"sub": "ada-1", "email": "ada@alpha.example.org", "email_verified": True, "name": "Ada Alpha"}
    server_url = request.getfixturevalue("server_url")  # CSRF on from here

    page.goto(f"{server_url}/login")
    page.get_by_role("link", name="Sign in with your organization").click()
    page.get_by_label("Your work email").fill("ada@alpha.example.org")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("link", name="Continue to the sign-in of Alpha Org").click()
    page.get_by_role("heading", name="Continue signing in").wait_for()
    assert "ada@alpha.example.org" in page.content()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(f"{server_url}/account")
    assert page.url.endswith("/account")

    page.context.clear_cookies()
    page.goto(f"{server_url}/login/organization/{org.id}")
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(f"{server_url}/account")
    assert page.url.endswith("/account")
