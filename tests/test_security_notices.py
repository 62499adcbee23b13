"""Security notices: whenever the way a person signs in changes (their password, changed or
reset; two-factor on or off; new recovery codes; a site admin's reset of their two-factor),
and whenever their password signs in from a browser new to their account, they are mailed what changed, when in their own time zone and from which address, with
where to go if it was not them; never a secret. A change refused mails nothing."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select

from lms.extensions import db
from lms.mail.models import OutboxMessage
from lms.twofactor import services as twofactor
from tests.conftest import PASSWORD, sent_body
from tests.two_factor import Clock, fresh_code

NEW_PASSWORD = "violet-kettle-harbour"
ADDRESS = "203.0.113.9"


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(twofactor, "utcnow", clock)
    return clock


def mails_to(email: str) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == email)
                                   .order_by(OutboxMessage.id)))


def from_address(client: Any) -> Any:
    client.environ_base["REMOTE_ADDR"] = ADDRESS
    return client


def check_notice(message: OutboxMessage, subject: str, zone_name: str) -> None:
    assert message.subject == subject
    body = message.body
    assert f"from the address {ADDRESS}" in body and zone_name in body
    assert "If it was not, someone else may be able to sign in as you" in body
    assert "http://localhost/password/forgot" in body and "http://localhost/account" in body


def test_a_sign_in_from_a_browser_new_to_the_account_is_told_to_its_owner(app: Flask, client, make_user) -> None:
    user = make_user(timezone="America/New_York")
    other = make_user()
    browser = from_address(client)
    wrong = browser.post("/login", data={"email": user.email, "password": "not-the-password"})
    assert wrong.status_code == 200 and mails_to(user.email) == []  # a wrong password signs nothing in
    assert browser.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    [notice] = mails_to(user.email)
    check_notice(notice, "New sign-in to your account", "EST")
    assert "from a browser that had not signed in to it before" in notice.body and PASSWORD not in notice.body

    # the same browser again: it carries the account's device cookie now, so nothing more
    browser.post("/logout")
    assert browser.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    assert len(mails_to(user.email)) == 1
    # another account in this browser is new to it; and the first, back again, is new once more
    # (a browser carries one account's cookie)
    browser.post("/logout")
    assert browser.post("/login", data={"email": other.email, "password": PASSWORD}).status_code == 302
    assert len(mails_to(other.email)) == 1
    browser.post("/logout")
    assert browser.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    assert len(mails_to(user.email)) == 2
    # another browser
    fresh = from_address(app.test_client())
    assert fresh.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    assert len(mails_to(user.email)) == 3


def test_a_password_changed_or_reset_is_told_to_its_owner(app: Flask, client, make_user, login) -> None:
    user = make_user(timezone="Asia/Tokyo")
    login(from_address(client), user)
    refused = client.post("/account", data={"password-current": "not-it", "password-password": NEW_PASSWORD,
                                            "password-confirm": NEW_PASSWORD, "password-submit": "Change password"})
    assert refused.status_code == 200 and mails_to(user.email) == []
    changed = client.post("/account", data={"password-current": PASSWORD, "password-password": NEW_PASSWORD,
                                            "password-confirm": NEW_PASSWORD, "password-submit": "Change password"})
    assert changed.status_code == 302
    [notice] = mails_to(user.email)
    check_notice(notice, "Your password was changed", "JST")
    assert NEW_PASSWORD not in notice.body and PASSWORD not in notice.body

    client.post("/logout")
    client.post("/password/forgot", data={"email": user.email})
    link = re.search(r"/password/reset/[A-Za-z0-9_-]+", sent_body(mails_to(user.email)[-1]))
    assert link is not None
    weak = client.post(link.group(0), data={"password": "aaaaaaaaaaaa", "confirm": "aaaaaaaaaaaa"})
    assert weak.status_code == 200 and len(mails_to(user.email)) == 2  # refused: nothing more
    assert client.post(link.group(0), data={"password": PASSWORD, "confirm": PASSWORD}).status_code == 302
    check_notice(mails_to(user.email)[-1], "Your password was reset", "JST")


def test_two_factor_changes_are_told_to_their_owner_without_a_code(app: Flask, client, make_user, login) -> None:
    user = make_user(timezone="Europe/Paris")
    login(from_address(client), user)
    page = client.get("/account/two-factor").get_data(as_text=True)
    secret = re.search(r'id="twofactor-secret"[^>]*>([A-Z2-7]+)<', page)
    key = re.search(r'name="key" type="hidden" value="([^"]+)"', page)
    assert secret and key
    client.post("/account/two-factor", data={"key": key.group(1), "password": PASSWORD, "code": "000000"})
    assert mails_to(user.email) == []  # a wrong code turns nothing on
    shown = client.post("/account/two-factor", data={"key": key.group(1), "password": PASSWORD,
                                                     "code": pyotp.TOTP(secret.group(1)).now()})
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", shown.get_data(as_text=True))
    assert len(codes) == 10
    [on] = mails_to(user.email)
    check_notice(on, "Two-factor sign-in is on", "CET")

    assert client.post("/account/two-factor/codes", data={"code": "000000"}).status_code == 400
    assert len(mails_to(user.email)) == 1
    made = client.post("/account/two-factor/codes", data={"code": fresh_code(secret.group(1), user.id)})
    new = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", made.get_data(as_text=True))
    replaced = mails_to(user.email)[-1]
    check_notice(replaced, "New recovery codes were made", "CET")
    assert not any(code in m.body or code.replace("-", "") in m.body for code in codes + new
                   for m in mails_to(user.email))

    assert client.post("/account/two-factor/off", data={"code": fresh_code(secret.group(1), user.id)}).status_code == 302
    check_notice(mails_to(user.email)[-1], "Two-factor sign-in is off", "CET")
    assert len(mails_to(user.email)) == 3


def test_a_site_admins_reset_is_told_to_the_person_reset(app: Flask, client, make_user, login) -> None:
    person = make_user()
    enrolment = twofactor.new_enrolment(db.session, person, twofactor.cipher_key(app.config["SECRET_KEY"]))
    twofactor.confirm_enrolment(db.session, person, enrolment.token, pyotp.TOTP(enrolment.secret).now(),
                                twofactor.cipher_key(app.config["SECRET_KEY"]))
    db.session.commit()
    admin = make_user(admin=True)
    login(from_address(client), admin)
    answer = client.post(f"/admin/users/{person.id}/two-factor/reset", data={"confirm": "y"})
    assert answer.status_code == 302
    [notice] = mails_to(person.email)
    check_notice(notice, "Your two-factor sign-in was reset", "UTC")
    assert "A site admin reset the two-factor sign-in of your account" in notice.body
    assert mails_to(admin.email) == []
