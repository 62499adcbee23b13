"""A team's work in the REST API (``lms.coursework.sharing``: a team's one submission is
every member's work). The cohort's grades and submissions list it once per member, each
with their own adjusted score (as the gradebook and the grades CSV do); each member's
"me" lists have it, with their score; a learner outside the team sees nothing of it.
An adjustment made after the release is a change of that member's row (updated_since),
and a page costs the same statements whatever the number of teams. Webhooks and xAPI
statements of a released team grade reach every member with their adjusted score.
The member who holds the submission is A; B is adjusted -3 and C +5 (to the maximum); D is not in the team."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from lms.coursework.models import Assignment, Submission
from lms.coursework.services import dates_for
from lms.database import utcnow
from lms.extensions import db
from lms.grading.models import Grade, GradeAction
from lms.grading.services import save_grade
from lms.learning.services import build_schedule
from lms.notifications.models import Notification
from lms.teams import services
from lms.teams.models import Team
from lms.web.unit_of_work import WROTE
from lms.webhooks.models import WebhookDelivery, WebhookEvent
from tests.test_api import bearer, follow

KEY = "intl-hands-on-entry-plan"
ADJUSTMENTS = {1: -3.0, 2: 5.0}  # learner index -> points


@pytest.fixture()
def course(app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user) -> dict[str, Any]:
    """A cohort in its tenth month (the team assignment is open) with an instructor, an
    organization admin and four learners; A, B and C form a team, A hands in its work."""
    admin = make_user(name="Olga Admin")
    teacher = make_user(name="Tess Teacher")
    org = make_org(admins=[admin])
    cohort = make_cohort(org, "Founders", months_ago=9, instructors=[teacher])
    learners = [enrol_learner(cohort, name=f"Founder {n}") for n in "ABCD"]
    assignment = db.session.scalar(select(Assignment).where(Assignment.key == KEY))
    team = hand_in(app, cohort, assignment, "Northwind", learners[:3])
    return {"org": org, "admin": admin, "teacher": teacher, "cohort": cohort, "learners": learners,
            "assignment": assignment, "team": team}


def hand_in(app: Flask, cohort: Any, assignment: Any, name: str, members: list[Any]) -> Team:
    now = utcnow()
    team = services.create_team(db.session, assignment, cohort.id, name, members[0], now, as_learner=True)
    for person in members[1:]:
        services.add_member(db.session, team, person, now)
    dates = dates_for(assignment, build_schedule(db.session, cohort, members[0].id, now))
    services.save_work(db.session, team, members[0].id, team.draft_revision, "Our entry plan", None, True, dates,
                       app.instance_path, now)
    db.session.commit()
    return team


def grade(team: Team, teacher: Any, action: str = GradeAction.RELEASE) -> Grade:
    submission = db.session.get(Submission, team.submission_id)
    assert submission is not None
    criteria = submission.assignment.rubric.current.criteria
    existing = db.session.scalar(select(Grade).where(Grade.submission_id == submission.id))
    made = save_grade(db.session, submission, teacher, {c.id: c.levels[1].id for c in criteria}, {}, "A credible plan.",
                      existing.revision if existing else None, action, utcnow())
    db.session.commit()
    db.session.info.pop(WROTE, None)
    return made


def adjust(team: Team, teacher: Any, user: Any, points: float) -> None:
    found = services.get_team(db.session, team.id)
    assert found is not None
    services.adjust(db.session, found, user.id, points, f"Moved {points:+g}.", None, teacher, utcnow())
    db.session.commit()
    db.session.info.pop(WROTE, None)


def readjust(team: Team, teacher: Any, user: Any, points: float) -> None:
    """Change a member's adjustment (after the release: ``adjustment_saved``)."""
    found = services.get_team(db.session, team.id)
    assert found is not None
    revision = services.adjustments_of(db.session, found)[user.id].revision
    services.adjust(db.session, found, user.id, points, f"Now {points:+g}.", revision, teacher, utcnow())
    db.session.commit()
    db.session.info.pop(WROTE, None)


def adjust_all(course: dict[str, Any]) -> None:
    for index, points in ADJUSTMENTS.items():
        adjust(course["team"], course["teacher"], course["learners"][index], points)


def expected(result: Grade) -> dict[int, float]:
    """Each member's score: the team's moved by their adjustment, within 0 and the maximum."""
    assert result.score is not None
    return {person_index: max(0.0, min(result.max_score, result.score + ADJUSTMENTS.get(person_index, 0.0)))
            for person_index in range(3)}


