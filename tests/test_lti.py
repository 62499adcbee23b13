"""LTI 1.3 Advantage tool against a real platform on 127.0.0.1 (``tests/lti_platform.py``):
registration, launches (account matching, enrolment, landing), deep linking, grade
passback with retries and regrades, roster sync, and every refusal of a bad launch."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from lms.accounts.models import SignInDevice, User
from lms.accounts.services import create_user
from lms.assessment.models import Response
from lms.assessment.services import grade_essay
from lms.audit.models import AuditAction, AuditEntry
from lms.cohorts.enrolment import is_learner_of
from lms.cohorts.invitations import invite_learner
from lms.cohorts.models import Enrolment
from lms.coursework.models import Assignment
from lms.database import utcnow, zone_named
from lms.extensions import db
from lms.grading.models import GradeAction
from lms.lti import keys, services
from lms.lti.grades import send_pending
from lms.lti.models import LtiAccount, LtiContext, LtiPlatform, LtiScore, ScoreStatus
from lms.lti.roster import sync as roster_sync
from lms.privacy.kinds import LtiLinks
from lms.privacy.services import erase_learner
from lms.progress.models import ProgressLearner
from tests.conftest import PASSWORD
from tests.lti_platform import CLIENT_ID, CONTEXT_ID, DEPLOYMENT_ID, INSTRUCTOR, LEARNER, Platform, path_of, serve
from tests.redis_db import redis_database
from tests.test_api import essay_attempt
from tests.test_api_teams import KEY as TEAM_KEY
from tests.test_api_teams import adjust, grade, hand_in, readjust

CUSTOM = "https://purl.imsglobal.org/spec/lti/claim/custom"
TARGET_LINK = "https://purl.imsglobal.org/spec/lti/claim/target_link_uri"


@pytest.fixture(scope="session")
def _platform() -> Iterator[Platform]:
    yield from serve()


@pytest.fixture()
def platform(_platform: Platform) -> Iterator[Platform]:
    _platform.reset()
    yield _platform
    _platform.reset()


@pytest.fixture(scope="session")
def tool_pem() -> str:
    """One tool key for the module's tests (generating RSA keys is slow)."""
    return RSAKey.generate_key(2048, private=True).as_pem(private=True).decode()


def register(app: Any, platform: Platform, cohort: Any, pem: str) -> LtiPlatform:
    keys.store_tool_key(db.session, app.config["SECRET_KEY"], pem)
    registered = services.save_platform(db.session, None, services.PlatformSettings(
        name="Test Moodle", issuer=platform.issuer, client_id=CLIENT_ID, auth_login_url=f"{platform.issuer}/auth",
        auth_token_url=f"{platform.issuer}/token", key_set_url=f"{platform.issuer}/jwks", deployment_ids=[DEPLOYMENT_ID]),
        revision=None, secret_key=app.config["SECRET_KEY"], allow_local=True)
    services.map_context(db.session, registered, CONTEXT_ID, cohort, "Operations 101")
    db.session.commit()
    return registered


@pytest.fixture()
def lti(app: Any, client: Any, loaded: Any, world: Any, platform: Platform, tool_pem: str) -> Platform:
    register(app, platform, world.cohort_a, tool_pem)
    platform.tool_jwks = client.get("/lti/jwks").get_json()
    return platform


