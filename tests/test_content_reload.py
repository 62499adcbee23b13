"""Reloading changed content onto a database that holds a cohort's months of real work
(the demo's twelve learners) keeps every attempt, submission, grade, peer review, reading
mark and piece of evidence: items are matched by their stable ids, a changed question gets
a new version while the attempts keep the one they answered, a moved lesson keeps its
readers, a removed lesson is retired, never deleted."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from lms.assessment.models import Attempt, QuestionVersion, Response
from lms.catalog.models import Lesson
from lms.coursework.models import Submission
from lms.extensions import db
from lms.grading.models import Grade, PeerReview
from lms.progress.models import Evidence, LessonRead, Mastery

KEPT = (Attempt, Response, Submission, Grade, PeerReview, LessonRead, Evidence, Mastery)


def counts() -> dict[str, int]:
    db.session.expire_all()
    return {model.__name__: db.session.scalar(select(func.count()).select_from(model)) or 0 for model in KEPT}


def cli(app: Flask, *args: str) -> str:
    with app.app_context():  # a session of its own, as on the command line
        result = app.test_cli_runner().invoke(args=["lms", *args])
    db.session.rollback()  # the test's own session starts afresh, holding no connection from before the command
    db.session.expire_all()
    assert result.exit_code == 0, result.output
    return result.output


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def test_learner_work_survives_a_reload_of_changed_content(app: Flask, content_dir: Path, loaded) -> None:
    cli(app, "demo")
    before = counts()
    assert all(before[name] > 0 for name in ("Attempt", "Response", "Submission", "Grade", "PeerReview", "LessonRead", "Evidence"))

    # a question someone answered, a lesson someone read, and where each lives in the files
    response = db.session.scalar(select(Response).order_by(Response.id))
    answered = db.session.get(QuestionVersion, response.version_id)
    question_key, old_version = answered.question.key, answered.id
    quiz_file = next(p for p in (content_dir.parent / "quizzes").rglob("*.yml") if f"id: {question_key}\n" in p.read_text())
    read = db.session.scalar(select(LessonRead).order_by(LessonRead.id))
    removed = db.session.get(Lesson, read.lesson_id)
    removed_key, removed_readers = removed.key, db.session.scalar(
        select(func.count()).select_from(LessonRead).where(LessonRead.lesson_id == removed.id))
    moved_key = "cs-omnichannel-intelligence"

    # the changes: reword the question, retire the lesson, move another to a different month
    text = quiz_file.read_text()
    start = text.index(f"id: {question_key}\n")
    stem = text.index("text:", start)
    quiz_file.write_text(text[:stem] + text[stem:].replace("text: |\n", "text: |\n      (Reworded.)\n", 1))
    lesson_file = next(p for p in content_dir.glob("modules/*/lessons/*.md") if f"id: {removed_key}\n" in p.read_text())
    lesson_file.unlink()
    for check in (content_dir.parent / "quizzes").rglob(f"{removed_key}.yml"):  # its weekly check goes with it
        check.unlink()
    for work in content_dir.glob("modules/*/assignments/*.md"):  # and work that needs it no longer names it
        work.write_text(work.read_text().replace(f"{removed_key}, ", "").replace(f", {removed_key}]", "]"))
    # month 2's week 3 and month 6's week 3 swap lessons (the moved one back where it was before the reorder)
    moved_file = next(p for p in content_dir.glob("modules/*/lessons/*.md") if f"id: {moved_key}\n" in p.read_text())
    edit(moved_file, "phase: foundation\n", "phase: advanced\n")
    edit(content_dir / "modules/customer-success/lessons/05-predicting-churn-and-expansion.md", "phase: advanced\n", "phase: foundation\n")
    cli(app, "load-content")
    after = counts()
    assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}

    db.session.expire_all()
    question = db.session.get(QuestionVersion, old_version).question
    assert question.current.id != old_version and "(Reworded.)" in question.current.spec.text
    assert db.session.get(Response, response.id).version_id == old_version  # the attempt keeps what it answered
    gone = db.session.scalar(select(Lesson).where(Lesson.key == removed_key))
    assert gone is not None and gone.retired_at is not None
    assert db.session.scalar(select(func.count()).select_from(LessonRead).where(LessonRead.lesson_id == gone.id)) == removed_readers
    moved = db.session.scalar(select(Lesson).where(Lesson.key == moved_key))
    assert moved.phase.key == "customer-success.advanced" and moved.phase.month == 6
