"""The REST API v1 and its tokens (issue 15 points 1, 2): token pages (secret shown once,
only its hash kept, revoke, expiry, last use), bearer authentication, problem+json errors,
cursor paging with Link headers and updated_since, released grades only, invitations by
email, the per-token rate limit, the generated document and its reference page, and a
fixed number of statements per page. Access for every role is in tests/test_access.py,
the contract (schemathesis) in tests/test_api_contract.py."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from lms.accounts.models import User
from lms.api.models import ApiToken, Scope
from lms.api.paging import encode
from lms.api.tokens import create_token, hash_secret
from lms.assessment.models import Response
from lms.assessment.services import get_quiz, grade_essay, page_views, quiz_window, save_page, start_attempt, submit_attempt
from lms.catalog.models import Metric, Objective
from lms.cohorts.models import Invitation, Organization
from lms.coursework.services import dates_for, get_assignment, start_submission, submit
from lms.database import utcnow
from lms.extensions import db
from lms.grading.services import rubric_for, save_grade
from lms.kpi.models import KpiEntry
from lms.learning.services import build_schedule
from lms.progress.models import Evidence, Mastery, MasteryMethodName
from lms.web.unit_of_work import WROTE
from tests.conftest import PASSWORD, World
from tests.races import race, second_waits_for_first

ALL = [s.value for s in Scope]


def bearer(owner: Any, scopes: list[str] = ALL, organization: Any = None) -> dict[str, str]:
    secret = create_token(db.session, owner, "test", scopes, None, organization).secret
    db.session.commit()
    db.session.info.pop(WROTE, None)
    return {"Authorization": f"Bearer {secret}"}


def follow(client: Any, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every item of a list, page by page through the Link header."""
    items: list[dict[str, Any]] = []
    while url:
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200, answer.json
        items += answer.json["data"]
        link = answer.headers.get("Link")
        assert (link is None) == (answer.json["next_cursor"] is None)
        url = re.match(r'<(/api/v1/[^>]+)>; rel="next"', link).group(1) if link else ""  # a path: no BASE_URL in tests
    return items


# --------------------------------------------------------------------------- tokens


def test_a_token_is_made_only_with_the_persons_password(app: Flask, client, world: World, login) -> None:
    """A token keeps working once its maker signs out or changes their password: whoever
    held a session (a browser left signed in) made one and kept the account. The password
    is asked again, and wrong answers count like the account page's."""
    app.config["SECRET_CHECKS_PER_USER"] = "2 per minute"
    login(client, world.instructor_a)
    assert b'name="password"' in client.get("/account/api-tokens").data
    wanted = {"name": "Sync", "scopes": ["read:people"]}
    for password in ("", "not-my-password"):
        refused = client.post("/account/api-tokens", data={**wanted, "password": password})
        assert refused.status_code == 400 and b"That is not your password" in refused.data
    assert db.session.scalar(select(ApiToken)) is None
    assert client.post("/account/api-tokens", data={**wanted, "password": PASSWORD}).status_code == 429  # counted


def test_a_personal_token_is_shown_once_stored_as_a_hash_and_revoked(app: Flask, client, world: World, login) -> None:
    login(client, world.instructor_a)
    page = client.get("/account")
    assert b"/account/api-tokens" in page.data
    refused = client.post("/account/api-tokens", data={"password": PASSWORD, "name": "Sync"})
    assert refused.status_code == 400 and b"Choose at least one scope." in refused.data
    past = client.post("/account/api-tokens", data={"password": PASSWORD, "name": "Sync", "scopes": ["read:people"],
                                                    "expires_on": "2020-01-01"})
    assert past.status_code == 400 and b"The expiry must be in the future." in past.data
    far = client.post("/account/api-tokens", data={"password": PASSWORD, "name": "Sync", "scopes": ["read:people"],
                                                   "expires_on": "9999-12-31"})
    assert far.status_code == 400 and b"Choose a date between 1 January 2000 and 31 December 2099." in far.data
    made = client.post("/account/api-tokens", data={"password": PASSWORD, "name": "Sync", "scopes": ["read:people", "read:grades"],
                                                    "expires_on": (date.today() + timedelta(days=30)).isoformat()})
    assert made.status_code == 200
    secret = re.search(rb"(lms_[A-Za-z0-9_-]{40,})", made.data).group(1).decode()
    token = db.session.scalar(select(ApiToken))
    assert token.token_hash == hash_secret(secret) and secret not in str(vars(token))
    assert token.scopes == ["read:grades", "read:people"] and token.expires_at is not None and token.organization_id is None
    again = client.get("/account/api-tokens")
    assert secret.encode() not in again.data and token.prefix.encode() in again.data and b"never" in again.data

    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get(f"/api/v1/cohorts/{world.cohort_a.id}", headers=headers).status_code == 200
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).last_used_at is not None  # written after the GET, in its own unit of work
    assert client.post(f"/account/api-tokens/{token.id}/revoke", data={}).status_code == 302
    refused_call = client.get(f"/api/v1/cohorts/{world.cohort_a.id}", headers=headers)
    assert refused_call.status_code == 401 and refused_call.json["detail"] == "The token was revoked."
    assert refused_call.headers["WWW-Authenticate"].startswith("Bearer")


