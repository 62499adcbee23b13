"""The API's incremental sync, the gaps closed after the removed lists came: the learner's
own lists (/me) have removed lists; quiz attempts a moved learner takes along leave the old
cohort's list; bulk deletes that skip the ORM record their removals set-based; old removals
are pruned and an older cursor is 410 Gone; the Link header never carries the request's
Host. Access for every role is in tests/test_access.py; webhook secret rotation in
tests/test_webhooks.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select

from lms.api.models import ApiRemoval, RemovedKind
from lms.api.paging import encode
from lms.assessment.services import get_quiz, quiz_window, start_attempt
from lms.catalog.models import Level, Objective
from lms.certificates.models import Certificate
from lms.cohorts.enrolment import move_learner
from lms.coursework.models import Assignment
from lms.coursework.services import dates_for, get_assignment, start_submission
from lms.database import utcnow
from lms.extensions import db
from lms.job_kinds import JOB_KINDS
from lms.jobs.kinds import Work
from lms.learning.services import build_schedule
from lms.progress.evidence import rederive_quiz_evidence
from lms.progress.models import Evidence, EvidenceSourceName, Mastery, MasteryMethodName
from lms.progress.services import rebuild
from lms.teams import services as teams
from lms.teams.models import Team
from lms.web.unit_of_work import WROTE
from tests.conftest import World
from tests.test_api import bearer, essay_attempt, follow
from tests.test_api_removals import evidence_of, grade, handed_in
from tests.test_api_teams import KEY as TEAM_KEY


def gone(client: Any, url: str, headers: dict[str, str], **query: Any) -> list[tuple[str, int, int | None]]:
    answer = client.get(url, query_string=query, headers=headers)
    assert answer.status_code == 200, answer.json
    return [(r["kind"], r["id"], r["cohort_id"]) for r in answer.json["data"]]


def committed() -> None:
    db.session.commit()
    db.session.info.pop(WROTE, None)


# --------------------------------------------------------------------------- 1. the learner's own lists


def test_the_learners_own_lists_say_what_left_them(app: Flask, client, loaded, world: World) -> None:
    """A released grade taken back and the evidence it gave leave the learner's /me lists
    too (rows with no cohort); only the owner sees them, under the list's scope."""
    work = handed_in(world, world.learner_a)
    released = grade(work, world, "release")
    committed()
    shown = evidence_of(released.id)
    mine = bearer(world.learner_a, ["read:grades", "read:competency"])
    assert gone(client, "/api/v1/me/grades/removed", mine) == []
    since = utcnow().isoformat()
    grade(work, world, "draft", previous=released)  # taken back
    committed()
    assert client.get("/api/v1/me/grades", headers=mine).json["data"] == []
    assert gone(client, "/api/v1/me/grades/removed", mine, updated_since=since) == [("grade", released.id, None)]
    assert {i for _k, i, _c in gone(client, "/api/v1/me/evidence/removed", mine, updated_since=since)} == shown
    # someone else's token lists none of it; the scope is the list's
    other = bearer(world.learner_a2, ["read:grades", "read:competency"])
    assert gone(client, "/api/v1/me/grades/removed", other) == gone(client, "/api/v1/me/evidence/removed", other) == []
    grades_only = bearer(world.learner_a, ["read:grades"])
    assert client.get("/api/v1/me/evidence/removed", headers=grades_only).status_code == 403
    assert client.get("/api/v1/me/mastery/removed", headers=grades_only).status_code == 403
    organization = bearer(world.org_admin_a, ["read:grades"], world.org_a)
    assert client.get("/api/v1/me/grades/removed", headers=organization).status_code == 403


