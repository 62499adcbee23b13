"""Phase quizzes (issue 12 point 1): every module phase before the last one it is quizzed on
has its own assessed quiz, opening as the phase ends, so each program month from the
second on has an assessed quiz or exam open; the module quiz keeps its id and attempts
made on it before its questions moved survive a reload."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml
from flask import Flask
from sqlalchemy import func, select

from lms.assessment import services
from lms.assessment.models import Attempt, Question, QuestionVersion, Quiz, QuizKind, Response
from lms.catalog.models import Module
from lms.database import utcnow
from lms.extensions import db
from lms.learning.services import month_opens_on
from lms.progress.completion import learner_progress
from lms.progress.models import ItemKind

START = date(2026, 1, 5)  # a Monday; any start gives the same months


def assessed_by_month(cohort: Any, user_id: int) -> dict[int, list[str]]:
    """Program month (1-12) -> the non-practice quizzes and exams open at some time in it
    (opening in it, open through it, or closing in it) on the learner's schedule."""
    quizzes = {q.key: q for q in db.session.scalars(select(Quiz))}
    items = [i for i in learner_progress(db.session, cohort, user_id, utcnow()).items
             if i.kind in (ItemKind.QUIZ, ItemKind.EXAM) and not quizzes[i.key].practice]
    months: dict[int, list[str]] = {}
    for month in range(1, 13):
        begins, ends = month_opens_on(cohort.start_date, month), month_opens_on(cohort.start_date, month + 1)
        months[month] = sorted(i.key for i in items if i.opens_on < ends and i.due_on >= begins)
    return months


def test_every_month_but_the_first_has_an_assessed_quiz_open(loaded: Flask, make_cohort, enrol_learner) -> None:
    cohort = make_cohort(start=START)
    learner = enrol_learner(cohort)
    months = assessed_by_month(cohort, learner.id)
    for month, keys in months.items():
        print(f"month {month:2}: {', '.join(keys) or '-'}")  # the month-by-month list (pytest -s)
    assert all(months[m] for m in range(2, 13)), {m: k for m, k in months.items() if not k}
    # month 1 has none: its phase (MLOps foundation) is the first, and a phase quiz opens as
    # its phase ends, on the day month 2 opens; month 1's weekly checks are practice
    assert months[1] == []
    first = min(q.release_month for q in services.active_quizzes(db.session))
    assert first == 2
    assert "mlops-foundation-quiz" in months[2] and "customer-success-foundation-quiz" in months[3]
    # each phase quiz opens the day its phase's month ends
    quiz = services.get_quiz(db.session, "mlops-foundation-quiz")
    assert quiz is not None and quiz.release_month == 2
    assert services.quiz_window(db.session, quiz, cohort, learner.id, utcnow()).release_on == month_opens_on(START, 2)


def test_each_taught_phase_has_one_assessed_quiz(loaded: Flask) -> None:
    quizzes = [q for q in services.active_quizzes(db.session) if q.kind == QuizKind.QUIZ]
    for module in db.session.scalars(select(Module).where(Module.retired_at.is_(None))):
        own = [q for q in quizzes if q.module_id == module.id]
        module_quiz = next(q for q in own if q.key == f"{module.key}-quiz")  # the module quiz keeps its id
        covered = {q.phase.key for q in own}
        assert len(covered) == len(own), module.key  # one quiz a phase
        # every phase up to the module quiz's has its quiz (operations implementation's
        # capstone month is assessed by the capstone and the advanced exam)
        taught = {p.key for p in module.phases if p.retired_at is None and p.month <= module_quiz.phase.month}
        assert covered == taught, module.key
        assert module_quiz.phase.month == max(q.phase.month for q in own)
        for quiz in own:
            assert quiz.opens_when_phase_ends and not quiz.practice, quiz.key
            assert quiz.release_month == quiz.phase.month + 1 <= 12, quiz.key
            versions = services.current_versions(db.session, quiz)
            assert len(versions) >= 5, quiz.key


