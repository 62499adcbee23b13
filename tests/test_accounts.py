"""Accounts: people, passwords (scrypt), sign-in and out, remember-me, account settings,
reset links by mail, rate limits on sign-in, cookies, CSRF and ``flask lms create-admin``.

Requests run in an app of their own (``fresh_app``), built on the same migrated database.
pytest-flask keeps a request context of the ``app`` fixture pushed during each test, and a
request to that same app reuses its app context: ``g`` (where Flask-Login caches the
signed-in user) and ``db.session`` would then be shared between the test body and every
request of every client. A separate app gives each request its own context, as in
production, so "signed out" really means the next request finds nobody; the test body
keeps ``db.session`` of the ``app`` fixture, a different session from the requests'.
"""

from __future__ import annotations

import logging
import re
import smtplib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import itsdangerous.timed
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from lms import create_app
from lms.accounts import services, sign_ins
from lms.accounts.models import PasswordResetToken, User
from lms.accounts.services import AccountError
from lms.database import utcnow
from lms.extensions import db
from lms.mail import services as mail
from lms.mail.models import OutboxMessage
from tests.conftest import PASSWORD, sent_body

NEW_PASSWORD = "violet-kettle-harbour"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
RESET_LINK = re.compile(r"/password/reset/([A-Za-z0-9_-]+)")


# --------------------------------------------------------------------------- helpers


@pytest.fixture()
def fresh_app(app: Flask, make_app: Callable[..., Flask]) -> Iterator[Callable[..., Flask]]:
    """Build apps (with config overrides) on the test database; their engines are closed
    afterwards. Depends on ``app``, whose teardown empties the tables after ours."""
    built: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        new = make_app(**overrides)
        built.append(new)
        return new

    yield build
    for new in built:
        with new.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture()
def web(fresh_app: Callable[..., Flask]) -> FlaskClient:
    """A test client of an app with the default testing config."""
    return fresh_app().test_client()


def reload_user(email: str) -> User:
    """The user as the database has it now (after requests changed it)."""
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.email == email))
    assert user is not None, email
    return user


