"""Weekly checks: a short practice check per weekly unit (quizzes/checks/<lesson>.yml),
placed and opened with its lesson, practice with unlimited attempts and feedback at once,
linked from the lesson page, off the schedule and counted by content-stats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import select

from lms.assessment import services
from lms.assessment.models import Quiz, QuizKind, ReviewPolicyName
from lms.database import utcnow
from lms.extensions import db
from lms.learning.services import month_opens_on
from lms.progress.completion import learner_progress

LESSON = "mlops-release-pipeline-registry"  # month 1, week 1
CHECK: dict[str, Any] = {
    "id": "check-test-release", "title": "Check: releasing models", "kind": "check", "lesson": LESSON,
    "description": "Three questions on the week's unit.",
    "questions": [
        {"id": f"chk-test-{n}", "type": "true_false", "objectives": ["KO1"], "text": f"Statement number {n} about releases.",
         "answer": n % 2 == 0, "feedback": "Because."} for n in range(3)
    ],
}


def write_check(content_dir: Path, check: dict[str, Any], name: str = "test-check.yml") -> Path:
    """Write a check file; the shipped check of the same lesson makes way for it."""
    folder = content_dir.parent / "quizzes" / "checks"
    folder.mkdir(exist_ok=True)
    for shipped in folder.glob(f"{check.get('lesson')}.yml"):
        shipped.unlink()
    path = folder / name
    path.write_text(yaml.safe_dump(check, sort_keys=False))
    return path


def check_cli(app: Flask) -> Any:
    return app.test_cli_runner().invoke(args=["lms", "load-content", "--check"])


def test_a_check_is_placed_with_its_lesson_as_practice(app: Flask, content_dir: Path, load_content) -> None:
    # a text to read first does not count among its 3-6 questions
    write_check(content_dir, {**CHECK, "questions": [{"id": "chk-test-intro", "type": "description", "text": "Read this first."},
                                                     *CHECK["questions"]]})
    load_content()
    quiz = db.session.scalar(select(Quiz).where(Quiz.key == "check-test-release"))
    assert quiz is not None and quiz.kind == QuizKind.CHECK
    assert quiz.lesson is not None and quiz.lesson.key == LESSON
    assert quiz.phase is not None and quiz.phase.key == "mlops.foundation" and quiz.module.key == "mlops"
    assert quiz.practice and quiz.attempts_allowed == 0 and quiz.review == ReviewPolicyName.IMMEDIATELY
    link = services.lesson_check(db.session, quiz.lesson.id)
    assert link is not None and link.key == "check-test-release"
    # not a scheduled quiz: off the quiz list and off everyone's schedule
    assert quiz not in services.active_quizzes(db.session)


@pytest.mark.parametrize(("change", "message"), [
    ({"lesson": "no-such-lesson"}, "unknown lesson 'no-such-lesson'"),
    ({"module": "mlops"}, "a check names its lesson only"),
    ({"settings": {"attempts_allowed": 2}}, "a check has no settings"),
    ({"questions": CHECK["questions"][:2]}, "a check has 3-6 questions"),
    ({"questions": [{"id": "chk-test-intro", "type": "description", "text": "Read this first."}, *CHECK["questions"][:2]]},
     "a check has 3-6 questions, not 2"),  # text to read is not a question
    ({"questions": [*CHECK["questions"], {"id": "chk-test-essay", "type": "essay", "objectives": ["KO1"],
                                          "text": "Write.", "guidance": "Look for x."}]}, "no essay questions"),
])
def test_a_bad_check_is_refused_with_file_and_line(app: Flask, content_dir: Path, change: dict[str, Any], message: str) -> None:
    path = write_check(content_dir, {**CHECK, **change})
    result = check_cli(app)
    assert result.exit_code == 1
    assert str(path.name) in result.output and message in result.output, result.output


def test_one_check_per_unit(app: Flask, content_dir: Path) -> None:
    write_check(content_dir, CHECK)
    second = {**CHECK, "id": "check-test-again", "questions": [{**q, "id": q["id"] + "-b"} for q in CHECK["questions"]]}
    path = write_check(content_dir, second, "zz-second.yml")
    result = check_cli(app)
    assert result.exit_code == 1 and f"{path.name}:4" in result.output and f"lesson {LESSON!r} already has a check" in result.output


def test_learners_open_the_check_from_the_lesson_and_try_it_again_and_again(
        app: Flask, content_dir: Path, load_content, make_cohort, enrol_learner, client, login) -> None:
    write_check(content_dir, CHECK)
    load_content()
    cohort = make_cohort(months_ago=0)
    learner = enrol_learner(cohort)
    login(client, learner)
    html = client.get(f"/lessons/{LESSON}").get_data(as_text=True)
    assert 'id="check"' in html and 'href="/quizzes/check-test-release"' in html and "3 questions" in html
    page = client.get("/quizzes/check-test-release").get_data(as_text=True)
    assert "The weekly check of week 1, month 1" in page and "unlimited attempts" in page
    assert "3 questions in the bank" in page
    assert "check-test-release" not in client.get("/quizzes").get_data(as_text=True)

    quiz = db.session.scalar(select(Quiz).where(Quiz.key == "check-test-release"))
    now = utcnow()
    for number in (1, 2, 3):  # as many tries as they like, answers shown at once
        attempt = services.start_attempt(db.session, quiz, learner, now)
        assert attempt.number == number
        services.submit_attempt(db.session, attempt, now)
        assert services.shows_answers(db.session, attempt, now)
    db.session.commit()
    # practice, so never called a grade: the page said "practice, not part of your grade",
    # then "grade: your best attempt" and "Your grade: 67%"
    page = client.get("/quizzes/check-test-release").get_data(as_text=True)
    assert "your result: your best attempt" in page and "Your result: <strong>" in page
    assert "grade: your best attempt" not in page and "Your grade" not in page
    # practice never makes anyone behind
    progress = learner_progress(db.session, cohort, learner.id, now)
    assert all(item.key != "check-test-release" for item in progress.items)


def test_content_stats_counts_checks(app: Flask, content_dir: Path) -> None:
    write_check(content_dir, CHECK)
    result = app.test_cli_runner().invoke(args=["lms", "content-stats"])
    assert result.exit_code == 0
    header = next(line for line in result.output.splitlines() if line.startswith("| month"))
    column = [c.strip() for c in header.split("|")].index("checks")
    month_1 = next(line for line in result.output.splitlines() if line.startswith("| 1 "))
    assert int(month_1.split("|")[column]) >= 1


# --------------------------------------------------------------------------- module quizzes open as their phase ends


def test_a_module_quiz_opens_when_the_phase_it_covers_ends(loaded: Flask, make_cohort, enrol_learner) -> None:
    quiz = db.session.scalar(select(Quiz).where(Quiz.key == "mlops-quiz"))
    assert quiz.opens_when_phase_ends and quiz.phase.key == "mlops.advanced" and quiz.phase.month == 6
    assert services.release_month(quiz) == 7
    now = utcnow()
    in_month_6 = make_cohort(months_ago=5)
    learner = enrol_learner(in_month_6)
    status = services.quiz_status(db.session, quiz, learner, now)
    assert not status.can_start and status.window.release_on == month_opens_on(in_month_6.start_date, 7)
    item = next(i for i in learner_progress(db.session, in_month_6, learner.id, now).items if i.key == "mlops-quiz")
    assert item.opens_on == month_opens_on(in_month_6.start_date, 7)
    in_month_7 = enrol_learner(make_cohort(months_ago=6))
    assert services.quiz_status(db.session, quiz, in_month_7, now).can_start
    # every shipped module quiz opens as the phase it covers ends (one a phase, the module
    # quiz on its last taught one: operations implementation's as month 11 ends, ahead of
    # the capstone month), within the year; tests/test_phase_quizzes.py has the months
    for module_quiz in services.active_quizzes(db.session):
        if module_quiz.kind == QuizKind.QUIZ:
            last = max(p.month for p in module_quiz.module.phases if p.retired_at is None)
            assert module_quiz.opens_when_phase_ends and module_quiz.phase.month <= last
            if module_quiz.key == f"{module_quiz.module.key}-quiz":
                assert last - 1 <= module_quiz.phase.month
            assert module_quiz.release_month <= 12


def test_only_a_module_quiz_opens_when_its_phase_ends(app: Flask, content_dir: Path) -> None:
    exam = content_dir.parent / "quizzes" / "foundation-exam.yml"
    exam.write_text(exam.read_text().replace("settings:\n", "settings:\n  opens_when_phase_ends: true\n", 1))
    result = check_cli(app)
    assert result.exit_code == 1 and "foundation-exam.yml" in result.output and "opens_when_phase_ends is for a module quiz" in result.output