def launch(client: Any, platform: Platform, login_args: dict[str, str] | None = None) -> Any:
    """The platform's login initiation, its authorization answer, and the launch POST."""
    args = {"iss": platform.issuer, "login_hint": "hint", "client_id": CLIENT_ID, "lti_deployment_id": DEPLOYMENT_ID,
            "target_link_uri": "http://localhost/lti/launch"} | (login_args or {})
    started = client.post("/lti/login", data=args)
    assert started.status_code == 302, started.get_data(as_text=True)
    answer = requests.get(started.location, timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return client.post(path_of(body["redirect_uri"]), data={"id_token": body["id_token"], "state": body["state"]})


def refused(response: Any, status: int, words: str) -> None:
    text = response.get_data(as_text=True)
    assert response.status_code == status, text
    assert words in text, text


def test_a_site_admin_registers_a_platform_maps_a_course_and_reads_the_urls_to_paste(app, client, world, login, platform) -> None:
    login(client, world.admin)
    form = {"name": "Acme Moodle", "issuer": platform.issuer, "client_id": CLIENT_ID, "deployment_ids": "d1 d2",
            "auth_login_url": f"{platform.issuer}/auth", "auth_token_url": f"{platform.issuer}/token",
            "key_set_url": "ftp://nowhere", "trust_emails": "y"}
    refused(client.post("/admin/lti", data=form), 400, "public keyset (JWKS) URL must be an https:// address")
    done = client.post("/admin/lti", data=form | {"key_set_url": f"{platform.issuer}/jwks"})
    assert done.status_code == 302
    registered = db.session.scalar(select(LtiPlatform))
    assert registered is not None and sorted(d.deployment_id for d in registered.deployments) == ["d1", "d2"]
    refused(client.post("/admin/lti", data=form | {"key_set_url": f"{platform.issuer}/jwks"}), 400, "already registered")
    keys = client.get("/lti/jwks").get_json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and "d" not in keys[0]
    page = client.get("/admin/lti/configuration").get_data(as_text=True)
    for url in ("http://localhost/lti/login", "http://localhost/lti/launch", "http://localhost/lti/jwks", keys[0]["kid"]):
        assert url in page
    mapped = client.post(f"/admin/lti/platforms/{registered.id}/contexts",
                         data={"context-context_id": "course-9", "context-title": "Ops", "context-cohort_id": world.cohort_a.id})
    assert mapped.status_code == 302
    assert db.session.scalar(select(LtiContext.cohort_id).where(LtiContext.context_id == "course-9")) == world.cohort_a.id
    edit = client.get(f"/admin/lti/platforms/{registered.id}").get_data(as_text=True)
    assert "course-9" in edit and world.cohort_a.name in edit
    saved = client.post(f"/admin/lti/platforms/{registered.id}", data=form | {"key_set_url": f"{platform.issuer}/jwks",
                                                                              "deployment_ids": "d2", "revision": "0"})
    refused(saved, 409, "Someone else changed")
    # Behind TLS (production) the login's state and nonce cookies cross sites: SameSite=None; Secure.
    app.config["SESSION_COOKIE_SECURE"] = True
    started = app.test_client().get("/lti/login", query_string={"iss": platform.issuer, "login_hint": "h", "client_id": CLIENT_ID})
    assert started.status_code == 302 and started.location.startswith(f"{platform.issuer}/auth?")
    cookies = started.headers.getlist("Set-Cookie")
    assert len(cookies) == 2 and all("SameSite=None" in c and "Secure" in c and "HttpOnly" in c for c in cookies), cookies


def test_a_learner_launches_into_the_quiz_enrolled_in_the_mapped_cohort_and_comes_back_by_sub(app, client, lti) -> None:
    app.config["WTF_CSRF_ENABLED"] = True  # the login and the launch are exempt: the platform's pages post them
    lti.person("moodle-17", "Lena@School.example", name="Lena Learner", **{CUSTOM: {"target": "quiz:mlops-quiz"}})
    landed = launch(client, lti)
    assert landed.status_code == 302 and landed.location.endswith("/quizzes/mlops-quiz"), landed.get_data(as_text=True)
    user = db.session.scalar(select(User).where(User.email == "lena@school.example"))
    assert user is not None and user.name == "Lena Learner" and user.password_hash is None
    cohort_id = db.session.scalar(select(LtiContext.cohort_id))
    assert is_learner_of(db.session, cohort_id, user.id)
    assert client.get("/quizzes/mlops-quiz").status_code == 200  # signed in
    assert client.post("/lti/deep-link", data={}).status_code == 400  # other forms keep their CSRF check
    # Later launches find the account by the platform's user id, even with another address there.
    lti.person("moodle-17", "lena.new@school.example", resource_link_id="link-2",
               **{TARGET_LINK: "http://localhost/lessons/cs-predictive-insights"})
    again = launch(client, lti)
    assert again.location.endswith("/lessons/cs-predictive-insights")
    assert db.session.scalar(select(func.count()).select_from(User).where(User.email.like("lena%"))) == 1


def test_a_platform_name_without_a_letter_gives_way_to_the_address(app, client, lti) -> None:
    for sub, email, name in [("moodle-18", "lena@school.example", "\u200b\u202e"), ("moodle-19", "leo@school.example", "Leo\u200b\tLearner")]:
        lti.person(sub, email, name=name)
        assert launch(client, lti).status_code == 302
        client.post("/logout")
    names = db.session.scalars(select(User.name).where(User.email.like("%@school.example")).order_by(User.email))
    assert list(names) == ["lena", "Leo Learner"]


@pytest.fixture()
def colleague(world: Any, make_user: Any) -> Any:
    """An instructor of the mapped cohort's organization (of its other cohort, Alpha 2): a
    platform launching into Alpha 1 may link them by email."""
    user = make_user(name="Colleague A2")
    world.cohort_a2.instructors.append(user)
    db.session.commit()
    return user


def test_accounts_made_by_a_launch_or_the_roster_start_on_the_mapped_cohorts_zone(app, client, lti, world,
                                                                                    colleague) -> None:
    world.cohort_a.timezone = "Asia/Kolkata"
    db.session.commit()
    lti.members = [{"user_id": "m-9", "email": "rita@school.example", "name": "Rita Roster", "roles": [LEARNER],
                    "status": "Active"}]
    lti.person("moodle-20", "lena@school.example", name="Lena Learner")
    assert launch(client, lti).status_code == 302
    client.post("/logout")
    lti.person("moodle-21", colleague.email, role=INSTRUCTOR)  # found by email: keeps its own zone
    assert launch(client, lti).status_code == 302
    db.session.expire_all()
    zones = {email: zone for email, zone in db.session.execute(select(User.email, User.timezone).where(
        User.email.in_(["lena@school.example", "rita@school.example", colleague.email])))}
    assert zones == {"lena@school.example": "Asia/Kolkata", "rita@school.example": "Asia/Kolkata",
                     colleague.email: "UTC"}


def test_an_instructor_is_linked_by_email_joins_the_instructors_and_the_roster_is_synced(client, lti, world,
                                                                                        colleague) -> None:
    lti.members = [
        {"user_id": "m-1", "email": world.learner_a2.email, "name": "Moved?", "roles": [LEARNER], "status": "Active"},
        {"user_id": "m-2", "email": "new.one@school.example", "name": "New One", "roles": ["Learner"], "status": "Active"},
        {"user_id": "m-3", "email": "gone@school.example", "name": "Gone", "roles": [LEARNER], "status": "Inactive"},
        {"user_id": "m-4", "name": "No Mail", "roles": [LEARNER], "status": "Active"},
        {"user_id": "teach-1", "email": colleague.email, "roles": [INSTRUCTOR], "status": "Active"},
    ]
    lti.person("teach-1", colleague.email, role=INSTRUCTOR, name="Ivy")
    landed = launch(client, lti)
    assert landed.status_code == 302 and landed.location.endswith("/home")
    db.session.expire_all()
    cohort = db.session.get(type(world.cohort_a), world.cohort_a.id)
    assert colleague.id in [i.id for i in cohort.instructors]
    assert db.session.scalar(select(LtiAccount.user_id).where(LtiAccount.subject == "teach-1")) == colleague.id
    new_one = db.session.scalar(select(User).where(User.email == "new.one@school.example"))
    assert new_one is not None and is_learner_of(db.session, cohort.id, new_one.id)
    assert db.session.scalar(select(User).where(User.email == "gone@school.example")) is None
    assert not is_learner_of(db.session, cohort.id, world.learner_a2.id)  # enrolled elsewhere: skipped, not moved
    # On demand, from the platform's page: the same roster again changes nothing and says so.
    client.post("/logout")
    client.post("/login", data={"email": world.admin.email, "password": PASSWORD})
    context = db.session.scalar(select(LtiContext))
    synced = client.post(f"/admin/lti/contexts/{context.id}/roster", follow_redirects=True)
    text = synced.get_data(as_text=True)
    assert "5 members read: 0 learners and 0 instructors added" in text and "No Mail" in text
    # when, in the admin's own time zone (as every time shown)
    when = re.search(r"synced (\d{2} \w{3} \d{4}, \d{2}:\d{2} \S+)</td>", text)
    at = db.session.get_one(LtiContext, context.id).roster_synced_at.astimezone(zone_named(world.admin.timezone))
    assert when is not None and when.group(1) == at.strftime("%d %b %Y, %H:%M ") + (at.tzname() or "")


def test_an_instructor_joining_by_a_launch_moves_the_cohort_revision_on_so_an_older_edit_form_is_refused(
        app, client, lti, world, login, colleague) -> None:
    """As an accepted invitation does: an edit form opened before the launch (which does not
    list the new instructor) was saved over them, dropping them without a word."""
    admin = app.test_client()
    login(admin, world.org_admin_a)
    url = f"/cohorts/{world.cohort_a.id}/edit"
    assert 'name="revision" type="hidden" value="0"' in admin.get(url).get_data(as_text=True)
    lti.person("teach-1", colleague.email, role=INSTRUCTOR, name="Ivy")
    assert launch(client, lti).status_code == 302
    stale = admin.post(url, data={"name": world.cohort_a.name, "start_date": world.cohort_a.start_date.isoformat(),
                                  "timezone": world.cohort_a.timezone, "instructors": world.instructor_a.email,
                                  "revision": 0})
    refused(stale, 409, "someone else changed this cohort since you opened the form")
    db.session.expire_all()
    cohort = db.session.get_one(type(world.cohort_a), world.cohort_a.id)
    assert cohort.revision == 1
    assert sorted(i.id for i in cohort.instructors) == sorted([world.instructor_a.id, colleague.id])
    # A launch by someone already teaching it changes nothing, the revision included.
    client.post("/logout")
    assert launch(client, lti).status_code == 302
    db.session.expire_all()
    assert db.session.get_one(type(world.cohort_a), world.cohort_a.id).revision == 1


def test_a_platform_vouches_only_for_its_own_organizations_accounts(client, lti, world) -> None:
    """A trusted platform's email once linked any account: a launch into Alpha 1 carrying the
    address of Beta's instructor signed in as them. Now, as single sign-on does, an account
    found by email is linked only when it belongs to the mapped cohort's organization or holds
    its open invitation; launches and the roster sync both refuse the others."""
    lti.person("intruder-1", world.instructor_b.email, role=INSTRUCTOR, name="Not Ivy")
    refused(launch(client, lti), 409, "belongs to another organization")
    client.post("/logout")
    lti.person("intruder-2", world.learner_b.email, name="Not Bea")
    refused(launch(client, lti), 409, "belongs to another organization")
    client.post("/logout")
    lti.person("outside-1", world.nobody.email, name="Nobody")  # in no organization, not invited: refused too
    refused(launch(client, lti), 409, "does not belong to the organization this course is part of")
    client.post("/logout")
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(LtiAccount)) == 0
    cohort = db.session.get_one(type(world.cohort_a), world.cohort_a.id)
    assert world.instructor_b.id not in [i.id for i in cohort.instructors]
    assert not is_learner_of(db.session, cohort.id, world.learner_b.id)
    # Once Alpha invites the account outside every organization, the platform may link it.
    invite_learner(db.session, world.cohort_a, world.nobody.email, "", world.org_admin_a, lambda token: token)
    db.session.commit()
    assert launch(client, lti).status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(LtiAccount.user_id).where(LtiAccount.subject == "outside-1")) == world.nobody.id
    # The roster sync skips another organization's instructor with the same words.
    client.post("/logout")
    lti.members = [{"user_id": "intruder-1", "email": world.instructor_b.email, "name": "Not Ivy", "roles": [INSTRUCTOR],
                    "status": "Active"}]
    context = db.session.scalar(select(LtiContext))
    client.post("/login", data={"email": world.admin.email, "password": PASSWORD})
    synced = client.post(f"/admin/lti/contexts/{context.id}/roster", follow_redirects=True).get_data(as_text=True)
    assert "1 skipped" in synced and "belongs to another organization" in synced
    db.session.expire_all()
    assert world.instructor_b.id not in [i.id for i in db.session.get_one(type(world.cohort_a), world.cohort_a.id).instructors]


