"""Where a person is signed in (``lms.accounts.devices``): the "Keep me signed in" cookie
carries a device token whose hash is stored, so a copy of it stops working once its device
signs out, is signed out from the account page ("Sign out", "Sign out everywhere else"),
or the password changes; the account page lists the live sign-ins; a new password may
revoke the person's API tokens as well.

Requests run in an app of their own, as in ``tests/test_accounts.py``: each request has
its own context, so a copied cookie is tried as a new browser would try it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_login.utils import decode_cookie, encode_cookie
from sqlalchemy import select

from lms.accounts import services
from lms.accounts.models import SignInDevice, User
from lms.admin.services import deactivate
from lms.api.models import ApiToken, Scope
from lms.api.tokens import create_token
from lms.audit.models import AuditAction, AuditEntry
from lms.audit.services import Origin
from lms.database import utcnow
from lms.extensions import db
from lms.job_kinds import JOB_KINDS
from lms.jobs.kinds import Work
from tests.conftest import PASSWORD

NEW_PASSWORD = "violet-kettle-harbour"
REMEMBER = "remember_token"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Version/17.1 Mobile/15E148 Safari/604.1"


@pytest.fixture()
def site(app: Flask, make_app: Callable[..., Flask]) -> Iterator[Flask]:
    """An app of its own on the test database (closed afterwards)."""
    built = make_app()
    yield built
    with built.app_context():
        db.session.remove()
        db.engine.dispose()


def sign_in(client: FlaskClient, email: str, remember: bool = True, agent: str = FIREFOX) -> None:
    data = {"email": email, "password": PASSWORD} | ({"remember": "y"} if remember else {})
    response = client.post("/login", data=data, headers={"User-Agent": agent})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def signed_in(client: FlaskClient) -> bool:
    response = client.get("/account")
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def copy_of_remember_cookie(site: Flask, client: FlaskClient) -> FlaskClient:
    """A new browser holding only a copy of ``client``'s remember cookie."""
    cookie = client.get_cookie(REMEMBER)
    assert cookie is not None
    thief = site.test_client()
    thief.set_cookie(REMEMBER, cookie.value)
    return thief


def rows(user: User) -> list[SignInDevice]:
    db.session.expire_all()
    return list(db.session.scalars(select(SignInDevice).where(SignInDevice.user_id == user.id).order_by(SignInDevice.id)))


