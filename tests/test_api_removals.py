"""What an incremental sync learns of removals (tombstones): a released grade taken back, the
evidence a regrade replaces, a learner who left the cohort and the work a moved learner took
along are listed under /cohorts/{id}/grades/removed, /submissions/removed, /evidence/removed
and /learners/removed, written in the unit of work that removed them; paged by (time, id) like every list, each under its list's scope,
another organization's cohort a 404. Access for every role is in tests/test_access.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from lms.cohorts.enrolment import end_enrolment, move_learner
from lms.coursework.services import dates_for, get_assignment, start_submission, submit
from lms.database import utcnow
from lms.extensions import db
from lms.grading.models import Grade
from lms.grading.services import rubric_for, save_grade
from lms.learning.services import build_schedule
from lms.progress.models import Evidence
from tests.conftest import World
from tests.test_api import bearer, follow


def handed_in(world: World, learner: Any) -> Any:
    assignment = get_assignment(db.session, "cs-hands-on-own-operation")
    work = start_submission(db.session, assignment, learner.id, world.cohort_a.id, utcnow())
    work.draft_body = "My plan."
    submit(db.session, work, dates_for(assignment, build_schedule(db.session, world.cohort_a, learner.id, utcnow())), utcnow())
    return work


def grade(work: Any, world: World, action: str, level: int = 0, previous: Grade | None = None) -> Grade:
    rubric = rubric_for(db.session, work, previous)
    return save_grade(db.session, work, world.instructor_a, {c.id: c.levels[level].id for c in rubric.criteria}, {},
                      "Feedback.", previous.revision if previous else None, action, utcnow())


def evidence_of(grade_id: int) -> set[int]:
    return set(db.session.scalars(select(Evidence.id).where(Evidence.source_ref == f"grade:{grade_id}")))


def removed(client: Any, world: World, kind: str, headers: dict[str, str], **query: Any) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/cohorts/{world.cohort_a.id}/{kind}/removed", query_string=query, headers=headers)
    assert answer.status_code == 200, answer.json
    return list(answer.json["data"])


def test_a_released_grade_taken_back_and_its_evidence_are_listed_as_removed(app: Flask, client, loaded, world: World,
                                                                            enrol_learner) -> None:
    classmate = enrol_learner(world.cohort_a)
    drafted, returned = handed_in(world, world.learner_a), handed_in(world, classmate)
    first, second = grade(drafted, world, "release"), grade(returned, world, "release")
    db.session.commit()
    shown = evidence_of(first.id)
    assert shown
    headers = bearer(world.org_admin_a, ["read:grades", "read:competency"])
    assert removed(client, world, "grades", headers) == []
    since = utcnow()

    grade(drafted, world, "draft", previous=first)   # taken back: a draft again
    grade(returned, world, "return", previous=second)  # returned for revision
    db.session.commit()
    listed = client.get(f"/api/v1/cohorts/{world.cohort_a.id}/grades", headers=headers).json["data"]
    assert listed == []
    gone = removed(client, world, "grades", headers, updated_since=since.isoformat())
    assert [(r["kind"], r["id"], r["learner_id"], r["cohort_id"]) for r in gone] == [
        ("grade", first.id, world.learner_a.id, world.cohort_a.id), ("grade", second.id, classmate.id, world.cohort_a.id)]
    assert all(r["removed_at"] >= since.isoformat() for r in gone)
    # the withdrawn grade's evidence left the evidence list too
    assert shown <= {r["id"] for r in removed(client, world, "evidence", headers) if r["learner_id"] == world.learner_a.id}
    later = (utcnow() + timedelta(minutes=1)).isoformat()
    assert removed(client, world, "grades", headers, updated_since=later) == []


def test_a_regrade_lists_the_evidence_it_replaced(app: Flask, client, loaded, world: World) -> None:
    work = handed_in(world, world.learner_a)
    first = grade(work, world, "release", level=0)
    db.session.commit()
    before = evidence_of(first.id)
    headers = bearer(world.instructor_a, ["read:competency", "read:grades"])
    since = utcnow().isoformat()
    again = grade(work, world, "release", level=-1, previous=first)  # released again with other levels
    db.session.commit()
    after = evidence_of(again.id)
    assert before and after and not before & after
    listed = {e["id"] for e in client.get(f"/api/v1/cohorts/{world.cohort_a.id}/evidence", headers=headers).json["data"]}
    assert after <= listed and not before & listed
    gone = removed(client, world, "evidence", headers, updated_since=since)
    assert {r["id"] for r in gone} == before and {r["kind"] for r in gone} == {"evidence"}
    assert removed(client, world, "grades", headers) == []  # still released: nothing left the grades list


def test_a_learner_who_leaves_or_moves_is_listed_and_the_list_pages(app: Flask, client, loaded, world: World,
                                                                    enrol_learner) -> None:
    leavers = [enrol_learner(world.cohort_a) for _ in range(3)]
    db.session.commit()
    for leaver in leavers[:2]:
        end_enrolment(db.session, leaver, world.cohort_a, "withdrew")
    move_learner(db.session, leavers[2], world.cohort_a, world.cohort_a2)
    db.session.commit()
    headers = bearer(world.org_admin_a, ["read:people"])
    current = {x["id"] for x in follow(client, f"/api/v1/cohorts/{world.cohort_a.id}/learners", headers)}
    assert not current & {x.id for x in leavers}
    pages = follow(client, f"/api/v1/cohorts/{world.cohort_a.id}/learners/removed?limit=2", headers)
    assert [(r["kind"], r["id"]) for r in pages] == [("learner", x.id) for x in leavers]
    first = client.get(f"/api/v1/cohorts/{world.cohort_a.id}/learners/removed?limit=2", headers=headers)
    assert first.json["next_cursor"] and 'rel="next"' in first.headers["Link"]
    assert follow(client, f"/api/v1/cohorts/{world.cohort_a2.id}/learners/removed", headers) == []


def test_a_moved_learners_work_and_grade_leave_the_old_cohorts_lists(app: Flask, client, loaded, world: World) -> None:
    work = handed_in(world, world.learner_a)
    released = grade(work, world, "release")
    db.session.commit()
    headers = bearer(world.org_admin_a, ["read:grades"])
    move_learner(db.session, world.learner_a, world.cohort_a, world.cohort_a2)
    db.session.commit()
    assert [(r["kind"], r["id"], r["cohort_id"]) for r in removed(client, world, "grades", headers)] == [
        ("grade", released.id, world.cohort_a.id)]
    assert [(r["kind"], r["id"]) for r in removed(client, world, "submissions", headers)] == [("submission", work.id)]
    moved = client.get(f"/api/v1/cohorts/{world.cohort_a2.id}/grades", headers=headers).json["data"]
    assert [g["id"] for g in moved] == [released.id]  # listed in the new cohort's list, a change there


def test_each_removed_list_takes_its_lists_scope_and_stays_in_its_organization(app: Flask, client, loaded,
                                                                               world: World) -> None:
    grade(handed_in(world, world.learner_a), world, "release")
    db.session.commit()
    grades_only = bearer(world.org_admin_a, ["read:grades"])
    for kind, status in (("grades", 200), ("submissions", 200), ("evidence", 403), ("learners", 403)):
        answer = client.get(f"/api/v1/cohorts/{world.cohort_a.id}/{kind}/removed", headers=grades_only)
        assert answer.status_code == status, kind
    other = bearer(world.org_admin_b, ["read:grades", "read:competency", "read:people"], world.org_b)
    for kind in ("grades", "submissions", "evidence", "learners"):
        answer = client.get(f"/api/v1/cohorts/{world.cohort_a.id}/{kind}/removed", headers=other)
        assert answer.status_code == 404, kind
        assert client.get(f"/api/v1/cohorts/{world.cohort_b.id}/{kind}/removed", headers=other).status_code == 200


def test_the_document_gives_the_removed_lists_with_their_scopes(app: Flask, client) -> None:
    doc = client.get("/api/v1/openapi.json").json
    assert "/learners/removed" in doc["info"]["description"]
    for path, scope in (("grades", "read:grades"), ("submissions", "read:grades"), ("evidence", "read:competency"),
                        ("learners", "read:people")):
        operation = doc["paths"][f"/api/v1/cohorts/{{cohort_id}}/{path}/removed"]["get"]
        assert f"Scope: `{scope}`." in operation["description"]
        assert {p["name"] for p in operation["parameters"]} >= {"limit", "cursor", "updated_since"}
