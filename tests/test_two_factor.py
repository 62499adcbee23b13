"""Two-factor sign-in (issue 17 point 3): TOTP with replay refused, single-use recovery
codes, remembered devices (signed, hashed, revocable), required roles sent to set-up
before they are signed in, the organization setting and a site admin's audited reset."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from flask import Flask, current_app
from sqlalchemy import select

from lms.accounts.models import User
from lms.audit.models import AuditAction, AuditEntry
from lms.extensions import db
from lms.twofactor import services
from lms.twofactor.models import RecoveryCode, RememberedDevice, TwoFactorCredential
from lms.twofactor.views import DEVICE_COOKIE
from tests.conftest import PASSWORD
from tests.races import second_waits_for_first
from tests.two_factor import Clock, fresh_code


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The services' clock, which ``fresh_code`` moves on a time step instead of waiting for one."""
    clock = Clock()
    monkeypatch.setattr(services, "utcnow", clock)
    return clock


def key() -> bytes:
    return services.cipher_key(current_app.config["SECRET_KEY"])


NOW = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def enrolled(user: Any, now: datetime | None = None) -> tuple[str, list[str]]:
    """Set up two-factor for ``user`` through the services (at ``now``, default the services'
    clock: the real time, moved on by whatever ``fresh_code`` skipped); returns the secret and
    recovery codes."""
    now = now or services.utcnow()
    enrolment = services.new_enrolment(db.session, user, key())
    codes = services.confirm_enrolment(db.session, user, enrolment.token, code_at(enrolment.secret, now), key(), now)
    db.session.commit()
    return enrolment.secret, codes


# --------------------------------------------------------------------------- services


def test_a_code_is_accepted_once_and_never_again_within_its_window(app: Flask, make_user) -> None:
    user = make_user()
    secret, _ = enrolled(user, NOW)
    later = NOW + timedelta(seconds=60)
    code = code_at(secret, later)
    assert services.verify(db.session, user, code, key(), later) == services.Outcome.TOTP
    assert services.verify(db.session, user, code, key(), later) is None  # replayed
    assert services.verify(db.session, user, code, key(), later + timedelta(seconds=20)) is None
    # the step before the last accepted one is refused too; the next step is fine
    assert services.verify(db.session, user, code_at(secret, NOW + timedelta(seconds=30)), key(), later) is None
    assert services.verify(db.session, user, code_at(secret, later + timedelta(seconds=30)), key(), later) == "totp"
    # a code more than one step away (clock drift allowance) is refused
    assert services.verify(db.session, user, code_at(secret, later + timedelta(seconds=120)), key(), later) is None
    assert services.verify(db.session, user, "12345x", key(), later) is None


def test_the_confirming_code_cannot_be_used_to_sign_in(app: Flask, make_user) -> None:
    user = make_user()
    secret, _ = enrolled(user, NOW)
    assert services.verify(db.session, user, code_at(secret, NOW), key(), NOW) is None


def test_recovery_codes_are_ten_hashed_and_single_use(app: Flask, make_user) -> None:
    user = make_user()
    _, codes = enrolled(user, NOW)
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)).all()
    assert len(stored) == 10 and not any(code.replace("-", "") in h for code in codes for h in stored)
    assert services.verify(db.session, user, codes[3].upper(), key(), NOW) == services.Outcome.RECOVERY
    assert services.verify(db.session, user, codes[3], key(), NOW) is None
    assert services.verify(db.session, user, "abcde-fghjk", key(), NOW) is None
    assert services.status(db.session, user, True).recovery_codes_left == 9


def test_the_secret_is_stored_encrypted(app: Flask, make_user) -> None:
    user = make_user()
    secret, _ = enrolled(user, NOW)
    stored = db.session.scalar(select(TwoFactorCredential.secret_encrypted).where(TwoFactorCredential.user_id == user.id))
    assert stored and secret not in stored
    with pytest.raises(services.TwoFactorError, match="cannot be read"):
        services.verify(db.session, user, "123456", services.cipher_key("another key"), NOW)


