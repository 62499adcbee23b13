"""The API's "me" endpoints (issue 15 point 1, a learner's personal token): the token owner's
profile and memberships, mastery, evidence, quiz attempts, submissions, released grades
and certificates; always the owner's rows, cursor paging, updated_since, a fixed number of
statements per page, personal tokens only. Every role's token against every route, and
another person's token against learner A's rows, are in tests/test_access.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from lms.assessment.models import Attempt, Quiz
from lms.catalog.models import Level, Objective
from lms.certificates.models import Certificate
from lms.coursework.models import Assignment
from lms.coursework.services import dates_for, start_submission, submit
from lms.database import utcnow
from lms.extensions import db
from lms.grading.services import rubric_for, save_grade
from lms.learning.services import build_schedule
from lms.progress.models import Evidence, EvidenceSourceName, Mastery, MasteryMethodName
from lms.web.unit_of_work import WROTE
from tests.conftest import World
from tests.test_api import bearer, follow

ME_LISTS = ("mastery", "evidence", "certificates", "attempts", "submissions", "grades")


@dataclass
class OwnData:
    """Ids of one learner's rows, per "me" list."""

    ids: dict[str, set[int]]


def give_own_data(learner: Any, cohort: Any, n: int = 3, grader: Any = None) -> OwnData:
    """``n`` mastery and evidence rows, a certificate, ``n`` submitted attempts, a submission
    with a released grade and one with a draft grade (a draft is never shown)."""
    objectives = list(db.session.scalars(select(Objective.id).order_by(Objective.id).limit(n)))
    method = next(iter(MasteryMethodName))
    start = utcnow() - timedelta(days=10)
    mastery = [Mastery(user_id=learner.id, objective_id=o, level=2.0 + i / 10, evidence_count=1, method=method,
                       updated_at=start + timedelta(days=i)) for i, o in enumerate(objectives)]
    evidence = [Evidence(user_id=learner.id, objective_id=o, source=EvidenceSourceName.RATING, source_ref=f"test:{i}",
                         level=2.0, weight=1.0, recorded_at=start + timedelta(days=i)) for i, o in enumerate(objectives)]
    level = db.session.scalar(select(Level).order_by(Level.id))
    certificate = Certificate(user_id=learner.id, level=level, code=f"me-{learner.id}", issued_at=start,
                              holder_name=learner.name)
    quiz = db.session.scalar(select(Quiz).order_by(Quiz.id))
    attempts = [Attempt(quiz_id=quiz.id, user_id=learner.id, cohort_id=cohort.id, number=i + 1, layout=[],
                        started_at=start + timedelta(days=i), submitted_at=start + timedelta(days=i, minutes=5),
                        score=1.0, max_score=2.0) for i in range(n)]
    unfinished = Attempt(quiz_id=quiz.id, user_id=learner.id, cohort_id=cohort.id, number=n + 1, layout=[], started_at=start)
    db.session.add_all([*mastery, *evidence, certificate, *attempts, unfinished])
    grades, submissions = [], []
    schedule = build_schedule(db.session, cohort, learner.id, utcnow())
    open_ones = [a for a in db.session.scalars(select(Assignment).order_by(Assignment.id)) if dates_for(a, schedule).is_open]
    for assignment, action in zip(open_ones[:2], ("release", "draft"), strict=True):
        work = start_submission(db.session, assignment, learner.id, cohort.id, utcnow())
        work.draft_body = "My plan."
        submit(db.session, work, dates_for(assignment, schedule), utcnow())
        rubric = rubric_for(db.session, work, None)
        grade = save_grade(db.session, work, grader, {c.id: c.levels[0].id for c in rubric.criteria}, {}, "Fine.", None,
                           action, utcnow())
        submissions.append(work.id)
        if action == "release":
            grades.append(grade.id)
    db.session.commit()
    db.session.info.pop(WROTE, None)
    mine = {"mastery": Mastery, "evidence": Evidence, "certificates": Certificate}  # grading adds evidence and mastery too
    ids = {name: set(db.session.scalars(select(model.id).where(model.user_id == learner.id))) for name, model in mine.items()}
    return OwnData({**ids, "attempts": {a.id for a in attempts}, "submissions": set(submissions), "grades": set(grades)})


