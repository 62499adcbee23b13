"""The shipped quizzes meet the program's requirements and load cleanly."""

from __future__ import annotations

import random
from collections import Counter

from flask import Flask
from sqlalchemy import select

from lms.assessment.models import Question, Quiz
from lms.assessment.services import _layout, active_quizzes, current_versions, release_month
from lms.extensions import db


def test_every_module_has_a_quiz_and_every_level_an_exam(app: Flask, loaded) -> None:
    quizzes = db.session.scalars(select(Quiz)).all()
    modules = {q.module.key for q in quizzes if q.kind == "quiz"}
    assert modules == {"mlops", "customer-success", "process-optimization", "quality-assurance",
                       "international-operations", "operations-implementation"}
    # a module's quizzes (one a phase, opening as the phase ends) hold at least 12 questions
    # of 4 types between them, and each at least 5 of 3 types
    by_module: dict[str, list] = {}
    for quiz in (q for q in quizzes if q.kind == "quiz"):
        versions = [v for _, v in current_versions(db.session, quiz)]
        assert len(versions) >= 5, quiz.key
        assert len({v.type for v in versions}) >= 3, quiz.key
        assert all(v.objectives for v in versions), quiz.key
        by_module.setdefault(quiz.module.key, []).extend(versions)
    for module, versions in by_module.items():
        assert len(versions) >= 12 and len({v.type for v in versions}) >= 4, module
    exams = {q.level.key: q for q in quizzes if q.kind == "exam"}
    assert set(exams) == {"foundation", "intermediate", "advanced"}
    for level, exam in exams.items():
        chosen = current_versions(db.session, exam)
        assert exam.pools, level
        layout = _layout(exam, chosen, random.Random(1))
        assert len(layout) >= 25, level
        by_id = {v.id: v for _, v in chosen}
        assert any(by_id[page["version"]].type == "scenario" for page in layout), f"{level}: no scenario"


def test_question_types_across_the_bank(app: Flask, loaded) -> None:
    types = Counter(q.current.type for q in db.session.scalars(select(Question)))
    assert set(types) >= {"single", "multiple", "true_false", "short", "numerical", "matching", "ordering", "essay", "scenario"}


def test_quizzes_are_listed_in_schedule_order(app: Flask, loaded) -> None:
    quizzes = active_quizzes(db.session)
    months = [release_month(q) for q in quizzes]
    assert months == sorted(months)
    assert quizzes[0].key == "mlops-foundation-quiz" and months[0] == 2  # month 1's phase quiz, as month 1 ends
    foundation_exam = next(i for i, q in enumerate(quizzes) if q.key == "foundation-exam")
    assert all(release_month(q) <= 4 for q in quizzes[:foundation_exam])
