"""One source of truth for evidence: a learner built through the real paths (a quiz attempt
answered and scored by the assessment service, a rubric grade released through grading, a
classmate's peer review; a simulation played to its end, an outside expert's rating) and a learner built by the volume generator behind ``flask lms
demo --learners N`` with the same points per part and the same levels get the same evidence
rows. Either side computing its evidence differently on its own fails here."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from lms.assessment.models import Quiz, Response
from lms.assessment.services import (
    grade_essay,
    quiz_window,
    responses_of,
    save_page,
    start_attempt,
    submit_attempt,
)
from lms.coursework.models import Assignment, SubmissionVersion
from lms.coursework.services import dates_for, save_draft, start_submission, submit
from lms.coursework.specs import CriterionSpec
from lms.database import utcnow
from lms.demo.benchmark import (
    AttemptPlan,
    BenchmarkReport,
    Catalog,
    ExpertPlan,
    LearnerPlan,
    Planner,
    ReviewPlan,
    Work,
    Writer,
)
from lms.demo.services import EXPERTS, Profile, pick_choice
from lms.expert import services as expert
from lms.expert.models import ExpertEvaluation
from lms.extensions import db
from lms.grading.peer import complete_review, reviews_to_do
from lms.grading.services import save_grade
from lms.learning.services import build_schedule
from lms.progress.models import Evidence
from lms.simulations.services import choose, get_simulation, start_run
from tests.test_quiz_flow import SAMPLE_QUIZZES

CASE = "mlops-case-coldwatch"          # graded by the instructor
HANDS_ON = "cs-hands-on-own-operation"  # reviewed by a classmate

# The sample quiz answered with some parts right, some half right and some wrong.
ANSWERS: dict[int, list[tuple[str, str]]] = {
    0: [("p0", "a")],                                              # single, KO1: right
    1: [("p1", "a")],                                              # multiple, SO1: one of two
    2: [("p2", "false")],                                          # true/false, KO1: wrong
    3: [("p3", "repository")],                                     # short, KO1: half
    4: [("p4", "45")],                                             # numerical, SO1: in the range, half
    5: [("p5-0", "r1"), ("p5-1", "r0"), ("p5-2", "r2")],           # matching, KO1: one of three
    6: [("p6-i0", "1"), ("p6-i1", "2"), ("p6-i2", "3"), ("p6-i3", "4")],  # ordering, SO1: right
    7: [("p7", "Watch accuracy weekly.")],                         # essay, AO1: 3 of 5 from the grader
    8: [("p8-first", "b"), ("p8-measure", "90")],                  # scenario: SO1 part wrong, AO1 part right
}
GRADE_PICKS = [0, 1, 2, 3, 0]  # per criterion, the index of the level chosen (0 is the best)
PEER_PICKS = [1, 2, 0, 3, 1]


def picks(criteria: list[CriterionSpec], indexes: list[int]) -> dict[str, str | None]:
    return {c.id: c.levels[indexes[n % len(indexes)] % len(c.levels)].id for n, c in enumerate(criteria)}


def assignment(key: str) -> Assignment:
    found = db.session.scalar(select(Assignment).where(Assignment.key == key))
    assert found is not None
    return found


def hand_in(cohort: Any, user: Any, key: str, now: datetime) -> Any:
    work = assignment(key)
    dates = dates_for(work, build_schedule(db.session, cohort, user.id, now))
    submission = start_submission(db.session, work, user.id, cohort.id, now - timedelta(hours=2))
    save_draft(db.session, submission, f"{user.name}'s work on {work.title}.", dates, now - timedelta(hours=1))
    submit(db.session, submission, dates, now - timedelta(minutes=30))
    return submission


def evidence_rows(user_id: int) -> list[tuple[str, str, float, float, str, int | None]]:
    """The learner's evidence without ids and timestamps: source, objective, level (0-4),
    weight, note and who judged."""
    db.session.expire_all()
    return sorted((e.source, e.objective.key, e.level, e.weight, e.note, e.recorded_by_id)
                  for e in db.session.scalars(select(Evidence).where(Evidence.user_id == user_id)))


def test_the_volume_generator_gives_the_evidence_the_real_paths_give(app: Flask, load_content, make_cohort,
                                                                      enrol_learner, make_user) -> None:
    app.config["QUIZZES_DIR"] = SAMPLE_QUIZZES
    load_content()
    now = utcnow()
    teacher = make_user(name="Teacher")
    cohort = make_cohort(months_ago=5, instructors=[teacher])
    real, classmate, generated = (enrol_learner(cohort, name=name) for name in ("Ana", "Ben", "Gen"))

    # ----------------------------------------------------------------- the real paths
    quiz = db.session.scalar(select(Quiz).where(Quiz.key == "sample-quiz"))
    window = quiz_window(db.session, quiz, cohort, real.id, now)
    at = window.opens_at + timedelta(days=2)
    attempt = start_attempt(db.session, quiz, real, at)
    for page, fields in ANSWERS.items():
        save_page(db.session, attempt, page, MultiDict(fields), at + timedelta(minutes=page + 1))
    submit_attempt(db.session, attempt, at + timedelta(minutes=20))
    essay = db.session.scalar(select(Response).where(Response.attempt_id == attempt.id, Response.score.is_(None)))
    grade_essay(db.session, essay, 3, "A start: name the thresholds.", teacher, at + timedelta(days=1))
    db.session.commit()
    assert attempt.finished and not attempt.pending_manual

    graded = hand_in(cohort, real, CASE, now)
    criteria = graded.assignment.rubric.current.criteria
    grade_levels = picks(criteria, GRADE_PICKS)
    save_grade(db.session, graded, teacher, grade_levels, {}, "Well argued.", None, "release", now)

    reviewed = hand_in(cohort, real, HANDS_ON, now)
    hand_in(cohort, classmate, HANDS_ON, now)
    (review,) = reviews_to_do(db.session, reviewed.assignment, classmate, now)
    assert review.submission_id == reviewed.id
    peer_levels = picks(review.rubric_version.criteria, PEER_PICKS)
    complete_review(db.session, review, peer_levels, "Clear, with one gap.", now)
    db.session.commit()

    # ----------------------------------------------------------------- the volume generator, same points and levels
    scores = {key: response.score for key, response in responses_of(db.session, attempt).items()}
    catalog = Catalog.load(db.session)
    quiz_plan = next(q for q in catalog.quizzes if q.id == quiz.id)
    assert [page["version"] for page in quiz_plan.layout] == [page["version"] for page in attempt.layout]
    assert {part.key for part in quiz_plan.parts} == set(scores)  # every part answered, scored and planned
    works = {w.id: w for w in catalog.works}

    def work(key: str, levels: dict[str, str | None], graded_at: datetime | None) -> Work:
        plan = works[assignment(key).id]
        return Work(plan=plan, user_id=generated.id, ability=0.7, submitted_at=now - timedelta(minutes=30),
                    body="Generated work.", due_on=now.date(), graded_at=graded_at, levels=levels)

    peer_reviewed = work(HANDS_ON, {}, None)
    plan = LearnerPlan(generated.id, attempts=[AttemptPlan(quiz_plan, generated.id, attempt.number, attempt.started_at,
                                                           attempt.submitted_at, scores)],  # type: ignore[arg-type]
                       works=[work(CASE, grade_levels, now), peer_reviewed])
    writer = Writer(db.session, cohort, teacher.id, now, random.Random(1), BenchmarkReport(), catalog.objective_ids)
    writer.write([plan], reviews=[ReviewPlan(peer_reviewed, classmate.id, peer_levels, "Clear, with one gap.",
                                             now - timedelta(minutes=20), now - timedelta(minutes=10))])
    db.session.commit()

    # ----------------------------------------------------------------- the same evidence
    expected = evidence_rows(real.id)
    assert evidence_rows(generated.id) == expected
    # ... and it says something: every source, levels between the extremes, the peer at half weight.
    # (the case study's grade comes from the case-study source: someone else's business, not applied work)
    assert {row[0] for row in expected} == {"quiz", "case_study", "peer"}
    # Weighed by the rules: a peer counts half on knowledge and skill, nothing on application objectives.
    assert {row[3] for row in expected if row[0] == "peer" and not row[1].startswith("AO")} == {0.5}
    assert {row[3] for row in expected if row[0] != "rubric" and row[1].startswith("AO")} == {0.0}
    quiz_levels = {row[1]: row[2] for row in expected if row[0] == "quiz"}
    assert set(quiz_levels) == {"KO1", "SO1", "AO1"} and all(0 < level < 4 for level in quiz_levels.values())
    # AO1: the essay (3 of 5) and the scenario's numerical part (1 of 1).
    assert quiz_levels["AO1"] == pytest.approx(4 * 4 / 6, abs=1e-4)
    rubric_levels = {row[1]: row[2] for row in expected if row[0] == "case_study"}
    # KO1 is on all five criteria: (4/4 + 3/4 + 2/4 + 1/4 + 4/4) / 5 = 0.7 -> 2.8 on the 0-4 scale.
    assert rubric_levels["KO1"] == pytest.approx(2.8)


@pytest.mark.parametrize(("zone", "after_due", "late"), [
    ("America/New_York", timedelta(hours=22), False),  # 22:00 in New York on the due day (the next UTC date)
    ("Asia/Tokyo", timedelta(days=1, hours=5), True),  # 05:00 in Tokyo the day after (the due day's UTC date)
    ("UTC", timedelta(hours=23, minutes=59), False),
])
def test_the_volume_generator_judges_late_by_the_cohorts_day(app: Flask, load_content, make_cohort, enrol_learner,
                                                               make_user, zone: str, after_due: timedelta,
                                                               late: bool) -> None:
    """Generated work is late as the real hand-in judges it (coursework.handed_in_late): after
    the due day as the cohort counts days, not the UTC date."""
    load_content()
    teacher = make_user(name="Teacher")
    cohort = make_cohort(months_ago=5, instructors=[teacher], timezone=zone)
    learner = enrol_learner(cohort, name="Gen")
    catalog = Catalog.load(db.session)
    plan = next(w for w in catalog.works if w.id == assignment(CASE).id)
    # the learner's own due date: the kept schedule judges every version against it again
    dates = dates_for(assignment(CASE), build_schedule(db.session, cohort, learner.id, utcnow()))
    assert dates is not None
    at = (datetime.combine(dates.due_on, time(0), tzinfo=ZoneInfo(zone)) + after_due).astimezone(UTC)
    work = Work(plan=plan, user_id=learner.id, ability=0.7, submitted_at=at, body="Generated work.",
                due_on=dates.due_on, graded_at=None, levels={})
    writer = Writer(db.session, cohort, teacher.id, utcnow(), random.Random(1), BenchmarkReport(), catalog.objective_ids)
    writer.write([LearnerPlan(learner.id, attempts=[], works=[work])])
    db.session.commit()
    assert db.session.scalars(select(SubmissionVersion.late)).one() is late


SIMULATION = "cs-escalation-fennick"  # customer success, foundation phase: month 2
EXPERT_PICKS = [1, 0, 2, 1, 3]


def test_the_volume_generator_gives_the_simulation_and_expert_evidence_the_real_paths_give(
        app: Flask, loaded, make_cohort, enrol_learner, make_user) -> None:
    now = utcnow()
    cohort = make_cohort(months_ago=5, instructors=[make_user(name="Teacher")])
    real, generated = (enrol_learner(cohort, name=name) for name in ("Ana", "Gen"))
    who = EXPERTS[0]
    profile = Profile(1.0, 1.0)  # takes every simulation and always the best-scoring option

    # ----------------------------------------------------------------- the real paths
    simulation = get_simulation(db.session, SIMULATION)
    assert simulation is not None
    run = start_run(db.session, simulation, real, now - timedelta(hours=3))
    while not run.finished:
        choose(db.session, run, run.node, pick_choice(simulation.spec["nodes"][run.node]["choices"], 1.0, random.Random(1)),
               now - timedelta(hours=2))
    work = hand_in(cohort, real, CASE, now)
    criteria = work.assignment.rubric.current.criteria
    levels = picks(criteria, EXPERT_PICKS)
    comments = {c.id: f"On {c.title}." for c in criteria}
    _, token = expert.invite(db.session, work, real, who.name, who.email, "", now, "http://localhost/e/{}".format)
    expert.rate(db.session, token, who.credentials, levels, comments, "Sound work.", now)
    db.session.commit()

    # ----------------------------------------------------------------- the volume generator
    catalog = Catalog.load(db.session)
    planner = Planner(catalog, cohort, 0, now)
    plan = LearnerPlan(generated.id)
    planner.simulations(plan, profile, random.Random(1), month=simulation.phase.month)
    assert len(plan.runs) == 1 and plan.runs[0]["path"] == run.path and plan.runs[0]["scores"] == run.scores
    plan.works = [Work(plan=next(w for w in catalog.works if w.id == work.assignment_id), user_id=generated.id,
                       ability=0.7, submitted_at=now - timedelta(minutes=30), body="Generated work.", due_on=now.date(),
                       graded_at=None, levels={},
                       expert=ExpertPlan(who, levels, comments, "Sound work.", now - timedelta(minutes=20), now))]
    report = BenchmarkReport()
    Writer(db.session, cohort, 0, now, random.Random(1), report, catalog.objective_ids).write([plan], reviews=[])
    db.session.commit()
    assert (report.simulation_runs, report.expert_ratings) == (1, 1)

    # ----------------------------------------------------------------- the same evidence
    expected = evidence_rows(real.id)
    assert evidence_rows(generated.id) == expected
    assert {row[0] for row in expected} == {"simulation", "expert"}
    rated = db.session.scalars(select(ExpertEvaluation).order_by(ExpertEvaluation.id)).all()
    assert [(e.score, e.selections, e.role) for e in rated[:1]] == [(e.score, e.selections, e.role) for e in rated[1:]]
