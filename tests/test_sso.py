"""Single sign-on with OpenID Connect against a real provider on 127.0.0.1
(``tests/oidc_provider.py``): settings, first and later sign-ins, and every refusal."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from joserfc.jwk import RSAKey
from sqlalchemy import select

from lms.accounts.models import SignInDevice, User
from lms.audit.models import AuditAction, AuditEntry
from lms.cohorts.enrolment import is_learner_of
from lms.cohorts.invitations import invite_instructor, invite_learner, withdraw_invitation
from lms.cohorts.models import Cohort, Invitation
from lms.cohorts.roles import add_organization_admin
from lms.database import utcnow
from lms.extensions import db
from lms.sso.models import SsoConfig, SsoIdentity
from lms.sso.services import Settings, decrypt_secret, save_settings
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, serve


@pytest.fixture(scope="session")
def _provider() -> Iterator[Provider]:
    yield from serve()


@pytest.fixture()
def provider(_provider: Provider) -> Iterator[Provider]:
    _provider.reset()
    yield _provider
    _provider.reset()


def configure(app: Any, org: Any, provider: Provider, domains: str = "alpha.example.org example.com",
              create_accounts: bool = True, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET) -> None:
    save_settings(db.session, org, Settings(issuer=provider.issuer, client_id=client_id, client_secret=client_secret,
                                            allowed_domains=domains, create_accounts=create_accounts, enabled=True),
                  revision=None, secret_key=app.config["SECRET_KEY"], actor_id=org.admins[0].id)
    db.session.commit()


def person(sub: str, email: str, verified: bool = True, name: str = "Ada Alpha", zoneinfo: str | None = None) -> dict[str, Any]:
    return {"sub": sub, "email": email, "email_verified": verified, "name": name} | ({"zoneinfo": zoneinfo} if zoneinfo else {})


def through_provider(client: Any, org_id: int, next_url: str | None = None) -> Any:
    """Start at the organization's link, let the provider answer, land on the callback."""
    start = client.get(f"/login/organization/{org_id}" + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302, start.get_data(as_text=True)
    answer = requests.get(start.location, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert back.path == "/login/organization/callback"
    return client.get(f"{back.path}?{back.query}")


def signed_in_as(client: Any) -> str | None:
    page = client.get("/account")
    if page.status_code != 200:
        return None
    return "signed in"


def test_first_sign_in_creates_the_account_then_signs_straight_in(app, client, world, provider):
    configure(app, world.org_a, provider)
    provider.next_user = person("ada-1", "Ada@Alpha.example.org")
    page = through_provider(client, world.org_a.id, next_url="/templates")
    assert page.status_code == 200
    assert "There is no account" in page.get_data(as_text=True) and "ada@alpha.example.org" in page.get_data(as_text=True)
    assert signed_in_as(client) is None  # nothing is written or signed in before the confirmation
    done = client.post("/login/organization/confirm")
    assert done.status_code == 302, done.get_data(as_text=True)
    assert done.location.endswith("/templates")
    assert signed_in_as(client)
    user = db.session.scalar(select(User).where(User.email == "ada@alpha.example.org"))
    assert user is not None and user.name == "Ada Alpha" and user.password_hash is None
    linked = db.session.scalars(select(SsoIdentity)).all()
    assert [(i.user_id, i.subject, i.organization_id) for i in linked] == [(user.id, "ada-1", world.org_a.id)]

    client.post("/logout")
    provider.next_user = person("ada-1", "ada@alpha.example.org")
    again = through_provider(client, world.org_a.id)
    assert again.status_code == 200 and signed_in_as(client) is None  # the page sends itself on (a GET never writes)
    done = client.post("/login/organization/confirm")
    assert done.status_code == 302 and signed_in_as(client)


def test_a_provider_name_without_a_letter_gives_way_to_the_address(app, client, world, provider):
    configure(app, world.org_a, provider)
    for sub, email, name in [("ada-1", "ada@alpha.example.org", "\u200b\u200b"), ("bob-1", "bob@alpha.example.org", "\u202eBob\nBlack")]:
        provider.next_user = person(sub, email, name=name)
        assert through_provider(client, world.org_a.id).status_code == 200
        assert client.post("/login/organization/confirm").status_code == 302
        client.post("/logout")
    names = db.session.scalars(select(User.name).where(User.email.like("%@alpha.example.org")).order_by(User.email))
    assert list(names) == ["ada", "Bob Black"]


def sign_in_through(client: Any, org_id: int, provider: Provider, claims: dict[str, Any]) -> User:
    """A first or later sign-in, confirmed; the account it signed in."""
    provider.next_user = claims
    assert through_provider(client, org_id).status_code == 200
    assert client.post("/login/organization/confirm").status_code == 302
    client.post("/logout")
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.email == claims["email"].lower()))
    assert user is not None
    return user


