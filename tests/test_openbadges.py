"""Open Badges 3.0 (issue 16 point 3): a level certificate as an OpenBadgeCredential signed as
VC-JWT (EdDSA), valid against the 1EdTech Open Badges 3.0 JSON schema (tests/schemas), its
signature checked with the published key by another JOSE implementation (joserfc); a
tampered credential fails; revoked through the status list, it verifies as revoked."""

from __future__ import annotations

import base64
import json
import re
from html import unescape
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import OKPKey
from sqlalchemy import select

from lms.api.tokens import create_token
from lms.audit.models import AuditAction, AuditEntry
from lms.certificates import services as certificates
from lms.certificates.models import Certificate
from lms.cohorts.models import Cohort, Enrolment, Organization
from lms.database import utcnow
from lms.extensions import db
from lms.openbadges import services
from lms.openbadges.models import BadgeIssuerKey
from tests.test_certificates import complete

# joserfc warns that RFC 9864 deprecates "EdDSA" for the fully specified "Ed25519"; Open
# Badges 3.0 wallets and verifiers still expect EdDSA, so the credentials use it.
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "ob_v3p0_achievementcredential.json").read_text())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture()
def certified(app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user) -> dict[str, Any]:
    admin = make_user(name="Olivia Org")
    org = make_org("Acme", admins=[admin])
    cohort = make_cohort(org, "Acme 1", months_ago=5)
    user = enrol_learner(cohort, name="Ada Lovelace", email="ada@example.com")
    complete(cohort, user)
    [certificate] = certificates.issue_due(db.session, cohort, user.id, utcnow())
    db.session.commit()
    return {"certificate": certificate, "code": certificate.code, "admin": admin, "learner": user}


def download(client: Any, code: str) -> str:
    response = client.get(f"/badges/v3/credentials/{code}.jwt")
    assert response.status_code == 200 and response.mimetype == "application/vc+jwt"
    assert "attachment" in response.headers["Content-Disposition"]
    return response.get_data(as_text=True)


