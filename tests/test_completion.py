"""Completion against the schedule: what is done, due, overdue; module parts and levels;
days behind; and a fixed number of statements for a whole cohort."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from lms.assessment.models import Attempt, Quiz
from lms.catalog.models import Lesson, Phase
from lms.cohorts.models import Pace
from lms.coursework.models import Assignment, Submission
from lms.database import utcnow
from lms.extensions import db
from lms.learning.services import grant_override
from lms.progress.completion import cohort_progress, learner_progress
from lms.progress.models import LessonRead


def _pass(user_id: int, quiz: Quiz, percent: float = 80, number: int = 1) -> None:
    db.session.add(Attempt(quiz_id=quiz.id, user_id=user_id, number=number, layout=[], submitted_at=utcnow(),
                           score=percent, max_score=100))


def _accept(user_id: int, assignment: Assignment, status: str = "released") -> None:
    db.session.add(Submission(assignment_id=assignment.id, user_id=user_id, status=status, submitted_at=utcnow()))


@pytest.fixture()
def course(app, loaded):
    """The shipped curriculum, loaded."""


def test_a_new_learner_five_months_in_is_behind(course, make_cohort, enrol_learner) -> None:
    cohort = make_cohort(months_ago=5)
    user = enrol_learner(cohort)
    progress = learner_progress(db.session, cohort, user.id, utcnow())
    assert progress.month == 6 and progress.level.key == "intermediate"
    assert progress.overdue and progress.days_behind > 100 and progress.behind
    foundation = progress.level_status("foundation")
    assert not foundation.complete and foundation.stage == 0
    assert {p.module.key for p in foundation.parts} >= {"mlops", "customer-success", "process-optimization", "quality-assurance"}
    assert progress.opens_next and all(i.opens_on > progress.today for i in progress.opens_next)


def test_completing_the_foundation_level(course, make_cohort, enrol_learner) -> None:
    cohort = make_cohort(months_ago=5)
    user = enrol_learner(cohort)
    foundation = learner_progress(db.session, cohort, user.id, utcnow()).level_status("foundation")
    lessons = {i.key for p in foundation.parts for i in p.items if i.kind == "lesson"}
    for lesson in db.session.scalars(select(Lesson).where(Lesson.key.in_(lessons))):
        db.session.add(LessonRead(user_id=user.id, lesson_id=lesson.id))
    work = {i.key for p in foundation.parts for i in p.items if i.kind == "assignment"}
    for assignment in db.session.scalars(select(Assignment).where(Assignment.key.in_(work))):
        _accept(user.id, assignment)
    for quiz in db.session.scalars(select(Quiz).where(Quiz.key.in_({i.key for p in foundation.parts for i in p.items if i.kind == "quiz"}))):
        _pass(user.id, quiz)
    db.session.commit()
    status = learner_progress(db.session, cohort, user.id, utcnow()).level_status("foundation")
    assert status.modules_done and not status.exam_passed and status.stage == 1
    exam = db.session.scalar(select(Quiz).where(Quiz.key == "foundation-exam"))
    _pass(user.id, exam, percent=exam.passing_score - 1)  # just below the bar: not passed
    db.session.commit()
    assert learner_progress(db.session, cohort, user.id, utcnow()).level_status("foundation").stage == 1
    _pass(user.id, exam, percent=exam.passing_score, number=2)
    portfolio = db.session.scalar(select(Assignment).where(Assignment.key == status.portfolio.key))
    _accept(user.id, portfolio, status="returned")
    db.session.commit()
    status = learner_progress(db.session, cohort, user.id, utcnow()).level_status("foundation")
    assert status.exam_passed and not status.portfolio_accepted and status.stage == 2
    db.session.scalar(select(Submission).where(Submission.assignment_id == portfolio.id)).status = "released"
    db.session.commit()
    assert learner_progress(db.session, cohort, user.id, utcnow()).level_status("foundation").complete


def test_an_extension_moves_the_due_date(course, make_cohort, enrol_learner, make_user) -> None:
    cohort = make_cohort(months_ago=1)
    user = enrol_learner(cohort)
    before = learner_progress(db.session, cohort, user.id, utcnow())
    item = next(i for i in before.items if i.kind == "assignment" and i.due_on < before.today)
    assignment = db.session.scalar(select(Assignment).where(Assignment.key == item.key))
    phase = db.session.get(Phase, assignment.phase_id)
    grant_override(db.session, cohort, user, phase.id, "extension", before.today + timedelta(days=10), "ill", make_user(), utcnow())
    db.session.commit()
    after = learner_progress(db.session, cohort, user.id, utcnow())
    moved = next(i for i in after.items if i.key == item.key)
    assert moved.due_on == before.today + timedelta(days=10) and moved not in after.overdue


def test_statements_do_not_grow_with_learners(course, make_cohort, enrol_learner, count_queries) -> None:
    cohort = make_cohort(months_ago=5)
    quiz = db.session.scalar(select(Quiz).where(Quiz.key == "mlops-quiz"))

    def add(n: int) -> list[int]:
        ids = []
        for _ in range(n):
            user = enrol_learner(cohort)
            _pass(user.id, quiz)
            ids.append(user.id)
        db.session.commit()
        return ids

    few = add(2)
    small = count_queries(lambda: cohort_progress(db.session, cohort, few, utcnow()))
    many = few + add(6)
    # Learners who joined late, on either pace, each with their own dates.
    for n, pace in enumerate([Pace.CATCH_UP, Pace.OWN_START, Pace.CATCH_UP, Pace.OWN_START]):
        many.append(enrol_learner(cohort, joined=utcnow() - timedelta(days=9 * n), pace=pace).id)
    large = count_queries(lambda: cohort_progress(db.session, cohort, many, utcnow()))
    assert small == large
    progress = cohort_progress(db.session, cohort, many, utcnow())
    assert len({p.timeline for p in progress.values()}) == 5  # the cohort's dates and four learners' own