def test_a_new_account_starts_on_the_providers_zoneinfo_and_an_existing_one_keeps_its_own(app, client, world, provider):
    configure(app, world.org_a, provider)
    assert sign_in_through(client, world.org_a.id, provider,
                           person("ada-1", "ada@alpha.example.org", zoneinfo="America/Sao_Paulo")).timezone == "America/Sao_Paulo"
    # Later sign-ins, with another zone at the provider, leave the person's own choice alone.
    assert sign_in_through(client, world.org_a.id, provider,
                           person("ada-1", "ada@alpha.example.org", zoneinfo="Asia/Tokyo")).timezone == "America/Sao_Paulo"
    # Nor is an existing account's zone changed when it is linked at its first sign-in.
    assert world.learner_a.timezone == "UTC"
    assert sign_in_through(client, world.org_a.id, provider,
                           person("learner-a", world.learner_a.email, zoneinfo="Asia/Tokyo")).timezone == "UTC"
    # A zone only in the userinfo answer (fetched for the name the ID token leaves out) counts too.
    provider.id_token_omits = {"name", "zoneinfo"}
    assert sign_in_through(client, world.org_a.id, provider,
                           person("bea-1", "bea@alpha.example.org", zoneinfo="Africa/Nairobi")).timezone == "Africa/Nairobi"


def test_without_a_known_zone_a_new_account_starts_on_the_invited_cohorts_zone_else_utc(app, client, world, provider):
    configure(app, world.org_a, provider)
    world.cohort_a2.timezone = "Australia/Perth"
    invite_learner(db.session, world.cohort_a2, "cy@alpha.example.org", "", world.org_admin_a, lambda token: token)
    gone = invite_learner(db.session, world.cohort_a2, "di@alpha.example.org", "", world.org_admin_a, lambda token: token)
    withdraw_invitation(db.session, gone)
    world.cohort_b.timezone = "Pacific/Auckland"  # another organization's cohort: not joined through this one
    invite_learner(db.session, world.cohort_b, "ed@alpha.example.org", "", world.org_admin_b, lambda token: token)
    db.session.commit()
    for sub, email, zone, expected in [("cy", "cy@alpha.example.org", "Mars/Olympus_Mons", "Australia/Perth"),
                                       ("di", "di@alpha.example.org", None, "UTC"),
                                       ("ed", "ed@alpha.example.org", None, "UTC"),
                                       ("fay", "fay@alpha.example.org", "not a zone", "UTC")]:
        assert sign_in_through(client, world.org_a.id, provider, person(sub, email, zoneinfo=zone)).timezone == expected, email


