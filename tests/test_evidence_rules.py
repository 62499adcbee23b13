"""Competency evidence follows the assessment's own rule and the program's evidence rules:

- a quiz's evidence comes from the attempt(s) its grading method counts, so an attempt
  that does not change the grade does not change mastery (each grading method);
- practice quizzes count at the practice weight (0 by default);
- content/mastery.yml says which sources count toward knowledge, skill and application
  objectives; changing it rebuilds mastery to the numbers recording under it gives;
- quiz items tagged with an application objective are refused unless they can show it;
- the profile says why each level is what it is, and names big falls with their cause."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from lms.assessment.methods import GRADING_METHODS
from lms.assessment.models import GradingMethodName, Quiz
from lms.assessment.services import quiz_window, save_page, start_attempt, submit_attempt
from lms.catalog.models import Objective, ObjectiveKind
from lms.database import utcnow
from lms.extensions import db
from lms.progress.evidence import ScoredAttempt, quiz_outcome
from lms.progress.models import Evidence, EvidenceSourceName, Mastery
from lms.progress.services import policy, profile, rate, rebuild, record
from lms.progress.sources import PracticeSource, QuizSource

QUIZ = """\
id: rules-quiz
title: Rules quiz
kind: quiz
module: mlops
phase: foundation
settings:
  attempts_allowed: 0
  grading: {grading}
  practice: {practice}
  opens_after_days: 0
questions:
  - id: r-one
    type: single
    objectives: [KO1]
    points: 1
    text: Which step lets you undo a bad model release fastest?
    options:
      - {{id: a, text: A tested rollback to the previous registered model, correct: true}}
      - {{id: b, text: Retraining from scratch}}
  - id: r-two
    type: single
    objectives: [KO1, SO1]
    points: 1
    text: What should a model registry entry name?
    options:
      - {{id: a, text: The training data version, correct: true}}
      - {{id: b, text: The colour of the logo}}
