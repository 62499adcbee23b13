"""Graded things become evidence: quiz attempts per objective, released rubric grades per
mapped objective, peer reviews at half weight; regrading replaces, taking a grade back
withdraws; and the program's mastery policy comes from content/mastery.yml."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from lms.assessment.models import Attempt, Response
from lms.assessment.services import grade_essay
from lms.catalog.models import Objective
from lms.coursework.models import Submission
from lms.database import utcnow
from lms.extensions import db
from lms.grading.models import PeerReview
from lms.grading.peer import complete_review
from lms.grading.services import save_grade
from lms.progress.models import Evidence, Mastery
from lms.progress.services import policy, rebuild
from tests.test_quiz_flow import SAMPLE_QUIZZES, answer_all_correctly


def evidence_of(user_id: int, source: str | None = None) -> dict[str, list[Evidence]]:
    db.session.expire_all()
    query = select(Evidence).where(Evidence.user_id == user_id)
    if source:
        query = query.where(Evidence.source == source)
    found: dict[str, list[Evidence]] = {}
    for e in db.session.scalars(query.order_by(Evidence.id)):
        found.setdefault(e.objective.key, []).append(e)
    return found


def mastery_of(user_id: int) -> dict[str, float | None]:
    db.session.expire_all()
    return {m.objective.key: m.level for m in db.session.scalars(select(Mastery).where(Mastery.user_id == user_id))}


def test_a_quiz_attempt_counts_per_objective_once_fully_scored(app: Flask, load_content, make_cohort, enrol_learner,
                                                               client, login, make_user) -> None:
    app.config["QUIZZES_DIR"] = SAMPLE_QUIZZES
    load_content()
    user = enrol_learner(make_cohort(months_ago=1))
    login(client, user)
    attempt_id = int(client.post("/quizzes/sample-quiz/start").headers["Location"].split("/attempts/")[1].split("/")[0])
    answer_all_correctly(client, attempt_id)
    client.post(f"/attempts/{attempt_id}/submit")
    assert evidence_of(user.id) == {}  # the essay still waits for a grader: no partial evidence
    essay = db.session.scalar(select(Response).where(Response.attempt_id == attempt_id, Response.score.is_(None)))
    grade_essay(db.session, essay, 0, "Too thin.", make_user(), utcnow())
    db.session.commit()
    trail = evidence_of(user.id, "quiz")
    assert set(trail) == {"KO1", "SO1", "AO1"}
    assert trail["KO1"][0].level == 4 and trail["SO1"][0].level == 4
    # AO1: the essay (5 points, none given) and the scenario's numerical part (1 point, right).
    assert trail["AO1"][0].level == pytest.approx(4 * 1 / 6, abs=1e-4)
    assert "Sample quiz" in trail["AO1"][0].note
    # Regrading the essay replaces the attempt's evidence instead of adding to it.
    grade_essay(db.session, db.session.get(Response, essay.id), 5, "Good.", make_user(), utcnow())
    db.session.commit()
    trail = evidence_of(user.id, "quiz")
    assert [e.level for e in trail["AO1"]] == [4]
    # A quiz is on the record for AO1 but, by the default rules, does not count toward an
    # application objective: no mastery on it comes from a quiz.
    assert [e.weight for e in trail["AO1"]] == [0] and [e.weight for e in trail["KO1"]] == [1]
    # KO1's one quiz at 4 is one piece of evidence: held just under mastered.
    assert "AO1" not in mastery_of(user.id) and mastery_of(user.id)["KO1"] == 3.4
    assert db.session.get(Attempt, attempt_id).pending_manual is False


CASE = "mlops-case-coldwatch"


def test_a_released_grade_counts_per_mapped_objective(app: Flask, loaded, make_cohort, enrol_learner, make_user,
                                                      client, login) -> None:
    teacher = make_user()
    user = enrol_learner(make_cohort(months_ago=5, instructors=[teacher]))
    login(client, user)
    client.post(f"/assignments/{CASE}/work", data={"body": "My analysis.", "action": "submit"})
    work = db.session.scalar(select(Submission).where(Submission.user_id == user.id))
    criteria = work.assignment.rubric.current.criteria
    picks = [0, 1, 2, 3, 0]  # exemplary, proficient, developing, beginning, exemplary
    chosen = {c.id: c.levels[i].id for c, i in zip(criteria, picks, strict=True)}
    save_grade(db.session, work, teacher, chosen, {}, "Draft thoughts.", None, "draft", utcnow())
    db.session.commit()
    assert evidence_of(user.id) == {}  # drafts are not evidence
    save_grade(db.session, work, teacher, chosen, {}, "Well argued.", 1, "release", utcnow())
    db.session.commit()
    trail = evidence_of(user.id, "case_study")  # a case study's grade: its own source
    # KO1 is on all five criteria: (4/4 + 3/4 + 2/4 + 1/4 + 4/4) / 5 = 0.7 -> 2.8 on the 0-4 scale.
    assert trail["KO1"][0].level == pytest.approx(2.8)
    assert trail["KO4"][0].level == pytest.approx(4.0)  # criteria 1 and 5, both exemplary
    assert trail["SO1"][0].level == pytest.approx(1.5)  # criteria 3 and 4: (2/4 + 1/4) / 2
    assert trail["KO1"][0].recorded_by_id == teacher.id and trail["KO1"][0].weight == 1
    # Taking the grade back withdraws the evidence and the mastery it made.
    save_grade(db.session, db.session.get(Submission, work.id), teacher, chosen, {}, "Rethinking.", 2, "draft", utcnow())
    db.session.commit()
    assert evidence_of(user.id) == {} and mastery_of(user.id) == {}
    # Released again with every criterion exemplary: replaced, not added.
    best = {c.id: c.levels[0].id for c in criteria}
    save_grade(db.session, db.session.get(Submission, work.id), teacher, best, {}, "Much better.", 3, "release", utcnow())
    db.session.commit()
    assert {k: [e.level for e in v] for k, v in evidence_of(user.id).items()} == {"KO1": [4], "KO4": [4], "SO1": [4]}


HANDS_ON = "cs-hands-on-own-operation"


def test_a_peer_review_counts_at_half_weight(app: Flask, loaded, make_cohort, enrol_learner, login) -> None:
    cohort = make_cohort(months_ago=5)
    clients = {}
    for name in ("Ana", "Ben"):
        user = enrol_learner(cohort, name=name)
        c = app.test_client()
        login(c, user)
        assert c.post(f"/assignments/{HANDS_ON}/work", data={"body": f"{name}'s plan.", "action": "submit"}).status_code == 302
        clients[name] = (user, c)
    assert clients["Ben"][1].post(f"/assignments/{HANDS_ON}/peer-reviews").status_code == 302
    review = db.session.scalar(select(PeerReview).where(PeerReview.reviewer_id == clients["Ben"][0].id))
    criteria = review.rubric_version.criteria
    complete_review(db.session, review, {c.id: c.levels[0].id for c in criteria}, "Clear and useful.", utcnow())
    db.session.commit()
    author = review.submission.user_id
    trail = evidence_of(author, "peer")
    codes = {code for c in criteria for code in c.objectives}
    assert set(trail) == codes
    assert all(e.level == 4 and e.recorded_by_id == clients["Ben"][0].id for es in trail.values() for e in es)
    # Half an instructor's weight on knowledge and skill; by the default rules none on application objectives.
    assert {code: es[0].weight for code, es in trail.items()} == {
        code: 0.0 if code.startswith("AO") else 0.5 for code in codes}


def test_the_mastery_policy_is_content(app: Flask, content_dir: Path, loaded, load_content, make_user) -> None:
    shipped = policy(db.session)
    assert shipped.settings["method"] == "decaying_average" and shipped.name_of(2.6) == "proficient"
    user = make_user()
    ko1 = db.session.scalar(select(Objective).where(Objective.key == "KO1"))
    from_rows = [(0.25, "a"), (1.0, "b"), (0.5, "c")]
    for fraction, ref in from_rows:
        db.session.add(Evidence(user_id=user.id, objective_id=ko1.id, source="quiz", source_ref=ref, level=fraction * 4,
                                weight=1, recorded_at=utcnow()))
    db.session.flush()
    rebuild(db.session, utcnow())
    db.session.commit()
    assert mastery_of(user.id)["KO1"] == pytest.approx(0.65 * 2 + 0.35 * (0.65 * 4 + 0.35 * 1))
    # Switching the program to "highest" recomputes every mastery on load.
    text = (content_dir / "mastery.yml").read_text().replace("method: decaying_average", "method: highest")
    (content_dir / "mastery.yml").write_text(text)
    load_content(content_dir)
    assert policy(db.session).settings["method"] == "highest"
    assert mastery_of(user.id)["KO1"] == 4


def test_a_new_at_risk_bar_on_load_redates_below_the_bar(app: Flask, content_dir: Path, loaded, load_content, make_user) -> None:
    """Each mastery record keeps when it went below the at-risk bar; a program that moves the
    bar has every record's date worked out again on load."""
    user = make_user()
    ko1 = db.session.scalar(select(Objective).where(Objective.key == "KO1"))
    went = utcnow()
    db.session.add(Evidence(user_id=user.id, objective_id=ko1.id, source="quiz", source_ref="a", level=2.0, weight=1,
                            recorded_at=went))
    db.session.flush()
    rebuild(db.session, utcnow())
    db.session.commit()

    def below_since():
        db.session.expire_all()
        return db.session.scalar(select(Mastery.below_since).where(Mastery.user_id == user.id))

    assert below_since() == went  # 2.0 is below the shipped bar, 2.5
    path = content_dir / "mastery.yml"
    path.write_text(path.read_text().replace("at_risk_below: 2.5", "at_risk_below: 1.5"))
    load_content(content_dir)
    assert policy(db.session).at_risk_below == 1.5 and below_since() is None
    path.write_text(path.read_text().replace("at_risk_below: 1.5", "at_risk_below: 2.5"))
    load_content(content_dir)
    assert below_since() == went