def test_an_enrolment_form_is_the_owners_and_expires(app: Flask, make_user) -> None:
    ada, bob = make_user(), make_user()
    enrolment = services.new_enrolment(db.session, ada, key())
    with pytest.raises(services.TwoFactorError, match="not yours"):
        services.confirm_enrolment(db.session, bob, enrolment.token, code_at(enrolment.secret, NOW), key(), NOW)
    with pytest.raises(services.TwoFactorError, match="not right"):
        services.confirm_enrolment(db.session, ada, enrolment.token, "000000", key(), NOW)
    with pytest.raises(services.TwoFactorError, match="expired"):
        services.confirm_enrolment(db.session, ada, "garbage", "000000", key(), NOW)


def test_who_must_use_it(app: Flask, world, make_user) -> None:
    assert services.required_for(db.session, world.admin)
    assert services.required_for(db.session, world.org_admin_a)
    assert not services.required_for(db.session, world.instructor_a)
    assert not services.required_for(db.session, world.learner_a)
    services.set_instructor_requirement(db.session, world.org_a.id, True, services.Origin(world.org_admin_a.id, "10.0.0.1"))
    db.session.commit()
    assert services.required_for(db.session, world.instructor_a)
    assert not services.required_for(db.session, world.instructor_b)  # Beta Org did not ask for it
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == AuditAction.TWO_FACTOR_POLICY_CHANGED))
    assert entry is not None and entry.organization_id == world.org_a.id and entry.actor_id == world.org_admin_a.id
    assert entry.before == {"require_for_instructors": False} and entry.after == {"require_for_instructors": True}


# --------------------------------------------------------------------------- end to end


def sign_in(client: Any, user: Any, password: str = PASSWORD) -> Any:
    return client.post("/login", data={"email": user.email, "password": password})


def signed_in(client: Any) -> bool:
    return client.get("/account").status_code == 200


def set_up_on_the_account_page(client: Any, user: Any) -> tuple[str, list[str]]:
    page = client.get("/account/two-factor")
    assert page.headers["Cache-Control"] == "no-store"
    text = page.get_data(as_text=True)
    assert "<svg" in text and "style=" not in text.split("<svg", 1)[1].split("</svg>")[0]
    secret = re.search(r'id="twofactor-secret"[^>]*>([A-Z2-7]+)<', text)
    key = re.search(r'name="key" type="hidden" value="([^"]+)"', text)
    assert secret and key
    wrong = client.post("/account/two-factor", data={"key": key.group(1), "password": PASSWORD, "code": "000000"})
    assert wrong.status_code == 400 and "That code is not right" in wrong.get_data(as_text=True)
    assert secret.group(1) not in wrong.get_data(as_text=True)  # the key is shown once
    done = client.post("/account/two-factor", data={"key": key.group(1), "password": PASSWORD,
                                                    "code": pyotp.TOTP(secret.group(1)).now()})
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", done.get_data(as_text=True))
    assert done.status_code == 200 and len(codes) == 10
    return secret.group(1), codes


def test_turning_it_on_from_the_account_page_asks_the_password_again(app: Flask, client, make_user) -> None:
    """Whoever holds a session (a browser left signed in, a stolen cookie) could otherwise put
    their own phone's key on the account: its owner would then need the holder's codes to sign
    in. As for an API token, the password is asked again (wrong answers count as the account
    page's do); set-up during a required sign-in has just been given it and asks nothing more."""
    learner = make_user()
    sign_in(client, learner)
    text = client.get("/account/two-factor").get_data(as_text=True)
    secret = re.search(r'id="twofactor-secret"[^>]*>([A-Z2-7]+)<', text)
    key = re.search(r'name="key" type="hidden" value="([^"]+)"', text)
    assert secret and key and 'name="password"' in text
    for password in ("", "not-the-password"):
        refused = client.post("/account/two-factor", data={"key": key.group(1), "password": password,
                                                           "code": pyotp.TOTP(secret.group(1)).now()})
        assert refused.status_code == 400 and "That is not your password" in refused.get_data(as_text=True)
        assert not services.is_enrolled(db.session, learner.id)
    assert "recovery-codes" in client.post("/account/two-factor", data={
        "key": key.group(1), "password": PASSWORD, "code": pyotp.TOTP(secret.group(1)).now()}).get_data(as_text=True)
    assert services.is_enrolled(db.session, learner.id)