def _before_the_split(quizzes: Path, module_quiz: str, phase_quiz: str) -> None:
    """Put the phase quiz's questions back into the module quiz, as the files were before."""
    target, source = quizzes / f"{module_quiz}.yml", quizzes / f"{phase_quiz}.yml"
    merged = yaml.safe_load(target.read_text())
    merged["questions"] = yaml.safe_load(source.read_text())["questions"] + merged["questions"]
    target.write_text(yaml.safe_dump(merged, sort_keys=False, allow_unicode=True))
    source.unlink()


def test_attempts_on_the_module_quiz_survive_the_split(app: Flask, content_dir: Path, load_content,
                                                       make_cohort, enrol_learner) -> None:
    quizzes = content_dir.parent / "quizzes"
    shipped = {p.name: p.read_text() for p in quizzes.glob("*.yml")}
    merged = sum(len(yaml.safe_load(shipped[f"{key}.yml"])["questions"]) for key in ("mlops-quiz", "mlops-foundation-quiz"))
    _before_the_split(quizzes, "mlops-quiz", "mlops-foundation-quiz")
    load_content()
    quiz = services.get_quiz(db.session, "mlops-quiz")
    assert quiz is not None and len(services.current_versions(db.session, quiz)) == merged
    moved = db.session.scalar(select(Question).where(Question.key == "mlops-q-what-changed"))
    moved_version = moved.current.id

    cohort = make_cohort(start=date.today() - timedelta(days=7 * 31))  # month 8: the quiz is open
    learner = enrol_learner(cohort)
    now = utcnow()
    attempt = services.start_attempt(db.session, quiz, learner, now)
    page = next(i for i, p in enumerate(attempt.layout) if p["version"] == moved_version)
    option = next(o.id for o in moved.current.spec.options if o.correct)
    services.save_page(db.session, attempt, page, {services.field_name(page, moved.current.spec, moved.current.spec): option}, now)
    services.submit_attempt(db.session, attempt, now)
    db.session.commit()
    before = (attempt.id, list(attempt.layout), attempt.score, attempt.max_score)
    assert attempt.score == moved.current.points
    responses = db.session.scalar(select(func.count()).select_from(Response).where(Response.attempt_id == attempt.id))

    # the shipped files: the question moves to the phase quiz, keeping its id and version
    for name in [p.name for p in quizzes.glob("*.yml")]:
        (quizzes / name).unlink()
    for name, text in shipped.items():
        (quizzes / name).write_text(text)
    shutil.rmtree(quizzes / "__pycache__", ignore_errors=True)
    load_content()
    db.session.expire_all()

    moved = db.session.scalar(select(Question).where(Question.key == "mlops-q-what-changed"))
    assert moved.quiz.key == "mlops-foundation-quiz" and moved.retired_at is None
    assert moved.current.id == moved_version and len(moved.versions) == 1  # not a new version
    kept = db.session.get(Attempt, before[0])
    assert kept is not None and kept.quiz.key == "mlops-quiz"
    assert (kept.id, kept.layout, kept.score, kept.max_score) == before
    assert db.session.scalar(select(func.count()).select_from(Response).where(Response.attempt_id == kept.id)) == responses
    assert all(db.session.get(QuestionVersion, p["version"]) is not None for p in kept.layout)
    # its review still shows every page, the moved question among them, and a rescore agrees
    views = services.page_views(db.session, kept, show_answers=True)
    assert len(views) == merged and any(v.spec.id == "mlops-q-what-changed" for v in views)
    services.rescore(db.session, kept, utcnow())
    assert kept.score == before[2]
    # the module quiz's statistics still count the old attempt's answer to the moved question
    stats = services.quiz_statistics(db.session, services.get_quiz(db.session, "mlops-quiz"), cohort)
    assert stats.attempts == 1 and any(q.question_key == "mlops-q-what-changed" for q in stats.questions)
    # a new attempt on the module quiz draws only what it now holds
    module_quiz = services.get_quiz(db.session, "mlops-quiz")
    assert {q.key for q, _ in services.current_versions(db.session, module_quiz)} == {
        question["id"] for question in yaml.safe_load(shipped["mlops-quiz.yml"])["questions"]}
    db.session.rollback()