def test_an_administrator_invited_signs_up_on_the_zone_the_password_acceptance_preselects(app, client, world, provider,
                                                                                           make_cohort):
    """An organization admin's invitation names no cohort: a first sign-in through the
    provider (no zoneinfo) starts the account on the zone most of the organization's cohorts
    are on, the rule the password acceptance preselects by (lms.cohorts.invitations), and
    the page after says which zone it chose and links to where it is changed."""
    configure(app, world.org_a, provider)
    world.cohort_a.timezone = "Europe/Paris"
    world.cohort_a2.timezone = "Asia/Tokyo"
    make_cohort(world.org_a, "Alpha 3", timezone="Asia/Tokyo")
    add_organization_admin(db.session, world.org_a, "gil@alpha.example.org", "Gil Admin", lambda token: token)
    db.session.commit()
    provider.next_user = person("gil", "gil@alpha.example.org")
    assert through_provider(client, world.org_a.id).status_code == 200
    done = client.post("/login/organization/confirm", follow_redirects=True)
    page = " ".join(done.get_data(as_text=True).split())
    assert ("Your account shows times in Asia/Tokyo, the most common time zone of the cohorts of Alpha Org. "
            '<a href="/account#timezone">Change your time zone on your account page.</a>') in page
    db.session.expire_all()
    gil = db.session.scalar(select(User).where(User.email == "gil@alpha.example.org"))
    assert gil is not None and gil.timezone == "Asia/Tokyo"
    client.post("/logout")
    # the provider's zoneinfo still comes first, and the page says where it came from
    add_organization_admin(db.session, world.org_a, "hal@alpha.example.org", "Hal Admin", lambda token: token)
    db.session.commit()
    provider.next_user = person("hal", "hal@alpha.example.org", zoneinfo="America/Lima")
    through_provider(client, world.org_a.id)
    page = " ".join(client.post("/login/organization/confirm", follow_redirects=True).get_data(as_text=True).split())
    assert "Your account shows times in America/Lima, the time zone the sign-in provider of Alpha Org gave for you." in page
    client.post("/logout")
    # a learner's invitation: the cohort's zone, named; a later sign-in (an account there) says nothing
    invite_learner(db.session, world.cohort_a, "ivy@alpha.example.org", "", world.org_admin_a, lambda token: token)
    db.session.commit()
    provider.next_user = person("ivy", "ivy@alpha.example.org")
    through_provider(client, world.org_a.id)
    page = " ".join(client.post("/login/organization/confirm", follow_redirects=True).get_data(as_text=True).split())
    assert "Your account shows times in Europe/Paris, the time zone of Alpha 1." in page
    client.post("/logout")
    through_provider(client, world.org_a.id)
    again = client.post("/login/organization/confirm", follow_redirects=True).get_data(as_text=True)
    assert "Your account shows times in" not in again


def test_an_administrator_of_an_organization_without_cohorts_signs_up_on_utc_and_is_told_why(app, client, world, provider):
    configure(app, world.org_b, provider, domains="beta.example.org")
    world.cohort_b.organization_id = world.org_a.id  # organization B is left with no cohort
    add_organization_admin(db.session, world.org_b, "jo@beta.example.org", "Jo Admin", lambda token: token)
    db.session.commit()
    provider.next_user = person("jo", "jo@beta.example.org")
    through_provider(client, world.org_b.id)
    page = " ".join(client.post("/login/organization/confirm", follow_redirects=True).get_data(as_text=True).split())
    assert f"Your account shows times in UTC, as {world.org_b.name} has no cohort to take a time zone from." in page
    client.post("/logout")
    provider.next_user = person("kim", "kim@beta.example.org")  # no invitation at all
    through_provider(client, world.org_b.id)
    page = " ".join(client.post("/login/organization/confirm", follow_redirects=True).get_data(as_text=True).split())
    assert (f"Your account shows times in UTC, as neither the sign-in provider of {world.org_b.name} nor an "
            "invitation gave a time zone.") in page


def test_an_existing_member_is_linked_by_verified_email(app, client, world, provider):
    configure(app, world.org_a, provider, create_accounts=False)
    provider.next_user = person("learner-a", world.learner_a.email)
    page = through_provider(client, world.org_a.id)
    assert page.status_code == 200 and "link it to" in page.get_data(as_text=True)
    assert client.post("/login/organization/confirm").status_code == 302
    assert db.session.scalar(select(SsoIdentity.user_id)) == world.learner_a.id
    # A replayed confirmation does nothing more.
    client.post("/logout")
    assert client.post("/login/organization/confirm").status_code == 400


def test_another_organizations_user_is_never_signed_in(app, client, world, provider):
    configure(app, world.org_a, provider)
    provider.next_user = person("learner-b", world.learner_b.email)
    page = through_provider(client, world.org_a.id)
    assert page.status_code == 403 and "another organization" in page.get_data(as_text=True)
    assert signed_in_as(client) is None
    provider.next_user = person("admin", world.admin.email)
    page = through_provider(client, world.org_a.id)
    assert page.status_code == 403 and "Site administrators" in page.get_data(as_text=True)