def test_a_learner_sets_it_up_and_signs_in_with_a_code_a_recovery_code_and_a_remembered_device(
        app: Flask, client, make_user) -> None:
    learner = make_user()
    assert sign_in(client, learner).headers["Location"] == "/home" or signed_in(client)
    secret, codes = set_up_on_the_account_page(client, learner)
    assert "On. 10 recovery codes left." in client.get("/account").get_data(as_text=True)
    client.post("/logout")

    # the password alone does not sign in: the code step comes first
    answer = sign_in(client, learner)
    assert answer.headers["Location"] == "/login/two-factor"
    assert not signed_in(client)
    wrong = client.post("/login/two-factor", data={"code": "000000"})
    assert wrong.status_code == 200 and "That code is not right" in wrong.get_data(as_text=True)
    code = fresh_code(secret, learner.id)
    assert client.post("/login/two-factor", data={"code": code}).status_code == 302
    assert signed_in(client)
    client.post("/logout")

    # the same code again (within its window) is refused
    sign_in(client, learner)
    assert client.post("/login/two-factor", data={"code": code}).status_code == 200
    assert not signed_in(client)
    # a recovery code works once
    assert client.post("/login/two-factor", data={"code": codes[0]}).status_code == 302
    assert "9 left" in client.get("/account").get_data(as_text=True) or signed_in(client)
    client.post("/logout")
    sign_in(client, learner)
    assert client.post("/login/two-factor", data={"code": codes[0]}).status_code == 200

    # remember this device: the next sign-in skips the code
    answer = client.post("/login/two-factor", data={"code": fresh_code(secret, learner.id), "remember": "y"})
    cookie = client.get_cookie(DEVICE_COOKIE)
    assert answer.status_code == 302 and cookie is not None
    assert cookie.expires is not None and cookie.expires - datetime.now(UTC) > timedelta(days=29)
    device = db.session.scalar(select(RememberedDevice).where(RememberedDevice.user_id == learner.id))
    assert device is not None and device.token_hash not in cookie.value
    client.post("/logout")
    assert sign_in(client, learner).headers["Location"] == "/home"
    assert signed_in(client)
    # listed on the account page and forgotten there: the next sign-in asks again
    assert "Remembered devices" in client.get("/account").get_data(as_text=True)
    assert client.post(f"/account/two-factor/devices/{device.id}/forget").status_code == 302
    client.post("/logout")
    assert sign_in(client, learner).headers["Location"] == "/login/two-factor"


def test_another_account_cannot_use_a_remembered_device_cookie(app: Flask, client, make_user) -> None:
    ada, bob = make_user(), make_user()
    enrolled(ada)
    enrolled(bob)
    token = services.remember_device(db.session, ada, "Ada's laptop")
    db.session.commit()
    from lms.twofactor.views import device_cookie_value
    client.set_cookie(DEVICE_COOKIE, device_cookie_value(bob.id, token))  # ada's token, signed for bob
    assert sign_in(client, bob).headers["Location"] == "/login/two-factor"
    client.set_cookie(DEVICE_COOKIE, "forged")
    assert sign_in(client, ada).headers["Location"] == "/login/two-factor"
    client.set_cookie(DEVICE_COOKIE, device_cookie_value(ada.id, token))
    assert sign_in(client, ada).headers["Location"] == "/home"