def test_a_move_keeps_the_learners_own_rows_but_a_deleted_draft_and_mastery_leave(app: Flask, client, loaded,
                                                                                   world: World) -> None:
    work = handed_in(world, world.learner_a)
    grade(work, world, "release")
    committed()
    mine = bearer(world.learner_a, ["read:grades", "read:competency"])
    move_learner(db.session, world.learner_a, world.cohort_a, world.cohort_a2)
    committed()
    # the old cohort's lists lost them; the learner's own lists did not
    assert gone(client, "/api/v1/me/grades/removed", mine) == gone(client, "/api/v1/me/submissions/removed", mine) == []
    draft = start_submission(db.session, get_assignment(db.session, "cs-hands-on-own-operation"), world.learner_a2.id,
                             world.cohort_a.id, utcnow())  # never handed in: the learner's own list only
    mastery = db.session.scalar(select(Mastery).where(Mastery.user_id == world.learner_a.id).limit(1))
    assert mastery is not None
    committed()
    draft_id, mastery_id = draft.id, mastery.id
    db.session.delete(draft)
    db.session.delete(mastery)
    committed()
    assert gone(client, "/api/v1/me/mastery/removed", mine) == [("mastery", mastery_id, None)]
    theirs = bearer(world.learner_a2, ["read:grades"])
    assert gone(client, "/api/v1/me/submissions/removed", theirs) == [("submission", draft_id, None)]
    staff = bearer(world.org_admin_a, ["read:grades"])
    assert gone(client, f"/api/v1/cohorts/{world.cohort_a.id}/submissions/removed", staff) == [
        ("submission", work.id, world.cohort_a.id)]  # the moved work; the draft was never on the cohort's list


# --------------------------------------------------------------------------- 2. quiz attempts that move


def test_quiz_attempts_a_moved_learner_takes_along_leave_the_old_cohorts_list(app: Flask, client, loaded,
                                                                               world: World) -> None:
    pending = essay_attempt(world.learner_a, world.cohort_a).attempt  # submitted, waiting for a grade
    quiz = get_quiz(db.session, "mlops-quiz")
    running = start_attempt(db.session, quiz, world.learner_a,
                            quiz_window(db.session, quiz, world.cohort_a, world.learner_a.id, utcnow()).opens_at)
    committed()
    staff = bearer(world.org_admin_a, ["read:grades"])
    url = f"/api/v1/cohorts/{world.cohort_a.id}/quiz-attempts"
    assert [a["id"] for a in client.get(url, headers=staff).json["data"]] == [pending.id]
    move_learner(db.session, world.learner_a, world.cohort_a, world.cohort_a2)
    committed()
    assert client.get(url, headers=staff).json["data"] == []
    assert sorted(gone(client, f"{url}/removed", staff)) == [("attempt", pending.id, world.cohort_a.id),
                                                             ("attempt", running.id, world.cohort_a.id)]
    assert gone(client, f"/api/v1/cohorts/{world.cohort_a2.id}/quiz-attempts/removed", staff) == []
    people_only = bearer(world.org_admin_a, ["read:people"])
    assert client.get(f"{url}/removed", headers=people_only).status_code == 403


# --------------------------------------------------------------------------- 3. bulk deletes


def _inserts_of_removals(app: Flask, action: Any) -> int:
    found: list[str] = []

    def record(*args: Any) -> None:
        if args[2].lstrip().upper().startswith("INSERT INTO API_REMOVALS"):
            found.append(args[2])

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return len(found)


@pytest.mark.parametrize("learners", [1, 4])
def test_rederiving_quiz_evidence_records_what_it_deletes_in_one_statement(app: Flask, client, loaded, world: World,
                                                                           enrol_learner, learners: int) -> None:
    people = [world.learner_a, *(enrol_learner(world.cohort_a) for _ in range(learners - 1))]
    objective = db.session.scalar(select(Objective.id).order_by(Objective.id))
    old = [Evidence(user_id=p.id, objective_id=objective, source=EvidenceSourceName.QUIZ, source_ref=f"attempt:{i}",
                    level=2.0) for i, p in enumerate(people)]
    kept = Evidence(user_id=world.learner_a.id, objective_id=objective, source=EvidenceSourceName.RATING,
                    source_ref="rating:1", level=2.0)
    db.session.add_all([*old, kept])
    committed()
    removed = sorted((e.id, e.user_id) for e in old)
    first = old[0].id
    assert _inserts_of_removals(app, lambda: rederive_quiz_evidence(db.session, utcnow())) == 1
    committed()
    staff = bearer(world.org_admin_a, ["read:competency"])
    listed = follow(client, f"/api/v1/cohorts/{world.cohort_a.id}/evidence/removed", staff)
    assert sorted((r["id"], r["learner_id"]) for r in listed) == removed
    mine = gone(client, "/api/v1/me/evidence/removed", bearer(world.learner_a, ["read:competency"]))
    assert mine == [("evidence", first, None)]