def test_organization_admins_make_organization_tokens(app: Flask, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    assert b"/api-tokens" in client.get(f"/organizations/{world.org_a.id}").data
    made = client.post(f"/organizations/{world.org_a.id}/api-tokens",
                       data={"password": PASSWORD, "name": "HR", "scopes": ["read:people"]})
    assert made.status_code == 200 and b"shown only this once" in made.data
    token = db.session.scalar(select(ApiToken))
    assert token.organization_id == world.org_a.id and token.user_id == world.org_admin_a.id
    # another person's token (or another organization's) cannot be revoked from here
    theirs = create_token(db.session, world.org_admin_b, "B", ["read:people"], None, world.org_b).token
    db.session.commit()
    assert client.post(f"/organizations/{world.org_a.id}/api-tokens/{theirs.id}/revoke", data={}).status_code == 404
    assert client.post(f"/account/api-tokens/{token.id}/revoke", data={}).status_code == 404
    assert client.post(f"/organizations/{world.org_a.id}/api-tokens/{token.id}/revoke", data={}).status_code == 302
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).revoked_at is not None


def test_a_refused_expiry_is_named_on_the_expiry_field(app: Flask, client, world: World, login) -> None:
    """An expiry in the past is the expiry field's problem: the message sits under it, not
    under the token's name (which was right)."""
    login(client, world.instructor_a)
    past = client.post("/account/api-tokens", data={"password": PASSWORD, "name": "Sync", "scopes": ["read:people"],
                                                    "expires_on": "2020-01-01"})
    assert past.status_code == 400
    assert re.search(rb'aria-invalid="true"[^>]*id="expires_on"', past.data)
    assert not re.search(rb'aria-invalid="true"[^>]*id="name"', past.data)


def test_the_expiry_day_is_read_in_the_makers_time_zone(app: Flask, client, world: World, login) -> None:
    """The day chosen is a day of the person's own calendar: a token made in New York to
    expire on a day stops at that day's midnight in New York (05:00 UTC in winter), so the
    list shows back the day they chose."""
    world.instructor_a.timezone = "America/New_York"
    db.session.commit()
    login(client, world.instructor_a)
    day = date(date.today().year + 1, 1, 15)
    made = client.post("/account/api-tokens", data={"password": PASSWORD, "name": "Sync", "scopes": ["read:people"],
                                                    "expires_on": day.isoformat()})
    assert made.status_code == 200
    token = db.session.scalar(select(ApiToken))
    assert token.expires_at.replace(tzinfo=None) == datetime(day.year, 1, 15, 5, 0)
    assert f"{day:%d %b %Y}, 00:00 EST".encode() in made.data
    assert b"(UTC)" not in made.data


def test_revoking_a_token_asks_first(app: Flask, client, world: World, login) -> None:
    """Revoking cannot be undone and stops whatever uses the token at once: the button opens
    a question naming the token before the form that revokes it."""
    create_token(db.session, world.org_admin_a, "HR sync", ["read:people"], None, world.org_a)
    db.session.commit()
    login(client, world.org_admin_a)
    page = client.get(f"/organizations/{world.org_a.id}/api-tokens").data.decode()
    question = re.search(r'<details class="confirm revoke-token">(.*?)</details>', page, re.S)
    assert question and "/revoke" in question.group(1) and "HR sync" in question.group(1)
    assert "cannot be undone" in question.group(1)


# --------------------------------------------------------------------------- errors