def change_password(client: FlaskClient, revoke: bool = False) -> Any:
    data = {"password-current": PASSWORD, "password-password": NEW_PASSWORD, "password-confirm": NEW_PASSWORD,
            "password-submit": "Change password"} | ({"password-revoke_api_tokens": "y"} if revoke else {})
    response = client.post("/account", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


def test_the_remember_cookie_carries_a_token_whose_hash_only_is_stored(site: Flask, make_user) -> None:
    ada = make_user(email="ada@example.com")
    here = site.test_client()
    sign_in(here, ada.email)
    [row] = rows(ada)
    with here.session_transaction() as sess:
        user_id, version, token = sess["_user_id"].split(":")
    device_id, _, secret = token.partition(".")
    assert (user_id, version, device_id) == (str(ada.id), "1", str(row.id))
    assert len(secret) >= 40 and secret not in row.token_hash
    assert row.remembered and row.ended_at is None
    assert (row.user_agent, row.ip_prefix) == ("Firefox on Linux", "127.0.0.0/24")


def test_a_copied_remember_cookie_works_while_its_device_is_signed_in_and_stops_at_sign_out(site: Flask, make_user) -> None:
    ada = make_user(email="ada@example.com")
    here = site.test_client()
    sign_in(here, ada.email)
    thief = copy_of_remember_cookie(site, here)
    assert signed_in(thief)  # a live one keeps working (this is what "Keep me signed in" is for)
    assert signed_in(thief)
    late_thief = copy_of_remember_cookie(site, here)
    assert here.post("/logout").status_code == 302
    assert not signed_in(here)
    assert not signed_in(late_thief)  # the cookie's device row is ended
    assert not signed_in(thief)       # and the session the copy began ends with its device
    assert rows(ada)[0].ended_at is not None


def test_sign_out_everywhere_else_ends_the_other_devices_and_their_cookies(site: Flask, make_user) -> None:
    ada = make_user(email="ada@example.com")
    here, laptop, phone = site.test_client(), site.test_client(), site.test_client()
    sign_in(here, ada.email)
    sign_in(laptop, ada.email)
    sign_in(phone, ada.email, remember=False, agent=SAFARI)
    stolen = copy_of_remember_cookie(site, laptop)
    response = here.post("/account/sign-ins/end-others")
    assert response.status_code == 302
    assert "You are signed out everywhere else." in here.get("/account").get_data(as_text=True)
    assert signed_in(here)
    assert not signed_in(laptop) and not signed_in(phone) and not signed_in(stolen)
    assert signed_in(copy_of_remember_cookie(site, here))  # this device stays remembered
    assert [row.ended_at is None for row in rows(ada)] == [True, False, False]


def test_a_password_change_ends_the_other_devices_cookies(site: Flask, make_user) -> None:
    ada = make_user(email="ada@example.com")
    here, laptop = site.test_client(), site.test_client()
    sign_in(here, ada.email)
    sign_in(laptop, ada.email)
    stolen_before = copy_of_remember_cookie(site, here)
    stolen_laptop = copy_of_remember_cookie(site, laptop)
    change_password(here)
    assert signed_in(here)
    assert not signed_in(laptop) and not signed_in(stolen_laptop)
    assert not signed_in(stolen_before)  # the cookie of the old password, even of this device
    assert signed_in(copy_of_remember_cookie(site, here))  # written again with the new password
    assert [row.ended_at is None for row in rows(ada)] == [True, False]


def test_a_reset_ends_every_sign_in(site: Flask, make_user) -> None:
    ada = make_user(email="ada@example.com")
    laptop = site.test_client()
    sign_in(laptop, ada.email)
    stolen = copy_of_remember_cookie(site, laptop)
    token = services.issue_reset_token(db.session, ada)
    db.session.commit()
    other = site.test_client()
    page = other.get(f"/password/reset/{token}").get_data(as_text=True)
    assert re.search(r'<input[^>]*checked[^>]*name="revoke_api_tokens"|<input[^>]*name="revoke_api_tokens"[^>]*checked', page)
    assert other.post(f"/password/reset/{token}", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    assert not signed_in(laptop) and not signed_in(stolen)
    assert all(row.ended_at is not None for row in rows(ada))


def test_a_tampered_or_expired_token_signs_nobody_in(site: Flask, make_user) -> None:
    ada = make_user(email="ada@example.com")
    here = site.test_client()
    sign_in(here, ada.email)
    with site.test_request_context():
        cookie = here.get_cookie(REMEMBER)
        assert cookie is not None
        value = decode_cookie(cookie.value)
        assert value is not None
        forged = encode_cookie(value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB"))
        short = encode_cookie(value.rpartition(":")[0])  # the user and version alone, as before device tokens
    for made in (forged, short):
        thief = site.test_client()
        thief.set_cookie(REMEMBER, made)
        assert not signed_in(thief)
    [row] = rows(ada)
    row.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert not signed_in(copy_of_remember_cookie(site, here))


def test_the_account_page_lists_live_sign_ins_in_the_persons_zone(site: Flask, make_user) -> None:
    ada = make_user(email="ada@example.com", timezone="Asia/Tokyo")
    here, phone, gone = site.test_client(), site.test_client(), site.test_client()
    sign_in(here, ada.email)
    sign_in(phone, ada.email, remember=False, agent=SAFARI)
    sign_in(gone, ada.email, remember=False)
    assert gone.post("/logout").status_code == 302
    page = here.get("/account").get_data(as_text=True)
    assert "Where you are signed in" in page
    assert page.count("(this device)") == 1 and "Firefox on Linux <strong>(this device)</strong>" in page
    assert "Safari on iOS" in page
    assert page.count("/end\"") == 2  # the two live sign-ins, not the one signed out
    created = rows(ada)[0].created_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert created.strftime("%d %b %Y, %H:%M JST") in page


def test_sign_out_one_device_from_the_list(site: Flask, make_user) -> None:
    ada = make_user(email="ada@example.com")
    here, phone = site.test_client(), site.test_client()
    sign_in(here, ada.email)
    sign_in(phone, ada.email, agent=SAFARI)
    stolen = copy_of_remember_cookie(site, phone)
    phone_row = rows(ada)[1]
    assert here.post(f"/account/sign-ins/{phone_row.id}/end").status_code == 302
    assert not signed_in(phone) and not signed_in(stolen)
    assert signed_in(here)
    again = here.post(f"/account/sign-ins/{phone_row.id}/end")
    assert again.status_code == 302
    assert "That device was already signed out." in here.get("/account").get_data(as_text=True)


def test_another_persons_sign_in_cannot_be_ended(site: Flask, make_user) -> None:
    ada, bo = make_user(email="ada@example.com"), make_user(email="bo@example.com")
    ada_browser, bo_browser = site.test_client(), site.test_client()
    sign_in(ada_browser, ada.email)
    sign_in(bo_browser, bo.email)
    [bo_row] = rows(bo)
    assert ada_browser.post(f"/account/sign-ins/{bo_row.id}/end").status_code == 404
    assert ada_browser.post(f"/account/sign-ins/{bo_row.id + 1000}/end").status_code == 404
    assert signed_in(bo_browser) and signed_in(copy_of_remember_cookie(site, bo_browser))
    assert rows(bo)[0].ended_at is None
    assert ada_browser.post("/account/sign-ins/end-others").status_code == 302  # ends Ada's others only
    assert signed_in(bo_browser)


def test_last_seen_is_written_by_a_form_sent_at_most_every_15_minutes_and_never_by_a_page_view(site: Flask, make_user) -> None:
    ada = make_user(email="ada@example.com")
    here = site.test_client()
    sign_in(here, ada.email)
    long_ago = utcnow() - timedelta(hours=1)
    [row] = rows(ada)
    row.last_seen_at = long_ago
    db.session.commit()
    with here.session_transaction() as sess:
        sess["lms_device_seen"] = int(long_ago.timestamp())
    assert here.get("/home").status_code == 200
    assert rows(ada)[0].last_seen_at == long_ago
    assert here.post("/notifications/read-all").status_code == 302
    seen = rows(ada)[0].last_seen_at
    assert seen > long_ago + timedelta(minutes=50)
    assert here.post("/notifications/read-all").status_code == 302
    assert rows(ada)[0].last_seen_at == seen


def api_status(site: Flask, secret: str) -> int:
    return site.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code


@pytest.mark.parametrize("revoke", [True, False])
def test_a_password_change_may_revoke_the_personal_api_tokens(site: Flask, make_user, revoke: bool) -> None:
    ada = make_user(email="ada@example.com")
    secrets = [create_token(db.session, ada, name, [s.value for s in Scope], None).secret for name in ("CI", "Notebook")]
    db.session.commit()
    assert [api_status(site, secret) for secret in secrets] == [200, 200]
    here = site.test_client()
    sign_in(here, ada.email)
    change_password(here, revoke=revoke)
    assert [api_status(site, secret) for secret in secrets] == ([401, 401] if revoke else [200, 200])
    db.session.expire_all()
    audited = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.API_TOKEN_REVOKED)).all()
    assert len(audited) == (2 if revoke else 0)
    assert all(entry.actor_id == ada.id for entry in audited)


@pytest.mark.parametrize("revoke", [True, False])
def test_a_reset_revokes_the_api_tokens_unless_the_person_unticks_it(site: Flask, make_user, revoke: bool) -> None:
    ada = make_user(email="ada@example.com")
    secret = create_token(db.session, ada, "CI", [s.value for s in Scope], None).secret
    token = services.issue_reset_token(db.session, ada)
    db.session.commit()
    data = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD} | ({"revoke_api_tokens": "y"} if revoke else {})
    assert site.test_client().post(f"/password/reset/{token}", data=data).status_code == 302
    assert api_status(site, secret) == (401 if revoke else 200)
    db.session.expire_all()
    assert (db.session.scalar(select(ApiToken.revoked_at)) is not None) is revoke