def masteries(learner: Any, count: int) -> list[Mastery]:
    """``count`` mastery rows of ``learner``, committed."""
    objectives = list(db.session.scalars(select(Objective.id).order_by(Objective.id).limit(count)))
    method = next(iter(MasteryMethodName))
    rows = [Mastery(user_id=learner.id, objective_id=o, level=2.0, evidence_count=1, method=method) for o in objectives]
    db.session.add_all(rows)
    committed()
    return rows


def test_rebuilding_mastery_lists_every_row_it_replaced(app: Flask, client, loaded, world: World) -> None:
    before = masteries(world.learner_a, 2)
    ids = sorted(m.id for m in before)
    assert _inserts_of_removals(app, lambda: rebuild(db.session, utcnow())) == 1
    committed()
    mine = bearer(world.learner_a, ["read:competency"])
    assert sorted(i for _k, i, _c in gone(client, "/api/v1/me/mastery/removed", mine)) == ids


# --------------------------------------------------------------------------- 4. pruning, 410 Gone


def _removal(world: World, days_ago: int) -> ApiRemoval:
    row = ApiRemoval(kind=RemovedKind.LEARNER, object_id=world.learner_a.id, learner_id=world.learner_a.id,
                     cohort_id=world.cohort_a.id, organization_id=world.org_a.id,
                     removed_at=utcnow() - timedelta(days=days_ago))
    db.session.add(row)
    return row


def test_prune_removals_deletes_the_old_ones_and_refuses_fewer_days_than_promised(app: Flask, world: World) -> None:
    _removal(world, 120)
    recent = _removal(world, 30)
    committed()
    recent_id = recent.id
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["lms", "prune-removals", "--older-than", "30"])
    assert refused.exit_code != 0 and "fewer than the 90 days" in refused.output
    assert db.session.scalar(select(sa.func.count(ApiRemoval.id))) == 2
    done = runner.invoke(args=["lms", "prune-removals"])
    assert done.exit_code == 0 and "Deleted 1 removal record older than 90 days." in done.output
    db.session.expire_all()
    assert list(db.session.scalars(select(ApiRemoval.id))) == [recent_id]
    # the worker's kind does the same with the configured days
    app.config["API_REMOVALS_KEPT_DAYS"] = 20
    [kind] = [k for k in JOB_KINDS if k.name == "prune-removals"]
    assert kind.from_command  # cron queues it: flask lms queue-job prune-removals
    assert kind.run(Work(app, db.session, 0, {}, utcnow())) == "Deleted 1 removal record older than 20 days."
    assert db.session.scalar(select(sa.func.count(ApiRemoval.id))) == 0


def test_a_cursor_or_updated_since_older_than_the_removals_kept_is_gone(app: Flask, client, loaded, world: World) -> None:
    _removal(world, 10)
    _removal(world, 95)  # not pruned yet: not listed either, so no page hands out a cursor already gone
    committed()
    staff = bearer(world.org_admin_a, ["read:people"])
    url = f"/api/v1/cohorts/{world.cohort_a.id}/learners/removed"
    old = utcnow() - timedelta(days=91)
    for query in ({"updated_since": old.isoformat()}, {"cursor": encode([old, 1])}):
        answer = client.get(url, query_string=query, headers=staff)
        assert answer.status_code == 410 and answer.mimetype == "application/problem+json", query
        assert "kept 90 days" in answer.json["detail"] and "Sync the whole list again" in answer.json["detail"]
    recent = (utcnow() - timedelta(days=89)).isoformat()
    assert len(client.get(url, query_string={"updated_since": recent}, headers=staff).json["data"]) == 1
    assert len(follow(client, f"{url}?limit=1", staff)) == 1
    mine = bearer(world.learner_a, ["read:grades"])
    assert client.get("/api/v1/me/grades/removed", query_string={"updated_since": old.isoformat()},
                      headers=mine).status_code == 410
    doc = client.get("/api/v1/openapi.json").json
    assert "kept 90 days" in doc["info"]["description"]
    for path, operations in doc["paths"].items():
        assert ("410" in operations["get"]["responses"]) == path.endswith("/removed"), path