def test_required_roles_are_sent_to_set_up_and_reach_nothing_else_until_done(app: Flask, client, world) -> None:
    app.config["TWO_FACTOR_REQUIRED"] = True
    answer = sign_in(client, world.org_admin_a)
    assert answer.headers["Location"] == "/account/two-factor"
    for url in ("/account", f"/organizations/{world.org_a.id}", "/home", "/admin/audit"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login?next="), url
    assert client.get("/login/two-factor").headers["Location"] == "/account/two-factor"
    secret, _ = set_up_on_the_account_page(client, world.org_admin_a)
    assert client.get(f"/organizations/{world.org_a.id}").status_code == 200
    # required: it cannot be turned off
    page = client.get("/account").get_data(as_text=True)
    assert "Turn off two-factor" not in page
    refused = client.post("/account/two-factor/off", data={"code": fresh_code(secret, world.org_admin_a.id)})
    assert refused.status_code == 400 and "requires two-factor" in refused.get_data(as_text=True)


def test_cancelling_a_required_set_up_leaves_the_person_signed_out(app: Flask, client, world) -> None:
    app.config["TWO_FACTOR_REQUIRED"] = True
    sign_in(client, world.admin)
    assert client.post("/account/two-factor/cancel").headers["Location"] == "/login"
    assert client.get("/account/two-factor").headers["Location"].startswith("/login?next=")


def test_without_the_requirement_admins_sign_in_with_the_password(app: Flask, client, world) -> None:
    app.config["TWO_FACTOR_REQUIRED"] = False  # development and the demo
    assert sign_in(client, world.admin).headers["Location"] == "/home"


def test_a_learner_may_turn_it_off_with_a_code(app: Flask, client, make_user, login) -> None:
    learner = make_user()
    login(client, learner)
    secret, _ = set_up_on_the_account_page(client, learner)
    assert client.post("/account/two-factor/off", data={"code": "000000"}).status_code == 400
    assert client.post("/account/two-factor/off", data={"code": fresh_code(secret, learner.id)}).status_code == 302
    assert not services.is_enrolled(db.session, learner.id)
    client.post("/logout")
    assert sign_in(client, learner).headers["Location"] == "/home"


def test_wrong_codes_to_turn_it_off_or_make_new_codes_are_counted(app: Flask, client, make_user, login) -> None:
    """Turning two-factor off, or making new recovery codes, took a code as often as the form
    was sent: a session's holder could try the million codes. Wrong ones count per person,
    across both forms (and the account page's current password); past the limit even a
    right code is refused and nothing changes."""
    app.config["SECRET_CHECKS_PER_USER"] = "3 per minute"
    learner = make_user()
    login(client, learner)
    secret, _ = set_up_on_the_account_page(client, learner)
    assert client.post("/account/two-factor/off", data={"code": "000000"}).status_code == 400
    assert client.post("/account/two-factor/codes", data={"code": "000000"}).status_code == 400
    assert client.post("/account/two-factor/off", data={"code": "000000"}).status_code == 400
    refused = client.post("/account/two-factor/off", data={"code": fresh_code(secret, learner.id)})
    assert refused.status_code == 429
    assert services.is_enrolled(db.session, learner.id)


def recovery_codes_on(page: Any) -> list[str]:
    return re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", page.get_data(as_text=True))


def test_a_learner_makes_new_recovery_codes_and_the_old_ones_stop_working(app: Flask, client, make_user,
                                                                         login) -> None:
    learner = make_user()
    login(client, learner)
    secret, old = set_up_on_the_account_page(client, learner)
    account = client.get("/account").get_data(as_text=True)
    assert 'href="/account/two-factor/codes"' in account
    assert client.get("/account/two-factor/codes").status_code == 200
    wrong = client.post("/account/two-factor/codes", data={"code": "000000"})
    assert wrong.status_code == 400 and "That code is not right" in wrong.get_data(as_text=True)
    assert services.status(db.session, learner, True).recovery_codes_left == 10  # nothing lost

    page = client.post("/account/two-factor/codes", data={"code": fresh_code(secret, learner.id)})
    new = recovery_codes_on(page)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "Your new recovery codes" in page.get_data(as_text=True)
    assert len(set(new)) == 10 and not set(new) & set(old)
    assert services.verify(db.session, learner, old[0], key()) is None
    assert services.verify(db.session, learner, new[0], key()) == services.Outcome.RECOVERY
    db.session.commit()
    assert "On. 9 recovery codes left." in client.get("/account").get_data(as_text=True)

    # one of the new codes confirms the next set (it is spent; ten new ones stand)
    again = recovery_codes_on(client.post("/account/two-factor/codes", data={"code": new[1]}))
    assert len(again) == 10 and services.status(db.session, learner, True).recovery_codes_left == 10
    assert client.post("/account/two-factor/codes", data={"code": new[1]}).status_code == 400


def test_without_two_factor_there_are_no_recovery_codes_to_make(app: Flask, client, make_user, login) -> None:
    login(client, make_user())
    answer = client.get("/account/two-factor/codes")
    assert answer.status_code == 302 and answer.headers["Location"] == "/account"
    assert client.post("/account/two-factor/codes", data={"code": "000000"}).status_code == 302


def test_recovery_codes_made_twice_at_once_leave_one_set(app: Flask, make_user) -> None:
    user_id = make_user().id
    db.session.commit()

    def replace(session: Any) -> list[str]:
        return services.new_recovery_codes(session, session.get_one(User, user_id))

    first, second = second_waits_for_first(app, replace, replace)
    stored = db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user_id)).all()
    # the second set, the one shown last, is the one that stands; none of the first's is left
    assert len(stored) == 10 and not set(first) & set(second)
    assert {row.code_hash for row in stored} == {services._recovery_hash(user_id, c.replace("-", "")) for c in second}