def test_an_instructor_launching_as_a_learner_is_not_enrolled_in_the_cohort_they_teach(client, lti, world) -> None:
    """Invitations and the CSV import refuse a cohort's instructor as its learner; a launch
    with the learner's role did not: it is refused with the same words, and nothing joined."""
    lti.person("teach-2", world.instructor_a.email, name="Ida")  # the mapped cohort A's instructor, as a learner
    refused(launch(client, lti), 409, "an instructor of this cohort, who cannot also be one of its learners")
    db.session.expire_all()
    assert not is_learner_of(db.session, world.cohort_a.id, world.instructor_a.id)


def test_deep_linking_returns_a_signed_answer_with_line_items(client, lti) -> None:
    lti.person("teach-2", "ted@school.example", role=INSTRUCTOR, name="Ted", message_type="LtiDeepLinkingRequest")
    started = launch(client, lti)
    assert started.status_code == 302 and started.location.endswith("/lti/deep-link")
    picker = client.get("/lti/deep-link")
    assert picker.status_code == 200 and 'value="quiz:mlops-quiz"' in picker.get_data(as_text=True)
    assert client.post("/lti/deep-link", data={}).status_code == 400
    answer = client.post("/lti/deep-link", data=MultiDict([("items", "quiz:mlops-quiz"), ("items", "module:mlops")]))
    assert answer.status_code == 200
    assert f"form-action 'self' {lti.issuer}" in answer.headers["Content-Security-Policy"]
    page = answer.get_data(as_text=True)
    assert f'action="{lti.issuer}/deep-link-return"' in page
    token = page.split('name="JWT" value="')[1].split('"')[0]
    claims = jwt.decode(token, KeySet.import_key_set(lti.tool_jwks)).claims
    assert claims["iss"] == CLIENT_ID and claims["aud"] == [lti.issuer]
    assert claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] == "LtiDeepLinkingResponse"
    assert claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] == "opaque-data"
    items = claims["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
    assert [i["custom"]["target"] for i in items] == ["quiz:mlops-quiz", "module:mlops"]
    assert items[0]["lineItem"]["resourceId"] == "quiz:mlops-quiz" and "lineItem" not in items[1]
    assert all(i["type"] == "ltiResourceLink" and i["url"] == "http://localhost/lti/launch" for i in items)
    assert client.get("/lti/deep-link").status_code == 400  # answered once
    lti.person("lea-1", "lea@school.example", message_type="LtiDeepLinkingRequest")
    refused(launch(client, lti), 403, "Only instructors")
    # a return address that is not a web address never reaches a form's action
    lti.person("teach-2", "ted@school.example", role=INSTRUCTOR, name="Ted", message_type="LtiDeepLinkingRequest", **{
        "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings": {
            "deep_link_return_url": "javascript:alert(1)", "accept_types": ["ltiResourceLink"],
            "accept_presentation_document_targets": ["window"]}})
    refused(launch(client, lti), 400, "not a web address")


def test_quiz_scores_go_back_with_retries_and_regrades_update_them(app, client, lti, world) -> None:
    app.config.update(LTI_RETRY_FIRST=0)
    item = lti.add_line_item({"label": "MLOps quiz", "scoreMaximum": 100, "resourceId": "quiz:mlops-quiz"})
    lti.person("moodle-5", "sam@school.example", lineitem=item["id"], **{CUSTOM: {"target": "quiz:mlops-quiz"}})
    assert launch(client, lti).status_code == 302
    user = db.session.scalar(select(User).where(User.email == "sam@school.example"))
    essay = essay_attempt(user, world.cohort_a)
    lti.fail_scores = 1
    grade_essay(db.session, essay, 5, "Good.", world.instructor_a, utcnow())
    db.session.commit()
    score = db.session.scalar(select(LtiScore))
    assert score is not None and score.status is ScoreStatus.PENDING and score.target == "quiz:mlops-quiz"
    first = send_pending(db.session, app.config)
    assert (first.sent, first.failed) == (0, 1) and lti.scores == []
    db.session.expire_all()
    assert "503" in db.session.scalar(select(LtiScore.last_error))
    result = app.test_cli_runner().invoke(args=["lms", "lti-sync"])
    assert "Sent 1 score" in result.output, result.output
    assert len(lti.scores) == 1 and lti.scores[0]["userId"] == "moodle-5" and lti.scores[0]["scoreMaximum"] == 100
    assert lti.scores[0]["gradingProgress"] == "FullyGraded" and lti.scores[0]["lineitem"] == 1
    given = lti.scores[0]["scoreGiven"]
    # A regrade rewrites the same row, and the platform gets the new score.
    grade_essay(db.session, db.session.get(Response, essay.id), 0, "Thin after all.", world.instructor_a, utcnow())
    db.session.commit()
    assert send_pending(db.session, app.config).sent == 1
    assert len(lti.scores) == 2 and lti.scores[1]["scoreGiven"] < given
    assert db.session.scalar(select(func.count()).select_from(LtiScore)) == 1
    # Data rights: the link and the grades sent are in the learner's export; erasure deletes them.
    [exported] = LtiLinks().export(db.session, user)
    assert exported["platform_user_id"] == "moodle-5" and len(exported["grades_sent"]) == 1
    erase_learner(db.session, user, user.email, actor_id=world.admin.id, ip=None, now=utcnow())
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(LtiAccount)) == 0
    assert db.session.scalar(select(func.count()).select_from(LtiScore)) == 0