# --------------------------------------------------------------------------- 6. the Link header


def test_the_link_header_never_takes_the_requests_host(app: Flask, client, loaded, world: World, enrol_learner) -> None:
    for _ in range(2):
        enrol_learner(world.cohort_a)
    committed()
    staff = bearer(world.org_admin_a, ["read:people"])
    url = f"/api/v1/cohorts/{world.cohort_a.id}/learners?limit=1"
    forged = client.get(url, headers={**staff, "Host": "evil.example"})
    assert forged.status_code == 200
    assert forged.headers["Link"].startswith(f"</api/v1/cohorts/{world.cohort_a.id}/learners?")
    assert "evil.example" not in forged.headers["Link"]
    app.config["BASE_URL"] = "https://lms.example.org"
    configured = client.get(url, headers={**staff, "Host": "evil.example"})
    assert configured.headers["Link"].startswith(f"<https://lms.example.org/api/v1/cohorts/{world.cohort_a.id}/learners?")
    # a certificate's verify_url too, once a base URL is configured
    level = db.session.scalar(select(Level).order_by(Level.id))
    db.session.add(Certificate(user_id=world.learner_a.id, level=level, code="host-check", issued_at=utcnow(),
                               holder_name=world.learner_a.name))
    committed()
    [certificate] = client.get(f"/api/v1/cohorts/{world.cohort_a.id}/certificates",
                               headers={**bearer(world.org_admin_a, ["read:competency"]), "Host": "evil.example"}).json["data"]
    assert certificate["verify_url"] == "https://lms.example.org/certificates/host-check"


# --------------------------------------------------------------------------- statements


@pytest.mark.parametrize("path", ["/me/grades/removed", "/me/evidence/removed", "/cohorts/{c}/quiz-attempts/removed"])
def test_a_removed_page_costs_the_same_statements_whatever_its_length(app: Flask, client, loaded, world: World,
                                                                      count_queries, path: str) -> None:
    headers = bearer(world.learner_a if path.startswith("/me") else world.org_admin_a)
    url = "/api/v1" + path.format(c=world.cohort_a.id) + "?limit=200"
    kind = {"grades": RemovedKind.GRADE, "evidence": RemovedKind.EVIDENCE, "quiz-attempts": RemovedKind.ATTEMPT}[path.split("/")[-2]]
    mine = path.startswith("/me")

    def grow(n: int) -> None:
        db.session.add_all([ApiRemoval(kind=kind, object_id=i, learner_id=world.learner_a.id,
                                       cohort_id=None if mine else world.cohort_a.id,
                                       organization_id=None if mine else world.org_a.id) for i in range(n)])
        committed()

    def page() -> None:
        assert client.get(url, headers=headers).status_code == 200

    def measure() -> int:
        db.session.expire_all()
        return count_queries(page)

    grow(1)
    page()
    small = measure()
    grow(8)
    assert len(client.get(url, headers=headers).json["data"]) == 9
    assert measure() == small <= 10


# --------------------------------------------------------------------------- 5. team work, cohort mastery