def test_a_bad_mastery_policy_is_refused_with_file_and_line(app: Flask, content_dir: Path) -> None:
    path = content_dir / "mastery.yml"
    path.write_text(path.read_text().replace("method: decaying_average", "method: vibes")
                    .replace("  mastered: 3.5", "  mastered: 1.0"))
    result = app.test_cli_runner().invoke(args=["lms", "load-content", "--check"])
    assert result.exit_code != 0
    assert "mastery.yml:4: method" in result.output and "vibes" in result.output  # file and line
    assert "thresholds start at 0 and rise strictly" in result.output
    assert "database was not changed" in result.output


@pytest.mark.parametrize(("setting", "message"), [
    ("mastery_min_weight: -1", "mastery_min_weight is the weight of evidence needed before an objective counts as mastered"),
    ("mastery_min_weight: 11", "from 0 (no minimum) to 10"),
    ("mastery_min_weigth: 2", "unknown setting 'mastery_min_weigth'"),
])
def test_a_bad_evidence_minimum_is_refused_with_file_and_line(app: Flask, content_dir: Path, setting: str,
                                                              message: str) -> None:
    path = content_dir / "mastery.yml"
    text = path.read_text()
    assert "  mastery_min_weight: 2\n" in text
    path.write_text(text.replace("  mastery_min_weight: 2\n", f"  {setting}\n"))
    result = app.test_cli_runner().invoke(args=["lms", "load-content", "--check"])
    assert result.exit_code != 0
    line = 1 + text.splitlines().index("settings:")
    assert f"mastery.yml:{line}: settings" in result.output and message in result.output
    assert "database was not changed" in result.output