def test_a_team_grade_goes_back_for_each_member_with_their_adjusted_score(app, client, loaded, world, platform,
                                                                          tool_pem, make_cohort) -> None:
    """A team's work is every member's: its released grade goes back to the platform for
    each of them, each with their own adjusted score (as the exports and the API give it),
    not once for the member who handed it in with the team's score."""
    cohort = make_cohort(world.org_a, "Founders", months_ago=9, instructors=[world.instructor_a])
    register(app, platform, cohort, tool_pem)
    platform.tool_jwks = client.get("/lti/jwks").get_json()
    members = []
    for sub, email in (("moodle-21", "ada@school.example"), ("moodle-22", "bo@school.example")):
        platform.person(sub, email, **{CUSTOM: {"target": f"assignment:{TEAM_KEY}"}})
        assert launch(client, platform).status_code == 302
        client.post("/logout")
        members.append(db.session.scalar(select(User).where(User.email == email)))
    assignment = db.session.scalar(select(Assignment).where(Assignment.key == TEAM_KEY))
    team = hand_in(app, cohort, assignment, "Northwind", members)
    drafted = grade(team, world.instructor_a, GradeAction.DRAFT)
    adjust(team, world.instructor_a, members[1], -3)
    released = grade(team, world.instructor_a, GradeAction.RELEASE)
    assert released.score is not None and drafted.id == released.id
    sent = dict(db.session.execute(select(LtiAccount.user_id, LtiScore.score_given)
                                   .join(LtiAccount, LtiAccount.id == LtiScore.lti_account_id)
                                   .where(LtiScore.target == f"assignment:{TEAM_KEY}")).all())
    assert sent == {members[0].id: round(100 * released.score / released.max_score, 2),
                    members[1].id: round(100 * (released.score - 3) / released.max_score, 2)}
    readjust(team, world.instructor_a, members[1], -5)  # after the release: the platform gets the new score
    db.session.expire_all()
    assert db.session.scalar(select(LtiScore.score_given).join(LtiAccount, LtiAccount.id == LtiScore.lti_account_id)
                             .where(LtiAccount.user_id == members[1].id)) == round(100 * (released.score - 5) / released.max_score, 2)