def test_an_account_outside_the_organization_is_linked_only_once_invited_to_it(app, client, world, provider):
    """An organization's admins choose its provider and its domains (any domain no other
    organization holds): an account that belongs to no organization (one whose roles ended,
    one never placed) is not theirs to vouch for. Its address at the provider is not enough:
    it is linked once the organization has invited it (an open invitation)."""
    configure(app, world.org_a, provider, domains="example.com")  # the domain of every test account
    provider.next_user = person("outsider", world.nobody.email)
    page = through_provider(client, world.org_a.id)
    assert page.status_code == 403 and "does not belong to this organization" in page.get_data(as_text=True)
    assert client.post("/login/organization/confirm").status_code == 400  # nothing waits to be confirmed
    assert signed_in_as(client) is None and db.session.scalar(select(SsoIdentity.id)) is None
    invite_learner(db.session, world.cohort_a, world.nobody.email, "", world.org_admin_a, lambda token: token)
    db.session.commit()
    assert sign_in_through(client, world.org_a.id, provider, person("outsider", world.nobody.email)).id == world.nobody.id


def test_a_first_sign_in_takes_up_the_invitation_as_accepting_it_with_a_password_does(app, client, world, provider):
    """Single sign-on by an invited person signed them in, but left the invitation open: they
    were neither enrolled nor made an instructor. Confirming a first sign-in (a new account,
    or an account linked) now accepts the newest open invitation of the organization, and the
    confirmation page says so first."""
    configure(app, world.org_a, provider, domains="alpha.example.org example.com")
    invite_learner(db.session, world.cohort_a2, "cy@alpha.example.org", "", world.org_admin_a, lambda token: token)
    invite_instructor(db.session, world.cohort_a2, world.nobody.email, "", world.org_admin_a, lambda token: token)
    db.session.commit()
    provider.next_user = person("cy", "cy@alpha.example.org")
    page = through_provider(client, world.org_a.id).get_data(as_text=True)
    assert "You are invited to join the cohort Alpha 2 of Alpha Org: continuing also accepts this invitation." in page
    done = client.post("/login/organization/confirm", follow_redirects=True).get_data(as_text=True)
    assert "You accepted the invitation to join the cohort Alpha 2 of Alpha Org." in done
    client.post("/logout")
    db.session.expire_all()
    cy = db.session.scalars(select(User).where(User.email == "cy@alpha.example.org")).one()
    assert is_learner_of(db.session, world.cohort_a2.id, cy.id)
    # An existing account outside every organization, invited to teach: linked and teaching.
    nobody = sign_in_through(client, world.org_a.id, provider, person("nob", world.nobody.email))
    assert nobody.id in [i.id for i in db.session.get_one(Cohort, world.cohort_a2.id).instructors]
    assert db.session.scalar(select(Invitation.id).where(Invitation.accepted_at.is_(None))) is None


def test_account_creation_off_refuses_unknown_people(app, client, world, provider):
    configure(app, world.org_a, provider, create_accounts=False)
    provider.next_user = person("new", "new@alpha.example.org")
    page = through_provider(client, world.org_a.id)
    assert page.status_code == 403 and "does not create accounts" in page.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == "new@alpha.example.org")) is None


def test_unknown_domain_and_unverified_email_are_refused(app, client, world, provider):
    configure(app, world.org_a, provider)
    found = client.post("/login/organization", data={"email": "someone@elsewhere.example.net"})
    assert found.status_code == 400 and "No organization" in found.get_data(as_text=True)
    routed = client.post("/login/organization", data={"email": "someone@alpha.example.org"})
    # a link to follow (a redirect after a form would break the Content-Security-Policy's form-action)
    assert routed.status_code == 200 and f'href="/login/organization/{world.org_a.id}"' in routed.get_data(as_text=True)
    provider.next_user = person("x", "someone@elsewhere.example.net")
    page = through_provider(client, world.org_a.id)
    assert page.status_code == 403 and "elsewhere.example.net do not sign in" in page.get_data(as_text=True)
    provider.next_user = person("y", "someone@alpha.example.org", verified=False)
    page = through_provider(client, world.org_a.id)
    assert page.status_code == 403 and "not verified" in page.get_data(as_text=True)


@pytest.mark.parametrize(("tamper", "message"), [
    ({"iss": "https://impostor.test"}, "another provider than the configured issuer"),
    ({"aud": "someone-else"}, "issued for another application"),
    ({"nonce": "replayed-nonce"}, "nonce differs"),
    ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "has expired"),
])
def test_bad_id_tokens_are_refused(app, client, world, provider, tamper, message):
    configure(app, world.org_a, provider)
    provider.next_user = person("ada-1", "ada@alpha.example.org")
    provider.tamper = tamper
    page = through_provider(client, world.org_a.id)
    assert page.status_code == 403
    assert message in page.get_data(as_text=True)
    assert signed_in_as(client) is None and client.post("/login/organization/confirm").status_code == 400


