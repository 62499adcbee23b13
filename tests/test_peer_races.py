"""Peer review hand-outs at once, on real connections and both databases: every hand-out
first takes the cohort's row (``lms.grading.peer.hold_pool``), so the second waits for the
first and reads the reviews it gave. A learner's "Get work to review" sent twice at once
(a double click) gives them their k, not 2k with the same work twice; two learners taking
the one extra review left give the work one reviewer, not two past its k; an instructor's
reviewer and a learner's extra for the last place likewise. Before, both read the reviews
as they stood and both wrote theirs. A reviewer's one live review of a piece of work is also
a unique index."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select

from lms.accounts.models import User
from lms.cohorts.models import Cohort
from lms.coursework.models import Assignment, Submission
from lms.coursework.services import dates_for, save_draft, start_submission, submit
from lms.database import utcnow
from lms.extensions import db
from lms.grading import peer
from lms.grading.models import PeerReview, PeerReviewStatus
from lms.grading.services import GradingError
from lms.learning.services import build_schedule
from tests.races import second_waits_for_first

HANDS_ON = "cs-hands-on-own-operation"  # month 6, two peer reviews each


def _hand_in(assignment: Assignment, cohort: Cohort, user: User) -> None:
    dates = dates_for(assignment, build_schedule(db.session, cohort, user.id, utcnow()))
    work = start_submission(db.session, assignment, user.id, cohort.id, utcnow())
    save_draft(db.session, work, f"{user.name}'s plan", dates, utcnow())
    submit(db.session, work, dates, utcnow())


@pytest.fixture()
def pool(loaded: Flask, make_cohort, enrol_learner, make_user) -> dict[str, Any]:
    """Four learners who handed in: Ana, Ben and Cleo reviewed each other (two each, all
    done), Dev handed in after them and took his two. Dev's work has no reviewer."""
    teacher = make_user(name="Tom Teacher")
    cohort = make_cohort(months_ago=5, instructors=[teacher])
    assignment = db.session.scalars(select(Assignment).where(Assignment.key == HANDS_ON)).one()
    people = {name: enrol_learner(cohort, name=name) for name in ("Ana", "Ben", "Cleo", "Dev")}
    for name in ("Ana", "Ben", "Cleo"):
        _hand_in(assignment, cohort, people[name])
    for name in ("Ana", "Ben", "Cleo"):
        for review in peer.reviews_to_do(db.session, assignment, people[name], utcnow()):
            criteria = review.rubric_version.criteria
            peer.complete_review(db.session, review, {c.id: c.levels[0].id for c in criteria}, "Good.", utcnow())
    _hand_in(assignment, cohort, people["Dev"])
    db.session.commit()
    return {"app": loaded, "assignment": assignment.id, "cohort": cohort.id, "teacher": teacher.id,
            **{name: user.id for name, user in people.items()}}


def _live_of(**where: int) -> list[PeerReview]:
    db.session.expire_all()
    query = select(PeerReview).join(PeerReview.submission).where(PeerReview.status != PeerReviewStatus.CANCELLED)
    if "reviewer" in where:
        query = query.where(PeerReview.reviewer_id == where["reviewer"])
    if "author" in where:
        query = query.where(Submission.user_id == where["author"])
    return list(db.session.scalars(query))


def _ask(pool: dict[str, Any], name: str) -> Any:
    def run(session: sa.orm.Session) -> int:
        asked = peer.ask_for_reviews(session, session.get_one(Assignment, pool["assignment"]),
                                     session.get_one(User, pool[name]), utcnow())
        return asked.after - asked.before
    return run


def _one_more(pool: dict[str, Any], name: str) -> Any:
    def run(session: sa.orm.Session) -> str:
        try:
            review = peer.review_one_more(session, session.get_one(Assignment, pool["assignment"]),
                                          session.get_one(User, pool[name]), utcnow())
        except GradingError as refused:
            return f"refused: {refused}"
        return f"extra of {review.submission_id}"
    return run


def _assign(pool: dict[str, Any], reviewer: str) -> Any:
    def run(session: sa.orm.Session) -> str:
        work = session.scalars(select(Submission).where(Submission.user_id == pool["Dev"])).one()
        try:
            peer.assign(session, work, session.get_one(User, pool[reviewer]), utcnow())
        except GradingError as refused:
            return f"refused: {refused}"
        return "assigned"
    return run


def test_a_double_click_on_get_work_to_review_gives_the_k_once(loaded: Flask, make_cohort, enrol_learner) -> None:
    cohort = make_cohort(months_ago=5)
    assignment = db.session.scalars(select(Assignment).where(Assignment.key == HANDS_ON)).one()
    people = {name: enrol_learner(cohort, name=name) for name in ("Ana", "Ben", "Cleo", "Dev")}
    for user in people.values():
        _hand_in(assignment, cohort, user)
    db.session.commit()
    setting = {"assignment": assignment.id, **{name: user.id for name, user in people.items()}}
    first, second = second_waits_for_first(loaded, _ask(setting, "Ana"), _ask(setting, "Ana"))
    assert (first, second) == (2, 0)
    mine = _live_of(reviewer=people["Ana"].id)
    assert len(mine) == 2 and len({r.submission_id for r in mine}) == 2


def test_two_learners_taking_the_last_extra_review_at_once_give_the_work_one(pool: dict[str, Any]) -> None:
    assert peer.review_one_more(db.session, db.session.get_one(Assignment, pool["assignment"]),
                                db.session.get_one(User, pool["Cleo"]), utcnow()) is not None
    db.session.commit()  # Dev's work is one reviewer short now
    first, second = second_waits_for_first(pool["app"], _one_more(pool, "Ana"), _one_more(pool, "Ben"))
    assert first.startswith("extra of ")
    assert second.startswith("refused: Every classmate's work has its 2 reviewers now")
    assert sorted(r.reviewer_id for r in _live_of(author=pool["Dev"])) == sorted([pool["Cleo"], pool["Ana"]])


def test_an_instructors_reviewer_and_a_learners_extra_at_once_never_take_the_work_past_k(pool: dict[str, Any]) -> None:
    assert peer.review_one_more(db.session, db.session.get_one(Assignment, pool["assignment"]),
                                db.session.get_one(User, pool["Cleo"]), utcnow()) is not None
    db.session.commit()
    first, second = second_waits_for_first(pool["app"], _assign(pool, "Ben"), _one_more(pool, "Ana"))
    assert first == "assigned" and second.startswith("refused: Every classmate's work has its 2 reviewers now")
    assert sorted(r.reviewer_id for r in _live_of(author=pool["Dev"])) == sorted([pool["Cleo"], pool["Ben"]])


def test_a_reviewer_holds_one_live_review_of_a_piece_of_work(pool: dict[str, Any]) -> None:
    """The unique index: a second live review of the same work by the same reviewer is
    refused by the database, whatever path writes it."""
    taken = _live_of(reviewer=pool["Ana"])[0]
    db.session.add(PeerReview(submission_id=taken.submission_id, reviewer_id=taken.reviewer_id, version_id=taken.version_id,
                              rubric_version_id=taken.rubric_version_id))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()
    taken = _live_of(reviewer=pool["Ana"])[0]
    taken.status = PeerReviewStatus.CANCELLED  # a cancelled one does not count: the work may be given again
    db.session.add(PeerReview(submission_id=taken.submission_id, reviewer_id=taken.reviewer_id, version_id=taken.version_id,
                              rubric_version_id=taken.rubric_version_id))
    db.session.flush()