def test_a_score_without_a_placed_line_item_creates_one_and_is_sent_after_the_commit(app, client, lti, world) -> None:
    lti.person("moodle-6", "ann@school.example", **{CUSTOM: {"target": "quiz:mlops-quiz"}})  # placed by hand, no line item
    assert launch(client, lti).status_code == 302
    user = db.session.scalar(select(User).where(User.email == "ann@school.example"))
    essay = essay_attempt(user, world.cohort_a)
    other = app.test_client()
    other.post("/login", data={"email": world.instructor_a.email, "password": PASSWORD})
    graded = other.post(f"/cohorts/{world.cohort_a.id}/responses/{essay.id}/grade", data={"points": "3", "comment": "ok"})
    assert graded.status_code in (302, 303), graded.get_data(as_text=True)
    assert [i["resourceId"] for i in lti.line_items.values()] == ["quiz:mlops-quiz"]
    assert len(lti.scores) == 1 and lti.scores[0]["userId"] == "moodle-6"
    assert db.session.scalar(select(LtiScore.status)) is ScoreStatus.SENT


REDIS_TEST_URL = "redis://127.0.0.1:6379/15"  # this feature's Redis database


@pytest.fixture()
def redis_db() -> Iterator[str]:
    yield from redis_database(REDIS_TEST_URL)