def test_a_new_evidence_minimum_or_top_threshold_on_load_rebuilds_mastery(app: Flask, content_dir: Path, loaded,
                                                                          load_content, make_user) -> None:
    """The minimum and the top threshold decide where a level is held: a program that changes
    either has every mastery worked out again on load, to what a rebuild gives."""
    user = make_user()
    ko1 = db.session.scalar(select(Objective).where(Objective.key == "KO1"))
    db.session.add(Evidence(user_id=user.id, objective_id=ko1.id, source="quiz", source_ref="a", level=3.6, weight=1,
                            recorded_at=utcnow()))
    db.session.flush()
    rebuild(db.session, utcnow())
    db.session.commit()
    assert mastery_of(user.id)["KO1"] == 3.4  # one quiz at mastery: held under it
    path = content_dir / "mastery.yml"
    shipped = path.read_text()
    path.write_text(shipped.replace("  mastery_min_weight: 2\n", "  mastery_min_weight: 1\n"))
    load_content(content_dir)
    assert policy(db.session).method.min_weight == 1 and mastery_of(user.id)["KO1"] == 3.6
    path.write_text(shipped)
    load_content(content_dir)
    assert mastery_of(user.id)["KO1"] == 3.4
    path.write_text(shipped.replace("  mastered: 3.5", "  mastered: 3.8"))  # 3.6 is below mastery now: nothing to hold
    load_content(content_dir)
    assert mastery_of(user.id)["KO1"] == 3.6
    rebuild(db.session, utcnow())
    db.session.commit()
    assert mastery_of(user.id)["KO1"] == 3.6