def test_the_credential_validates_and_its_signature_verifies(certified: dict[str, Any], client: Any) -> None:
    assert db.session.scalar(select(BadgeIssuerKey)) is not None  # made with the first certificate
    token = download(client, certified["code"])
    header = json.loads(unb64(token.split(".")[0]))
    assert header["alg"] == "EdDSA" and header["kid"].startswith("http://localhost/badges/v3/issuer#")
    # the published keys verify it (joserfc, not the code that signed)
    jwks = client.get("/badges/v3/jwks.json").get_json()
    [jwk] = [k for k in jwks["keys"] if k["kid"] == header["kid"].rsplit("#", 1)[1]]
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and "d" not in jwk
    claims = jwt.decode(token, OKPKey.import_key(jwk), algorithms=["EdDSA"]).claims
    errors = sorted(jsonschema.Draft201909Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).iter_errors(claims),
                    key=str)
    assert errors == [], [e.message for e in errors]
    assert claims["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert claims["iss"] == claims["issuer"]["id"] == "http://localhost/badges/v3/issuer"
    assert claims["jti"] == claims["id"] == f"http://localhost/badges/v3/credentials/{certified['code']}"
    subject = claims["credentialSubject"]
    assert subject["achievement"]["name"].startswith("Foundation level")
    assert "ada@example.com" not in token and subject["identifier"][0]["identityHash"].startswith("sha256$")
    assert claims["credentialStatus"]["statusListIndex"] == str(certified["certificate"].id)
    # the issuer profile publishes the same key; the 2.0 assertion is still served
    profile = client.get("/badges/v3/issuer").get_json()
    assert profile["verificationMethod"][0]["publicKeyJwk"]["x"] == jwk["x"]
    assert client.get(f"/badges/assertions/{certified['code']}.json").status_code == 200
    # the verification endpoint agrees
    answer = client.post("/badges/v3/verify.json", data=token, content_type="text/plain").get_json()
    assert answer == {"valid": True, "revoked": False, "reasons": [], "credential": {
        "id": claims["id"], "name": claims["name"], "validFrom": claims["validFrom"],
        "achievement": subject["achievement"]["name"]}}


def test_the_schema_catches_a_broken_credential(certified: dict[str, Any]) -> None:
    document = services.credential(certified["certificate"], "http://localhost/", "secret", "Issuer")
    validator = jsonschema.Draft201909Validator(SCHEMA)
    assert list(validator.iter_errors(document)) == []
    del document["credentialSubject"]["achievement"]["criteria"]
    document["@context"] = ["https://www.w3.org/2018/credentials/v1"]
    assert len(list(validator.iter_errors(document))) >= 2


def test_a_tampered_or_foreign_credential_fails(certified: dict[str, Any], client: Any) -> None:
    token = download(client, certified["code"])
    head, payload, signature = token.split(".")
    claims = json.loads(unb64(payload))
    claims["credentialSubject"]["achievement"]["name"] = "Expert level"
    tampered = f"{head}.{b64(json.dumps(claims).encode())}.{signature}"
    answer = client.post("/badges/v3/verify.json", json={"credential": tampered}).get_json()
    assert answer["valid"] is False and "signature does not match" in answer["reasons"][0]
    # signed by someone else's key under this issuer's kid
    other = OKPKey.generate_key("Ed25519")
    forged = jwt.encode(json.loads(unb64(head)), claims, other, algorithms=["EdDSA"])
    assert "signature does not match" in client.post("/badges/v3/verify.json", data=forged).get_json()["reasons"][0]
    unsigned = b64(json.dumps({"alg": "none"}).encode()) + f".{payload}."
    for bad, reason in (("", "No credential"), ("x.y", "three base64url parts"), ("{}", "without its signature"),
                        (unsigned, "Unsupported signature algorithm")):
        answer = client.post("/badges/v3/verify.json", data=bad).get_json()
        assert answer["valid"] is False and reason in answer["reasons"][0], (bad, answer)
    assert client.post("/badges/v3/verify.json", json={"credential": 5}).status_code == 400
    # the page says so too, never a 500
    page = client.post("/badges/v3/verify", data={"credential": tampered})
    assert page.status_code == 200 and b"Not valid" in page.data and b"signature does not match" in page.data
    assert client.post("/badges/v3/verify", data={"credential": ""}).status_code == 422


def test_an_admin_revokes_and_the_credential_verifies_as_revoked(certified: dict[str, Any], client: Any, login: Any,
                                                                 make_user, make_org) -> None:
    code = certified["code"]
    token = download(client, code)
    status_token = client.get("/badges/v3/status/revocation").get_data(as_text=True)
    status = json.loads(unb64(status_token.split(".")[1]))
    assert status["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    index = certified["certificate"].id
    assert services.status_bit(status["credentialSubject"]["encodedList"], index) is False
    # another organization's admin and the learner cannot find the page
    outsider = make_user(name="Other Admin")
    make_org("Other", admins=[outsider])
    for person in (outsider, certified["learner"]):
        login(client, person)
        assert client.get(f"/badges/v3/manage/{code}").status_code == 404
        client.post("/logout")
    login(client, certified["admin"])
    assert client.get(f"/badges/v3/manage/{code}").status_code == 200
    response = client.post(f"/badges/v3/manage/{code}", data={"reason": "Issued in error"})
    assert response.status_code == 302
    again = client.post(f"/badges/v3/manage/{code}", data={"reason": "Twice"})
    assert again.status_code == 422 and b"already revoked" in again.data
    status = json.loads(unb64(client.get("/badges/v3/status/revocation").get_data(as_text=True).split(".")[1]))
    assert services.status_bit(status["credentialSubject"]["encodedList"], index) is True
    assert services.status_bit(status["credentialSubject"]["encodedList"], index + 1) is False
    answer = client.post("/badges/v3/verify.json", data=token).get_json()
    assert answer["valid"] is False and answer["revoked"] is True and "Issued in error" in answer["reasons"][0]
    page = client.post("/badges/v3/verify", data={"credential": token})
    assert b"Revoked" in page.data
    # the printable certificate and its 2.0 assertion stay, saying it is revoked
    assert client.get(f"/certificates/{code}").status_code == 200
    assert db.session.scalar(select(Certificate).where(Certificate.code == code)) is not None


def test_the_revoke_page_links_back_to_where_the_admin_came_from_and_nowhere_else(
        certified: dict[str, Any], client: Any, login: Any) -> None:
    """The confirmation had no way back (cancel): the admin came from the cohort's certified
    learners and had to find it again. The list's link carries its own path; the page cancels
    to it, keeps it through the POST, and takes nothing but a path of this site."""
    code = certified["code"]
    [enrolment] = db.session.scalars(select(Enrolment).where(Enrolment.user_id == certified["learner"].id))
    listing = f"/cohorts/{enrolment.cohort_id}/certificates"
    login(client, certified["admin"])
    page = client.get(listing).get_data(as_text=True)
    link = re.search(r'href="(/badges/v3/manage/[^"]+)"', page)
    assert link is not None and unescape(link.group(1)) == f"/badges/v3/manage/{code}?back={listing}"
    confirm = client.get(unescape(link.group(1))).get_data(as_text=True)
    assert f'<a href="{listing}">Cancel</a>' in confirm
    for bad in ("https://evil.example/", "//evil.example/", "/\\evil.example/", "/\t/evil.example", "javascript:alert(1)"):
        page = client.get(f"/badges/v3/manage/{code}", query_string={"back": bad}).get_data(as_text=True)
        assert 'href="/home">Cancel</a>' in page and "evil.example" not in page and "javascript" not in page, bad
    done = client.post(f"/badges/v3/manage/{code}", query_string={"back": listing}, data={"reason": "Issued in error"})
    assert done.status_code == 302 and done.location == f"/badges/v3/manage/{code}?back={listing}"
    assert f'<a href="{listing}">Back</a>' in client.get(done.location).get_data(as_text=True)


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_revocation_needs_a_reason(certified: dict[str, Any], client: Any, login: Any, reason: str) -> None:
    code = certified["code"]
    login(client, certified["admin"])
    refused = client.post(f"/badges/v3/manage/{code}", data={"reason": reason})
    assert refused.status_code == 422 and b"Give the reason for revoking" in refused.data
    assert b'name="reason"' in refused.data  # the form, shown again
    db.session.expire_all()
    assert certificates.revocation_of(db.session, certified["certificate"]) is None
    assert not db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.CERTIFICATE_REVOKED)).all()
    with pytest.raises(services.BadgeError, match="Give the reason"):
        services.revoke(db.session, certified["certificate"], None, " \t ", utcnow())