def test_errors_are_problem_documents_with_a_reason(app: Flask, client, world: World) -> None:
    headers = bearer(world.org_admin_a)
    cases = [
        (client.get("/api/v1/cohorts"), 401, "Authorization: Bearer"),
        (client.get("/api/v1/cohorts", headers={"Authorization": "Bearer nonsense"}), 401, "not an API token"),
        (client.get("/api/v1/cohorts", headers={"Authorization": "Basic abc"}), 401, "Bearer"),
        (client.get("/api/v1/no-such-thing", headers=headers), 404, "nothing at this address"),
        (client.get(f"/api/v1/cohorts/{world.cohort_b.id}", headers=headers), 404, ""),
        (client.delete(f"/api/v1/cohorts/{world.cohort_a.id}", headers=headers), 405, ""),
        (client.get("/api/v1/cohorts?limit=500", headers=headers), 422, "limit"),
        (client.get("/api/v1/cohorts?cursor=%25%25", headers=headers), 422, "cursor"),
        (client.get(f"/api/v1/cohorts/{world.cohort_a.id}/grades?updated_since=yesterday", headers=headers), 422, "updated_since"),
        # times with no UTC equivalent a date can hold (year 0, year 10000 once converted)
        (client.get(f"/api/v1/cohorts/{world.cohort_a.id}/grades", query_string={"updated_since": "0001-01-01T00:00:00+01:00"},
                    headers=headers), 422, "updated_since: Value error, the time is out of range once converted to UTC"),
        (client.get("/api/v1/me/grades", query_string={"updated_since": "9999-12-31T23:30:00-01:00"}, headers=headers),
         422, "updated_since"),
        (client.get(f"/api/v1/cohorts/{world.cohort_a.id}/grades", query_string={"cursor": encode(["0001-01-01T00:00:00+01:00", 1])},
                    headers=headers), 422, "cursor"),
        # ids no column holds (made up by hand): refused, not passed to the driver (a 500 on SQLite)
        (client.get(f"/api/v1/cohorts/{world.cohort_a.id}/learners", query_string={"cursor": encode([10**20])},
                    headers=headers), 422, "cursor"),
        (client.get(f"/api/v1/cohorts/{world.cohort_a.id}/learners", query_string={"cursor": encode([-(10**20)])},
                    headers=headers), 422, "cursor"),
        (client.get(f"/api/v1/cohorts/{world.cohort_a.id}/mastery", query_string={"cursor": encode(["2026-01-01T00:00:00", 10**20])},
                    headers=headers), 422, "cursor"),
        (client.get(f"/api/v1/cohorts/{world.cohort_a.id}/grades", query_string={"cursor": encode(["2026-01-01T00:00:00", 1, 2**63])},
                    headers=headers), 422, "cursor"),
        (client.post(f"/api/v1/cohorts/{world.cohort_a.id}/enrolments", json={"email": "not an address"}, headers=headers), 422, ""),
        (client.post(f"/api/v1/cohorts/{world.cohort_a.id}/enrolments", json={}, headers=headers), 422, "email"),
        # a body that is no JSON, or JSON not sent as JSON, is refused for what it is (not "email: Field required")
        (client.post(f"/api/v1/cohorts/{world.cohort_a.id}/enrolments", data="{bad json", content_type="application/json",
                     headers=headers), 400, "The body is not valid JSON."),
        (client.post(f"/api/v1/cohorts/{world.cohort_a.id}/enrolments", data="", content_type="application/json",
                     headers=headers), 400, "The body is not valid JSON."),
        # JSON that is valid but no object (null, a list) is told what is wrong with it, not that it is no JSON
        (client.post(f"/api/v1/cohorts/{world.cohort_a.id}/enrolments", data="null", content_type="application/json",
                     headers=headers), 422, "must be a JSON object"),
        (client.post(f"/api/v1/cohorts/{world.cohort_a.id}/enrolments", data="[]", content_type="application/json",
                     headers=headers), 422, "must be a JSON object"),
        (client.post(f"/api/v1/cohorts/{world.cohort_a.id}/enrolments", data='{"email": "a@example.com"}',
                     content_type="text/plain", headers=headers), 415, "Content-Type: application/json"),
        (client.post(f"/api/v1/cohorts/{world.cohort_a.id}/enrolments", data={"email": "a@example.com"}, headers=headers),
         415, "Content-Type: application/json"),
    ]
    # a wrong method is told which ones the address takes (RFC 9110: a 405 carries Allow), here and on the site's pages
    wrong = client.delete(f"/api/v1/cohorts/{world.cohort_a.id}/enrolments", headers=headers)
    assert wrong.status_code == 405 and set(wrong.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert "POST" in client.get("/logout").headers["Allow"]
    # OPTIONS (a CORS preflight sends no credentials) is told the methods, not refused as if the token could not see it
    for asked in ({}, headers):
        options = client.options(f"/api/v1/cohorts/{world.cohort_a.id}/enrolments", headers=asked)
        assert options.status_code == 200 and set(options.headers["Allow"].split(", ")) >= {"GET", "POST"}
        assert options.data == b""
    # a 422 names the field at fault in errors, whether the schema or the invitation found it
    url = f"/api/v1/cohorts/{world.cohort_a.id}/enrolments"
    for sent, field in (({"email": "not an address"}, "email"), ({"email": world.learner_a.email}, "email"),
                        ({"email": "a@example.com", "name": "x" * 300}, "name"), ({}, "email")):
        problem = client.post(url, json=sent, headers=headers).json
        assert problem["status"] == 422 and [e["loc"] for e in problem["errors"]] == [[field]], (sent, problem)
    for answer, status, words in cases:
        assert answer.status_code == status, (status, answer.json)
        assert answer.mimetype == "application/problem+json"
        problem = answer.json
        assert problem["status"] == status and problem["title"] and problem["detail"] and words in problem["detail"], problem


def test_each_token_has_its_rate_limit(app: Flask, client, world: World) -> None:
    app.config["API_RATE_LIMIT"] = "3/minute"
    first, second = bearer(world.org_admin_a), bearer(world.org_admin_a)
    assert [client.get("/api/v1/curriculum/levels", headers=first).status_code for _ in range(4)] == [200, 200, 200, 429]
    limited = client.get("/api/v1/curriculum/levels", headers=first)
    assert limited.mimetype == "application/problem+json" and int(limited.headers["Retry-After"]) >= 1
    assert client.get("/api/v1/curriculum/levels", headers=second).status_code == 200


# --------------------------------------------------------------------------- resources


def test_pages_follow_the_link_header_in_a_stable_order(app: Flask, client, world: World, enrol_learner) -> None:
    for _ in range(5):
        enrol_learner(world.cohort_a)
    headers = bearer(world.instructor_a)
    everyone = follow(client, f"/api/v1/cohorts/{world.cohort_a.id}/learners?limit=2", headers)
    assert len(everyone) == 6 and len({p["id"] for p in everyone}) == 6
    assert everyone == client.get(f"/api/v1/cohorts/{world.cohort_a.id}/learners?limit=200", headers=headers).json["data"]
    # the instructor of cohort A sees cohort A only; the organization admin both of organization A's cohorts
    assert [c["id"] for c in follow(client, "/api/v1/cohorts?limit=1", headers)] == [world.cohort_a.id]
    admin = bearer(world.org_admin_a)
    assert [c["id"] for c in follow(client, "/api/v1/cohorts?limit=1", admin)] == [world.cohort_a.id, world.cohort_a2.id]


def test_one_learner_is_read_by_their_id(app: Flask, client, world: World) -> None:
    """The learner the list gives, alone (as /learners/{id}/mastery beneath it); someone who is
    not a current learner of the cohort is not found there."""
    headers = bearer(world.instructor_a)
    url = f"/api/v1/cohorts/{world.cohort_a.id}/learners"
    listed = {p["id"]: p for p in client.get(url, headers=headers).json["data"]}
    one = client.get(f"{url}/{world.learner_a.id}", headers=headers)
    assert one.status_code == 200 and one.json == listed[world.learner_a.id]
    for stranger in (world.learner_b, world.instructor_a, world.nobody):
        missing = client.get(f"{url}/{stranger.id}", headers=headers)
        assert missing.status_code == 404 and missing.mimetype == "application/problem+json", stranger
    assert client.get(f"{url}/{world.learner_a.id}", headers=bearer(world.instructor_a, ["read:grades"])).status_code == 403
    assert client.get(f"/api/v1/cohorts/{world.cohort_b.id}/learners/{world.learner_b.id}", headers=headers).status_code == 404


def test_updated_since_gives_what_changed_and_pages_by_time(app: Flask, client, loaded, world: World) -> None:
    metric = db.session.scalar(select(Metric).order_by(Metric.id))
    start = utcnow() - timedelta(days=10)
    for day in range(6):
        db.session.add(KpiEntry(user_id=world.learner_a.id, metric_id=metric.id, period=date(2026, 1 + day, 1), value=day,
                                recorded_at=start + timedelta(days=day)))
    db.session.add(KpiEntry(user_id=world.learner_b.id, metric_id=metric.id, period=date(2026, 1, 1), value=9, recorded_at=start))
    db.session.commit()
    headers = bearer(world.org_admin_a)
    url = f"/api/v1/cohorts/{world.cohort_a.id}/kpi"
    assert [k["value"] for k in follow(client, url + "?limit=4", headers)] == [0, 1, 2, 3, 4, 5]
    since = (start + timedelta(days=3)).isoformat().replace("+00:00", "Z")
    assert [k["value"] for k in follow(client, f"{url}?limit=1&updated_since={since}", headers)] == [3, 4, 5]


def essay_attempt(user: Any, cohort: Any) -> Response:
    """A submitted attempt at the module quiz whose written answer waits for a grader."""
    quiz = get_quiz(db.session, "mlops-quiz")
    opening = quiz_window(db.session, quiz, cohort, user.id, utcnow()).opens_at
    attempt = start_attempt(db.session, quiz, user, opening)
    essay = next(i for i, page in enumerate(page_views(db.session, attempt)) if page.parts[0].kind == "essay")
    save_page(db.session, attempt, essay, MultiDict({f"p{essay}": "My answer."}), opening)
    submit_attempt(db.session, attempt, opening)
    db.session.commit()
    found = db.session.scalar(select(Response).where(Response.attempt_id == attempt.id, Response.score.is_(None)))
    assert found is not None
    return found


def test_a_quiz_attempt_graded_by_hand_after_its_submission_is_a_change(app: Flask, client, loaded, world: World) -> None:
    """An essay waits for a grader: the attempt is listed pending, and once graded (days
    later) ``updated_since`` gives it again with its score, as ``updated_at`` moved."""
    essay = essay_attempt(world.learner_a, world.cohort_a)
    headers = bearer(world.org_admin_a)
    url = f"/api/v1/cohorts/{world.cohort_a.id}/quiz-attempts"
    [pending] = client.get(url, headers=headers).json["data"]
    assert pending["pending_manual"] is True and pending["updated_at"] == pending["submitted_at"]
    submitted = essay.attempt.submitted_at
    since = (submitted + timedelta(days=1)).isoformat()
    assert client.get(url, query_string={"updated_since": since}, headers=headers).json["data"] == []
    grade_essay(db.session, essay, 5, "Good.", world.instructor_a, submitted + timedelta(days=2))
    db.session.commit()
    [graded] = follow(client, f"{url}?limit=1&updated_since={quote(since)}", headers)
    assert graded["id"] == pending["id"] and graded["pending_manual"] is False and graded["score"] == pending["score"] + 5
    assert graded["updated_at"] > pending["updated_at"] and graded["submitted_at"] == pending["submitted_at"]
    mine = client.get("/api/v1/me/attempts", query_string={"updated_since": since}, headers=bearer(world.learner_a)).json["data"]
    assert [a["id"] for a in mine] == [pending["id"]]


def test_mastery_moved_by_a_written_answer_graded_later_is_a_change(app: Flask, client, loaded, world: World) -> None:
    """The quiz's evidence is dated when the attempt was made, but the mastery it moves
    changes when the grader marks the answer: ``updated_since`` after the attempt (and
    before the grading) gives the mastery rows, with ``updated_at`` the grading time. They
    had kept the attempt's time, so an incremental sync never saw the new levels."""
    essay = essay_attempt(world.learner_a, world.cohort_a)
    submitted = essay.attempt.submitted_at
    graded_at = submitted + timedelta(days=2)
    since = quote((submitted + timedelta(days=1)).isoformat())
    urls = [f"/api/v1/cohorts/{world.cohort_a.id}/mastery", f"/api/v1/cohorts/{world.cohort_a.id}/learners/{world.learner_a.id}/mastery"]
    staff, own = bearer(world.org_admin_a), bearer(world.learner_a)
    assert all(client.get(url, headers=staff).json["data"] == [] for url in urls)  # nothing counts until the grading
    grade_essay(db.session, essay, 5, "Good.", world.instructor_a, graded_at)
    db.session.commit()
    moved = set(db.session.scalars(select(Mastery.id).where(Mastery.user_id == world.learner_a.id)))
    assert moved
    for url, headers in ((urls[0], staff), (urls[1], staff), ("/api/v1/me/mastery", own)):
        rows = follow(client, f"{url}?limit=1&updated_since={since}", headers)
        assert {m["id"] for m in rows} == moved, url
        assert {m["updated_at"] for m in rows} == {graded_at.isoformat().replace("+00:00", "Z")}, url
    # The evidence itself stays dated by the attempt (it orders mastery), and is listed by when it was written.
    evidence = set(db.session.scalars(select(Evidence.id).where(Evidence.user_id == world.learner_a.id)))
    assert evidence
    for url, headers in ((f"/api/v1/cohorts/{world.cohort_a.id}/evidence", staff), ("/api/v1/me/evidence", own)):
        rows = follow(client, f"{url}?limit=1&updated_since={since}", headers)
        assert {e["id"] for e in rows} == evidence, url
        assert {(e["recorded_at"], e["written_at"]) for e in rows} == {
            (submitted.isoformat().replace("+00:00", "Z"), graded_at.isoformat().replace("+00:00", "Z"))}, url


def test_grades_are_released_ones_only_and_invitations_go_out(app: Flask, client, loaded, world: World, enrol_learner) -> None:
    classmate = enrol_learner(world.cohort_a)
    assignment = get_assignment(db.session, "cs-hands-on-own-operation")
    grades = []
    for learner, action in ((world.learner_a, "release"), (classmate, "draft")):
        work = start_submission(db.session, assignment, learner.id, world.cohort_a.id, utcnow())
        work.draft_body = "My plan."
        submit(db.session, work, dates_for(assignment, build_schedule(db.session, world.cohort_a, learner.id, utcnow())), utcnow())
        rubric = rubric_for(db.session, work, None)
        grades.append(save_grade(db.session, work, world.instructor_a, {c.id: c.levels[0].id for c in rubric.criteria}, {},
                                 "Well done.", None, action, utcnow()))
    db.session.commit()
    headers = bearer(world.instructor_a, ["read:grades"])
    released = client.get(f"/api/v1/cohorts/{world.cohort_a.id}/grades", headers=headers).json["data"]
    assert [(g["learner_id"], g["feedback"]) for g in released] == [(world.learner_a.id, "Well done.")]
    work = {s["learner_id"]: s for s in client.get(f"/api/v1/cohorts/{world.cohort_a.id}/submissions", headers=headers).json["data"]}
    assert work[world.learner_a.id]["grade"]["id"] == grades[0].id and work[classmate.id]["grade"] is None
    later = (utcnow() + timedelta(minutes=1)).isoformat()
    assert client.get(f"/api/v1/cohorts/{world.cohort_a.id}/grades", query_string={"updated_since": later},
                      headers=headers).json["data"] == []

    # a release taken back (saved as a draft again) leaves the grades list; its submission tells a sync so
    rubric = rubric_for(db.session, grades[0].submission, grades[0])
    since = (utcnow() + timedelta(microseconds=1)).isoformat()
    save_grade(db.session, grades[0].submission, world.instructor_a, {c.id: c.levels[0].id for c in rubric.criteria}, {},
               "Not yet after all.", grades[0].revision, "draft", utcnow() + timedelta(seconds=1))
    db.session.commit()
    assert client.get(f"/api/v1/cohorts/{world.cohort_a.id}/grades", headers=headers).json["data"] == []
    [taken_back] = client.get(f"/api/v1/cohorts/{world.cohort_a.id}/submissions", query_string={"updated_since": since},
                              headers=headers).json["data"]
    assert taken_back["learner_id"] == world.learner_a.id and taken_back["grade"] is None and taken_back["status"] == "submitted"

    manager = bearer(world.org_admin_a, ["write:enrolments"])
    made = client.post(f"/api/v1/cohorts/{world.cohort_a.id}/enrolments", json={"email": "New.Person@Example.com", "name": "New"},
                       headers=manager)
    assert made.status_code == 201 and made.json["email"] == "new.person@example.com"
    assert db.session.scalar(select(Invitation.email).where(Invitation.id == made.json["id"])) == "new.person@example.com"
    again = client.post(f"/api/v1/cohorts/{world.cohort_a.id}/enrolments", json={"email": world.learner_a.email}, headers=manager)
    assert again.status_code == 422 and "already a learner" in again.json["detail"]


@pytest.mark.parametrize("resource", ["mastery", "learners", "evidence", "grades", "submissions"])
def test_a_page_costs_the_same_statements_whatever_the_cohort_size(app: Flask, client, loaded, world: World, enrol_learner,
                                                                    count_queries, resource: str) -> None:
    objectives = list(db.session.scalars(select(Objective.id).limit(3)))
    method = next(iter(MasteryMethodName))
    headers = bearer(world.org_admin_a)

    def grow(n: int) -> None:
        for _ in range(n):
            learner = enrol_learner(world.cohort_a)
            db.session.add_all([Mastery(user_id=learner.id, objective_id=o, level=2.5, evidence_count=1, method=method)
                                for o in objectives])
        db.session.commit()
        db.session.info.pop(WROTE, None)

    def page() -> None:
        assert client.get(f"/api/v1/cohorts/{world.cohort_a.id}/{resource}?limit=200", headers=headers).status_code == 200

    def measure() -> int:
        db.session.expire_all()
        return count_queries(page)

    grow(2)
    page()  # the token's first use writes its last-used time (once a minute): not part of a page
    small = measure()
    grow(6)
    assert measure() == small <= 10


def test_mastery_says_whether_a_level_is_held_under_mastered(app: Flask, client, loaded, world: World) -> None:
    """Each mastery object carries ``held`` (``Mastery.held``): a 3.4 held under mastered for
    want of evidence and a 3.4 the evidence gives read the same ``level``, so the API says
    which it is, on the cohort's list, the learner's and the learner's own ("me")."""
    first, second = db.session.scalars(select(Objective).order_by(Objective.id).limit(2))
    method = next(iter(MasteryMethodName))
    learner = world.learner_a
    db.session.add_all([Mastery(user_id=learner.id, objective_id=first.id, level=3.4, evidence_count=1, method=method, held=True),
                        Mastery(user_id=learner.id, objective_id=second.id, level=3.4, evidence_count=3, method=method)])
    db.session.commit()
    expected = {first.key: True, second.key: False}
    staff = bearer(world.org_admin_a)
    for url, headers in ((f"/api/v1/cohorts/{world.cohort_a.id}/mastery", staff),
                         (f"/api/v1/cohorts/{world.cohort_a.id}/learners/{learner.id}/mastery", staff),
                         ("/api/v1/me/mastery", bearer(learner, ["read:competency"]))):
        items = {m["objective_key"]: m for m in follow(client, url, headers) if m["learner_id"] == learner.id}
        assert {key: m["held"] for key, m in items.items()} == expected, url
        assert {m["level"] for m in items.values()} == {3.4}
    schema = client.get("/api/v1/openapi.json").json["components"]["schemas"]["MasteryOut"]
    assert schema["properties"]["held"]["type"] == "boolean" and "held" in schema["required"]
    assert "mastery_min_weight" in schema["properties"]["held"]["description"]


# --------------------------------------------------------------------------- the document


def test_the_document_is_openapi_3_1_generated_from_the_schemas(app: Flask, client) -> None:
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    grades = doc["paths"]["/api/v1/cohorts/{cohort_id}/grades"]["get"]
    assert grades["x-scope"] == "read:grades" and grades["security"] == [{"bearerAuth": []}]
    assert {p["name"] for p in grades["parameters"]} == {"cohort_id", "limit", "cursor", "updated_since"}
    assert grades["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/GradePage"}
    for code in ("401", "403", "404", "422", "429"):
        assert grades["responses"][code]["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert "400" not in grades["responses"] and "415" not in grades["responses"]  # no body to get wrong
    # the headers the answers carry are in the document too: the next page, the wait, the scheme
    assert "Link" in grades["responses"]["200"]["headers"]
    assert grades["responses"]["429"]["headers"]["Retry-After"]["required"] is True
    assert "WWW-Authenticate" in grades["responses"]["401"]["headers"]
    assert "headers" not in doc["paths"]["/api/v1/cohorts/{cohort_id}"]["get"]["responses"]["200"]  # one item, no pages
    invite = doc["paths"]["/api/v1/cohorts/{cohort_id}/enrolments"]["post"]
    for code in ("400", "415", "422"):
        assert invite["responses"][code]["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert set(doc["components"]["schemas"]["GradeOut"]["properties"]) >= {"score", "released_at", "updated_at"}
    reference = client.get("/api/v1/docs")
    assert reference.status_code == 200 and b"listGrades" in reference.data
    # The reference is rendered on the server: the only script is the layout's menu button's.
    assert re.findall(rb"<script[^>]*>", reference.data) == [b'<script src="/static/web/nav.js" defer>']
    assert b"style=" not in reference.data and "script-src 'self'" in reference.headers["Content-Security-Policy"]


# --------------------------------------------------------------------------- a token form sent twice


def _form_token(page: str) -> str:
    found = re.search(r'id="form_token" name="form_token" type="hidden" value="([0-9a-f]+)"', page)
    assert found, "the token form carries a one-time value"
    return found.group(1)


def test_a_reloaded_token_form_makes_one_token_and_never_shows_the_secret_again(app: Flask, client, world: World,
                                                                                 login) -> None:
    """The page answering the POST shows the secret; a reload sends the same form again
    (the same one-time value): no second token, a plain notice naming it, no secret."""
    login(client, world.org_admin_a)
    url = f"/organizations/{world.org_a.id}/api-tokens"
    form = {"password": PASSWORD, "name": "HR sync", "scopes": ["read:people"],
            "form_token": _form_token(client.get(url).get_data(as_text=True))}
    made = client.post(url, data=form)
    assert made.status_code == 200 and b"shown only this once" in made.data
    secret = re.search(rb"(lms_[A-Za-z0-9_-]{40,})", made.data).group(1)
    again = client.post(url, data=form)  # the reload
    page = again.get_data(as_text=True)
    assert again.status_code == 200 and secret not in again.data and b"api-secret-value" not in again.data
    assert "The token “HR sync” had already been created from this form" in page and "no other token was made" in page
    assert f'href="{url}#api-tokens-list"' in page and "shown only this once" not in page
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 1
    # the page answering the reload carries a new form: sending it makes a second token
    form["form_token"] = _form_token(page)
    assert b"shown only this once" in client.post(url, data=form).data
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 2
    # a personal token form sent twice: the same
    personal = {"password": PASSWORD, "name": "Mine", "scopes": ["read:people"],
                "form_token": _form_token(client.get("/account/api-tokens").get_data(as_text=True))}
    assert b"shown only this once" in client.post("/account/api-tokens", data=personal).data
    twice = client.post("/account/api-tokens", data=personal).get_data(as_text=True)
    assert "The token “Mine” had already been created" in twice and 'href="/account/api-tokens#api-tokens-list"' in twice
    assert db.session.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.organization_id.is_(None))) == 1


def test_a_token_form_sent_twice_at_once_makes_one_token(app: Flask, world: World, login) -> None:
    """A double click: two real connections at once with the same form. One token; the
    other answer says it was already made, without the secret; never a 500."""
    clients = [app.test_client(), app.test_client()]
    for c in clients:
        login(c, world.org_admin_a)
    url = f"/organizations/{world.org_a.id}/api-tokens"
    form = {"password": PASSWORD, "name": "Twice", "scopes": ["read:people"],
            "form_token": _form_token(clients[0].get(url).get_data(as_text=True))}
    answers = race([lambda c=c: c.post(url, data=form) for c in clients])  # type: ignore[misc]
    assert [a.status_code for a in answers] == [200, 200]
    pages = sorted((a.get_data(as_text=True) for a in answers), key=lambda p: "shown only this once" in p)
    assert "had already been created from this form" in pages[0] and "api-secret-value" not in pages[0]
    assert "shown only this once" in pages[1]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.name == "Twice")) == 1


