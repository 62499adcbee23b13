"""A learner's first piece of work made while an org admin moves them, on two real
connections and both databases: it lands in the cohort the learner is enrolled in when it is
made. Made while the move is under way, it waits for the move and is the new cohort's; made
first, the move waits for it and carries it with the learner's other work. Before, the work
read the learner's enrolment before the move committed and was filed under the cohort they
had just left (its staff grading it, the new cohort's never seeing it), and a move made while
a first submission was being written went ahead without it (PostgreSQL: neither waited)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select

from lms.accounts.models import User
from lms.assessment.models import Attempt, Quiz, QuizKind
from lms.assessment.services import quiz_status, start_attempt
from lms.cohorts.enrolment import move_learner
from lms.cohorts.models import Cohort
from lms.coursework.models import Assignment, Submission
from lms.coursework.services import dates_for, save_draft, start_own_submission, submit
from lms.database import utcnow
from lms.extensions import db
from lms.learning.services import learner_schedule
from tests.races import second_waits_for_first

CASE = "mlops-case-coldwatch"  # month 1: open in both cohorts


@pytest.fixture()
def moving(loaded: Flask, make_org, make_cohort, enrol_learner) -> dict[str, Any]:
    organization = make_org("Northwind")
    old = make_cohort(organization, "Northwind cohort 1", months_ago=5)
    new = make_cohort(organization, "Northwind cohort 2", months_ago=5)
    learner = enrol_learner(old, name="Lucia Romero")
    now = utcnow()
    check = next(q for q in db.session.scalars(select(Quiz).where(Quiz.kind == QuizKind.CHECK, Quiz.retired_at.is_(None))
                                               .order_by(Quiz.position))
                 if quiz_status(db.session, q, learner, now).can_start)
    db.session.commit()
    return {"app": loaded, "user": learner.id, "old": old.id, "new": new.id, "check": check.id}


def _move(ids: dict[str, Any]) -> Any:
    def run(session: sa.orm.Session) -> str:
        move_learner(session, session.get_one(User, ids["user"]), session.get_one(Cohort, ids["old"]),
                     session.get_one(Cohort, ids["new"]), utcnow())
        return "moved"
    return run


def _hand_in(ids: dict[str, Any]) -> Any:
    """What the work page does on "Hand in" with no work started yet."""
    def run(session: sa.orm.Session) -> int:
        user = session.get_one(User, ids["user"])
        assignment = session.scalars(select(Assignment).where(Assignment.key == CASE)).one()
        now = utcnow()
        plan = learner_schedule(session, user, now)
        assert plan is not None
        dates = dates_for(assignment, plan)
        submission = start_own_submission(session, assignment, user.id, now)
        save_draft(session, submission, "My analysis of Coldwatch.", dates, now)
        submit(session, submission, dates, now)
        return submission.id
    return run


def _start_check(ids: dict[str, Any]) -> Any:
    def run(session: sa.orm.Session) -> int:
        return start_attempt(session, session.get_one(Quiz, ids["check"]), session.get_one(User, ids["user"]), utcnow()).id
    return run


def test_work_handed_in_while_the_learner_is_moved_is_the_new_cohorts(moving: dict[str, Any]) -> None:
    _moved, submission_id = second_waits_for_first(moving["app"], _move(moving), _hand_in(moving))
    assert db.session.get_one(Submission, submission_id).cohort_id == moving["new"]


def test_a_move_while_work_is_handed_in_waits_and_carries_it(moving: dict[str, Any]) -> None:
    submission_id, moved = second_waits_for_first(moving["app"], _hand_in(moving), _move(moving))
    assert moved == "moved"
    assert db.session.get_one(Submission, submission_id).cohort_id == moving["new"]


def test_a_quiz_started_while_the_learner_is_moved_is_the_new_cohorts(moving: dict[str, Any]) -> None:
    _moved, attempt_id = second_waits_for_first(moving["app"], _move(moving), _start_check(moving))
    assert db.session.get_one(Attempt, attempt_id).cohort_id == moving["new"]


def test_a_move_while_a_quiz_is_started_waits_and_carries_the_attempt(moving: dict[str, Any]) -> None:
    attempt_id, moved = second_waits_for_first(moving["app"], _start_check(moving), _move(moving))
    assert moved == "moved"
    assert db.session.get_one(Attempt, attempt_id).cohort_id == moving["new"]