def test_a_token_signed_with_another_key_or_a_wrong_state_is_refused(app, client, world, provider):
    configure(app, world.org_a, provider)
    provider.next_user = person("ada-1", "ada@alpha.example.org")
    provider.signing_key = RSAKey.generate_key(2048, parameters={"kid": "test-key"}, private=True)
    page = through_provider(client, world.org_a.id)
    assert page.status_code == 403 and "signature could not be verified" in page.get_data(as_text=True)
    provider.signing_key = None
    start = client.get(f"/login/organization/{world.org_a.id}")
    answer = requests.get(start.location, allow_redirects=False, timeout=10)
    code = dict(part.split("=", 1) for part in urlsplit(answer.headers["Location"]).query.split("&"))["code"]
    forged = client.get(f"/login/organization/callback?code={code}&state=forged")
    assert forged.status_code == 403 and "state differs" in forged.get_data(as_text=True)
    assert signed_in_as(client) is None


def test_discovery_naming_another_issuer_is_refused(app, client, world, provider):
    configure(app, world.org_a, provider)
    provider.advertised_issuer = "https://impostor.test"
    page = client.get(f"/login/organization/{world.org_a.id}")
    assert page.status_code == 502 and "names the issuer" in page.get_data(as_text=True)


def test_a_provider_on_a_local_or_private_address_is_never_called_in_production(app, client, world, provider,
                                                                                   monkeypatch):
    """The issuer is typed by an organization's admin, and anyone may start a sign-in: the
    server fetched whatever it named (http://127.0.0.1 was even allowed by the settings),
    its own network included, and showed the failure's words. Outside development, each
    call to the provider connects to public addresses only."""
    configure(app, world.org_a, provider)  # the test provider runs on 127.0.0.1
    monkeypatch.setitem(app.config, "SSO_ALLOW_LOCAL", False)
    page = client.get(f"/login/organization/{world.org_a.id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 502 and "a local or private address" in text
    monkeypatch.setitem(app.config, "SSO_ALLOW_LOCAL", True)  # development: allowed
    assert client.get(f"/login/organization/{world.org_a.id}").status_code == 302


def test_org_admin_configures_sso_secret_never_shown_and_audited(app, client, world, provider, login):
    login(client, world.org_admin_a)
    url = f"/organizations/{world.org_a.id}/single-sign-on"
    assert client.get(url).status_code == 200
    form = {"issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "allowed_domains": "Alpha.example.org, example.com", "create_accounts": "y", "enabled": "y", "revision": ""}
    assert client.post(url, data=form).status_code == 302
    config = db.session.scalar(select(SsoConfig))
    assert config is not None and config.domains == ["alpha.example.org", "example.com"] and config.create_accounts
    assert CLIENT_SECRET not in config.client_secret_encrypted
    assert decrypt_secret(app.config["SECRET_KEY"], config.client_secret_encrypted) == CLIENT_SECRET
    page = client.get(url).get_data(as_text=True)
    assert CLIENT_SECRET not in page and "stored encrypted" in page
    # An empty secret keeps the stored one; a stale revision is refused, not overwritten.
    kept = form | {"client_secret": "", "revision": "1", "create_accounts": ""}
    assert client.post(url, data=kept).status_code == 302
    db.session.expire_all()
    config = db.session.scalar(select(SsoConfig))
    assert config is not None and not config.create_accounts and config.revision == 2
    assert decrypt_secret(app.config["SECRET_KEY"], config.client_secret_encrypted) == CLIENT_SECRET
    stale = client.post(url, data=kept)
    assert stale.status_code == 409 and "changed these settings meanwhile" in stale.get_data(as_text=True)
    bad = client.post(url, data=form | {"issuer": "ftp://x", "revision": "2"})
    assert bad.status_code == 409 and "https://" in bad.get_data(as_text=True)
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.SSO_CONFIGURED)
                                 .order_by(AuditEntry.id)).all()
    assert len(entries) == 2 and entries[0].actor_id == world.org_admin_a.id
    assert entries[0].organization_id == world.org_a.id and entries[0].after is not None
    assert CLIENT_SECRET not in str([(e.before, e.after) for e in entries])
    assert entries[1].before is not None and entries[1].before["create_accounts"] is True
    assert entries[1].after is not None and entries[1].after["create_accounts"] is False
    # Another organization cannot claim the same domain.
    client.post("/logout")
    login(client, world.org_admin_b)
    other = client.post(f"/organizations/{world.org_b.id}/single-sign-on", data=form)
    assert other.status_code == 409 and "Another organization" in other.get_data(as_text=True)
    assert client.get(url).status_code == 404