def test_a_revoked_certificate_says_so_everywhere(certified: dict[str, Any], client: Any, login: Any) -> None:
    code, certificate, learner = certified["code"], certified["certificate"], certified["learner"]
    [enrolment] = db.session.scalars(select(Enrolment).where(Enrolment.user_id == learner.id))
    cohort_id = enrolment.cohort_id
    org_token = create_token(db.session, certified["admin"], "HR", ["read:competency"], None,
                             db.session.get(Organization, db.session.get(Cohort, cohort_id).organization_id)).secret
    own_token = create_token(db.session, learner, "Mine", ["read:competency"], None).secret
    db.session.commit()

    def listed(path: str, token: str, **query: str) -> list[dict[str, Any]]:
        answer = client.get(path, query_string=query, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return list(answer.get_json()["data"])

    [before] = listed(f"/api/v1/cohorts/{cohort_id}/certificates", org_token)
    assert (before["revoked"], before["revoked_at"], before["revocation_reason"]) == (False, None, None)
    assert "revoked" not in client.get(f"/badges/assertions/{code}.json").get_json()
    issued_sync = utcnow()

    login(client, certified["admin"])
    assert client.post(f"/badges/v3/manage/{code}", data={"reason": "Issued in error"}).status_code == 302
    client.post("/logout")
    day = certificates.revocation_of(db.session, certificate).revoked_at.date()

    page = client.get(f"/certificates/{code}").get_data(as_text=True)
    assert "This certifies that" not in page and "This certificate was revoked" in page
    assert "Issued in error" in page and day.strftime("%d %b %Y") in page
    assertion = client.get(f"/badges/assertions/{code}.json").get_json()
    assert assertion["revoked"] is True and assertion["revocationReason"] == "Issued in error"
    assert assertion["id"].endswith(f"/badges/assertions/{code}.json")
    login(client, learner)
    mine = client.get("/certificates").get_data(as_text=True)
    assert "was revoked on" in mine and "Issued in error" in mine and "View and print your certificate" not in mine
    for path, token in ((f"/api/v1/cohorts/{cohort_id}/certificates", org_token), ("/api/v1/me/certificates", own_token)):
        [item] = listed(path, token)
        assert item["revoked"] is True and item["revocation_reason"] == "Issued in error"
        assert item["revoked_at"] is not None and item["updated_at"] == item["revoked_at"]
        # a sync since the certificate was issued learns of its revocation
        [synced] = listed(path, token, updated_since=issued_sync.isoformat())
        assert synced["id"] == certificate.id and synced["revoked"] is True


def test_the_learner_downloads_it_from_the_certificate_page(certified: dict[str, Any], client: Any) -> None:
    page = client.get(f"/certificates/{certified['code']}")
    assert f"/badges/v3/credentials/{certified['code']}.jwt".encode() in page.data
    assert client.get("/badges/v3/credentials/nope.jwt").status_code == 404
    assert client.get("/badges/v3/verify").status_code == 200