def test_the_cohort_lists_have_a_row_per_member_with_their_adjusted_score(app: Flask, client, course) -> None:
    released = grade(course["team"], course["teacher"])
    adjust_all(course)
    a, b, c, d = course["learners"]
    scores = expected(released)
    assert scores[1] == released.score - 3 and scores[2] == released.max_score  # +5 reaches the maximum
    headers = bearer(course["admin"], organization=course["org"])
    url = f"/api/v1/cohorts/{course['cohort'].id}"
    rows = follow(client, f"{url}/grades?limit=1", headers)  # a page ends between members: none repeated or skipped
    assert sorted((r["learner_id"], r["score"]) for r in rows) == sorted(
        (p.id, scores[i]) for i, p in enumerate((a, b, c)))
    assert {r["id"] for r in rows} == {released.id} and {r["submission_id"] for r in rows} == {course["team"].submission_id}
    by_learner = {r["learner_id"]: r for r in rows}
    assert by_learner[b.id]["team"] == {"name": "Northwind", "score": released.score, "adjustment": -3.0, "note": "Moved -3."}
    assert by_learner[a.id]["team"] == {"name": "Northwind", "score": released.score, "adjustment": None, "note": ""}
    assert rows == client.get(f"{url}/grades?limit=200", headers=headers).json["data"]

    work = follow(client, f"{url}/submissions?limit=2", headers)
    assert sorted((s["learner_id"], s["id"], s["grade"]["score"]) for s in work) == sorted(
        (p.id, course["team"].submission_id, scores[i]) for i, p in enumerate((a, b, c)))
    assert {s["team"] for s in work} == {"Northwind"} and d.id not in {s["learner_id"] for s in work}


def test_a_page_that_ends_between_members_with_the_same_time_goes_on_with_the_next_member(app: Flask, client,
                                                                                           course) -> None:
    """No adjustments: every member's row has the grade's time and id, only the learner
    differs, so the cursor must carry the learner too or the next page skips the rest."""
    released = grade(course["team"], course["teacher"])
    a, b, c, _ = course["learners"]
    headers = bearer(course["admin"], organization=course["org"])
    url = f"/api/v1/cohorts/{course['cohort'].id}"
    for name in ("grades", "submissions"):
        every = client.get(f"{url}/{name}?limit=200", headers=headers).json["data"]
        assert sorted(r["learner_id"] for r in every) == sorted(p.id for p in (a, b, c)), name
        assert follow(client, f"{url}/{name}?limit=1", headers) == every, name
        assert follow(client, f"{url}/{name}?limit=2", headers) == every, name
    assert {r["score"] for r in follow(client, f"{url}/grades?limit=1", headers)} == {released.score}


def test_each_member_reads_the_team_work_and_their_own_score_and_no_one_else_does(app: Flask, client, course) -> None:
    released = grade(course["team"], course["teacher"])
    adjust_all(course)
    scores = expected(released)
    for index, person in enumerate(course["learners"][:3]):
        headers = bearer(person)
        mine = follow(client, "/api/v1/me/grades?limit=1", headers)
        assert [(g["id"], g["learner_id"], g["score"]) for g in mine] == [(released.id, person.id, scores[index])], index
        assert mine[0]["team"]["adjustment"] == ADJUSTMENTS.get(index)
        work = follow(client, "/api/v1/me/submissions?limit=1", headers)
        assert [(s["id"], s["learner_id"], s["team"], s["grade"]["score"]) for s in work] == [
            (course["team"].submission_id, person.id, "Northwind", scores[index])], index
    outsider = bearer(course["learners"][3])
    for name in ("grades", "submissions"):
        assert client.get(f"/api/v1/me/{name}", headers=outsider).json["data"] == [], name


def test_a_draft_team_grade_is_nobodys_and_a_team_draft_is_every_members(app: Flask, client, course) -> None:
    grade(course["team"], course["teacher"], GradeAction.DRAFT)
    adjust_all(course)
    for person in course["learners"][:3]:
        headers = bearer(person)
        assert client.get("/api/v1/me/grades", headers=headers).json["data"] == []
        assert [s["grade"] for s in client.get("/api/v1/me/submissions", headers=headers).json["data"]] == [None]
    admin = bearer(course["admin"], organization=course["org"])
    assert client.get(f"/api/v1/cohorts/{course['cohort'].id}/grades", headers=admin).json["data"] == []


def test_an_adjustment_after_the_release_is_a_change_of_that_members_row(app: Flask, client, course) -> None:
    released = grade(course["team"], course["teacher"])
    b = course["learners"][1]
    since = (utcnow() + timedelta(microseconds=1)).isoformat()
    adjust(course["team"], course["teacher"], b, -3)
    admin = bearer(course["admin"], organization=course["org"])
    changed = client.get(f"/api/v1/cohorts/{course['cohort'].id}/grades", query_string={"updated_since": since},
                         headers=admin).json["data"]
    assert [(g["learner_id"], g["score"]) for g in changed] == [(b.id, released.score - 3)]
    mine = client.get("/api/v1/me/grades", query_string={"updated_since": since}, headers=bearer(b)).json["data"]
    assert [g["score"] for g in mine] == [released.score - 3]
    assert client.get("/api/v1/me/grades", query_string={"updated_since": since},
                      headers=bearer(course["learners"][0])).json["data"] == []