def test_with_redis_scores_go_through_the_rq_queue(app, client, lti, world, redis_db) -> None:
    lti.person("moodle-7", "rq@school.example", **{CUSTOM: {"target": "quiz:mlops-quiz"}})
    assert launch(client, lti).status_code == 302
    user = db.session.scalar(select(User).where(User.email == "rq@school.example"))
    essay = essay_attempt(user, world.cohort_a)
    app.config["REDIS_URL"] = redis_db
    try:
        other = app.test_client()
        other.post("/login", data={"email": world.instructor_a.email, "password": PASSWORD})
        graded = other.post(f"/cohorts/{world.cohort_a.id}/responses/{essay.id}/grade", data={"points": "4", "comment": "ok"})
        assert graded.status_code in (302, 303)
        assert lti.scores == [] and db.session.scalar(select(LtiScore.status)) is ScoreStatus.PENDING  # queued, not sent
        result = app.test_cli_runner().invoke(args=["lms", "lti-sync", "--worker", "--burst"])
        assert result.exit_code == 0, result.output
    finally:
        app.config["REDIS_URL"] = ""
        app.extensions.pop("lms.mail.redis", None)
    assert len(lti.scores) == 1 and lti.scores[0]["userId"] == "moodle-7"
    db.session.expire_all()
    assert db.session.scalar(select(LtiScore.status)) is ScoreStatus.SENT


CASES = ["forged", "expired", "replayed", "deployment", "audience", "no-state", "unmapped", "unregistered", "no-email", "role",
         "garbage"]


def test_bad_launches_are_refused_with_a_page_that_says_why(app, lti) -> None:
    """Each case in a browser of its own; nothing is created by a refused launch."""
    for case in CASES:
        client = app.test_client()
        lti.person(f"sub-{case}", f"{case}@school.example")
        lti.tamper, lti.signing_key = {}, None
        if case == "forged":
            lti.signing_key = RSAKey.generate_key(2048, parameters={"kid": "platform-key"}, private=True)
            refused(launch(client, lti), 401, "signature does not verify")
        elif case == "expired":
            lti.tamper = {"exp": 1_000_000, "iat": 999_000}
            refused(launch(client, lti), 401, "has expired")
        elif case == "replayed":
            assert launch(client, lti).status_code == 302
            state = next(c.key for c in client._cookies.values() if c.key.startswith("lti1p3-state-"))
            body = {"id_token": lti.last_id_token, "state": state.removeprefix("lti1p3-")}
            refused(client.post("/lti/launch", data=body), 409, "already used")
        elif case == "deployment":
            lti.tamper = {"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "someone-elses"}
            refused(launch(client, lti), 403, "deployment of the tool is not registered")
        elif case == "audience":
            lti.tamper = {"aud": [CLIENT_ID, "another-tool"]}
            refused(launch(client, lti), 403, "several audiences")
        elif case == "no-state":
            started = client.post("/lti/login", data={"iss": lti.issuer, "login_hint": "h", "client_id": CLIENT_ID})
            body = requests.get(started.location, timeout=10).json()
            refused(app.test_client().post("/lti/launch", data={"id_token": body["id_token"], "state": body["state"]}),
                    400, "not started in this browser")
        elif case == "unmapped":
            lti.tamper = {"https://purl.imsglobal.org/spec/lti/claim/context": {"id": "course-x", "title": "Elsewhere"}}
            refused(launch(client, lti), 409, "is not linked to a cohort yet")
        elif case == "unregistered":
            refused(client.post("/lti/login", data={"iss": "https://other.example", "login_hint": "h", "client_id": "x"}),
                    403, "No platform is registered")
        elif case == "no-email":
            lti.tamper = {"email": None}
            refused(launch(client, lti), 403, "did not share this person")
        elif case == "role":
            lti.tamper = {"https://purl.imsglobal.org/spec/lti/claim/roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"]}
            refused(launch(client, lti), 403, "Only learners and instructors")
        elif case == "garbage":
            started = client.post("/lti/login", data={"iss": lti.issuer, "login_hint": "h", "client_id": CLIENT_ID})
            state = requests.get(started.location, timeout=10).json()["state"]
            for token in ("not-a-token", "a.b.c", "eyJhbGciOiJub25lIn0.eyJub25jZSI6MX0."):
                answer = client.post("/lti/launch", data={"id_token": token, "state": state})
                assert answer.status_code == 400, (token, answer.get_data(as_text=True))
            refused(client.post("/lti/launch", data={"state": state}), 400, "carries no id_token")
        made = db.session.scalar(select(func.count()).select_from(User).where(User.email == f"{case}@school.example"))
        assert made == (1 if case == "replayed" else 0), case