def test_a_malformed_one_time_value_is_refused_with_a_message(app: Flask, client, world: World, login) -> None:
    login(client, world.org_admin_a)
    url = f"/organizations/{world.org_a.id}/api-tokens"
    for bad in ("x", "<script>", "a" * 65, "abcdefgh\n", "ab cd efgh"):
        refused = client.post(url, data={"password": PASSWORD, "name": "Bad", "scopes": ["read:people"], "form_token": bad})
        page = refused.get_data(as_text=True)
        assert refused.status_code == 400 and "This form carried a malformed one-time value, so nothing was made." in page
        assert _form_token(page) != bad and 'value="Bad"' in page  # a fresh value; what was typed is kept
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_the_same_token_form_at_once_waits_and_finds_the_token(app: Flask, world: World) -> None:
    """The service, on two connections held open at once: the second waits for the first,
    then finds the token that form made (no secret)."""
    owner_id, org_id = world.org_admin_a.id, world.org_a.id
    db.session.commit()

    def make(session: Any) -> str:
        owner, org = session.get(User, owner_id), session.get(Organization, org_id)
        made = create_token(session, owner, "Held", ["read:people"], None, org, form_token="e" * 32)
        return f"{'made' if made.secret else 'found'} {made.token.id} {made.made}"

    first, second = second_waits_for_first(app, make, make)
    [token] = db.session.scalars(select(ApiToken)).all()
    assert (first, second) == (f"made {token.id} True", f"found {token.id} False")