@pytest.mark.parametrize("resource", ["cohorts/{cohort}/grades", "cohorts/{cohort}/submissions", "me/grades",
                                      "me/submissions"])
def test_a_page_costs_the_same_statements_whatever_the_number_of_teams(app: Flask, client, course, enrol_learner,
                                                                       count_queries, resource: str) -> None:
    grade(course["team"], course["teacher"])
    adjust_all(course)
    a = course["learners"][0]
    headers = bearer(a) if resource.startswith("me/") else bearer(course["admin"], organization=course["org"])
    url = "/api/v1/" + resource.format(cohort=course["cohort"].id) + "?limit=200"

    def page() -> None:
        assert client.get(url, headers=headers).status_code == 200

    def measure() -> int:
        db.session.expire_all()
        return count_queries(page)

    page()  # the token's first use writes its last-used time (once a minute): not part of a page
    small = measure()
    for n in range(3):
        members = [enrol_learner(course["cohort"]) for _ in range(3)]
        team = hand_in(app, course["cohort"], course["assignment"], f"Team {n}", members)
        grade(team, course["teacher"])
        adjust(team, course["teacher"], members[1], -1)
    assert measure() == small <= 12


# --------------------------------------------------------------------------- events about the released grade


def test_a_released_team_grade_is_a_webhook_event_for_each_member_with_their_score(app: Flask, course) -> None:
    from lms.webhooks import services as webhooks

    webhooks.create_endpoint(db.session, course["org"].id, "http://127.0.0.1:9/hook", [WebhookEvent.GRADE_RELEASED.value],
                             "test", app.config["SECRET_KEY"], None, True)
    db.session.commit()
    grade(course["team"], course["teacher"], GradeAction.DRAFT)
    adjust_all(course)
    released = grade(course["team"], course["teacher"])
    scores = expected(released)
    db.session.expire_all()
    events = [json.loads(d.body)["data"] for d in db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))]
    assert sorted((e["learner"]["id"], e["grade"]["score"]) for e in events) == sorted(
        (p.id, scores[i]) for i, p in enumerate(course["learners"][:3]))
    assert {e["team"]["name"] for e in events} == {"Northwind"} and {e["grade"]["id"] for e in events} == {released.id}
    # adjusted again after the release: an event for that member alone, with the new score
    b = course["learners"][1]
    readjust(course["team"], course["teacher"], b, -5)
    db.session.expire_all()
    later = [json.loads(d.body)["data"] for d in db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))]
    assert [(e["learner"]["id"], e["grade"]["score"], e["team"]["adjustment"]) for e in later[len(events):]] == [
        (b.id, released.score - 5, -5.0)]


def test_a_released_team_grade_is_an_xapi_statement_for_each_member_with_their_score(app: Flask, course) -> None:
    from lms.xapi.models import XapiStatement

    app.config.update(XAPI_LRS_ENDPOINT="http://127.0.0.1:9/xapi", XAPI_LRS_USERNAME="u", XAPI_LRS_PASSWORD="p",
                      XAPI_HOMEPAGE="https://lms.example.org")
    grade(course["team"], course["teacher"], GradeAction.DRAFT)
    adjust_all(course)
    released = grade(course["team"], course["teacher"])
    scores = expected(released)
    db.session.expire_all()
    scored = {int(s.event_key.split(":")[2]): json.loads(s.body)["result"]["score"]["raw"]
              for s in db.session.scalars(select(XapiStatement).where(XapiStatement.event_key.startswith(f"grade:{released.id}:")))}
    assert scored == {p.id: scores[i] for i, p in enumerate(course["learners"][:3])}
    b = course["learners"][1]
    readjust(course["team"], course["teacher"], b, -5)
    db.session.expire_all()
    again = [json.loads(s.body)["result"]["score"]["raw"] for s in db.session.scalars(
        select(XapiStatement).where(XapiStatement.event_key.startswith(f"grade:{released.id}:{b.id}:")))]
    assert sorted(again) == sorted([scores[1], released.score - 5])
    # and the member is told, in their notifications
    note = db.session.scalar(select(Notification).where(Notification.user_id == b.id,
                                                        Notification.key.startswith(f"grade:{released.id}:adjusted:")))
    assert note is not None and "was adjusted" in note.title and f"{released.score - 5:g} of" in note.body