def test_wrong_codes_slow_down_like_wrong_passwords(app: Flask, client, make_user) -> None:
    learner = make_user()
    secret, _ = enrolled(learner)
    app.config["LOGIN_SLOWDOWN"] = "3 per minute"
    sign_in(client, learner)
    for _ in range(3):
        assert client.post("/login/two-factor", data={"code": "000000"}).status_code == 200
    slowed = client.post("/login/two-factor", data={"code": fresh_code(secret, learner.id)})
    assert slowed.status_code == 429 and "Too many wrong codes" in slowed.get_data(as_text=True)
    assert not signed_in(client)


def test_the_code_step_must_follow_the_password_soon(app: Flask, client, make_user) -> None:
    learner = make_user()
    secret, _ = enrolled(learner)
    sign_in(client, learner)
    with client.session_transaction() as state:
        held = dict(state["lms_two_factor_pending"])
        state["lms_two_factor_pending"] = {**held, "at": held["at"] - 601}
    answer = client.post("/login/two-factor", data={"code": fresh_code(secret, learner.id)})
    assert answer.headers["Location"] == "/login" and not signed_in(client)


def test_an_instructor_is_required_once_their_organization_asks(app: Flask, client, world, login) -> None:
    app.config["TWO_FACTOR_REQUIRED"] = True
    login(client, world.org_admin_a)
    assert client.get(f"/organizations/{world.org_a.id}/two-factor").status_code == 200
    saved = client.post(f"/organizations/{world.org_a.id}/two-factor", data={"require_for_instructors": "y"})
    assert saved.status_code == 302
    client.post("/logout")
    assert sign_in(client, world.instructor_a).headers["Location"] == "/account/two-factor"
    assert sign_in(client, world.instructor_b).headers["Location"] == "/home"  # the other organization


def test_a_site_admin_resets_a_users_two_factor_and_it_is_audited(app: Flask, client, world, login) -> None:
    app.config["TWO_FACTOR_REQUIRED"] = True
    secret, _ = enrolled(world.learner_a)
    services.remember_device(db.session, world.learner_a, "Phone")
    db.session.commit()
    login(client, world.admin)
    page = client.get(f"/admin/users/{world.learner_a.id}").get_data(as_text=True)
    assert "Reset two-factor" in page
    unconfirmed = client.post(f"/admin/users/{world.learner_a.id}/two-factor/reset")
    assert unconfirmed.status_code == 302 and services.is_enrolled(db.session, world.learner_a.id)
    done = client.post(f"/admin/users/{world.learner_a.id}/two-factor/reset", data={"confirm": "y"})
    assert done.status_code == 302
    db.session.expire_all()
    assert not services.is_enrolled(db.session, world.learner_a.id)
    assert db.session.scalar(select(RememberedDevice.revoked_at).where(RememberedDevice.user_id == world.learner_a.id))
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == AuditAction.TWO_FACTOR_RESET))
    assert entry is not None and entry.actor_id == world.admin.id and entry.target == f"user:{world.learner_a.id}"
    assert entry.before == {"enrolled": True, "recovery_codes_left": 10, "remembered_devices": 1}
    assert entry.after == {"enrolled": False}
    again = client.post(f"/admin/users/{world.learner_a.id}/two-factor/reset", data={"confirm": "y"})
    assert again.status_code == 302 and "has no two-factor" in client.get(again.headers["Location"]).get_data(as_text=True)
    client.post("/logout")
    assert sign_in(client, world.learner_a).headers["Location"] == "/home"
    assert secret  # the old secret is gone with the credential
