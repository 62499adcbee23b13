"""A save and a hand-in sent at once (two tabs, a slow network): on real connections and
both databases, the second waits for the first. A save that comes after the hand-in is
refused, so the learner is never told "saved" about text their instructor will not read;
a hand-in that comes after a save hands in what the save stored. Before, the save got
through (its check read the status before the hand-in committed) and the hand-in sent
the text it had loaded before the save."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select

from lms.accounts.models import User
from lms.catalog.models import Level
from lms.cohorts.enrolment import move_learner
from lms.cohorts.models import Cohort
from lms.coursework.models import Assignment, Submission, SubmissionStatus
from lms.coursework.services import SubmissionError, dates_for, save_draft, start_submission, submit
from lms.database import utcnow
from lms.extensions import db
from lms.grading.models import GradeAction
from lms.grading.services import save_grade
from lms.learning.services import build_schedule
from lms.portfolio.services import PortfolioError, curate, eligible_work, portfolio_for, review_assignment, submit_for_review
from tests.races import second_waits_for_first

CASE = "mlops-case-coldwatch"  # month 1: foundation


def _dates(session: sa.orm.Session, assignment: Assignment, cohort_id: int, user_id: int) -> Any:
    return dates_for(assignment, build_schedule(session, session.get_one(Cohort, cohort_id), user_id, utcnow()))


@pytest.fixture()
def work(loaded: Flask, make_cohort, enrol_learner, make_user) -> dict[str, Any]:
    teacher = make_user(name="Greta Grader")
    cohort = make_cohort(months_ago=5, instructors=[teacher])
    user = enrol_learner(cohort)
    assignment = db.session.scalars(select(Assignment).where(Assignment.key == CASE)).one()
    submission = start_submission(db.session, assignment, user.id, cohort.id, utcnow())
    save_draft(db.session, submission, "first draft", _dates(db.session, assignment, cohort.id, user.id), utcnow())
    db.session.commit()
    return {"app": loaded, "user": user.id, "teacher": teacher.id, "cohort": cohort.id, "submission": submission.id,
            "assignment": assignment.id}


def _hand_in(work: dict[str, Any]) -> Any:
    def run(session: sa.orm.Session) -> str:
        submission = session.get_one(Submission, work["submission"])
        dates = _dates(session, submission.assignment, work["cohort"], work["user"])
        try:
            return submit(session, submission, dates, utcnow()).body
        except SubmissionError as refused:
            return f"refused: {refused}"
    return run


def _save(work: dict[str, Any], text: str) -> Any:
    def run(session: sa.orm.Session) -> str:
        submission = session.get_one(Submission, work["submission"])
        dates = _dates(session, submission.assignment, work["cohort"], work["user"])
        try:
            save_draft(session, submission, text, dates, utcnow())
        except SubmissionError as refused:
            return f"refused: {refused}"
        return "saved"
    return run


def _stored(work: dict[str, Any]) -> Submission:
    db.session.expire_all()
    return db.session.get_one(Submission, work["submission"])


def test_a_save_arriving_while_the_work_is_handed_in_is_refused(work: dict[str, Any]) -> None:
    handed, saved = second_waits_for_first(work["app"], _hand_in(work), _save(work, "second thoughts"))
    assert handed == "first draft"
    assert saved.startswith("refused: Your work is submitted")
    stored = _stored(work)
    assert stored.status == SubmissionStatus.SUBMITTED and stored.draft_body == "first draft"
    assert [v.body for v in stored.versions] == ["first draft"]


def test_a_hand_in_arriving_while_a_save_is_made_hands_in_the_saved_text(work: dict[str, Any]) -> None:
    saved, handed = second_waits_for_first(work["app"], _save(work, "the final text"), _hand_in(work))
    assert saved == "saved" and handed == "the final text"
    assert [v.body for v in _stored(work).versions] == ["the final text"]


def test_two_hand_ins_at_once_make_one_version(work: dict[str, Any]) -> None:
    first, second = second_waits_for_first(work["app"], _hand_in(work), _hand_in(work))
    assert first == "first draft" and second.startswith("refused: Your work is submitted")
    assert len(_stored(work).versions) == 1


# --------------------------------------------------------------------------- the portfolio


@pytest.fixture()
def portfolio(work: dict[str, Any]) -> dict[str, Any]:
    """The learner's case study handed in, graded and released: something to put in the
    foundation portfolio, which holds it with a reflection for every objective."""
    submission = db.session.get_one(Submission, work["submission"])
    submit(db.session, submission, _dates(db.session, submission.assignment, work["cohort"], work["user"]), utcnow())
    criteria = submission.assignment.rubric.current.criteria
    save_grade(db.session, submission, db.session.get_one(User, work["teacher"]), {c.id: c.levels[1].id for c in criteria},
               {}, "Sound.", None, GradeAction.RELEASE, utcnow())
    db.session.commit()
    setting = _portfolio_setting(db.session, work)
    curate(db.session, setting["portfolio"], [work["submission"]], setting["reflections"]("first thoughts"),
           setting["eligible"], setting["codes"], utcnow())
    db.session.commit()
    return work


def _portfolio_setting(session: sa.orm.Session, work: dict[str, Any]) -> dict[str, Any]:
    level = session.scalars(select(Level).where(Level.key == "foundation")).one()
    assignment = review_assignment(session, level)
    assert assignment is not None
    codes = [o.key for o in assignment.objectives]
    return {"portfolio": portfolio_for(session, work["user"], level, utcnow()), "codes": codes,
            "eligible": eligible_work(session, work["user"], level), "assignment": assignment,
            "reflections": lambda text: {c: f"{c}: {text}" for c in codes}}


def _curate(work: dict[str, Any], text: str) -> Any:
    def run(session: sa.orm.Session) -> str:
        setting = _portfolio_setting(session, work)
        try:
            curate(session, setting["portfolio"], [work["submission"]], setting["reflections"](text),
                   setting["eligible"], setting["codes"], utcnow())
        except PortfolioError as refused:
            return f"refused: {refused}"
        return "saved"
    return run


def _hand_in_portfolio(work: dict[str, Any]) -> Any:
    def run(session: sa.orm.Session) -> str:
        setting = _portfolio_setting(session, work)
        dates = _dates(session, setting["assignment"], work["cohort"], work["user"])
        try:
            review = submit_for_review(session, setting["portfolio"], session.get_one(User, work["user"]),
                                       setting["eligible"], utcnow(), dates)
        except PortfolioError as refused:
            return f"refused: {refused}"
        return review.latest.body
    return run


def test_a_portfolio_save_arriving_while_it_is_handed_in_is_refused(portfolio: dict[str, Any]) -> None:
    handed, saved = second_waits_for_first(portfolio["app"], _hand_in_portfolio(portfolio), _curate(portfolio, "late idea"))
    assert "KO1: first thoughts" in handed
    assert saved.startswith("refused: Your portfolio is with your instructor")
    db.session.expire_all()
    assert "KO1: first thoughts" in _portfolio_setting(db.session, portfolio)["portfolio"].reflections["KO1"]


def test_a_portfolio_hand_in_arriving_while_it_is_saved_hands_in_the_saved_reflections(portfolio: dict[str, Any]) -> None:
    saved, handed = second_waits_for_first(portfolio["app"], _curate(portfolio, "better words"), _hand_in_portfolio(portfolio))
    assert saved == "saved"
    assert "KO1: better words" in handed and "first thoughts" not in handed


def test_a_portfolio_handed_in_while_the_learner_is_moved_is_the_new_cohorts(portfolio: dict[str, Any], make_cohort) -> None:
    """The review submission the hand-in starts is filed under the cohort the learner is
    enrolled in when it is made (``coursework.start_own_submission``): the move commits
    first, so the new cohort's staff grade it. Before, it read the enrolment before the move
    committed and landed in the cohort the learner had left (tests/test_move_races.py)."""
    old = db.session.get_one(Cohort, portfolio["cohort"])
    new = make_cohort(old.organization, "Second cohort", months_ago=5).id

    def move(session: sa.orm.Session) -> None:
        move_learner(session, session.get_one(User, portfolio["user"]), session.get_one(Cohort, portfolio["cohort"]),
                     session.get_one(Cohort, new), utcnow())

    _moved, handed = second_waits_for_first(portfolio["app"], move, _hand_in_portfolio(portfolio))
    assert "KO1: first thoughts" in handed
    review = db.session.scalars(select(Submission).where(Submission.user_id == portfolio["user"],
                                                         Submission.id != portfolio["submission"])).one()
    assert review.cohort_id == new
    assert db.session.get_one(Submission, portfolio["submission"]).cohort_id == new  # the case study moved with them