"""


def quiz_dir(tmp_path: Path, grading: str = "highest", practice: bool = False) -> Path:
    folder = tmp_path / "quizzes"
    folder.mkdir(exist_ok=True)
    (folder / "rules.yml").write_text(QUIZ.format(grading=grading, practice=str(practice).lower()))
    return folder


def take(user: Any, cohort: Any, answers: tuple[str, str], at: datetime) -> None:
    """One attempt at the rules quiz through the assessment service, answered as given."""
    quiz = db.session.scalar(select(Quiz).where(Quiz.key == "rules-quiz"))
    start = max(at, quiz_window(db.session, quiz, cohort, user.id, at).opens_at or at)
    attempt = start_attempt(db.session, quiz, user, start)
    for page, choice in enumerate(answers):
        save_page(db.session, attempt, page, MultiDict([(f"p{page}", choice)]), start + timedelta(minutes=page + 1))
    submit_attempt(db.session, attempt, start + timedelta(minutes=5))
    db.session.commit()


def mastery_of(user_id: int) -> dict[str, float | None]:
    db.session.expire_all()
    return {m.objective.key: m.level for m in db.session.scalars(select(Mastery).where(Mastery.user_id == user_id))}


def quiz_evidence(user_id: int) -> dict[str, list[float]]:
    db.session.expire_all()
    found: dict[str, list[float]] = {}
    for e in db.session.scalars(select(Evidence).where(Evidence.user_id == user_id,
                                                       Evidence.source.in_(["quiz", "practice"])).order_by(Evidence.id)):
        found.setdefault(e.objective.key, []).append(e.level)
    return found


RIGHT, WRONG = ("a", "a"), ("b", "b")


@pytest.fixture
def rules_quiz(app: Flask, tmp_path: Path, load_content, make_cohort, enrol_learner) -> Any:
    """Load the rules quiz with a grading method; returns (cohort, learner, first attempt time)."""

    def make(grading: str = "highest", practice: bool = False) -> tuple[Any, Any, datetime]:
        app.config["QUIZZES_DIR"] = quiz_dir(tmp_path, grading, practice)
        load_content()
        cohort = make_cohort(months_ago=2)
        learner = enrol_learner(cohort)
        return cohort, learner, utcnow() - timedelta(days=10)

    return make


# --------------------------------------------------------------------------- 1. the quiz's own rule


def test_a_weak_reattempt_of_a_best_attempt_quiz_changes_nothing(rules_quiz) -> None:
    cohort, learner, at = rules_quiz("highest")
    rate_ko1 = db.session.scalar(select(Objective).where(Objective.key == "KO1"))
    take(learner, cohort, RIGHT, at)
    # Other evidence after the good attempt, so the order of pieces matters to the decaying average.
    rate(db.session, learner.id, rate_ko1, 3, "Explained the release steps well.", learner.id, at + timedelta(days=1))
    db.session.commit()
    before, evidence_before = mastery_of(learner.id), quiz_evidence(learner.id)
    assert before["KO1"] is not None and evidence_before == {"KO1": [4.0], "SO1": [4.0]}
    take(learner, cohort, WRONG, at + timedelta(days=2))  # the practice re-attempt, 0%
    assert mastery_of(learner.id) == before and quiz_evidence(learner.id) == evidence_before
    assert db.session.scalar(select(Evidence.note).where(Evidence.source == "quiz").limit(1)) == "Rules quiz, attempt 1"


def test_a_better_reattempt_replaces_what_the_quiz_said(rules_quiz) -> None:
    cohort, learner, at = rules_quiz("highest")
    take(learner, cohort, WRONG, at)
    assert quiz_evidence(learner.id) == {"KO1": [0.0], "SO1": [0.0]}
    take(learner, cohort, RIGHT, at + timedelta(days=1))
    assert quiz_evidence(learner.id) == {"KO1": [4.0], "SO1": [4.0]}  # replaced, not added
    assert mastery_of(learner.id) == {"KO1": 3.4, "SO1": 3.4}  # one piece of evidence: held under mastered


@pytest.mark.parametrize(("grading", "expected"), [
    ("latest", {"KO1": 0.0, "SO1": 0.0}),
    ("first", {"KO1": 4.0, "SO1": 4.0}),
    ("average", {"KO1": 2.0, "SO1": 2.0}),
    ("highest", {"KO1": 4.0, "SO1": 4.0}),
])
def test_each_grading_method_sets_the_evidence(rules_quiz, grading: str, expected: dict[str, float]) -> None:
    cohort, learner, at = rules_quiz(grading)
    take(learner, cohort, RIGHT, at)
    take(learner, cohort, WRONG, at + timedelta(days=1))
    assert {code: levels for code, levels in quiz_evidence(learner.id).items()} == {c: [v] for c, v in expected.items()}
    # The quiz is one piece of evidence: a level at mastery is held just under it.
    assert mastery_of(learner.id) == {c: 3.4 if v >= 3.5 else v for c, v in expected.items()}


def test_grading_methods_count_the_attempts_that_make_the_grade() -> None:
    at = utcnow()
    attempts = [ScoredAttempt(1, 50.0, at, {1: 0.5}), ScoredAttempt(2, 90.0, at + timedelta(hours=1), {1: 0.9}),
                ScoredAttempt(3, 90.0, at + timedelta(hours=2), {1: 0.8}), ScoredAttempt(4, None, at, {})]
    counted = {name: [a.number for a in method.counted(attempts)] for name, method in GRADING_METHODS.items()}
    # Of equal bests the earliest counts: matching the best again changes nothing.
    assert counted == {"highest": [2], "latest": [3], "average": [1, 2, 3], "first": [1]}
    average = quiz_outcome(7, "Q", GradingMethodName.AVERAGE, False, attempts)
    assert average.fractions == {1: pytest.approx((0.5 + 0.9 + 0.8) / 3)} and average.at == at + timedelta(hours=2)
    assert average.source is QuizSource and average.source_ref == "quiz:7"
    assert quiz_outcome(7, "Q", GradingMethodName.HIGHEST, True, attempts).source is PracticeSource
    assert quiz_outcome(7, "Q", GradingMethodName.HIGHEST, False, []).fractions == {}


def test_a_practice_quiz_is_on_the_record_but_does_not_count(rules_quiz) -> None:
    cohort, learner, at = rules_quiz("highest", practice=True)
    take(learner, cohort, RIGHT, at)
    db.session.expire_all()
    rows = list(db.session.scalars(select(Evidence).where(Evidence.user_id == learner.id)))
    assert {(e.source, e.weight) for e in rows} == {(EvidenceSourceName.PRACTICE, 0.0)}
    assert mastery_of(learner.id) == {}


# --------------------------------------------------------------------------- 2. rules by objective kind


def test_application_objectives_take_only_applied_work_by_default(app: Flask, loaded, make_user) -> None:
    rules = policy(db.session)
    applied = rules.weights[ObjectiveKind.APPLICATION]
    assert {s for s, w in applied.items() if w > 0} == {"rubric", "rating", "stakeholder", "kpi", "expert"}
    assert all(rules.weights[kind]["quiz"] == 1 for kind in (ObjectiveKind.KNOWLEDGE, ObjectiveKind.SKILL))
    learner = make_user()
    ao1 = db.session.scalar(select(Objective).where(Objective.key == "AO1"))
    now = utcnow()
    record(db.session, learner.id, ao1.id, EvidenceSourceName.QUIZ, "quiz:1", 0.1, now)
    assert mastery_of(learner.id) == {}  # a multiple-choice score cannot sink (or raise) an application objective
    record(db.session, learner.id, ao1.id, EvidenceSourceName.RUBRIC, "grade:1", 0.75, now)
    record(db.session, learner.id, ao1.id, EvidenceSourceName.QUIZ, "quiz:2", 0.0, now + timedelta(seconds=1))
    db.session.commit()
    assert mastery_of(learner.id) == {"AO1": 3.0}


def test_changing_the_rules_rebuilds_mastery_as_recording_under_them_would(app: Flask, content_dir: Path, loaded, load_content,
                                                                          make_user) -> None:
    objectives = {o.key: o.id for o in db.session.scalars(select(Objective))}
    start = utcnow() - timedelta(days=30)
    story = [("AO1", EvidenceSourceName.RUBRIC, 0.5), ("AO1", EvidenceSourceName.QUIZ, 1.0),
             ("KO1", EvidenceSourceName.PEER, 0.25), ("AO1", EvidenceSourceName.KPI, 0.75),
             ("KO1", EvidenceSourceName.QUIZ, 1.0), ("AO1", EvidenceSourceName.PEER, 0.0)]

    def tell(learner_id: int) -> None:
        for i, (code, source, fraction) in enumerate(story):
            record(db.session, learner_id, objectives[code], source, f"{source}:{i}", fraction, start + timedelta(days=i))
        db.session.commit()

    early = make_user()
    tell(early.id)
    under_defaults = mastery_of(early.id)
    mastery_file = content_dir / "mastery.yml"
    text = mastery_file.read_text()
    assert "  application:\n    quiz: 0\n" in text
    mastery_file.write_text(text.replace("  application:\n    quiz: 0\n", "  application:\n    quiz: 0.5\n"))
    load_content()  # the rules changed: evidence reweighed and every mastery rebuilt
    rebuilt = mastery_of(early.id)
    assert rebuilt != under_defaults
    late = make_user()
    tell(late.id)  # recorded incrementally under the new rules
    assert mastery_of(late.id) == pytest.approx(rebuilt)
    rebuild(db.session, utcnow())
    db.session.commit()
    assert mastery_of(early.id) == pytest.approx(rebuilt)


def test_the_rules_refuse_unknown_sources_and_weights_out_of_range(app: Flask, content_dir: Path, load_content) -> None:
    mastery_file = content_dir / "mastery.yml"
    text = mastery_file.read_text()
    for bad, message in (("    quiz: 1.5\n", "between 0 and 1"), ("    gossip: 1\n", "gossip")):
        mastery_file.write_text(text.replace("  knowledge:\n    quiz: 1\n", f"  knowledge:\n{bad}"))
        with pytest.raises(Exception) as refused:
            load_content()
        assert "mastery.yml" in str(refused.value) and message in str(refused.value)


def test_load_content_check_refuses_a_recall_item_tagged_with_an_application_objective(app: Flask, content_dir: Path) -> None:
    runner = app.test_cli_runner()
    path = content_dir.parent / "quizzes" / "mlops-foundation-quiz.yml"  # month 1's phase quiz
    lines = path.read_text().splitlines(keepends=True)
    where = next(i for i, line in enumerate(lines) if line.strip() == "objectives: [KO1]")
    assert lines[where - 1].strip() == "type: single"
    lines[where] = lines[where].replace("[KO1]", "[KO1, AO1]")
    path.write_text("".join(lines))
    result = runner.invoke(args=["lms", "load-content", "--check"])
    assert result.exit_code != 0
    assert f"mlops-foundation-quiz.yml:{where + 1}" in result.output
    assert "AO1 is an application objective" in result.output and "single question" in result.output
    # A scenario, essay or numerical item may carry it: the shipped quizzes do, and pass.
    lines[where] = lines[where].replace("[KO1, AO1]", "[KO1]")
    path.write_text("".join(lines))
    assert runner.invoke(args=["lms", "load-content", "--check"]).exit_code == 0


# --------------------------------------------------------------------------- 7. why this level


def test_the_profile_says_what_moved_each_level_and_names_big_falls(app: Flask, loaded, make_user, make_cohort,
                                                                    enrol_learner, client, login) -> None:
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(months_ago=3, instructors=[teacher])
    learner = enrol_learner(cohort, name="Lena Learner")
    ko1 = db.session.scalar(select(Objective).where(Objective.key == "KO1"))
    start = utcnow() - timedelta(days=20)
    rate(db.session, learner.id, ko1, 4, "Ran the release review alone.", teacher.id, start)
    rate(db.session, learner.id, ko1, 0, "Could not say what a registry is for.", teacher.id, start + timedelta(days=1))
    rate(db.session, learner.id, ko1, 1, "Some recall of the registry.", teacher.id, start + timedelta(days=2))
    db.session.commit()
    (ko1_profile,) = [p for p in profile(db.session, learner.id) if p.objective.key == "KO1"]
    levels = [e.level_after for e in ko1_profile.trail]
    assert levels[-1] == pytest.approx(ko1_profile.level)  # the replay ends where mastery is
    # The first rating, alone, is held under mastered (3.4); the second takes it to 1.4.
    assert ko1_profile.trail[0].level_after == 3.4 and ko1_profile.trail[0].change is None
    assert ko1_profile.trail[1].change == pytest.approx(-2.0)
    assert ko1_profile.latest_move is ko1_profile.trail[-1]
    assert [e.note for e in ko1_profile.drops] == ["Could not say what a registry is for."]
    for page in (f"/cohorts/{cohort.id}/learners/{learner.id}/progress", "/progress/competency"):
        login(client, teacher if page.startswith("/cohorts") else learner)
        response = client.get(page)
        html = " ".join(response.get_data(as_text=True).split())
        assert response.status_code == 200, (page, response.status_code)
        assert "Why this level:" in html and "most recently moved by instructor rating (Some recall of the registry." in html
        assert "Falls of more than 0.5 at once" in html and "took it down 2.00" in html
        client.post("/logout")


def test_evidence_that_does_not_count_is_shown_as_such(app: Flask, loaded, make_user, client, login,
                                                       make_cohort, enrol_learner) -> None:
    learner = enrol_learner(make_cohort(months_ago=3))
    ao1 = db.session.scalar(select(Objective).where(Objective.key == "AO1"))
    record(db.session, learner.id, ao1.id, EvidenceSourceName.QUIZ, "quiz:9", 0.5, utcnow(), note="Some quiz")
    db.session.commit()
    (ao1_profile,) = [p for p in profile(db.session, learner.id) if p.objective.key == "AO1"]
    assert ao1_profile.level is None and ao1_profile.latest_move is None and not ao1_profile.trail[0].counted
    login(client, learner)
    assert "not counted" in client.get("/progress/competency").get_data(as_text=True)
