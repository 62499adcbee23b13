"""Moving a learner to another cohort of the organization carries their assessed work: their
own submissions in every status (draft, submitted, returned, released), with the grades on
them, become the new cohort's, so its gradebook, grading queue and grade export show them
as the learner's progress does, and the old cohort no longer lists them. A team's work
stays with the team; unfinished peer reviews across the move are cancelled, finished ones
kept. The move is one unit of work with a fixed number of statements, and two moves of one
learner at once move them once."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select

from lms.accounts.models import User
from lms.assessment.models import Attempt, Quiz
from lms.cohorts.enrolment import move_learner
from lms.cohorts.models import Cohort, Enrolment
from lms.cohorts.services import CohortError
from lms.coursework.models import Assignment, Submission, SubmissionStatus
from lms.database import utcnow
from lms.extensions import db
from lms.gradebook.models import CellStatus
from lms.gradebook.services import gradebook
from lms.grading.models import Grade, GradeAction, PeerReview, PeerReviewStatus
from lms.grading.services import save_grade
from lms.progress.models import ProgressItem
from lms.teams.models import Team, TeamMember
from tests.plans import statements_during
from tests.races import second_waits_for_first

# Work open five months in, left in each status (a critique and a case study released, as in the report).
WORK = {"mlops-case-coldwatch": SubmissionStatus.RELEASED, "mlops-critique-on-call-runbook": SubmissionStatus.RELEASED,
        "po-case-quayside-onboarding": SubmissionStatus.RETURNED, "po-critique-onboarding-sop": SubmissionStatus.SUBMITTED,
        "qa-case-hollowbrook-minutes": SubmissionStatus.DRAFT}
HANDED_IN = {SubmissionStatus.SUBMITTED, SubmissionStatus.RETURNED, SubmissionStatus.RELEASED}
CELL = {SubmissionStatus.RELEASED: CellStatus.RELEASED, SubmissionStatus.RETURNED: CellStatus.RETURNED,
        SubmissionStatus.SUBMITTED: CellStatus.SUBMITTED}


@pytest.fixture()
def org(app: Flask, loaded, make_org, make_cohort, make_user, enrol_learner, login) -> dict[str, Any]:
    admin = make_user(name="Olga Admin")
    organization = make_org("Northwind", admins=[admin])
    old_teacher, new_teacher = make_user(name="Tess Old"), make_user(name="Nina New")
    old = make_cohort(organization, "Northwind cohort 1", months_ago=5, instructors=[old_teacher])
    new = make_cohort(organization, "Northwind cohort 2", months_ago=5, instructors=[new_teacher])
    third = make_cohort(organization, "Northwind cohort 3", months_ago=5)

    def client_for(user: Any) -> Any:
        client = app.test_client()
        login(client, user)
        return client

    def learner_with_work(name: str, keys: dict[str, SubmissionStatus]) -> User:
        """A learner of the old cohort with work in each status, made through the pages and services."""
        learner = enrol_learner(old, name=name)
        client = client_for(learner)
        for key, status in keys.items():
            answer = client.post(f"/assignments/{key}/work",
                                 data={"body": f"{name} on {key}", "action": "save" if status == SubmissionStatus.DRAFT else "submit"})
            assert answer.status_code == 302, (key, answer.get_data(as_text=True)[:500])
            if status in (SubmissionStatus.RETURNED, SubmissionStatus.RELEASED):
                submission = db.session.scalars(select(Submission).join(Assignment)
                                                .where(Submission.user_id == learner.id, Assignment.key == key)).one()
                levels = {c.id: c.levels[1].id for c in submission.assignment.rubric.current.criteria}
                action = GradeAction.RELEASE if status == SubmissionStatus.RELEASED else GradeAction.RETURN
                save_grade(db.session, submission, old_teacher, levels, {}, "Feedback.", None, action, utcnow())
                db.session.commit()
        db.session.expire_all()
        return learner

    return {"admin": admin, "old": old, "new": new, "third": third, "old_teacher": old_teacher,
            "new_teacher": new_teacher, "client_for": client_for, "learner_with_work": learner_with_work, "work": WORK}


def submissions_of(user_id: int) -> dict[str, Submission]:
    db.session.expire_all()
    return {s.assignment.key: s for s in db.session.scalars(select(Submission).where(Submission.user_id == user_id))}


def cells(cohort: Cohort, user: User, keys: set[str]) -> dict[str, CellStatus]:
    book = gradebook(db.session, cohort, utcnow())
    row = next((r for r in book.rows if r.user.id == user.id), None)
    if row is None:
        return {}
    return {c.key: cell.status for c, cell in zip(book.columns, row.cells, strict=True) if c.key in keys}


def csv_rows(client: Any, cohort: Cohort, email: str) -> list[dict[str, str]]:
    answer = client.get(f"/cohorts/{cohort.id}/grades.csv")
    assert answer.status_code == 200
    return [r for r in csv.DictReader(io.StringIO(answer.get_data(as_text=True))) if r["email"] == email]


def test_a_move_carries_work_in_every_status_to_the_new_cohort(org: dict[str, Any]) -> None:
    lucia = org["learner_with_work"]("Lucia Romero", org["work"])
    keys = set(org["work"])
    before = submissions_of(lucia.id)
    assert {k: s.status for k, s in before.items()} == org["work"]
    assert all(s.cohort_id == org["old"].id for s in before.values())
    shown = cells(org["old"], lucia, keys)
    assert {k: shown[k] for k, s in org["work"].items() if s in CELL} == {k: CELL[s] for k, s in org["work"].items() if s in CELL}

    admin = org["client_for"](org["admin"])
    answer = admin.post(f"/cohorts/{org['old'].id}/learners/{lucia.id}/move", data={"move-target": org["new"].id},
                        follow_redirects=True)
    page = answer.get_data(as_text=True)
    assert "Lucia Romero moved to Northwind cohort 2. Their work on 5 assignments moved with them, with its grades and feedback." in page

    after = submissions_of(lucia.id)
    assert {k: s.status for k, s in after.items()} == org["work"]  # nothing else about the work changed
    assert all(s.cohort_id == org["new"].id for s in after.values())
    assert db.session.scalar(select(sa.func.count()).select_from(Grade)) == 3  # the grades hang on the submissions

    # The new cohort's gradebook shows the work as the old one did (the draft is still hers
    # to finish, on her dates in the new cohort); the old one no longer has her.
    now_shown = cells(org["new"], lucia, keys)
    draft = next(k for k, s in org["work"].items() if s == SubmissionStatus.DRAFT)
    assert now_shown.pop(draft) in (CellStatus.IN_PROGRESS, CellStatus.OVERDUE)
    assert now_shown == {k: c for k, c in shown.items() if k != draft}
    assert cells(org["old"], lucia, keys) == {}

    # The grading queue, the grading page and the grade export: the new cohort's, not the old one's.
    handed_in = [s for s in after.values() if s.status in HANDED_IN]
    old_staff, new_staff = org["client_for"](org["old_teacher"]), org["client_for"](org["new_teacher"])
    assert "Lucia Romero" not in old_staff.get(f"/grading?status=all&cohort={org['old'].id}").get_data(as_text=True)
    queue = new_staff.get(f"/grading?status=all&cohort={org['new'].id}").get_data(as_text=True)
    assert queue.count("<td>Lucia Romero</td>") == len(handed_in) == 4  # her rows (each Open link names her too)
    for submission in handed_in:
        assert old_staff.get(f"/cohorts/{org['old'].id}/submissions/{submission.id}").status_code == 404
        assert admin.get(f"/cohorts/{org['old'].id}/submissions/{submission.id}").status_code == 404
        assert new_staff.get(f"/cohorts/{org['new'].id}/submissions/{submission.id}").status_code == 200
    assert csv_rows(admin, org["old"], lucia.email) == []
    rows = csv_rows(admin, org["new"], lucia.email)
    assert sorted((r["assignment"], r["status"]) for r in rows) == sorted((s.assignment.key, s.status.value) for s in handed_in)
    assert sum(1 for r in rows if r["score"]) == 2  # the released grades

    # Her progress agrees: released work is done in the kept state of the new cohort.
    done = {key: done for key, done, cohort_id in db.session.execute(
        select(ProgressItem.key, ProgressItem.done, ProgressItem.cohort_id).where(ProgressItem.user_id == lucia.id))
        if key in keys}
    assert done == {k: s == SubmissionStatus.RELEASED for k, s in org["work"].items()}
    assert {c for _k, _d, c in db.session.execute(select(ProgressItem.key, ProgressItem.done, ProgressItem.cohort_id)
                                                  .where(ProgressItem.user_id == lucia.id))} == {org["new"].id}
    progress = org["client_for"](lucia).get("/progress").get_data(as_text=True)
    assert "accepted" in progress


def test_a_teams_work_stays_with_the_team_and_the_message_says_so(org: dict[str, Any], enrol_learner) -> None:
    lucia = org["learner_with_work"]("Lucia Romero", {"mlops-case-coldwatch": SubmissionStatus.SUBMITTED})
    mate = enrol_learner(org["old"], name="Mia Mate")
    team_assignment = db.session.scalars(select(Assignment).where(Assignment.team_max.is_not(None))).first()
    assert team_assignment is not None
    shared = Submission(assignment_id=team_assignment.id, user_id=lucia.id, cohort_id=org["old"].id)
    db.session.add(shared)
    db.session.flush()
    team = Team(assignment_id=team_assignment.id, cohort_id=org["old"].id, name="Blue", submission_id=shared.id,
                created_by_id=lucia.id)
    team.members.extend([TeamMember(assignment_id=team_assignment.id, user_id=lucia.id),
                         TeamMember(assignment_id=team_assignment.id, user_id=mate.id)])
    db.session.add(team)
    db.session.commit()

    moved = move_learner(db.session, lucia, org["old"], org["new"], utcnow())
    db.session.commit()
    assert moved.summary == ("Their work on 1 assignment moved with them, with its grades and feedback. "
                             "Team work on 1 assignment stays with the team in Northwind cohort 1.")
    after = submissions_of(lucia.id)
    assert after["mlops-case-coldwatch"].cohort_id == org["new"].id
    assert after[team_assignment.key].cohort_id == org["old"].id  # graded with the team, whose members stayed


def test_unfinished_peer_reviews_across_the_move_are_cancelled_finished_ones_kept(org: dict[str, Any]) -> None:
    case = {"mlops-case-coldwatch": SubmissionStatus.SUBMITTED}
    lucia, ben, cy = (org["learner_with_work"](name, case) for name in ("Lucia Romero", "Ben Stays", "Cy Stays"))
    work = {u.id: submissions_of(u.id)["mlops-case-coldwatch"] for u in (lucia, ben, cy)}

    def review(of: User, by: User, status: PeerReviewStatus) -> int:
        submission = work[of.id]
        row = PeerReview(submission_id=submission.id, reviewer_id=by.id, version_id=submission.latest.id,
                         rubric_version_id=submission.assignment.rubric.current.id, status=status)
        db.session.add(row)
        db.session.flush()
        return row.id

    hers_of_ben = review(ben, lucia, PeerReviewStatus.ASSIGNED)
    hers_of_cy = review(cy, lucia, PeerReviewStatus.DONE)
    bens_of_hers = review(lucia, ben, PeerReviewStatus.ASSIGNED)
    cys_of_hers = review(lucia, cy, PeerReviewStatus.DONE)
    bens_of_cys = review(cy, ben, PeerReviewStatus.ASSIGNED)  # nothing to do with her
    db.session.commit()

    moved = move_learner(db.session, lucia, org["old"], org["new"], utcnow())
    db.session.commit()
    assert "2 unfinished peer reviews between them and their old cohort were cancelled" in moved.summary
    db.session.expire_all()
    status = {i: s for i, s in db.session.execute(select(PeerReview.id, PeerReview.status))}
    assert status == {hers_of_ben: PeerReviewStatus.CANCELLED, bens_of_hers: PeerReviewStatus.CANCELLED,
                      hers_of_cy: PeerReviewStatus.DONE, cys_of_hers: PeerReviewStatus.DONE,
                      bens_of_cys: PeerReviewStatus.ASSIGNED}


def test_a_move_costs_the_same_statements_whatever_the_work(org: dict[str, Any]) -> None:
    few = org["learner_with_work"]("Fay Few", {"mlops-case-coldwatch": SubmissionStatus.SUBMITTED})
    many = org["learner_with_work"]("Max Many", org["work"])
    counts = []
    for learner in (few, many):
        def move(learner: User = learner) -> None:
            move_learner(db.session, learner, db.session.get_one(Cohort, org["old"].id),
                         db.session.get_one(Cohort, org["new"].id), utcnow())
            db.session.flush()
        counts.append(len(statements_during(move)))
        db.session.commit()
    assert counts[0] == counts[1], counts
    assert {s.cohort_id for u in (few, many) for s in submissions_of(u.id).values()} == {org["new"].id}


def test_two_moves_of_one_learner_at_once_move_them_once(app: Flask, org: dict[str, Any]) -> None:
    lucia = org["learner_with_work"]("Lucia Romero", org["work"])
    ids = {"lucia": lucia.id, "old": org["old"].id, "new": org["new"].id, "third": org["third"].id}

    def move(to: str) -> Any:
        def run(session: sa.orm.Session) -> str:
            try:
                move_learner(session, session.get_one(User, ids["lucia"]), session.get_one(Cohort, ids["old"]),
                             session.get_one(Cohort, ids[to]), utcnow())
            except CohortError as exc:
                return str(exc)
            return "moved"
        return run

    first, second = second_waits_for_first(app, move("new"), move("third"))
    assert first == "moved" and "meanwhile" in second
    active = db.session.scalars(select(Enrolment.cohort_id).where(Enrolment.user_id == lucia.id, Enrolment.active)).all()
    assert active == [org["new"].id]
    assert {s.cohort_id for s in submissions_of(lucia.id).values()} == {org["new"].id}


def test_attempts_still_open_or_waiting_for_a_grade_move_and_graded_ones_stay(org: dict[str, Any], enrol_learner) -> None:
    """The new cohort's staff grade a moved learner's written answers (listed by the
    attempt's cohort) and its closings apply to an attempt under way; an attempt finished and
    graded stays where it was taken, in that cohort's quiz statistics."""
    learner = enrol_learner(org["old"], name="Quinn Quiz")
    quizzes = list(db.session.scalars(select(Quiz).order_by(Quiz.id).limit(3)))
    now = utcnow()
    made = {
        "graded": Attempt(quiz_id=quizzes[0].id, user_id=learner.id, cohort_id=org["old"].id, number=1, layout=[],
                          started_at=now, submitted_at=now, score=8, max_score=10),
        "waiting": Attempt(quiz_id=quizzes[1].id, user_id=learner.id, cohort_id=org["old"].id, number=1, layout=[],
                           started_at=now, submitted_at=now, score=4, max_score=10, pending_manual=True),
        "running": Attempt(quiz_id=quizzes[2].id, user_id=learner.id, cohort_id=org["old"].id, number=1, layout=[],
                           started_at=now),
    }
    db.session.add_all(made.values())
    db.session.commit()
    ids = {name: attempt.id for name, attempt in made.items()}
    moved_at = now + timedelta(hours=1)
    moved = move_learner(db.session, learner, org["old"], org["new"], moved_at)
    db.session.commit()
    assert "2 quiz attempts still open or waiting for a grade moved with them." in moved.summary
    db.session.expire_all()
    cohorts = {name: db.session.get(Attempt, attempt_id).cohort_id for name, attempt_id in ids.items()}
    assert cohorts == {"graded": org["old"].id, "waiting": org["new"].id, "running": org["new"].id}
    # the submitted one carried is new to the new cohort's list: a change for updated_since (the API's)
    changed = {name: db.session.get(Attempt, attempt_id).updated_at for name, attempt_id in ids.items()}
    assert changed == {"graded": None, "waiting": moved_at, "running": None}