@pytest.fixture()
def team_draft(app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user) -> dict[str, Any]:
    """A cohort in its tenth month (the team assignment open); A, B and C form a team whose
    draft A saved (held by A, every member's work), never handed in."""
    org = make_org(admins=[make_user(name="Olga Admin")])
    cohort = make_cohort(org, "Founders", months_ago=9)
    learners = [enrol_learner(cohort, name=f"Founder {n}") for n in "ABC"]
    assignment = db.session.scalar(select(Assignment).where(Assignment.key == TEAM_KEY))
    now = utcnow()
    team = teams.create_team(db.session, assignment, cohort.id, "Northwind", learners[0], now, as_learner=True)
    for person in learners[1:]:
        teams.add_member(db.session, team, person, now)
    dates = dates_for(assignment, build_schedule(db.session, cohort, learners[0].id, now))
    teams.save_work(db.session, team, learners[0].id, team.draft_revision, "Our draft", None, False, dates,
                    app.instance_path, now)
    committed()
    assert team.submission_id is not None
    return {"team_id": team.id, "submission_id": team.submission_id, "learners": learners}


def _mine(client: Any, person: Any) -> tuple[list[int], list[tuple[str, int, int | None]]]:
    """What ``person``'s own submissions list shows, and what its removed list says left it."""
    headers = bearer(person, ["read:grades"])
    listed = [row["id"] for row in client.get("/api/v1/me/submissions", headers=headers).json["data"]]
    return listed, gone(client, "/api/v1/me/submissions/removed", headers)


def test_a_discarded_team_draft_leaves_every_members_own_list(app: Flask, client, team_draft: dict[str, Any]) -> None:
    draft = team_draft["submission_id"]
    for person in team_draft["learners"]:
        assert _mine(client, person) == ([draft], [])  # every member's work, held by A
    teams.dissolve(db.session, db.session.get_one(Team, team_draft["team_id"]))
    committed()
    for person in team_draft["learners"]:
        assert _mine(client, person) == ([], [("submission", draft, None)]), person.name


def test_a_learner_taken_out_of_a_team_sees_its_work_leave_their_own_list(app: Flask, client,
                                                                          team_draft: dict[str, Any]) -> None:
    draft = team_draft["submission_id"]
    a, b, c = team_draft["learners"]
    teams.remove_member(db.session, db.session.get_one(Team, team_draft["team_id"]), c.id)
    committed()
    assert _mine(client, c) == ([], [("submission", draft, None)])
    assert _mine(client, a) == _mine(client, b) == ([draft], [])  # still theirs
    # The holder taken out: the draft passes to B, and leaves A's list.
    teams.remove_member(db.session, db.session.get_one(Team, team_draft["team_id"]), a.id)
    committed()
    assert _mine(client, a) == ([], [("submission", draft, None)])
    assert _mine(client, b) == ([draft], [])


def test_the_cohorts_mastery_has_a_removed_list(app: Flask, client, loaded, world: World) -> None:
    rows = masteries(world.learner_a, 3)
    staff = bearer(world.org_admin_a, ["read:competency"])
    url = f"/api/v1/cohorts/{world.cohort_a.id}/mastery/removed"
    assert gone(client, url, staff) == []
    one = rows[0].id
    db.session.delete(rows[0])  # its evidence gone
    committed()
    assert gone(client, url, staff) == [("mastery", one, world.cohort_a.id)]
    since = utcnow().isoformat()
    rest = sorted(m.id for m in rows[1:])
    rebuild(db.session, utcnow())  # every row replaced by one bulk DELETE
    committed()
    assert sorted(i for _k, i, _c in gone(client, url, staff, updated_since=since)) == rest
    listed = {row["id"] for row in follow(client, f"/api/v1/cohorts/{world.cohort_a.id}/mastery", staff)}
    assert not listed & {one, *rest}
    # the list's own scope, and another organization's cohort is a 404
    assert client.get(url, headers=bearer(world.org_admin_a, ["read:grades"])).status_code == 403
    other = bearer(world.org_admin_b, ["read:competency"], world.org_b)
    assert client.get(url, headers=other).status_code == 404
    assert client.get(f"/api/v1/cohorts/{world.cohort_b.id}/mastery/removed", headers=other).status_code == 200
    operation = client.get("/api/v1/openapi.json").json["paths"]["/api/v1/cohorts/{cohort_id}/mastery/removed"]["get"]
    assert "Scope: `read:competency`." in operation["description"] and "410" in operation["responses"]