def test_the_platform_page_runs_a_fixed_number_of_statements(app, client, world, login, platform, count_queries,
                                                             tool_pem) -> None:
    registered = register(app, platform, world.cohort_a, tool_pem)
    login(client, world.admin)

    def page() -> None:
        assert client.get(f"/admin/lti/platforms/{registered.id}").status_code == 200

    few = count_queries(page)
    for n in range(5):
        services.map_context(db.session, db.session.get(LtiPlatform, registered.id), f"c-{n}", world.cohort_a2)
    db.session.commit()
    assert count_queries(page) == few


def test_a_launch_repeated_from_the_same_browser_reuses_its_sign_in_device(app, client, lti) -> None:
    lti.person("moodle-17", "lena@school.example", name="Lena Learner")
    assert launch(client, lti).status_code == 302
    user = db.session.scalar(select(User).where(User.email == "lena@school.example"))
    assert user is not None

    def devices() -> list[tuple[int, bool]]:
        db.session.expire_all()
        return [(d.id, d.ended_at is None) for d in db.session.scalars(
            select(SignInDevice).where(SignInDevice.user_id == user.id).order_by(SignInDevice.id))]

    [(first, live)] = devices()
    assert live
    for _ in range(3):
        assert launch(client, lti).status_code == 302
    assert devices() == [(first, True)]  # the same device, seen again: no new row
    assert client.get("/account").status_code == 200
    # Another browser is another device; a browser signed out begins a new one.
    other = app.test_client()
    assert launch(other, lti).status_code == 302
    assert client.post("/logout").status_code == 302
    assert launch(client, lti).status_code == 302
    rows = devices()
    assert len(rows) == 3 and rows[0] == (first, False) and rows[1][1] and rows[2][1]
    # Someone else launching in that browser gets a device of their own.
    lti.person("moodle-18", "leo@school.example", name="Leo Learner")
    assert launch(client, lti).status_code == 302
    assert len(devices()) == 3


def test_links_made_before_the_rule_are_refused_at_launch_listed_and_removed(app, client, lti, world) -> None:
    """Until the rule held, a launch linked any account with the platform's vouched email:
    such links (here Beta's instructor, and an account in no organization, linked to users
    of a platform launching into Alpha) still signed in. A launch through one is refused
    now; ``flask lms check-lti-links`` names them (exit status 1) and ``--unlink`` removes
    them and their queued grades, audited, keeping the accounts. A proper link is untouched."""
    lti.person("moodle-30", "lena@school.example", name="Lena Learner")
    assert launch(client, lti).status_code == 302  # a proper link: a new account of Alpha's cohort
    client.post("/logout")
    registered = db.session.scalar(select(LtiPlatform))
    context = db.session.scalar(select(LtiContext))
    for subject, user in (("old-1", world.instructor_b), ("old-2", world.nobody)):
        db.session.add(LtiAccount(platform_id=registered.id, subject=subject, user_id=user.id, created_at=utcnow()))
    db.session.flush()
    old = db.session.scalar(select(LtiAccount).where(LtiAccount.subject == "old-1"))
    db.session.add(LtiScore(lti_context_id=context.id, lti_account_id=old.id, target="quiz:mlops-quiz", label="Quiz",
                            score_given=1, score_maximum=2, scored_at=utcnow()))
    db.session.commit()

    lti.person("old-1", "someone.else@school.example", role=INSTRUCTOR, name="Not Ivy")
    refused(launch(client, lti), 409, f"is linked to the account {world.instructor_b.email}, which belongs to another "
                                      "organization, so a launch into this course cannot sign in as it")
    lti.person("old-2", world.nobody.email, name="Nobody")
    refused(launch(client, lti), 409, "which does not belong to the organization this course is part of")
    db.session.expire_all()
    assert world.instructor_b.id not in [i.id for i in db.session.get_one(type(world.cohort_a), world.cohort_a.id).instructors]
    lti.person("moodle-30", "lena@school.example", name="Lena Learner")
    assert launch(client, lti).status_code == 302
    client.post("/logout")

    runner = app.test_cli_runner()
    checked = runner.invoke(args=["lms", "check-lti-links"])
    assert checked.exit_code == 1, (checked.output, checked.exception)
    lines = checked.output.splitlines()
    assert lines[:2] == [
        f"Test Moodle: platform user 'old-1' → {world.instructor_b.email} (organization: Alpha Org): "
        "the account belongs to another organization",
        f"Test Moodle: platform user 'old-2' → {world.nobody.email} (organization: Alpha Org): "
        "the account belongs to no organization and holds no invitation of this one"]
    assert "2 links break the rule" in checked.output and "moodle-30" not in checked.output
    assert db.session.scalar(select(func.count()).select_from(LtiAccount)) == 3  # listing removes nothing

    removed = runner.invoke(args=["lms", "check-lti-links", "--unlink"])
    assert removed.exit_code == 0, removed.output
    assert "Removed 2 links; the accounts and their work are kept." in removed.output
    db.session.expire_all()
    assert list(db.session.scalars(select(LtiAccount.subject))) == ["moodle-30"]
    assert db.session.scalar(select(func.count()).select_from(LtiScore)) == 0
    assert {u.id for u in db.session.scalars(select(User).where(User.id.in_([world.instructor_b.id, world.nobody.id])))} == {
        world.instructor_b.id, world.nobody.id}
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.LTI_LINK_REMOVED)
                                 .order_by(AuditEntry.id)).all()
    assert [(e.target, e.organization_id, e.before["platform_user_id"], e.after) for e in entries] == [
        (f"user:{world.instructor_b.id}", world.org_a.id, "old-1", None), (f"user:{world.nobody.id}", world.org_a.id, "old-2", None)]
    again = runner.invoke(args=["lms", "check-lti-links"])
    assert again.exit_code == 0 and "No LTI link breaks the rule" in again.output
    # Unlinked, the platform's user is matched by the rule: Beta's instructor is still refused.
    lti.person("old-1", world.instructor_b.email, role=INSTRUCTOR, name="Not Ivy")
    refused(launch(client, lti), 409, "belongs to another organization")