@pytest.mark.parametrize("tokens", [0, 1, 2])
def test_a_reset_speaks_of_revoked_tokens_only_when_some_were(site: Flask, make_user, tokens: int) -> None:
    """Ticked by default, so a learner who never made a token was told theirs were revoked."""
    ada = make_user(email="ada@example.com")
    for name in ("CI", "Notebook")[:tokens]:
        create_token(db.session, ada, name, [s.value for s in Scope], None)
    token = services.issue_reset_token(db.session, ada)
    db.session.commit()
    client = site.test_client()
    data = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "revoke_api_tokens": "y"}
    assert client.post(f"/password/reset/{token}", data=data).status_code == 302
    with client.session_transaction() as session:
        said = " ".join(message for _category, message in session.get("_flashes", []))
    assert "Your password is set." in said
    assert {0: "API token" not in said, 1: "Your personal API token is revoked." in said,
            2: "Your 2 personal API tokens are revoked." in said}[tokens], said


def test_a_deactivated_person_has_no_live_sign_in_left(site: Flask, make_user) -> None:
    ada, admin = make_user(email="ada@example.com"), make_user(email="root@example.com", admin=True)
    here = site.test_client()
    sign_in(here, ada.email)
    stolen = copy_of_remember_cookie(site, here)
    deactivate(db.session, ada, ada.session_version, Origin(admin.id, None))
    db.session.commit()
    assert not signed_in(here) and not signed_in(stolen)
    assert [row.ended_at is not None for row in rows(ada)] == [True]