def test_a_deactivated_account_or_switched_off_sso_signs_nobody_in(app, client, world, provider):
    configure(app, world.org_a, provider)
    provider.next_user = person("learner-a", world.learner_a.email)
    through_provider(client, world.org_a.id)
    assert client.post("/login/organization/confirm").status_code == 302
    client.post("/logout")
    world.learner_a.deactivated_at = utcnow()
    db.session.commit()
    page = through_provider(client, world.org_a.id)
    assert page.status_code == 403 and "deactivated" in page.get_data(as_text=True)
    assert signed_in_as(client) is None
    config = db.session.scalar(select(SsoConfig))
    assert config is not None
    config.enabled = False
    db.session.commit()
    off = client.get(f"/login/organization/{world.org_a.id}")
    assert off.status_code == 404 and "does not offer single sign-on" in off.get_data(as_text=True)
    assert client.post("/login/organization", data={"email": world.learner_a.email}).status_code == 400


def test_a_wrong_client_secret_is_a_clear_refusal(app, client, world, provider):
    configure(app, world.org_a, provider, client_secret="not-the-secret")
    provider.next_user = person("ada-1", "ada@alpha.example.org")
    page = through_provider(client, world.org_a.id)
    assert page.status_code == 403 and "did not exchange the authorization code" in page.get_data(as_text=True)


def test_two_factor_still_follows_the_provider_for_roles_that_require_it(app, client, world, provider):
    app.config["TWO_FACTOR_REQUIRED"] = True
    configure(app, world.org_a, provider)
    provider.next_user = person("org-admin-a", world.org_admin_a.email)
    page = through_provider(client, world.org_a.id)
    assert page.status_code == 200
    done = client.post("/login/organization/confirm")
    assert done.status_code == 302 and urlsplit(done.location).path == "/account/two-factor"
    assert client.get("/templates").status_code == 302  # not signed in until two-factor is set up
    assert db.session.scalar(select(SsoIdentity.user_id)) == world.org_admin_a.id


def test_a_linked_sign_in_completes_with_a_post_that_gives_it_a_device_row(app, client, world, provider):
    configure(app, world.org_a, provider)
    provider.next_user = person("learner-a", world.learner_a.email)
    through_provider(client, world.org_a.id)
    assert client.post("/login/organization/confirm").status_code == 302  # the first sign-in links the account
    client.post("/logout")

    def devices() -> list[SignInDevice]:
        db.session.expire_all()
        return list(db.session.scalars(select(SignInDevice).where(SignInDevice.user_id == world.learner_a.id)
                                       .order_by(SignInDevice.id)))

    before = len(devices())
    app.config["WTF_CSRF_ENABLED"] = True
    page = through_provider(client, world.org_a.id, next_url="/templates")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and world.learner_a.email in text
    # A self-sending POST form to the confirmation, with its CSRF token and a button for browsers without JavaScript.
    form = re.search(r'<form method="post" action="/login/organization/confirm" data-autosubmit="true"[^>]*>(.*?)</form>',
                     text, re.S)
    assert form is not None and 'type="submit"' in form.group(1)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form.group(1))
    assert token is not None and "/static/sso/continue.js" in text
    assert client.get("/static/sso/continue.js").status_code == 200
    assert len(devices()) == before and signed_in_as(client) is None  # the callback (a GET) wrote nothing
    assert client.post("/login/organization/confirm").status_code == 400  # no token: refused, nothing done
    assert signed_in_as(client) is None
    page = through_provider(client, world.org_a.id, next_url="/templates")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True))
    assert token is not None
    done = client.post("/login/organization/confirm", data={"csrf_token": token.group(1)},
                       headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"})
    assert done.status_code == 302 and done.location.endswith("/templates")
    rows = devices()
    assert len(rows) == before + 1 and rows[-1].ended_at is None and rows[-1].user_agent == "Firefox on Linux"
    account = client.get("/account").get_data(as_text=True)
    assert "Firefox on Linux <strong>(this device)</strong>" in account