def test_a_link_checked_again_at_launch_lets_a_member_of_the_organization_in(client, lti, world, colleague) -> None:
    """A link to an account of the mapped cohort's organization (an instructor of its other
    cohort), or to one in no organization that the organization has invited, signs in."""
    registered = db.session.scalar(select(LtiPlatform))
    db.session.add(LtiAccount(platform_id=registered.id, subject="old-3", user_id=colleague.id, created_at=utcnow()))
    db.session.add(LtiAccount(platform_id=registered.id, subject="old-4", user_id=world.nobody.id, created_at=utcnow()))
    invite_learner(db.session, world.cohort_a, world.nobody.email, "", world.org_admin_a, lambda token: token)
    db.session.commit()
    lti.person("old-3", colleague.email, role=INSTRUCTOR, name="Ivy")
    assert launch(client, lti).status_code == 302
    client.post("/logout")
    lti.person("old-4", world.nobody.email, name="Nobody")
    assert launch(client, lti).status_code == 302
    db.session.expire_all()
    assert colleague.id in [i.id for i in db.session.get_one(type(world.cohort_a), world.cohort_a.id).instructors]
    assert is_learner_of(db.session, world.cohort_a.id, world.nobody.id)


def test_the_roster_sync_runs_a_fixed_number_of_statements_whatever_its_size(app, lti, world, count_queries) -> None:
    """Each roster holds, in equal numbers: new learners and new instructors (accounts made),
    former learners of Alpha found by email (enrolled), members linked before who already
    learn in the cohort (passed over), Beta's learners (refused: another organization) and
    learners of Alpha 2 (refused: enrolled elsewhere). 6 or 60 members: the same statements."""
    context = db.session.scalar(select(LtiContext))
    context.memberships_url = f"{lti.issuer}/memberships"
    lti.tool_jwks = app.test_client().get("/lti/jwks").get_json()
    since = utcnow()

    def roster(size: int, tag: str) -> list[dict[str, Any]]:
        members = []
        for n in range(size):
            kind, sub, email = n % 6, f"{tag}-{n}", f"{tag}-{n}@school.example"
            role = INSTRUCTOR if kind == 1 else LEARNER
            if kind >= 2:
                user = create_user(db.session, email, f"Person {tag} {n}")
                cohort = {2: world.cohort_a2, 3: world.cohort_a, 4: world.cohort_b, 5: world.cohort_a2}[kind]
                db.session.add(Enrolment(cohort=cohort, user=user, started_at=since,
                                         ended_at=since if kind == 2 else None))
                if kind == 3:
                    db.session.add(LtiAccount(platform_id=context.platform_id, subject=sub, user=user, created_at=since))
            members.append({"user_id": sub, "email": email, "name": f"Member {n}", "roles": [role], "status": "Active"})
        db.session.commit()
        return members

    counts, results = [], []
    for size, tag in ((6, "few"), (60, "many")):
        lti.members = roster(size, tag)
        found = db.session.get_one(LtiContext, context.id)
        counts.append(count_queries(lambda found=found: results.append(
            roster_sync(db.session, found, app.config["SECRET_KEY"], utcnow()))))
        db.session.commit()
    few, many = results
    assert (few.added_learners, few.added_instructors, len(few.skipped)) == (2, 1, 2)
    assert (many.added_learners, many.added_instructors, len(many.skipped)) == (20, 10, 20)
    assert sum("belongs to another organization" in s for s in many.skipped) == 10
    assert sum("is already enrolled in Alpha 2" in s for s in many.skipped) == 10
    db.session.expire_all()
    made = db.session.scalars(select(User).where(User.email.like("many-%"), User.id.in_(
        select(Enrolment.user_id).where(Enrolment.cohort_id == world.cohort_a.id, Enrolment.active)))).all()
    assert len(made) == 30  # 10 new, 10 found by email, 10 learning there already
    # The bulk INSERT of enrolments is noted as the ORM's would be: the new learners' schedules are kept.
    kept = set(db.session.scalars(select(ProgressLearner.user_id).where(ProgressLearner.cohort_id == world.cohort_a.id)))
    assert {u.id for u in made} <= kept
    assert counts[0] == counts[1], counts
