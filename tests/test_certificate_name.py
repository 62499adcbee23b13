"""A certificate names the learner as they were named when it was issued: a rename
afterwards changes none of the places that show the certificate (its public page, revoked
or not; its Open Badges 3.0 credential, signed or not, and the verification of it; the
admin's page and notice), and erasing the learner still leaves their name on none of them."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from lms.accounts.models import User
from lms.api.tokens import create_token
from lms.certificates import services as certificates
from lms.certificates.models import Certificate
from lms.cohorts.models import Cohort, Enrolment, Organization
from lms.database import utcnow
from lms.extensions import db
from lms.privacy.kinds import ERASED_NAME
from lms.privacy.services import erase_learner
from tests.test_certificates import complete

ISSUED = "Ada Lovelace"
RENAMED = "Ada King"


@pytest.fixture()
def certified(app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user) -> dict[str, Any]:
    admin = make_user(name="Olivia Org")
    org = make_org("Acme", admins=[admin])
    cohort = make_cohort(org, "Acme 1", months_ago=5)
    learner = enrol_learner(cohort, name=ISSUED, email="ada@example.com")
    complete(cohort, learner)
    [certificate] = certificates.issue_due(db.session, cohort, learner.id, utcnow())
    db.session.commit()
    return {"code": certificate.code, "admin": admin, "learner": learner, "org": org, "cohort": cohort}


def rename(client: Any, login: Any, learner: User, name: str) -> None:
    """The learner renames themselves on their account page, as anyone does."""
    login(client, learner)
    response = client.post("/account", data={"profile-name": name, "profile-timezone": "UTC", "profile-submit": "Save"})
    assert response.status_code == 302, response.get_data(as_text=True)
    client.post("/logout")
    db.session.expire_all()
    assert db.session.get(User, learner.id).name == name  # type: ignore[union-attr]


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def surfaces(client: Any, login: Any, certified: dict[str, Any]) -> dict[str, str]:
    """Every place that shows the certificate, as text: what nobody signed in reads, then
    what the organization's admin reads."""
    code = certified["code"]
    shown = {"public page": client.get(f"/certificates/{code}"),
             "assertion": client.get(f"/badges/assertions/{code}.json"),
             "credential": client.get(f"/badges/v3/credentials/{code}")}
    token = client.get(f"/badges/v3/credentials/{code}.jwt").get_data(as_text=True)
    shown["verify page"] = client.post("/badges/v3/verify", data={"credential": token})
    shown["verify.json"] = client.post("/badges/v3/verify.json", data=token, content_type="text/plain")
    login(client, certified["admin"])
    shown["manage page"] = client.get(f"/badges/v3/manage/{code}")
    client.post("/logout")
    assert all(r.status_code == 200 for r in shown.values()), str({k: r.status_code for k, r in shown.items()})
    texts = {k: r.get_data(as_text=True) for k, r in shown.items()}
    subject = claims_of(token)["credentialSubject"]
    texts["signed credential"] = f"{subject['name']} / {claims_of(token)['description']}"
    return texts


def test_a_learner_renamed_after_issue_keeps_the_issued_name_everywhere(certified: dict[str, Any], client: Any,
                                                                         login: Any) -> None:
    rename(client, login, certified["learner"], RENAMED)
    texts = surfaces(client, login, certified)
    for where in ("public page", "credential", "signed credential", "verify page", "manage page"):
        assert ISSUED in texts[where], where
    for where, text in texts.items():
        assert RENAMED not in text, where
    credential = json.loads(texts["credential"])
    assert credential["credentialSubject"]["name"] == ISSUED
    assert credential["description"].startswith(f"{ISSUED} completed the Foundation level")
    assert json.loads(texts["verify.json"])["valid"] is True
    # revoked, the public page still names whom it no longer certifies as issued, as does the admin's notice
    login(client, certified["admin"])
    revoked = client.post(f"/badges/v3/manage/{certified['code']}", data={"reason": "Issued in error"},
                          follow_redirects=True)
    assert revoked.status_code == 200 and f"credential of {ISSUED}" in revoked.get_data(as_text=True)
    client.post("/logout")
    page = client.get(f"/certificates/{certified['code']}").get_data(as_text=True)
    assert "This certificate was revoked" in page and f"certifies that {ISSUED} completed" in page and RENAMED not in page
    # the name at issue is the certificate's own, kept on its row
    assert db.session.scalar(select(Certificate.holder_name).where(Certificate.code == certified["code"])) == ISSUED


def test_the_api_names_nobody_on_a_certificate(certified: dict[str, Any], client: Any, login: Any) -> None:
    """The API's certificate fields carry the learner's id, never a name: a rename or an
    erasure changes nothing there."""
    learner, cohort = certified["learner"], certified["cohort"]
    org = db.session.get(Organization, db.session.get(Cohort, cohort.id).organization_id)
    token = create_token(db.session, certified["admin"], "HR", ["read:competency"], None, org).secret
    db.session.commit()
    rename(client, login, learner, RENAMED)
    answer = client.get(f"/api/v1/cohorts/{cohort.id}/certificates", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    [row] = answer.get_json()["data"]
    assert row["learner_id"] == learner.id and row["code"] == certified["code"]
    assert ISSUED not in answer.get_data(as_text=True) and RENAMED not in answer.get_data(as_text=True)


def test_an_erased_learners_certificate_names_nobody(certified: dict[str, Any], client: Any, login: Any) -> None:
    learner = certified["learner"]
    rename(client, login, learner, RENAMED)
    assert db.session.scalar(select(Enrolment).where(Enrolment.user_id == learner.id)) is not None
    erase_learner(db.session, db.session.get(User, learner.id), "ada@example.com",  # type: ignore[arg-type]
                  actor_id=None, ip=None, now=utcnow())
    db.session.commit()
    texts = surfaces(client, login, certified)
    for where in ("public page", "credential", "signed credential", "verify page", "manage page"):
        assert ERASED_NAME in texts[where], where
    for where, text in texts.items():
        assert ISSUED not in text and RENAMED not in text and "ada@example.com" not in text, where
    # the certificate stays (levels reached are statistics), still verifiable
    assert json.loads(texts["verify.json"])["valid"] is True