def outbox() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def count(model: type) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def post_login(client: FlaskClient, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    query = extra.pop("query_string", None)
    return client.post("/login", data={"email": email, "password": password, **extra}, query_string=query)


def signed_in(client: FlaskClient) -> bool:
    """Whether the client's cookies carry a signed-in session (a page only people see)."""
    response = client.get("/account")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and response.headers["Location"].startswith("/login"), response.status_code
    return False


def csrf_token(html: str) -> str:
    match = re.search(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no csrf_token hidden input"
    return match.group(1)


def set_cookie_headers(response: Any, name: str) -> list[str]:
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]


def reset_token_from_mail(message: OutboxMessage) -> str:
    match = RESET_LINK.search(sent_body(message))
    assert match, sent_body(message)
    return match.group(1)


# --------------------------------------------------------------------------- services


def test_create_user_lower_cases_the_email_and_refuses_duplicates_in_any_case(session: Session) -> None:
    user = services.create_user(session, "  Foo@X.com ", "Foo Bar", PASSWORD)
    session.commit()
    assert user.email == "foo@x.com"
    assert services.find_user(session, "FOO@x.COM") is user
    for duplicate in ("foo@x.com", "Foo@x.com", "FOO@X.COM"):
        with pytest.raises(AccountError, match="already exists"):
            services.create_user(session, duplicate, "Someone Else", PASSWORD)
    assert session.scalar(select(func.count()).select_from(User)) == 1


@pytest.mark.parametrize(("email", "name", "timezone_", "message"), [
    ("not-an-address", "Valid Name", "UTC", "not a valid email address"),
    ("ok@example.com", "   ", "UTC", "A name is required"),
    ("ok@example.com", "\u200b\u200b", "UTC", "A name needs at least one letter or digit"),
    ("ok@example.com", "Valid Name", "Mars/Olympus_Mons", "Unknown time zone"),
])
def test_create_user_refuses_bad_fields(session: Session, email: str, name: str, timezone_: str, message: str) -> None:
    with pytest.raises(AccountError, match=message):
        services.create_user(session, email, name, PASSWORD, timezone=timezone_)
    assert session.scalar(select(func.count()).select_from(User)) == 0


# A person's name, whichever way it is set, goes through ``person_name``: the characters
# nobody sees (controls, format characters: zero-width spaces, direction overrides) are
# taken out, whitespace runs become one space, and what is left needs a letter or digit.
@pytest.mark.parametrize(("raw", "kept"), [
    ("  Ada\n\tLovelace  ", "Ada Lovelace"),
    ("Ada\u00a0\u00a0Lovelace", "Ada Lovelace"),            # no-break spaces are whitespace too
    ("\u202eAda Lovelace", "Ada Lovelace"),                  # right-to-left override
    ("Ada \u200b\ufeffLovelace\x00", "Ada Lovelace"),        # zero-width space, BOM, NUL
    ("\u0645\u0647\u200c\u0633\u0627", "\u0645\u0647\u200c\u0633\u0627"),  # Persian: the non-joiner is part of the spelling
    ("\u0915\u094d\u200d\u0937", "\u0915\u094d\u200d\u0937"),              # Devanagari: so is the joiner
    ("李小龍", "李小龍"), ("محمد علي", "محمد علي"), ("Zoë Ñúñez", "Zoë Ñúñez"), ("R2 D2", "R2 D2"), ("٣", "٣"),
])
def test_person_name_keeps_what_can_be_read(raw: str, kept: str) -> None:
    assert services.person_name(raw) == kept


@pytest.mark.parametrize(("raw", "message"), [
    ("", "A name is required"), ("  \n ", "A name is required"),
    ("\u200b\u200b", "at least one letter or digit"), ("\u202e", "at least one letter or digit"),
    ("\u200b \u2060\u00ad", "at least one letter or digit"), ("-- . --", "at least one letter or digit"),
    ("\u200d\u200c", "at least one letter or digit"),
    ("x" * 201, "at most 200 characters"),
])
def test_person_name_refuses_a_name_without_a_letter_or_digit(raw: str, message: str) -> None:
    with pytest.raises(AccountError, match=message):
        services.person_name(raw)


@pytest.mark.parametrize(("password", "message"), [
    ("short-1", "at least 10 characters"),
    ("abababababab", "less repetitive"),
    ("xxxxxyyyyyzzzzz", "less repetitive"),
    ("ghopper-rocks-42", "name or email"),          # the email's local part
    ("my-GraceHopper-pw", "name or email"),         # the name, spaces dropped
    ("grace hopper 1906!", "name or email"),
    ("Password123", "too common"),
    ("football!!", "too common"),
    ("qwertyuiop", "too common"),
])
def test_weak_passwords_are_refused(session: Session, password: str, message: str) -> None:
    problem = services.password_problem(password, "ghopper@navy.example", "Grace Hopper")
    assert problem is not None and message in problem.lower()
    with pytest.raises(AccountError):
        services.create_user(session, "ghopper@navy.example", "Grace Hopper", password)
    assert services.find_user(session, "ghopper@navy.example") is None


def test_a_good_password_is_accepted(session: Session) -> None:
    assert services.password_problem(NEW_PASSWORD, "ghopper@navy.example", "Grace Hopper") is None
    user = services.create_user(session, "ghopper@navy.example", "Grace Hopper", NEW_PASSWORD)
    assert user.has_password


@pytest.mark.parametrize("name", ["Al", "Vi", "Li Wu"])
def test_a_short_name_does_not_forbid_every_password_containing_it(session: Session, name: str) -> None:
    # Like the email's local part, a name counts only from four letters: otherwise a person
    # called "Al" could use no password with "al" in it.
    assert services.password_problem("totally-normal-violet-phrase", "xy@example.com", name) is None
    assert services.create_user(session, "xy@example.com", name, "totally-normal-violet-phrase").has_password
    assert services.password_problem("ANNA-kettle-harbour", "xy@example.com", "Anna") is not None


def test_passwords_are_stored_as_salted_scrypt_hashes(session: Session) -> None:
    one = services.create_user(session, "one@example.com", "One", PASSWORD)
    two = services.create_user(session, "two@example.com", "Two", PASSWORD)
    session.commit()
    stored = session.scalars(select(User.password_hash)).all()
    assert len(stored) == 2
    for password_hash in stored:
        assert password_hash is not None
        assert password_hash.startswith("scrypt:")
        assert PASSWORD not in password_hash
        assert check_password_hash(password_hash, PASSWORD)
    assert one.password_hash != two.password_hash  # salted
    no_password = services.create_user(session, "invited@example.com", "Invited")
    assert no_password.password_hash is None and not no_password.has_password


def test_authenticate_right_wrong_and_unknown(session: Session) -> None:
    user = services.create_user(session, "ada@example.com", "Ada Lovelace", PASSWORD)
    services.create_user(session, "invited@example.com", "Invited Person")  # no password yet
    session.commit()
    assert user.last_login_at is None

    assert services.authenticate(session, "ada@example.com", PASSWORD, now=T0) is user
    assert user.last_login_at == T0
    assert services.authenticate(session, "  ADA@Example.com ", PASSWORD) is user
    assert services.authenticate(session, "ada@example.com", PASSWORD + "x") is None
    assert services.authenticate(session, "ada@example.com", PASSWORD.upper()) is None
    assert services.authenticate(session, "nobody@example.com", PASSWORD) is None
    assert services.authenticate(session, "invited@example.com", "") is None


def test_change_password_requires_the_current_one_and_bumps_the_session_version(session: Session) -> None:
    user = services.create_user(session, "ada@example.com", "Ada Lovelace", PASSWORD)
    session.commit()
    version, old_hash = user.session_version, user.password_hash

    with pytest.raises(AccountError, match="current password"):
        services.change_password(session, user, "not-the-password", NEW_PASSWORD)
    assert (user.session_version, user.password_hash) == (version, old_hash)

    with pytest.raises(AccountError, match="less repetitive"):
        services.change_password(session, user, PASSWORD, "aaaaaaaaaaaa")
    assert (user.session_version, user.password_hash) == (version, old_hash)

    services.change_password(session, user, PASSWORD, NEW_PASSWORD)
    session.commit()
    assert user.session_version == version + 1
    assert user.get_id() == f"{user.id}:{version + 1}"
    assert services.authenticate(session, "ada@example.com", NEW_PASSWORD) is user
    assert services.authenticate(session, "ada@example.com", PASSWORD) is None


def test_reset_token_is_stored_hashed_and_works_once(session: Session) -> None:
    user = services.create_user(session, "ada@example.com", "Ada Lovelace", PASSWORD)
    token = services.issue_reset_token(session, user, now=T0)
    session.commit()
    row = session.scalars(select(PasswordResetToken)).one()
    assert row.token_hash == services.hash_token(token) and token not in row.token_hash
    assert row.expires_at == T0 + services.RESET_TOKEN_LIFETIME
    version = user.session_version

    assert services.check_reset_token(session, token, now=T0 + timedelta(minutes=5)).problem is None
    assert services.reset_password(session, token, NEW_PASSWORD, now=T0 + timedelta(minutes=5)).user is user
    session.commit()
    assert row.used_at == T0 + timedelta(minutes=5)
    assert user.session_version == version + 1
    assert services.authenticate(session, "ada@example.com", NEW_PASSWORD) is user

    check = services.check_reset_token(session, token, now=T0 + timedelta(minutes=6))
    assert check.reset is None and "already been used" in (check.problem or "")
    with pytest.raises(AccountError, match="already been used"):
        services.reset_password(session, token, "another-fine-passphrase", now=T0 + timedelta(minutes=6))
    assert services.authenticate(session, "ada@example.com", NEW_PASSWORD) is user

    with pytest.raises(AccountError, match="not valid"):
        services.reset_password(session, "made-up-token", "another-fine-passphrase", now=T0)


def test_reset_token_expires(session: Session) -> None:
    user = services.create_user(session, "ada@example.com", "Ada Lovelace", PASSWORD)
    token = services.issue_reset_token(session, user, now=T0)
    session.commit()
    lifetime = services.RESET_TOKEN_LIFETIME
    assert services.check_reset_token(session, token, now=T0 + lifetime - timedelta(seconds=1)).reset is not None
    check = services.check_reset_token(session, token, now=T0 + lifetime)
    assert check.reset is None and "expired" in (check.problem or "")
    with pytest.raises(AccountError, match="expired"):
        services.reset_password(session, token, NEW_PASSWORD, now=T0 + lifetime + timedelta(hours=1))
    assert services.authenticate(session, "ada@example.com", PASSWORD) is user


def test_using_one_reset_token_voids_the_others(session: Session) -> None:
    user = services.create_user(session, "ada@example.com", "Ada Lovelace", PASSWORD)
    other = services.create_user(session, "bob@example.com", "Bob Builder", PASSWORD)
    first = services.issue_reset_token(session, user, now=T0)
    second = services.issue_reset_token(session, user, now=T0 + timedelta(minutes=1))
    bobs = services.issue_reset_token(session, other, now=T0)
    session.commit()

    services.reset_password(session, second, NEW_PASSWORD, now=T0 + timedelta(minutes=2))
    session.commit()
    check = services.check_reset_token(session, first, now=T0 + timedelta(minutes=3))
    assert check.reset is None and "already been used" in (check.problem or "")
    # Another person's link is not touched.
    assert services.check_reset_token(session, bobs, now=T0 + timedelta(minutes=3)).reset is not None


def test_changing_the_password_voids_the_reset_links_sent_before(session: Session) -> None:
    """A reset link mailed before the person changed their password (to a mailbox someone
    else may read) went on working for its two hours, and set the password again."""
    user = services.create_user(session, "ada@example.com", "Ada Lovelace", PASSWORD)
    other = services.create_user(session, "bob@example.com", "Bob Builder", PASSWORD)
    sent = services.issue_reset_token(session, user)
    bobs = services.issue_reset_token(session, other)
    session.commit()
    services.change_password(session, user, PASSWORD, NEW_PASSWORD)
    session.commit()
    check = services.check_reset_token(session, sent)
    assert check.reset is None and "already been used" in (check.problem or "")
    with pytest.raises(AccountError, match="already been used"):
        services.reset_password(session, sent, "another-fine-passphrase")
    session.rollback()
    assert services.authenticate(session, "ada@example.com", NEW_PASSWORD) is not None
    assert services.check_reset_token(session, bobs).reset is not None  # another person's link is not touched


def test_a_reset_link_spent_meanwhile_is_refused_not_spent_twice(session: Session) -> None:
    """Two requests with the same link at once both read it unused, and both set a password:
    the second, finding it spent when it writes, is refused."""
    user = services.create_user(session, "ada@example.com", "Ada Lovelace", PASSWORD)
    token = services.issue_reset_token(session, user, now=T0)
    session.commit()
    read = services.check_reset_token(session, token, now=T0).reset  # this request read it unused
    assert read is not None
    session.execute(update(PasswordResetToken).values(used_at=T0 + timedelta(minutes=1)))  # the other request spent it
    assert services.void_reset_links(session, user.id, T0 + timedelta(minutes=2), read.id) is False


# --------------------------------------------------------------------------- sign in and out


def test_login_redirects_home_and_signs_in(web: FlaskClient, make_user) -> None:
    make_user(email="ada@example.com")
    assert not signed_in(web)
    response = post_login(web, "ADA@example.com")
    assert response.status_code == 302
    assert response.headers["Location"] == "/home"
    assert signed_in(web)
    assert web.get("/home").status_code == 200
    with web.session_transaction() as sess:
        # the user, the session version and this sign-in's device token (lms.accounts.devices)
        assert sess["_user_id"].startswith(f"{reload_user('ada@example.com').id}:1:")
    assert reload_user("ada@example.com").last_login_at is not None
    # A signed-in visit to the form goes on to the site.
    again = web.get("/login")
    assert again.status_code == 302 and again.headers["Location"] == "/home"


@pytest.mark.parametrize("email", ["ada@example.com", "nobody@example.com"])
def test_wrong_password_re_renders_the_form_without_a_session(web: FlaskClient, make_user, email: str) -> None:
    make_user(email="ada@example.com")
    response = post_login(web, email, "not-the-password")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "That email and password do not match an account." in html
    assert 'name="password"' in html
    with web.session_transaction() as sess:
        assert "_user_id" not in sess
    assert web.get_cookie("remember_token") is None
    assert not signed_in(web)


def test_remember_me_sets_a_remember_cookie_that_signs_in(web: FlaskClient, make_user) -> None:
    make_user(email="ada@example.com")
    response = post_login(web, "ada@example.com", remember="y")
    assert response.status_code == 302
    assert set_cookie_headers(response, "remember_token")
    assert web.get_cookie("remember_token") is not None
    # With the session cookie gone (the browser closed) the remember cookie signs in.
    web.delete_cookie("session")
    assert signed_in(web)


def test_without_remember_me_no_remember_cookie(web: FlaskClient, make_user) -> None:
    make_user(email="ada@example.com")
    response = post_login(web, "ada@example.com")
    assert response.status_code == 302
    assert not set_cookie_headers(response, "remember_token")
    assert web.get_cookie("remember_token") is None
    web.delete_cookie("session")
    assert not signed_in(web)


def test_logout_is_post_only_and_signs_out(web: FlaskClient, make_user, login) -> None:
    login(web, make_user(email="ada@example.com"))
    assert web.get("/logout").status_code == 405
    assert signed_in(web)
    response = web.post("/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "You are signed out." in web.get("/login").get_data(as_text=True)
    assert not signed_in(web)


def test_a_copy_of_the_session_cookie_signs_nobody_in_once_signed_out(fresh_app: Callable[..., Flask], make_user) -> None:
    """The session is a cookie the browser holds: signing out wrote a new one, but a copy of
    the old (stolen, or kept by the browser) still signed its holder in. Signing out now ends
    that sign-in for every copy; the person's other sign-ins (another browser) go on."""
    site = fresh_app()
    here, elsewhere, thief = site.test_client(), site.test_client(), site.test_client()
    make_user(email="ada@example.com")
    for client in (here, elsewhere):
        assert post_login(client, "ada@example.com").status_code == 302
    cookie = here.get_cookie("session")
    assert cookie is not None
    thief.set_cookie("session", cookie.value)
    assert signed_in(thief)
    assert here.post("/logout").status_code == 302
    assert not signed_in(here) and not signed_in(thief)
    assert signed_in(elsewhere)
    assert post_login(here, "ada@example.com").status_code == 302 and signed_in(here)  # signing in again is a new one


def test_a_remembered_browser_begins_a_new_sign_in_after_a_month(fresh_app: Callable[..., Flask], make_user,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A sign-in lasts at most MAX_AGE (its ended mark is kept longer); "Keep me signed in"
    then signs the person in again from its cookie, as a new sign-in."""
    client = fresh_app().test_client()
    make_user(email="ada@example.com")
    assert post_login(client, "ada@example.com", remember="y").status_code == 302
    plain = fresh_app().test_client()
    assert post_login(plain, "ada@example.com").status_code == 302
    later = time.time() + sign_ins.MAX_AGE + 60
    monkeypatch.setattr(sign_ins, "_now", lambda: later)
    monkeypatch.setitem(client.application.config, "SESSION_IDLE_MINUTES", 0)
    monkeypatch.setitem(plain.application.config, "SESSION_IDLE_MINUTES", 0)
    assert not signed_in(plain)
    assert signed_in(client)  # from the remember cookie, with a new sign-in id
    assert signed_in(client)


def test_logout_forgets_the_remember_cookie(web: FlaskClient, make_user) -> None:
    make_user(email="ada@example.com")
    assert post_login(web, "ada@example.com", remember="y").status_code == 302
    web.post("/logout")
    assert web.get_cookie("remember_token") is None
    assert not signed_in(web)


@pytest.mark.parametrize(("target", "expected"), [
    ("/account", "/account"),
    ("/catalog?x=1", "/catalog?x=1"),
    ("https://evil.example/phish", "/home"),
    ("http://localhost/account", "/home"),
    ("//evil.example/phish", "/home"),
    ("/\t/evil.example", "/home"),
    ("javascript:alert(1)", "/home"),
])
def test_next_is_honoured_only_for_same_site_paths(web: FlaskClient, make_user, target: str, expected: str) -> None:
    make_user(email="ada@example.com")
    response = post_login(web, "ada@example.com", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_backslash_next_cannot_leave_the_site(web: FlaskClient, make_user) -> None:
    # Browsers read "/\evil.example" as "//evil.example"; it must not arrive as such.
    make_user(email="ada@example.com")
    response = post_login(web, "ada@example.com", query_string={"next": "/\\evil.example"})
    location = response.headers["Location"]
    assert "\\" not in location and not location.startswith("//")


def test_a_page_for_people_sends_anonymous_visitors_to_login_and_back(web: FlaskClient, make_user) -> None:
    make_user(email="ada@example.com")
    response = web.get("/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    back = web.post(response.headers["Location"], data={"email": "ada@example.com", "password": PASSWORD})
    assert back.headers["Location"] == "/account"


# --------------------------------------------------------------------------- account settings


def test_account_changes_name_and_time_zone(web: FlaskClient, make_user, login) -> None:
    login(web, make_user(email="ada@example.com", name="Ada"))
    page = web.get("/account").get_data(as_text=True)
    assert "ada@example.com" in page and 'value="Ada"' in page
    response = web.post("/account", data={
        "profile-name": "  Ada Lovelace ", "profile-timezone": "Europe/London", "profile-submit": "Save",
    })
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert "Your settings are saved." in web.get("/account").get_data(as_text=True)
    user = reload_user("ada@example.com")
    assert (user.name, user.timezone) == ("Ada Lovelace", "Europe/London")


def test_account_refuses_an_invisible_name_and_keeps_the_input(web: FlaskClient, make_user, login) -> None:
    login(web, make_user(email="ada@example.com", name="Ada"))
    response = web.post("/account", data={"profile-name": "\u200b\u200b", "profile-timezone": "Europe/London",
                                          "profile-submit": "Save"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Your settings are saved." not in page
    assert "A name needs at least one letter or digit" in page and 'value="\u200b\u200b"' in page
    assert reload_user("ada@example.com").name == "Ada"
    assert "Welcome, Ada" in web.get("/home").get_data(as_text=True)


def test_account_takes_invisible_characters_out_of_a_name(web: FlaskClient, make_user, login) -> None:
    login(web, make_user(email="ada@example.com", name="Ada"))
    response = web.post("/account", data={"profile-name": "\u202eAda\n\u200bLovelace", "profile-timezone": "UTC",
                                          "profile-submit": "Save"})
    assert response.status_code == 302
    assert reload_user("ada@example.com").name == "Ada Lovelace"


@pytest.mark.parametrize(("name", "tz", "message"), [
    ("Ada Lovelace", "Mars/Olympus_Mons", "Not a valid choice"),
    ("   ", "Europe/London", "This field is required"),
])
def test_account_refuses_bad_settings_with_a_message(web: FlaskClient, make_user, login, name: str, tz: str, message: str) -> None:
    login(web, make_user(email="ada@example.com", name="Ada", timezone="UTC"))
    response = web.post("/account", data={"profile-name": name, "profile-timezone": tz, "profile-submit": "Save"})
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    user = reload_user("ada@example.com")
    assert (user.name, user.timezone) == ("Ada", "UTC")


def change_password_form(current: str, new: str, confirm: str | None = None) -> dict[str, str]:
    return {"password-current": current, "password-password": new, "password-confirm": confirm or new,
            "password-submit": "Change password"}


def test_change_password_with_a_wrong_current_password_shows_an_error(web: FlaskClient, make_user, login) -> None:
    login(web, make_user(email="ada@example.com"))
    old_hash = reload_user("ada@example.com").password_hash
    response = web.post("/account", data=change_password_form("not-the-password", NEW_PASSWORD))
    assert response.status_code == 200
    assert "The current password is not correct." in response.get_data(as_text=True)
    user = reload_user("ada@example.com")
    assert user.password_hash == old_hash and user.session_version == 1


def test_change_password_refuses_a_weak_or_mismatched_new_one(web: FlaskClient, make_user, login) -> None:
    login(web, make_user(email="ada@example.com", name="Ada Lovelace"))
    weak = web.post("/account", data=change_password_form(PASSWORD, "adalovelace-2026"))
    assert weak.status_code == 200
    assert "Do not build the password from your name or email address." in weak.get_data(as_text=True)
    mismatch = web.post("/account", data=change_password_form(PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!"))
    assert mismatch.status_code == 200 and "The two passwords differ." in mismatch.get_data(as_text=True)
    assert reload_user("ada@example.com").session_version == 1
    assert signed_in(web)


def test_wrong_current_passwords_are_counted_per_person(fresh_app: Callable[..., Flask], make_user) -> None:
    """The account page checked the current password as often as it was sent: whoever held a
    session could guess it without limit. Wrong answers count per person (whichever browser
    or address they come from); past the limit even the right one is refused, unchanged."""
    site = fresh_app(SECRET_CHECKS_PER_USER="3 per minute")
    here, elsewhere, neighbour = site.test_client(), site.test_client(), site.test_client()
    make_user(email="ada@example.com")
    make_user(email="bob@example.com")
    for client, email in ((here, "ada@example.com"), (elsewhere, "ada@example.com"), (neighbour, "bob@example.com")):
        assert post_login(client, email).status_code == 302
    weak = here.post("/account", data=change_password_form(PASSWORD, "short"))
    assert weak.status_code == 200  # a refused new password is not a guess: it does not count
    for client in (here, elsewhere, here):
        assert client.post("/account", data=change_password_form("not-the-password", NEW_PASSWORD)).status_code == 200
    refused = elsewhere.post("/account", data=change_password_form(PASSWORD, NEW_PASSWORD))
    assert refused.status_code == 429 and "Too many" in refused.get_data(as_text=True)
    assert check_password_hash(reload_user("ada@example.com").password_hash, PASSWORD)
    assert here.get("/account").status_code == 200  # reading the page is never limited
    changed = neighbour.post("/account", data=change_password_form(PASSWORD, NEW_PASSWORD))  # another person's own count
    assert changed.status_code == 302


def test_password_change_signs_out_other_sessions(fresh_app: Callable[..., Flask], make_user, login) -> None:
    site = fresh_app()
    here, elsewhere, remembered = site.test_client(), site.test_client(), site.test_client()
    make_user(email="ada@example.com")
    for client in (here, elsewhere):
        assert post_login(client, "ada@example.com").status_code == 302
    assert post_login(remembered, "ada@example.com", remember="y").status_code == 302
    remembered.delete_cookie("session")  # only the remember-me cookie is left
    assert signed_in(here) and signed_in(elsewhere) and signed_in(remembered)

    response = here.post("/account", data=change_password_form(PASSWORD, NEW_PASSWORD))
    assert response.status_code == 302
    assert "other devices are signed out" in here.get("/account").get_data(as_text=True)

    assert reload_user("ada@example.com").session_version == 2
    assert signed_in(here)  # the session that changed it carries the new version
    assert not signed_in(elsewhere)
    assert not signed_in(remembered)
    assert post_login(elsewhere, "ada@example.com", PASSWORD).status_code == 200
    assert post_login(elsewhere, "ada@example.com", NEW_PASSWORD).status_code == 302


# --------------------------------------------------------------------------- forgotten passwords


def test_forgot_password_mails_one_reset_link(web: FlaskClient, make_user) -> None:
    make_user(email="ada@example.com", name="Ada Lovelace")
    response = web.post("/password/forgot", data={"email": " ADA@example.com"})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "If that address has an account, a reset link is on its way." in web.get("/login").get_data(as_text=True)
    [message] = outbox()
    assert message.recipient == "ada@example.com"
    assert message.subject == "Reset your password"
    assert "Hello Ada Lovelace" in message.body
    token = reset_token_from_mail(message)
    assert f"http://localhost/password/reset/{token}" in sent_body(message)
    row = db.session.scalars(select(PasswordResetToken)).one()
    assert row.token_hash == services.hash_token(token)


def test_forgot_password_mails_an_account_a_few_links_an_hour_whatever_the_senders_address(
        fresh_app: Callable[..., Flask], make_user) -> None:
    """The per-address limit let anyone with a few addresses fill a person's mailbox with reset
    links (and leave as many live ones there): past FORGOT_PASSWORD_LINKS_PER_HOUR for the
    account, the answer stays the same and nothing more is made or mailed."""
    client = fresh_app(FORGOT_PASSWORD_LINKS_PER_HOUR=3).test_client()
    make_user(email="ada@example.com")
    for n in range(5):
        sent = client.post("/password/forgot", data={"email": "ada@example.com"},
                           environ_base={"REMOTE_ADDR": f"198.51.100.{n}"})
        assert sent.status_code == 302 and sent.headers["Location"] == "/login"
    assert [m.recipient for m in outbox()] == ["ada@example.com"] * 3
    assert count(PasswordResetToken) == 3


def test_forgot_password_answers_the_same_for_an_unknown_address(web: FlaskClient, make_user) -> None:
    make_user(email="ada@example.com")
    known = web.post("/password/forgot", data={"email": "ada@example.com"})
    known_page = web.get("/login").get_data(as_text=True)
    unknown = web.post("/password/forgot", data={"email": "nobody@example.com"})
    unknown_page = web.get("/login").get_data(as_text=True)
    assert (unknown.status_code, unknown.headers["Location"]) == (known.status_code, known.headers["Location"])
    assert known_page == unknown_page
    assert [m.recipient for m in outbox()] == ["ada@example.com"]
    assert count(PasswordResetToken) == 1


def test_forgot_password_takes_the_same_time_for_an_unknown_address(fresh_app: Callable[..., Flask], make_user) -> None:
    """The words were the same, but a known address answered some 25 ms later (its link made,
    committed and mailed): timing told who has an account. Both answer no sooner than
    FORGOT_PASSWORD_SECONDS, the link's commit and mail inside that time."""
    client = fresh_app(FORGOT_PASSWORD_SECONDS=0.3).test_client()
    make_user(email="ada@example.com")
    took = {}
    for email in ("ada@example.com", "nobody@example.com"):
        started = time.monotonic()
        assert client.post("/password/forgot", data={"email": email}).status_code == 302
        took[email] = time.monotonic() - started
    assert all(0.3 <= seconds < 1.5 for seconds in took.values()), took
    assert len(outbox()) == 1
    started = time.monotonic()
    assert client.get("/password/forgot").status_code == 200  # showing the form does not wait
    assert time.monotonic() - started < 0.3


def test_reset_link_sets_the_password_once(web: FlaskClient, make_user) -> None:
    make_user(email="ada@example.com")
    web.post("/password/forgot", data={"email": "ada@example.com"})
    link = f"/password/reset/{reset_token_from_mail(outbox()[0])}"

    form = web.get(link)
    assert form.status_code == 200 and 'name="confirm"' in form.get_data(as_text=True)
    response = web.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "Your password is set." in web.get("/login").get_data(as_text=True)

    assert post_login(web, "ada@example.com", PASSWORD).status_code == 200
    assert post_login(web, "ada@example.com", NEW_PASSWORD).status_code == 302
    web.post("/logout")

    again = web.get(link)
    assert again.status_code == 400
    assert "already been used" in again.get_data(as_text=True)
    reuse = web.post(link, data={"password": "another-fine-passphrase", "confirm": "another-fine-passphrase"})
    assert reuse.status_code == 400 and "already been used" in reuse.get_data(as_text=True)
    assert post_login(web, "ada@example.com", NEW_PASSWORD).status_code == 302


def test_expired_or_unknown_reset_link_is_refused(web: FlaskClient, make_user) -> None:
    user = make_user(email="ada@example.com")
    token = services.issue_reset_token(db.session, user, now=datetime.now(UTC) - timedelta(hours=3))
    db.session.commit()
    expired = web.post(f"/password/reset/{token}", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert expired.status_code == 400
    assert "expired" in expired.get_data(as_text=True)
    unknown = web.get("/password/reset/not-a-real-token")
    assert unknown.status_code == 400 and "not valid" in unknown.get_data(as_text=True)
    assert post_login(web, "ada@example.com", PASSWORD).status_code == 302


def test_weak_new_password_on_the_reset_form_is_refused(web: FlaskClient, make_user) -> None:
    make_user(email="ada@example.com")
    web.post("/password/forgot", data={"email": "ada@example.com"})
    link = f"/password/reset/{reset_token_from_mail(outbox()[0])}"
    response = web.post(link, data={"password": "aaaaaaaaaaaa", "confirm": "aaaaaaaaaaaa"})
    assert response.status_code == 200
    assert "Use a less repetitive password." in response.get_data(as_text=True)
    assert post_login(web, "ada@example.com", PASSWORD).status_code == 302
    web.post("/logout")
    assert web.get(link).status_code == 200  # the link still works


# --------------------------------------------------------------------------- mail


def test_default_transport_logs_and_marks_the_message_sent(
    web: FlaskClient, make_user, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Running the migrations in this process (alembic's fileConfig) disables loggers that
    # already exist, lms.mail among them; a deployed app migrates in another process.
    monkeypatch.setattr(logging.getLogger("lms.mail"), "disabled", False)
    make_user(email="ada@example.com")
    with caplog.at_level("INFO", logger="lms.mail"):
        web.post("/password/forgot", data={"email": "ada@example.com"})
    [message] = outbox()
    assert message.sent_at is not None
    assert message.transport == "log"
    assert message.error == ""
    assert any("ada@example.com" in record.getMessage() for record in caplog.records)


def test_transport_for_picks_from_config() -> None:
    assert isinstance(mail.transport_for({}), mail.LogTransport)
    assert isinstance(mail.transport_for({"MAIL_SERVER": ""}), mail.LogTransport)
    smtp = mail.transport_for({"MAIL_SERVER": "smtp.example.com", "MAIL_PORT": 2525})
    assert isinstance(smtp, mail.SmtpTransport) and smtp.name == "smtp"
    assert isinstance(mail.transport_for({"MAIL_SERVER": "smtp.example.com", "MAIL_TRANSPORT": "log"}), mail.LogTransport)
    assert set(mail.TRANSPORTS) >= {"log", "smtp"}


def test_smtp_transport_sends_through_smtplib(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, Any]] = []

    class FakeSMTP:
        def __init__(self, host: str, port: int, timeout: float) -> None:
            calls.append(("connect", (host, port)))

        def __enter__(self) -> FakeSMTP:
            return self

        def __exit__(self, *exc: Any) -> None:
            calls.append(("quit", None))

        def starttls(self, context: Any = None) -> None:
            calls.append(("starttls", None))

        def login(self, user: str, password: str) -> None:
            calls.append(("login", (user, password)))

        def send_message(self, message: Any) -> None:
            calls.append(("send", (message["From"], message["To"], message["Subject"], message.get_content())))

    monkeypatch.setattr(smtplib, "SMTP", FakeSMTP)
    transport = mail.transport_for({"MAIL_SERVER": "smtp.example.com", "MAIL_PORT": 2525, "MAIL_FROM": "lms@example.com",
                                    "MAIL_USERNAME": "lms", "MAIL_PASSWORD": "secret"})
    transport.send(OutboxMessage(recipient="ada@example.com", subject="Hello", body="Body text\n"))
    assert calls == [
        ("connect", ("smtp.example.com", 2525)),
        ("starttls", None),
        ("login", ("lms", "secret")),
        ("send", ("lms@example.com", "ada@example.com", "Hello", "Body text\n")),
        ("quit", None),
    ]


class BrokenTransport(mail.Transport):
    name = "broken"

    def send(self, message: OutboxMessage) -> None:
        raise ConnectionRefusedError(111, "Connection refused")


class RecordingTransport(mail.Transport):
    name = "recording"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.sent: list[str] = []

    def send(self, message: OutboxMessage) -> None:
        self.sent.append(message.recipient)


def test_a_failing_transport_records_the_error_and_a_later_run_retries(session: Session) -> None:
    mail.queue_mail(session, "one@example.com", "One", "1")
    mail.queue_mail(session, "two@example.com", "Two", "2")
    session.commit()

    assert mail.deliver_pending(session, BrokenTransport({})) == 0
    session.commit()
    messages = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert all(m.sent_at is None and "ConnectionRefusedError" in m.error for m in messages)

    working = RecordingTransport({})
    assert mail.deliver_pending(session, working) == 0  # not before the next try is due
    assert mail.deliver_pending(session, working, now=utcnow() + timedelta(minutes=2)) == 2
    session.commit()
    assert working.sent == ["one@example.com", "two@example.com"]
    assert all(m.sent_at is not None and m.error == "" and m.transport == "recording" for m in messages)
    assert mail.deliver_pending(session, working) == 0  # nothing is sent twice


def test_a_failing_transport_does_not_break_the_request(
    fresh_app: Callable[..., Flask], make_user, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(mail.TRANSPORTS, "broken", BrokenTransport)
    client = fresh_app(MAIL_TRANSPORT="broken").test_client()
    make_user(email="ada@example.com")
    response = client.post("/password/forgot", data={"email": "ada@example.com"})
    assert response.status_code == 302
    response.close()  # a remote transport is tried once the response has gone (lms/mail/jobs.py)
    [message] = outbox()
    assert message.sent_at is None
    assert "ConnectionRefusedError" in message.error and "Connection refused" in message.error
    assert RESET_LINK.search(message.body)  # the message is kept for a later try


# --------------------------------------------------------------------------- rate limits


def test_failed_logins_per_account_are_limited(fresh_app: Callable[..., Flask], make_user) -> None:
    client = fresh_app(LOGIN_SLOWDOWN="3 per minute").test_client()
    make_user(email="ada@example.com")
    make_user(email="bob@example.com")
    for _ in range(3):
        assert post_login(client, "ada@example.com", "not-the-password").status_code == 200
    blocked = post_login(client, "Ada@Example.com", PASSWORD)  # even the right password, in any case
    assert blocked.status_code == 429
    assert "Too many" in blocked.get_data(as_text=True)
    assert not signed_in(client)
    # Another account from the same address may still try.
    assert post_login(client, "bob@example.com", "not-the-password").status_code == 200
    assert post_login(client, "bob@example.com", PASSWORD).status_code == 302


def test_successful_logins_do_not_count_against_the_limit(fresh_app: Callable[..., Flask], make_user) -> None:
    client = fresh_app(LOGIN_SLOWDOWN="3 per minute", LOGIN_LIMIT_PER_ADDRESS="3 per minute").test_client()
    make_user(email="ada@example.com")
    for _ in range(5):
        assert post_login(client, "ada@example.com", PASSWORD).status_code == 302
        client.post("/logout")
    assert client.get("/login").status_code == 200  # showing the form does not count either
    for _ in range(3):
        assert post_login(client, "ada@example.com", "not-the-password").status_code == 200
    assert post_login(client, "ada@example.com", PASSWORD).status_code == 429


def test_failed_logins_per_address_are_limited(fresh_app: Callable[..., Flask], make_user) -> None:
    site = fresh_app(LOGIN_LIMIT_PER_ADDRESS="3 per minute")
    attacker = site.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    neighbour = site.test_client()
    neighbour.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    make_user(email="ada@example.com")
    for n in range(3):
        assert post_login(attacker, f"guess{n}@example.com", "not-the-password").status_code == 200
    blocked = post_login(attacker, "ada@example.com", PASSWORD)
    assert blocked.status_code == 429 and "Too many" in blocked.get_data(as_text=True)
    assert post_login(neighbour, "ada@example.com", PASSWORD).status_code == 302


def test_forgot_password_is_limited_per_address(fresh_app: Callable[..., Flask]) -> None:
    client = fresh_app(LOGIN_LIMIT_PER_ADDRESS="2 per minute").test_client()
    for n in range(2):
        assert client.post("/password/forgot", data={"email": f"guess{n}@example.com"}).status_code == 302
    assert client.post("/password/forgot", data={"email": "guess9@example.com"}).status_code == 429


# --------------------------------------------------------------------------- cookies and CSRF


def test_session_and_remember_cookies_are_http_only_and_same_site_lax(web: FlaskClient, make_user) -> None:
    make_user(email="ada@example.com")
    response = post_login(web, "ada@example.com", remember="y")
    [session_cookie] = set_cookie_headers(response, "session")
    [remember_cookie] = set_cookie_headers(response, "remember_token")
    for header in (session_cookie, remember_cookie):
        assert "HttpOnly" in header
        assert "SameSite=Lax" in header
        assert "Secure" not in header  # tests and development run over plain http


def test_production_cookies_are_secure(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "p" * 48)
    monkeypatch.setenv("LMS_BASE_URL", "http://localhost")  # production needs the site's address
    production = create_app("production", instance_path=tmp_path)
    config = production.config
    assert config["SESSION_COOKIE_SECURE"] is True and config["REMEMBER_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True and config["REMEMBER_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax" and config["REMEMBER_COOKIE_SAMESITE"] == "Lax"
    assert config.get("WTF_CSRF_ENABLED", True) is True


def test_csrf_protects_the_login_form(fresh_app: Callable[..., Flask], make_user) -> None:
    client = fresh_app(WTF_CSRF_ENABLED=True).test_client()
    make_user(email="ada@example.com")
    refused = post_login(client, "ada@example.com")
    assert refused.status_code == 400
    assert "Bad request" in refused.get_data(as_text=True)
    assert not signed_in(client)

    page = client.get("/login").get_data(as_text=True)
    assert re.search(r'<input[^>]*name="csrf_token"[^>]*type="hidden"|<input[^>]*type="hidden"[^>]*name="csrf_token"', page)
    assert post_login(client, "ada@example.com", csrf_token="forged").status_code == 400
    accepted = post_login(client, "ada@example.com", csrf_token=csrf_token(page))
    assert accepted.status_code == 302
    # Signing out is a form too: without the token it does nothing.
    assert client.post("/logout").status_code == 400
    assert signed_in(client)


def test_a_form_sent_hours_after_its_page_was_shown_is_accepted(fresh_app: Callable[..., Flask], make_user,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A form's token lives as long as the session it was made for, not an hour (Flask-WTF's
    default): a learner writing a case study or answering an exam question for longer, with
    extra time, is not told their page expired when they send it (WCAG 2.2.1; nothing lost)."""
    strict = fresh_app(WTF_CSRF_ENABLED=True)
    client = strict.test_client()
    make_user(email="ada@example.com")
    assert post_login(client, "ada@example.com", csrf_token=csrf_token(client.get("/login").get_data(as_text=True))).status_code == 302
    page = client.get("/account").get_data(as_text=True)  # its sign-out form carries the token
    later = int(time.time()) + 6 * 3600
    # six hours on for the signer alone, which reads a token's age (not the process's clock:
    # the connection pool and the rate limits read that one)
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda _signer: later)
    assert client.post("/logout", data={"csrf_token": csrf_token(page)}).status_code == 302
    assert not signed_in(client)
    # Still bound to its session: another browser sending it is refused.
    assert post_login(strict.test_client(), "ada@example.com", csrf_token=csrf_token(page)).status_code == 400


def test_signing_in_makes_a_new_csrf_secret_and_signing_out_empties_the_session(fresh_app: Callable[..., Flask],
                                                                               make_user) -> None:
    """A session cookie planted before sign-in (its CSRF token known to whoever planted it)
    kept the same token after: their forms then acted as the person. Signing in makes a new
    one; signing out leaves nothing of the session behind."""
    client = fresh_app(WTF_CSRF_ENABLED=True).test_client()
    make_user(email="ada@example.com")
    planted = csrf_token(client.get("/login").get_data(as_text=True))  # the attacker's, in the victim's browser
    assert post_login(client, "ada@example.com", csrf_token=planted).status_code == 302
    assert client.post("/logout", data={"csrf_token": planted}).status_code == 400  # no longer valid
    assert signed_in(client)
    page = client.get("/account").get_data(as_text=True)
    assert csrf_token(page) != planted
    with client.session_transaction() as stored:
        stored["sso_pending"] = {"left": "behind"}  # anything a feature kept in the session
    assert client.post("/logout", data={"csrf_token": csrf_token(page)}).status_code == 302
    assert not signed_in(client)
    with client.session_transaction() as stored:
        assert "sso_pending" not in stored and "lms_seen" not in stored
        assert stored.get("csrf_token") is None or stored.get("csrf_token") != planted


# --------------------------------------------------------------------------- flask lms create-admin


def create_admin(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["lms", "create-admin", *args])


def test_create_admin_command_creates_a_site_admin(app: Flask) -> None:
    result = create_admin(app, "--email", "Root@Example.com", "--name", "Root Admin", "--password", NEW_PASSWORD)
    assert result.exit_code == 0, result.output
    assert "Created site admin root@example.com." in result.output
    user = reload_user("root@example.com")
    assert user.is_admin and user.name == "Root Admin"
    assert user.password_hash is not None and user.password_hash.startswith("scrypt:")
    assert services.authenticate(db.session, "root@example.com", NEW_PASSWORD) is not None


def test_create_admin_command_refuses_a_weak_password(app: Flask) -> None:
    result = create_admin(app, "--email", "root@example.com", "--name", "Root Admin", "--password", "short")
    assert result.exit_code == 1
    assert "error: Use at least 10 characters." in result.output
    assert count(User) == 0


def test_create_admin_command_promotes_an_existing_account(app: Flask, make_user) -> None:
    make_user(email="ada@example.com")
    weak = create_admin(app, "--email", "ada@example.com", "--name", "Ada", "--password", "aaaaaaaaaaaa")
    assert weak.exit_code == 1 and "error:" in weak.output
    assert not reload_user("ada@example.com").is_admin
    result = create_admin(app, "--email", "ADA@example.com", "--name", "Ada", "--password", NEW_PASSWORD)
    assert result.exit_code == 0, result.output
    assert "ada@example.com is now a site admin" in result.output
    user = reload_user("ada@example.com")
    assert user.is_admin and check_password_hash(user.password_hash or "", NEW_PASSWORD)
    assert count(User) == 1