def test_a_learners_personal_token_reaches_their_own_data(app: Flask, client, loaded, world: World) -> None:
    own = give_own_data(world.learner_a, world.cohort_a, grader=world.instructor_a)
    give_own_data(world.learner_a2, world.cohort_a2, grader=world.instructor_a)  # a classmate in the other cohort
    headers = bearer(world.learner_a)
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200, me.json
    assert me.json["id"] == world.learner_a.id and me.json["email"] == world.learner_a.email
    assert [e["cohort_id"] for e in me.json["enrolments"]] == [world.cohort_a.id]
    assert me.json["instructs"] == [] and me.json["admin_of"] == [] and me.json["site_admin"] is False
    for name in ME_LISTS:
        rows = follow(client, f"/api/v1/me/{name}?limit=1", headers)
        assert {r["id"] for r in rows} == own.ids[name], name
        assert {r["learner_id"] for r in rows} == {world.learner_a.id}, name
    submissions = {s["id"]: s for s in follow(client, "/api/v1/me/submissions", headers)}
    assert sorted(s["grade"] is None for s in submissions.values()) == [False, True]  # the draft grade is not shown
    # incremental sync: what changed at or after the time
    since = (utcnow() - timedelta(days=9)).isoformat().replace("+00:00", "Z")
    changed = set(db.session.scalars(select(Mastery.id).where(Mastery.user_id == world.learner_a.id,
                                                              Mastery.updated_at >= utcnow() - timedelta(days=9))))
    assert own.ids["mastery"] - changed  # the first of the rows is older
    assert {m["id"] for m in follow(client, f"/api/v1/me/mastery?limit=1&updated_since={since}", headers)} == changed
    later = (utcnow() + timedelta(minutes=1)).isoformat()
    for name in ME_LISTS:
        assert client.get(f"/api/v1/me/{name}", query_string={"updated_since": later}, headers=headers).json["data"] == [], name


def test_staff_see_their_memberships_and_need_a_personal_token_with_the_scope(app: Flask, client, loaded, world: World) -> None:
    me = client.get("/api/v1/me", headers=bearer(world.instructor_a)).json
    assert [c["id"] for c in me["instructs"]] == [world.cohort_a.id] and me["enrolments"] == []
    me = client.get("/api/v1/me", headers=bearer(world.org_admin_a)).json
    assert [o["id"] for o in me["admin_of"]] == [world.org_a.id]
    organization_token = bearer(world.org_admin_a, organization=world.org_a)
    refused = client.get("/api/v1/me", headers=organization_token)
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert "personal token" in refused.json["detail"]
    curriculum_only = bearer(world.learner_a, ["read:curriculum"])
    for name, scope in (("", "read:people"), ("/mastery", "read:competency"), ("/grades", "read:grades")):
        answer = client.get(f"/api/v1/me{name}", headers=curriculum_only)
        assert answer.status_code == 403 and scope in answer.json["detail"], name
    bad = client.get("/api/v1/me/evidence?cursor=nonsense", headers=bearer(world.learner_a))
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"


def test_the_me_operations_are_in_the_document(app: Flask, client) -> None:
    doc = client.get("/api/v1/openapi.json").json
    assert doc["paths"]["/api/v1/me"]["get"]["x-scope"] == "read:people"
    for name, scope in (("mastery", "read:competency"), ("evidence", "read:competency"), ("certificates", "read:competency"),
                        ("attempts", "read:grades"), ("submissions", "read:grades"), ("grades", "read:grades")):
        operation = doc["paths"][f"/api/v1/me/{name}"]["get"]
        assert operation["x-scope"] == scope and {p["name"] for p in operation["parameters"]} == {"limit", "cursor", "updated_since"}


@pytest.mark.parametrize("resource", ["", *(f"/{name}" for name in ME_LISTS)])
def test_a_me_page_costs_the_same_statements_whatever_the_data(app: Flask, client, loaded, world: World, count_queries,
                                                               resource: str) -> None:
    headers = bearer(world.learner_a)
    give_own_data(world.learner_a, world.cohort_a, n=1, grader=world.instructor_a)

    def page() -> None:
        assert client.get(f"/api/v1/me{resource}?limit=200", headers=headers).status_code == 200

    def measure() -> int:
        db.session.expire_all()
        return count_queries(page)

    page()  # the token's first use writes its last-used time (once a minute): not part of a page
    small = measure()
    more = give_own_data(world.learner_a2, world.cohort_a2, n=4, grader=world.instructor_a)
    extra_objectives = list(db.session.scalars(select(Objective.id).order_by(Objective.id.desc()).limit(4)))
    method = next(iter(MasteryMethodName))
    db.session.add_all([Mastery(user_id=world.learner_a.id, objective_id=o, level=1.0, evidence_count=1, method=method)
                        for o in extra_objectives])
    db.session.add_all([Evidence(user_id=world.learner_a.id, objective_id=o, source=EvidenceSourceName.RATING,
                                 source_ref="more", level=1.0) for o in extra_objectives])
    db.session.commit()
    db.session.info.pop(WROTE, None)
    assert more.ids["mastery"]
    assert measure() == small <= 10