def test_a_sign_in_ended_by_the_idle_rule_leaves_the_list(site: Flask, make_user, monkeypatch: pytest.MonkeyPatch) -> None:
    """The idle sign-out runs on a page view, which never writes: its row stays in the
    database, but the list leaves it out (its device is marked ended)."""
    ada = make_user(email="ada@example.com")
    here, phone = site.test_client(), site.test_client()
    sign_in(here, ada.email)
    sign_in(phone, ada.email, remember=False, agent=SAFARI)
    monkeypatch.setitem(site.config, "SESSION_IDLE_MINUTES", 120)
    with phone.session_transaction() as sess:
        sess["lms_seen"] = int((utcnow() - timedelta(hours=3)).timestamp())
    assert phone.get("/home").status_code == 302
    assert not signed_in(phone)
    page = here.get("/account").get_data(as_text=True)
    assert "Safari on iOS" not in page and page.count("/end\"") == 1
    assert [row.ended_at is None for row in rows(ada)] == [True, True]


def test_sign_ins_ended_or_expired_past_the_kept_days_are_pruned_by_the_command_and_the_job(site: Flask, make_user) -> None:
    ada = make_user(email="ada@example.com")
    clients = [site.test_client() for _ in range(5)]
    for each in clients:
        sign_in(each, ada.email)
    live, ended_lately, ended_long_ago, expired_long_ago, expired_lately = rows(ada)
    now = utcnow()
    ended_lately.ended_at = now - timedelta(days=29)
    ended_long_ago.ended_at = now - timedelta(days=31)
    expired_long_ago.expires_at = now - timedelta(days=31)
    expired_lately.expires_at = now - timedelta(days=2)
    db.session.commit()
    kept = {live.id, ended_lately.id, expired_lately.id}
    done = site.test_cli_runner().invoke(args=["lms", "prune-sign-ins"])
    assert done.exit_code == 0 and "Deleted 2 sign-ins ended or expired more than 30 days ago." in done.output, done.output
    assert {row.id for row in rows(ada)} == kept
    assert signed_in(clients[0])  # the live one still signs in
    assert "Where you are signed in" in clients[0].get("/account").get_data(as_text=True)
    # The worker's kind (cron: flask lms queue-job prune-sign-ins) does the same with the configured days.
    site.config["SIGN_IN_DEVICES_KEPT_DAYS"] = 1
    [kind] = [k for k in JOB_KINDS if k.name == "prune-sign-ins"]
    assert kind.from_command
    with site.app_context():
        assert kind.run(Work(site, db.session, 0, {}, utcnow())) == "Deleted 2 sign-ins ended or expired more than 1 days ago."
    assert [row.id for row in rows(ada)] == [live.id]


def test_keep_me_signed_in_lasts_30_days_by_default_and_its_device_expires_with_the_cookie(
        app: Flask, make_app: Callable[..., Flask], make_user, monkeypatch: pytest.MonkeyPatch) -> None:
    ada = make_user(email="ada@example.com")
    for days, env in ((30, None), (7, "7")):
        if env is not None:
            monkeypatch.setenv("LMS_REMEMBER_DAYS", env)
        built = make_app()
        assert built.config["REMEMBER_COOKIE_DURATION"] == timedelta(days=days)
        browser = built.test_client()
        before = utcnow()
        sign_in(browser, ada.email)
        cookie = browser.get_cookie(REMEMBER)
        assert cookie is not None and cookie.expires is not None
        row = rows(ada)[-1]
        assert row.remembered
        assert abs((row.expires_at - before) - timedelta(days=days)) < timedelta(minutes=1)
        assert abs(cookie.expires - row.expires_at) < timedelta(minutes=1)
        # A new password writes the remember cookie again: its row lasts as long again.
        row.expires_at = utcnow() + timedelta(days=1)
        db.session.commit()
        change_password(browser)
        services.set_password(db.session.get_one(User, ada.id), PASSWORD)  # for the next round
        db.session.commit()
        cookie, row = browser.get_cookie(REMEMBER), rows(ada)[-1]
        assert cookie is not None and cookie.expires is not None
        assert abs((row.expires_at - utcnow()) - timedelta(days=days)) < timedelta(minutes=1)
        assert abs(cookie.expires - row.expires_at) < timedelta(minutes=1)
        with built.app_context():
            db.session.remove()
            db.engine.dispose()
