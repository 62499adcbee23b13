"""The quiz engine: scoring of every question type, grading methods, pools and shuffling,
review options, question versions, server-side time limits, attempts allowed, tampered
input, quiz windows, loader errors, statistics and hand grading of essays."""

from __future__ import annotations

import random
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from flask import Flask
from markupsafe import escape
from sqlalchemy import event, func, select, update
from werkzeug.datastructures import MultiDict

from lms.accounts.models import User
from lms.assessment import services
from lms.assessment.content import QuizFile
from lms.assessment.methods import GRADING_METHODS, REVIEW_POLICIES
from lms.assessment.models import Attempt, Question, QuestionVersion, Quiz, Response
from lms.assessment.questions import QUESTION_TYPES, AnswerError, Option, QuestionSpec, ShortAnswer, points_of
from lms.catalog.models import Level
from lms.cohorts.calendar import program_closes_on
from lms.cohorts.models import Enrolment
from lms.database import utcnow
from lms.extensions import db
from lms.learning.models import OverrideKind
from lms.learning.services import cohort_today, grant_override, month_opens_on, opens_at
from lms.progress.completion import learner_progress
from tests.plans import plan_of, scans_whole, statements_during

SAMPLE_DIR = Path(__file__).parent / "data" / "quizzes"

# The sample quiz, page by page (no shuffling, no pools: page i is the file's question i).
CORRECT: dict[int, dict[str, Any]] = {
    0: {"p0": "a"},
    1: {"p1": ["a", "b"]},
    2: {"p2": "true"},
    3: {"p3": "Model Registry"},
    4: {"p4": "43"},
    5: {"p5-0": "r0", "p5-1": "r1", "p5-2": "r2"},
    6: {"p6-i0": "1", "p6-i1": "2", "p6-i2": "3", "p6-i3": "4"},
    7: {"p7": "Watch accuracy weekly against a threshold; Sam owns the alert."},
    8: {"p8-first": "a", "p8-measure": "90"},
}
AUTO_POINTS = 2 + 4 + 1 + 1 + 2 + 3 + 4 + 2  # every point but the essay's
MAX_POINTS = AUTO_POINTS + 5


def without_csrf(html: str) -> str:
    """The page minus its CSRF token, which is signed with the current time."""
    return re.sub(r'(name="csrf_token"[^>]*?value=")[^"]*"', r'\1"', html)


def steady(html: str) -> str:
    """The page minus what changes from one second to the next: its CSRF token and the seconds
    the attempt's clock has left."""
    return re.sub(r'data-seconds-left="\d+"', 'data-seconds-left=""', without_csrf(html))


# --------------------------------------------------------------------------- helpers


def sample_specs() -> dict[str, QuestionSpec]:
    """The sample quiz's questions as the loader validates them (defaults filled in)."""
    data = yaml.safe_load((SAMPLE_DIR / "sample.yml").read_text())
    quiz = QuizFile.model_validate(data)
    return {q.id: q for q in quiz.questions}


def score(spec: QuestionSpec, data: dict[str, Any], field: str = "f") -> float | None:
    kind = QUESTION_TYPES[spec.type]
    return kind.score(spec, kind.read(spec, MultiDict(data), field))


def take(quiz: Quiz, user: Any, answers: dict[int, dict[str, Any]], now, submit: bool = True) -> Attempt:
    """Start an attempt, save the given pages and (by default) submit; commits."""
    attempt = services.start_attempt(db.session, quiz, user, now)
    for page, data in answers.items():
        services.save_page(db.session, attempt, page, MultiDict(data), now)
    if submit:
        services.submit_attempt(db.session, attempt, now)
    db.session.commit()
    return attempt


def quiz(key: str = "sample-quiz") -> Quiz:
    found = services.get_quiz(db.session, key)
    assert found is not None, key
    return found


def started_id(response) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return int(response.headers["Location"].split("/attempts/")[1].split("/")[0])


def response_rows() -> list[tuple]:
    db.session.expire_all()
    return [(r.id, r.attempt_id, r.version_id, r.part, r.answer, r.score)
            for r in db.session.scalars(select(Response).order_by(Response.id))]


def invoke(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=["lms", "load-content", *args])


@pytest.fixture()
def sample(app: Flask, load_content) -> Quiz:
    app.config["QUIZZES_DIR"] = SAMPLE_DIR
    load_content()
    return quiz()


@pytest.fixture()
def quizzes_dir(app: Flask, tmp_path: Path) -> Path:
    """An empty quizzes folder the app reads; tests write quiz files into it."""
    folder = tmp_path / "quizzes"
    folder.mkdir()
    app.config["QUIZZES_DIR"] = folder
    return folder


@pytest.fixture()
def learner(sample, make_cohort, enrol_learner):
    """A learner one month into the program: the sample quiz (month 1, closes after 60 days) is open."""
    return enrol_learner(make_cohort(months_ago=1))


# --------------------------------------------------------------------------- 1. scoring


SPECS = sample_specs()


def test_single_choice() -> None:
    spec = SPECS["s-single"]
    assert score(spec, {"f": "a"}) == 1.0
    assert score(spec, {"f": "b"}) == 0.0
    assert score(spec, {}) == 0.0  # blank
    with pytest.raises(AnswerError):
        score(spec, {"f": "zzz"})
    with pytest.raises(AnswerError):
        score(spec, {"f": ["a", "b"]})
    assert QUESTION_TYPES["single"].feedback(spec, {"option": "b"}) == ["Too slow."]


def test_multiple_answers_partial_credit_and_bounds() -> None:
    spec = SPECS["s-multiple"]  # a 50, b 50, c -100, d 0
    assert score(spec, {"f": ["a", "b"]}) == 1.0
    assert score(spec, {"f": ["a"]}) == 0.5
    assert score(spec, {"f": ["a", "b", "d"]}) == 1.0
    assert score(spec, {"f": ["a", "c"]}) == 0.0  # 50 - 100: never below zero
    assert score(spec, {"f": ["c"]}) == 0.0
    assert score(spec, {}) == 0.0
    with pytest.raises(AnswerError):
        score(spec, {"f": ["a", "x"]})
    with pytest.raises(AnswerError):
        score(spec, {"f": ["a", "a"]})
    kind = QUESTION_TYPES["multiple"]
    negative = spec.model_copy(update={"options": [
        Option(id="a", text="A", weight=50), Option(id="b", text="B", weight=50), Option(id="c", text="C", weight=-25),
    ]})
    assert kind.score(negative, {"options": ["a", "b", "c"]}) == 0.75  # a negative weight takes off
    assert kind.score(negative, {"options": ["a", "c"]}) == 0.25
    generous = negative.model_copy(update={"options": [Option(id="a", text="A", weight=80), Option(id="b", text="B", weight=80)]})
    assert kind.score(generous, {"options": ["a", "b"]}) == 1.0  # never above one


def test_true_false() -> None:
    spec = SPECS["s-tf"]  # answer: true
    assert score(spec, {"f": "true"}) == 1.0
    assert score(spec, {"f": "false"}) == 0.0
    assert score(spec, {}) == 0.0
    with pytest.raises(AnswerError):
        score(spec, {"f": "maybe"})
    kind = QUESTION_TYPES["true_false"]
    assert kind.feedback(spec, {"value": False}) == ["It does happen silently."]
    false_spec = spec.model_copy(update={"answer": False})
    assert score(false_spec, {"f": "false"}) == 1.0 and score(false_spec, {"f": "true"}) == 0.0


def test_short_answer() -> None:
    spec = SPECS["s-short"]  # "model registry" 100, "*registry" 100, "repository" 50
    assert score(spec, {"f": "model registry"}) == 1.0
    assert score(spec, {"f": "MODEL Registry"}) == 1.0  # case-insensitive
    assert score(spec, {"f": "  model    registry  "}) == 1.0  # extra spaces
    assert score(spec, {"f": "the central registry"}) == 1.0  # another accepted answer, with a wildcard
    assert score(spec, {"f": "Registry"}) == 1.0  # * matches nothing too
    assert score(spec, {"f": "Repository"}) == 0.5  # partial weight
    assert score(spec, {"f": "registry of models"}) == 0.0  # the wildcard is only where written
    assert score(spec, {"f": "a database"}) == 0.0
    assert score(spec, {"f": "   "}) == 0.0  # blank
    kind = QUESTION_TYPES["short"]
    assert kind.feedback(spec, {"text": "repository"}) == ["Close."]
    # Only * is a wildcard: ? and [...] are taken as written.
    literal = spec.model_copy(update={"answers": [ShortAnswer(text="Why?"), ShortAnswer(text="[draft] v2*")]})
    assert score(literal, {"f": "why?"}) == 1.0
    assert score(literal, {"f": "whys"}) == 0.0
    assert score(literal, {"f": "[Draft] v2 final"}) == 1.0
    assert score(literal, {"f": "d v2"}) == 0.0
    with pytest.raises(AnswerError):
        score(spec, {"f": "x" * 501})


@pytest.mark.parametrize(("answers", "shown"), [
    # The review shows a model answer, never the author's patterns (``*`` is their syntax).
    ([("exception log", 100), ("exception* log*", 100), ("*exception*log*", 100), ("exception* register", 100)], "exception log"),
    ([("model*registry", 100), ("mr", 100)], "model registry"),                   # the first: a wildcard reads as a space
    ([("time*to*value", 100), ("ttv", 100)], "time to value"),                    # not the abbreviation accepted later
    ([("a relative*", 100), ("relative *", 100), ("percentage*", 50)], "a relative"),
    ([("*", 0), ("time * to *value*", 100), ("ttv", 50)], "time to value"),        # full marks only; spaces tidied
    ([("*", 100)], ""),                                                           # nothing to show
])
def test_short_answer_review_shows_a_model_answer(answers: list[tuple[str, float]], shown: str) -> None:
    spec = SPECS["s-short"].model_copy(update={"answers": [ShortAnswer(text=t, weight=w) for t, w in answers]})
    assert QUESTION_TYPES["short"].correct_answer(spec) == shown


def test_numerical() -> None:
    spec = SPECS["s-numerical"]  # 43.2 ± 1 is worth 100; 40..50 is worth 50
    assert score(spec, {"f": "43.2"}) == 1.0  # exact
    assert score(spec, {"f": "44"}) == 1.0  # within tolerance
    assert score(spec, {"f": "42.2"}) == 1.0  # on the edge of the tolerance
    assert score(spec, {"f": "44.5"}) == 0.5  # outside the tolerance, inside the range
    assert score(spec, {"f": "40"}) == 0.5
    assert score(spec, {"f": "51"}) == 0.0  # outside everything
    assert score(spec, {"f": "-43.2"}) == 0.0
    assert score(spec, {}) == 0.0
    for bad in ("forty", "43.2.1", "1,5", "43,2", "nan", "inf"):
        with pytest.raises(AnswerError):
            score(spec, {"f": bad})
    with pytest.raises(AnswerError, match="commas"):
        score(spec, {"f": "1,234"})
    assert QUESTION_TYPES["numerical"].feedback(spec, {"value": 45}) == ["In the right range."]


def test_matching_partial_credit() -> None:
    spec = SPECS["s-matching"]  # three pairs, one distractor
    assert score(spec, {"f-0": "r0", "f-1": "r1", "f-2": "r2"}) == 1.0
    assert score(spec, {"f-0": "r0", "f-1": "r2", "f-2": "r1"}) == pytest.approx(1 / 3)
    assert score(spec, {"f-0": "r0", "f-1": "d0"}) == pytest.approx(1 / 3)  # the distractor is never right
    assert score(spec, {"f-0": "r1", "f-1": "r0", "f-2": "d0"}) == 0.0
    assert score(spec, {}) == 0.0
    with pytest.raises(AnswerError):
        score(spec, {"f-0": "r9"})
    with pytest.raises(AnswerError):
        score(spec, {"f-0": "d5"})


def test_ordering_partial_credit_and_refusals() -> None:
    spec = SPECS["s-ordering"]  # Train, Validate, Register, Deploy
    assert score(spec, {"f-i0": "1", "f-i1": "2", "f-i2": "3", "f-i3": "4"}) == 1.0
    assert score(spec, {"f-i0": "1", "f-i1": "2", "f-i2": "4", "f-i3": "3"}) == 0.5
    assert score(spec, {"f-i0": "4", "f-i1": "3", "f-i2": "2", "f-i3": "1"}) == 0.0
    assert score(spec, {"f-i0": "1"}) == 0.25
    with pytest.raises(AnswerError, match="different position"):
        score(spec, {"f-i0": "1", "f-i1": "1", "f-i2": "3", "f-i3": "4"})
    for bad in ("5", "0", "-1", "x", "2.5", "\u00b2", "1" * 5000):  # a superscript two is a "digit" to str.isdigit
        with pytest.raises(AnswerError):
            score(spec, {"f-i0": bad})


def test_essay_is_graded_by_hand_unless_blank() -> None:
    spec = SPECS["s-essay"]
    kind = QUESTION_TYPES["essay"]
    assert not kind.auto_scored
    assert score(spec, {"f": "I would watch accuracy."}) is None
    assert score(spec, {"f": "   "}) == 0.0
    assert score(spec, {}) == 0.0


def test_scenario_points_are_the_sum_of_its_parts() -> None:
    scenario = SPECS["s-scenario"]
    assert points_of(scenario) == 2
    bigger = scenario.model_copy(update={"questions": [scenario.questions[0].model_copy(update={"points": 3}),
                                                       scenario.questions[1].model_copy(update={"points": 2.5})]})
    assert points_of(bigger) == 5.5
    assert points_of(SPECS["s-multiple"]) == 4


def test_scenario_scores_each_part(learner, sample) -> None:
    now = utcnow()
    attempt = take(sample, learner, {8: {"p8-first": "a", "p8-measure": "91"}}, now)
    parts = {r.part: r.score for r in attempt.responses if r.version.question.key == "s-scenario"}
    assert parts == {"first": 1.0, "measure": 0.0}
    assert attempt.score == 1.0 and attempt.max_score == MAX_POINTS


# --------------------------------------------------------------------------- 2. grading methods


def test_grading_methods_on_plain_attempts() -> None:
    attempts = [SimpleNamespace(number=3, percent=50.0), SimpleNamespace(number=1, percent=40.0),
                SimpleNamespace(number=2, percent=90.0), SimpleNamespace(number=4, percent=None)]
    assert GRADING_METHODS["highest"].pick(attempts) == 90.0
    assert GRADING_METHODS["latest"].pick(attempts) == 50.0  # by number, not list order; None ignored
    assert GRADING_METHODS["first"].pick(attempts) == 40.0
    assert GRADING_METHODS["average"].pick(attempts) == 60.0
    assert GRADING_METHODS["average"].pick([SimpleNamespace(number=1, percent=10.0),
                                            SimpleNamespace(number=2, percent=20.0),
                                            SimpleNamespace(number=3, percent=20.0)]) == 16.67
    for method in GRADING_METHODS.values():
        assert method.pick([]) is None
        assert method.pick([SimpleNamespace(number=1, percent=None)]) is None


def test_grading_methods_over_real_attempts(learner, sample) -> None:
    now = utcnow()
    first = take(sample, learner, {0: CORRECT[0], 1: CORRECT[1]}, now)                      # 6 of 24
    second = take(sample, learner, {i: CORRECT[i] for i in CORRECT if i != 7}, now + timedelta(minutes=1))  # 19
    third = take(sample, learner, {0: CORRECT[0]}, now + timedelta(minutes=2))              # 2
    assert [a.number for a in (first, second, third)] == [1, 2, 3]
    assert [a.score for a in (first, second, third)] == [6, AUTO_POINTS, 2]
    assert not any(a.pending_manual for a in (first, second, third))  # blank essays score 0
    percents = [round(100 * s / MAX_POINTS, 2) for s in (6, AUTO_POINTS, 2)]
    expected = {
        "highest": percents[1],
        "latest": percents[2],
        "first": percents[0],
        "average": round(sum(percents) / 3, 2),
    }
    assert len(set(expected.values())) == 4
    for method, grade in expected.items():
        sample.grading = method
        db.session.commit()
        status = services.quiz_status(db.session, sample, learner, now + timedelta(minutes=3))
        assert status.grade == grade, method
        assert status.passed is (grade >= sample.passing_score)


def test_grade_ignores_attempts_waiting_for_an_essay_grade(learner, sample) -> None:
    now = utcnow()
    take(sample, learner, {0: CORRECT[0]}, now)
    take(sample, learner, CORRECT, now + timedelta(minutes=1))  # essay written: pending
    status = services.quiz_status(db.session, sample, learner, now + timedelta(minutes=2))
    assert status.grade == round(100 * 2 / MAX_POINTS, 2)


# --------------------------------------------------------------------------- 3. pools and shuffling


def pool_quiz(shuffle: bool = True) -> str:
    def single(qid: str, pool: str | None = None) -> dict[str, Any]:
        q: dict[str, Any] = {"id": qid, "type": "single", "objectives": ["KO1"], "text": f"Question {qid}?",
                             "options": [{"id": o, "text": f"{qid} option {o}", "correct": o == "a"} for o in "abcde"]}
        if pool:
            q["pool"] = pool
        return q

    data = {
        "id": "pool-quiz", "title": "Pool quiz", "kind": "quiz", "module": "mlops", "phase": "foundation",
        "settings": {"shuffle_questions": shuffle, "shuffle_answers": shuffle},
        "pools": [{"id": "bank", "draw": 3}],
        "questions": [single("pq-fixed-1"), *[single(f"pq-bank-{i}", "bank") for i in range(1, 7)], single("pq-fixed-2")],
    }
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture()
def pools(app, quizzes_dir, load_content) -> Quiz:
    (quizzes_dir / "pool.yml").write_text(pool_quiz())
    load_content()
    return quiz("pool-quiz")


def layout_keys(attempt: Attempt) -> list[str]:
    versions = {v.id: v for v in db.session.scalars(select(QuestionVersion))}
    return [versions[p["version"]].question.key for p in attempt.layout]


def test_each_attempt_draws_from_the_pool(pools, make_cohort, enrol_learner) -> None:
    cohort = make_cohort(months_ago=1)
    now = utcnow()
    for _ in range(5):
        attempt = services.start_attempt(db.session, pools, enrol_learner(cohort), now)
        keys = layout_keys(attempt)
        assert len(keys) == 5 and len(set(keys)) == 5
        assert {"pq-fixed-1", "pq-fixed-2"} <= set(keys)
        bank = [k for k in keys if k.startswith("pq-bank-")]
        assert len(bank) == 3
        assert attempt.max_score == 5
        for page in attempt.layout:
            assert sorted(next(iter(page["options"].values()))) == list("abcde")
    db.session.commit()


def test_layout_is_stored_and_reloads_show_the_same_order(pools, make_cohort, enrol_learner, client, login) -> None:
    user = enrol_learner(make_cohort(months_ago=1))
    login(client, user)
    attempt_id = started_id(client.post("/quizzes/pool-quiz/start"))
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    for page, entry in enumerate(attempt.layout):
        first = client.get(f"/attempts/{attempt_id}/pages/{page}").get_data(as_text=True)
        again = client.get(f"/attempts/{attempt_id}/pages/{page}").get_data(as_text=True)
        shown = re.findall(rf'name="p{page}" value="([a-z])"', first)
        assert shown == next(iter(entry["options"].values()))  # the stored order
        assert re.findall(rf'name="p{page}" value="([a-z])"', again) == shown
        # The page is identical apart from the CSRF token, which embeds a timestamp, and the seconds
        # its clock has left (every attempt closes by the program's close at the latest).
        assert steady(first) == steady(again)
    # Starting again (resume) keeps the layout too.
    assert started_id(client.post("/quizzes/pool-quiz/start")) == attempt_id
    db.session.expire_all()
    assert db.session.get(Attempt, attempt_id).layout == attempt.layout


def test_without_shuffling_the_file_order_is_kept(app, quizzes_dir, load_content, make_cohort, enrol_learner) -> None:
    (quizzes_dir / "pool.yml").write_text(pool_quiz(shuffle=False))
    load_content()
    pool = quiz("pool-quiz")
    cohort = make_cohort(months_ago=1)
    order = [q.key for q in sorted(pool.questions, key=lambda q: q.position)]
    for _ in range(4):
        attempt = services.start_attempt(db.session, pool, enrol_learner(cohort), utcnow())
        keys = layout_keys(attempt)
        assert keys[0] == "pq-fixed-1" and keys[-1] == "pq-fixed-2"
        assert keys == [k for k in order if k in keys]  # file order
        for page in attempt.layout:
            assert next(iter(page["options"].values())) == list("abcde")
    db.session.commit()


def test_shuffled_layouts_differ_across_attempts(pools) -> None:
    chosen = services.current_versions(db.session, pools)
    key_of = {v.id: q.key for q, v in chosen}
    question_orders, option_orders, draws = set(), set(), set()
    for seed in range(30):
        layout = services._layout(pools, chosen, random.Random(seed))
        keys = tuple(key_of[p["version"]] for p in layout)
        assert len(keys) == 5 and sum(k.startswith("pq-bank-") for k in keys) == 3
        question_orders.add(keys)
        draws.add(frozenset(k for k in keys if k.startswith("pq-bank-")))
        option_orders.update(tuple(ids) for p in layout for ids in p["options"].values())
    assert len(question_orders) > 10
    assert len(draws) > 5
    assert len(option_orders) > 10
    assert {k for d in draws for k in d} == {f"pq-bank-{i}" for i in range(1, 7)}
    # The same seed gives the same layout: the order comes from the attempt's random draw only.
    assert services._layout(pools, chosen, random.Random(7)) == services._layout(pools, chosen, random.Random(7))


# --------------------------------------------------------------------------- 4. review options


def test_review_policies() -> None:
    now = utcnow()
    assert REVIEW_POLICIES["immediately"].shows_answers(now, None)
    assert REVIEW_POLICIES["immediately"].shows_answers(now, now + timedelta(days=1))
    assert not REVIEW_POLICIES["after_close"].shows_answers(now, now + timedelta(seconds=1))
    assert REVIEW_POLICIES["after_close"].shows_answers(now, now)
    assert REVIEW_POLICIES["after_close"].shows_answers(now, now - timedelta(days=1))
    assert not REVIEW_POLICIES["after_close"].shows_answers(now, None)
    assert not REVIEW_POLICIES["never"].shows_answers(now, now - timedelta(days=1))


def test_immediately_shows_answers_and_feedback(learner, sample, client, login) -> None:
    attempt = take(sample, learner, {0: {"p0": "b"}, 2: CORRECT[2]}, utcnow())
    assert services.shows_answers(db.session, attempt, utcnow())
    login(client, learner)
    page = client.get(f"/attempts/{attempt.id}").get_data(as_text=True)
    assert "Correct answer" in page
    assert "A tested rollback to the previous registered model" in page
    assert 'Correct answer:</span> model registry</p>' in page and "*registry" not in page  # a model answer, not the patterns
    assert "Too slow." in page  # feedback for the chosen option
    assert "Right, models degrade silently." in page


def test_after_close_hides_answers_until_the_quiz_closes(learner, sample) -> None:
    sample.review = "after_close"
    db.session.commit()
    now = utcnow()
    attempt = take(sample, learner, {0: {"p0": "b"}}, now)
    closes = services.quiz_status(db.session, sample, learner, now).window.closes_at
    assert closes is not None and closes > now
    assert not services.shows_answers(db.session, attempt, now)
    assert not services.shows_answers(db.session, attempt, closes - timedelta(seconds=1))
    hidden = services.page_views(db.session, attempt, show_answers=False)
    assert hidden[0].parts[0].correct is None and hidden[0].parts[0].feedback == []
    assert hidden[0].parts[0].score == 0
    assert services.shows_answers(db.session, attempt, closes)
    assert services.shows_answers(db.session, attempt, closes + timedelta(days=3))
    shown = services.page_views(db.session, attempt, show_answers=True)
    assert shown[0].parts[0].correct == "A tested rollback to the previous registered model"
    assert "Too slow." in shown[0].parts[0].feedback


def test_after_close_over_http(sample, make_cohort, enrol_learner, client, login) -> None:
    sample.review = "after_close"
    db.session.commit()
    open_learner = enrol_learner(make_cohort(months_ago=1))
    open_attempt = take(sample, open_learner, {0: {"p0": "b"}}, utcnow())
    # A cohort whose window (60 days after month 1) has passed; the attempt was made in time.
    old_cohort = make_cohort(months_ago=4)
    closed_learner = enrol_learner(old_cohort)
    then = services.quiz_status(db.session, sample, closed_learner, utcnow()).window.opens_at + timedelta(days=1)
    closed_attempt = take(sample, closed_learner, {0: {"p0": "b"}}, then)

    login(client, open_learner)
    page = client.get(f"/attempts/{open_attempt.id}").get_data(as_text=True)
    assert "Correct answers and feedback appear once the quiz has closed." in page
    assert "Correct answer:" not in page and "Too slow." not in page
    assert "0 of 24 points" in page
    client.post("/logout")
    login(client, closed_learner)
    page = client.get(f"/attempts/{closed_attempt.id}").get_data(as_text=True)
    assert "appear once the quiz has closed" not in page
    assert "Correct answer:" in page and "Too slow." in page


def start_forms(page: str) -> list[str]:
    """The forms of a page that post to a quiz's start."""
    return re.findall(r'<form method="post" action="/quizzes/[^"]+/start">.*?</form>', page, re.S)


def test_the_result_page_offers_the_next_attempt_while_attempts_remain(learner, sample, client, login) -> None:
    """After an attempt the result page offered no way to try again but a small link back to
    the quiz. It now has a button starting the next attempt through the quiz's start (a POST;
    the page itself writes nothing), saying how many attempts remain; with none left, or the
    window closed, it says why there is no next attempt."""
    assert sample.attempts_allowed == 3
    first = take(sample, learner, {0: {"p0": "b"}}, utcnow())
    login(client, learner)
    page = client.get(f"/attempts/{first.id}").get_data(as_text=True)
    forms = start_forms(page)
    assert len(forms) == 1 and f'action="/quizzes/{sample.key}/start"' in forms[0] and "Start attempt 2" in forms[0]
    assert "2 of your 3 attempts left" in page
    assert db.session.scalar(select(func.count()).select_from(Attempt)) == 1  # the page wrote nothing
    second = started_id(client.post(f"/quizzes/{sample.key}/start"))
    assert second != first.id and db.session.get(Attempt, second).number == 2

    services.submit_attempt(db.session, db.session.get(Attempt, second), utcnow())
    db.session.commit()
    page = client.get(f"/attempts/{second}").get_data(as_text=True)
    assert "Start attempt 3" in start_forms(page)[0] and "1 of your 3 attempts left" in page
    third = take(sample, learner, {0: CORRECT[0]}, utcnow())
    page = client.get(f"/attempts/{third.id}").get_data(as_text=True)
    assert not start_forms(page) and "You have used all 3 attempts." in page


def test_the_result_page_says_the_quiz_closed_when_it_has(sample, make_cohort, enrol_learner, client, login) -> None:
    """A quiz whose window has closed offers no next attempt: its result page says it closed, and when."""
    learner = enrol_learner(make_cohort(months_ago=4))  # the sample quiz closed 60 days after month 1
    status = services.quiz_status(db.session, sample, learner, utcnow())
    attempt = take(sample, learner, {0: {"p0": "b"}}, status.window.opens_at + timedelta(days=1))
    login(client, learner)
    page = client.get(f"/attempts/{attempt.id}").get_data(as_text=True)
    assert not start_forms(page) and status.reason and str(escape(status.reason)) in page
    assert status.reason.startswith("This quiz closed on")


def test_the_result_page_of_a_quiz_without_a_limit_says_so(learner, sample, client, login) -> None:
    sample.attempts_allowed = 0  # no limit
    db.session.commit()
    first = take(sample, learner, {0: {"p0": "b"}}, utcnow())
    login(client, learner)
    page = client.get(f"/attempts/{first.id}").get_data(as_text=True)
    assert "Start attempt 2" in start_forms(page)[0] and "no limit on attempts" in page.lower()


def test_a_quiz_of_one_attempt_says_it_was_used(learner, sample, client, login) -> None:
    """Not "You have used all 1 attempts."."""
    sample.attempts_allowed = 1
    db.session.commit()
    only = take(sample, learner, {0: {"p0": "b"}}, utcnow())
    login(client, learner)
    page = client.get(f"/attempts/{only.id}").get_data(as_text=True)
    assert not start_forms(page) and "You have used your one attempt." in page and "all 1 attempts" not in page


def test_never_hides_answers_but_shows_the_score(learner, sample, client, login) -> None:
    sample.review = "never"
    db.session.commit()
    attempt = take(sample, learner, {0: CORRECT[0], 2: CORRECT[2]}, utcnow())
    assert not services.shows_answers(db.session, attempt, utcnow() + timedelta(days=400))
    login(client, learner)
    page = client.get(f"/attempts/{attempt.id}").get_data(as_text=True)
    assert "This quiz does not show correct answers." in page
    assert "Correct answer:" not in page
    assert "Right, models degrade silently." not in page and "Yes." not in page
    assert f"{round(100 * 3 / MAX_POINTS, 2):g}%" in page and "3 of 24 points" in page


def test_review_after_last_attempt_policy() -> None:
    now, policy = utcnow(), REVIEW_POLICIES["after_last_attempt"]
    assert not policy.shows_answers(now, None) and not policy.shows_answers(now, now + timedelta(days=1))
    assert policy.shows_answers(now, now + timedelta(days=1), done=True)
    assert policy.shows_answers(now, now) and policy.shows_answers(now, now - timedelta(days=1))
    assert {p.name for p in REVIEW_POLICIES.values() if p.while_attempts_remain} == {"immediately"}


def test_after_last_attempt_shows_the_score_not_the_answers_after_attempt_1_of_3(learner, sample, client,
                                                                                   login) -> None:
    """What a learner sees after attempt 1 of 3 of a quiz that asks the same questions every
    time: the score and which items were right or wrong, no correct answer and no feedback;
    both come once the third attempt is in, or the quiz has closed."""
    sample.review = "after_last_attempt"
    db.session.commit()
    now = utcnow()
    first = take(sample, learner, {0: {"p0": "b"}, 2: CORRECT[2]}, now)
    assert sample.attempts_allowed == 3 and first.number == 1
    assert not services.shows_answers(db.session, first, now)
    login(client, learner)
    page = client.get(f"/attempts/{first.id}").get_data(as_text=True)
    assert "Correct answers and feedback appear once you have used your last attempt or the quiz has closed" in page
    assert "Correct answer:" not in page
    assert "Too slow." not in page and "Yes." not in page and "Right, models degrade silently." not in page
    assert "1 of 24 points" in page
    assert "<strong>0</strong> / 2 points · wrong" in page and "<strong>1</strong> / 1 points · right" in page
    told = client.get(f"/quizzes/{sample.key}").get_data(as_text=True)
    assert ("Your score and the points of each question after every attempt; the correct answers and feedback: "
            "once your last attempt is used or the quiz has closed") in told
    # The window's close shows them to everyone, whatever attempts are left.
    closes = services.quiz_status(db.session, sample, learner, now).window.closes_at
    assert services.shows_answers(db.session, first, closes)
    # A second attempt, then a third left open: answers stay hidden while it can still be answered.
    take(sample, learner, {0: CORRECT[0]}, now)
    third = take(sample, learner, {0: CORRECT[0]}, now, submit=False)
    assert not services.shows_answers(db.session, first, now)
    services.submit_attempt(db.session, third, now)
    db.session.commit()
    assert services.shows_answers(db.session, first, now) and services.shows_answers(db.session, third, now)
    page = client.get(f"/attempts/{first.id}").get_data(as_text=True)
    assert "Correct answer:" in page and "Too slow." in page
    assert "appear once you have used your last attempt" not in page


# --------------------------------------------------------------------------- 5. versions


S_SINGLE_TEXT = "Which step lets you undo a bad model release fastest?"
S_SINGLE_NEW = "Which step undoes a bad model release fastest?"


def edit_sample(path: Path) -> None:
    """New wording for s-single, and now option b is the right one."""
    text = path.read_text()
    assert S_SINGLE_TEXT in text
    text = text.replace(S_SINGLE_TEXT, S_SINGLE_NEW)
    text = text.replace("registered model, correct: true, feedback: Yes.}", "registered model, feedback: Yes.}")
    text = text.replace("{id: b, text: Retraining from scratch, feedback: Too slow.}",
                        "{id: b, text: Retraining from scratch, correct: true, feedback: Too slow.}")
    path.write_text(text)


def versions_of(key: str) -> list[QuestionVersion]:
    db.session.expire_all()
    question = db.session.scalar(select(Question).where(Question.key == key))
    return list(question.versions)


def test_versions_keep_past_attempts(app, quizzes_dir, load_content, make_cohort, enrol_learner, client, login) -> None:
    path = quizzes_dir / "sample.yml"
    shutil.copy(SAMPLE_DIR / "sample.yml", path)
    load_content()
    cohort = make_cohort(months_ago=1)
    done_learner, busy_learner, new_learner = (enrol_learner(cohort) for _ in range(3))
    now = utcnow()
    done = take(quiz(), done_learner, CORRECT, now)
    busy = take(quiz(), busy_learner, {0: {"p0": "a"}}, now, submit=False)
    v1 = versions_of("s-single")
    assert [v.number for v in v1] == [1]
    assert done.score == AUTO_POINTS
    login(client, done_learner)
    result_before = without_csrf(client.get(f"/attempts/{done.id}").get_data(as_text=True))
    assert S_SINGLE_TEXT in result_before

    edit_sample(path)
    report = load_content()
    assert report.counts["question versions"]["created"] == 1
    versions = versions_of("s-single")
    assert [v.number for v in versions] == [1, 2]
    question = versions[0].question
    assert question.current_number == 2 and question.current.spec.text == S_SINGLE_NEW
    assert db.session.scalar(select(func.count()).select_from(QuestionVersion)) == 10  # 9 questions, one edited

    # The submitted attempt still answers version 1, and rescoring keeps its score.
    done = db.session.get(Attempt, done.id)
    assert done.layout[0]["version"] == v1[0].id
    assert {r.version_id for r in done.responses if r.part == "" and r.version.question.key == "s-single"} == {v1[0].id}
    services.rescore(db.session, done, utcnow())
    db.session.commit()
    assert done.score == AUTO_POINTS
    assert without_csrf(client.get(f"/attempts/{done.id}").get_data(as_text=True)) == result_before

    # The attempt in progress keeps its version: it renders the old wording and submits with it.
    client.post("/logout")
    login(client, busy_learner)
    page = client.get(f"/attempts/{busy.id}/pages/0").get_data(as_text=True)
    assert S_SINGLE_TEXT in page and S_SINGLE_NEW not in page
    assert client.post(f"/attempts/{busy.id}/pages/1", data={**CORRECT[1], "go": "next"}).status_code == 302
    assert client.post(f"/attempts/{busy.id}/submit").status_code == 302
    db.session.expire_all()
    busy = db.session.get(Attempt, busy.id)
    assert busy.finished and busy.score == 2 + 4  # "a" is still right in version 1
    assert busy.layout[0]["version"] == v1[0].id

    # A new attempt gets the new wording.
    fresh = take(quiz(), new_learner, {0: {"p0": "a"}}, utcnow())
    assert fresh.layout[0]["version"] == versions[1].id
    assert fresh.score == 0  # "b" is the right answer now

    # Going back to the old wording points at version 1 again; no version 3.
    shutil.copy(SAMPLE_DIR / "sample.yml", path)
    load_content()
    versions = versions_of("s-single")
    assert [v.number for v in versions] == [1, 2]
    assert versions[0].question.current_number == 1

    # Loading the same files again changes nothing.
    again = invoke(app)
    assert again.exit_code == 0, again.output
    assert "No changes" in again.output
    assert [v.number for v in versions_of("s-single")] == [1, 2]


def test_removed_question_is_retired_not_deleted(app, quizzes_dir, load_content, make_cohort, enrol_learner, client, login) -> None:
    path = quizzes_dir / "sample.yml"
    shutil.copy(SAMPLE_DIR / "sample.yml", path)
    load_content()
    cohort = make_cohort(months_ago=1)
    before, after = enrol_learner(cohort), enrol_learner(cohort)
    old = take(quiz(), before, CORRECT, utcnow())
    data = path.read_text()
    start = data.index("  - id: s-tf\n")
    end = data.index("  - id: s-short\n")
    path.write_text(data[:start] + data[end:])

    report = load_content()
    assert report.counts["questions"]["retired"] == 1
    db.session.expire_all()
    tf = db.session.scalar(select(Question).where(Question.key == "s-tf"))
    assert tf is not None and tf.retired_at is not None and len(tf.versions) == 1
    new = take(quiz(), after, {}, utcnow())
    assert "s-tf" not in layout_keys(new) and len(new.layout) == 8
    assert new.max_score == MAX_POINTS - 1
    # The old attempt still has it, with its score and its page.
    old = db.session.get(Attempt, old.id)
    assert "s-tf" in layout_keys(old) and old.score == AUTO_POINTS
    login(client, before)
    assert "Drift can lower accuracy" in client.get(f"/attempts/{old.id}").get_data(as_text=True)


# --------------------------------------------------------------------------- 6. time limits


def test_time_limit_is_kept_by_the_server(learner, sample) -> None:
    now = utcnow()
    attempt = take(sample, learner, {0: CORRECT[0]}, now, submit=False)
    assert attempt.deadline_at == now + timedelta(minutes=30)
    services.save_page(db.session, attempt, 2, MultiDict(CORRECT[2]), now + timedelta(minutes=29))
    late = now + timedelta(minutes=31)
    with pytest.raises(services.AttemptClosed):
        services.save_page(db.session, attempt, 1, MultiDict(CORRECT[1]), late)
    db.session.commit()
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt.id)
    assert attempt.finished and attempt.closed_by == "time_limit"
    assert attempt.submitted_at == now + timedelta(minutes=30)
    assert attempt.score == 2 + 1  # what was saved in time; page 1 was refused
    assert not any(r.answer for r in attempt.responses if r.version.question.key == "s-multiple")
    with pytest.raises(services.AttemptClosed):
        services.save_page(db.session, attempt, 1, MultiDict(CORRECT[1]), late)
    assert services.submit_attempt(db.session, attempt, late).closed_by == "time_limit"


def test_quiz_status_reads_an_expired_attempt_as_ended_and_the_command_closes_it(learner, sample) -> None:
    now = utcnow()
    attempt = take(sample, learner, {0: CORRECT[0]}, now, submit=False)
    status = services.quiz_status(db.session, sample, learner, now + timedelta(hours=1))
    assert status.in_progress is None and status.time_up is attempt
    assert not attempt.finished  # reading writes nothing
    assert services.close_expired_attempts(db.session, now + timedelta(hours=1)) == 1
    assert attempt.finished and attempt.closed_by == "time_limit" and attempt.score == 2
    assert services.close_expired_attempts(db.session, now + timedelta(hours=1)) == 0


def test_pages_of_an_expired_attempt_write_nothing_until_the_learner_asks(learner, sample, client, login) -> None:
    login(client, learner)
    attempt_id = started_id(client.post("/quizzes/sample-quiz/start"))
    assert client.post(f"/attempts/{attempt_id}/pages/0", data={"p0": "a", "go": "next"}).status_code == 302
    expire_in_db(attempt_id)
    for url in (f"/attempts/{attempt_id}/pages/1", f"/attempts/{attempt_id}/review"):
        assert client.get(url).headers["Location"].endswith(f"/attempts/{attempt_id}")
    page = client.get(f"/attempts/{attempt_id}").get_data(as_text=True)
    assert "time is up" in page and "See your result" in page
    assert "time is up: see the result" in client.get("/quizzes/sample-quiz").get_data(as_text=True)
    db.session.expire_all()
    assert not db.session.get(Attempt, attempt_id).finished
    result = client.post(f"/attempts/{attempt_id}/submit")
    assert result.headers["Location"].endswith(f"/attempts/{attempt_id}")
    assert "Time ran out" in client.get(f"/attempts/{attempt_id}").get_data(as_text=True)
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt.closed_by == "time_limit" and attempt.score == 2


def test_close_expired_attempts_command(app, learner, sample) -> None:
    attempt = take(sample, learner, {0: CORRECT[0]}, utcnow() - timedelta(hours=2), submit=False)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["lms", "close-expired-attempts"])
    assert result.exit_code == 0 and "Closed 1 attempt " in result.output
    db.session.expire_all()
    assert db.session.get(Attempt, attempt.id).closed_by == "time_limit"



def test_the_periodic_close_finds_the_running_attempts_by_their_index(learner, sample) -> None:
    """Every attempt ever made stays in its table; ``close-expired-attempts`` (cron, every few
    minutes) looks for the running ones whose time ran out through a partial index that
    holds the running ones only (see tests/plans.py)."""
    take(sample, learner, {0: CORRECT[0]}, utcnow() - timedelta(hours=2), submit=False)
    db.session.commit()
    [(statement, parameters)] = [(st, params) for st, params in
                                 statements_during(lambda: services.close_expired_attempts(db.session, utcnow()))
                                 if "FROM quiz_attempts" in st and "deadline_at <=" in st]
    db.session.rollback()
    plan = plan_of(statement, parameters)
    assert "ix_quiz_attempts_open_deadline" in plan and not scans_whole("quiz_attempts", plan), plan

def test_quiz_closing_closes_an_attempt_in_progress(learner, sample) -> None:
    closes = services.quiz_status(db.session, sample, learner, utcnow()).window.closes_at
    started = closes - timedelta(minutes=10)
    attempt = take(sample, learner, {0: CORRECT[0]}, started, submit=False)
    assert attempt.deadline_at == closes  # the quiz closes before the time limit runs out
    # It says the quiz closed (as the result page does), not that the attempt's time limit ran out.
    with pytest.raises(services.AttemptClosed, match="^The quiz has closed: "):
        services.save_page(db.session, attempt, 2, MultiDict(CORRECT[2]), closes + timedelta(minutes=1))
    db.session.commit()
    assert attempt.finished and attempt.closed_by == "quiz_closed" and attempt.submitted_at == closes
    assert attempt.score == 2
    with pytest.raises(services.QuizError, match="closed on"):
        services.start_attempt(db.session, sample, learner, closes + timedelta(minutes=1))


def expire_in_db(attempt_id: int) -> None:
    """Move an attempt's clock back so its 30-minute limit ran out ten minutes ago."""
    attempt = db.session.get(Attempt, attempt_id)
    attempt.started_at = utcnow() - timedelta(minutes=40)
    attempt.deadline_at = attempt.started_at + timedelta(minutes=30)
    db.session.commit()


def test_late_post_is_refused_over_http(learner, sample, client, login) -> None:
    login(client, learner)
    attempt_id = started_id(client.post("/quizzes/sample-quiz/start"))
    assert client.post(f"/attempts/{attempt_id}/pages/0", data={"p0": "a", "go": "next"}).status_code == 302
    expire_in_db(attempt_id)
    before = response_rows()

    late = client.post(f"/attempts/{attempt_id}/pages/1", data={"p1": ["a", "b"], "go": "next"})
    assert late.status_code == 302 and late.headers["Location"].endswith(f"/attempts/{attempt_id}")
    result = client.get(late.headers["Location"]).get_data(as_text=True)
    assert "Time is up" in result and "Time ran out" in result
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt.closed_by == "time_limit" and attempt.score == 2
    after = response_rows()
    saved_before = {(r[2], r[3]): r[4] for r in before}
    assert all(saved_before.get((r[2], r[3])) == r[4] for r in after)  # no answer changed
    assert not any(r[4] for r in after if r[4] and "options" in r[4])  # the late multiple answer was not saved


def timer_of(html: str) -> dict[str, str]:
    """The attempt clock's data attributes (``assessment/_timer.html``), or {} when there is none."""
    found = re.search(r'<div class="attempt-timer" hidden ([^>]*)>', html)
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', found.group(1))) if found else {}


def test_a_timed_attempts_pages_carry_its_clock_and_the_script_that_shows_it(learner, sample, client, login) -> None:
    login(client, learner)
    attempt_id = started_id(client.post("/quizzes/sample-quiz/start"))
    for url, form in ((f"/attempts/{attempt_id}/pages/3", "attempt-form"), (f"/attempts/{attempt_id}/review", "submit-form")):
        html = client.get(url).get_data(as_text=True)
        timer = timer_of(html)
        assert 29 * 60 < int(timer["seconds-left"]) <= 30 * 60, url  # the 30-minute limit, counted by the server
        assert timer["form"] == form and f'id="{form}"' in html and timer["show"] == "always"
        assert timer["attempt"] == str(attempt_id)
        # Empty as served, live regions the script fills after load (a screen reader announces a change only):
        # the earlier warning polite, only the final one assertive (it interrupts whatever is being read).
        assert ('<p class="attempt-timer-warning" id="attempt-timer-warning" role="status" aria-live="polite" '
                'aria-atomic="true"></p>') in html
        assert ('<p class="attempt-timer-warning" id="attempt-timer-final" role="alert" aria-live="assertive" '
                'aria-atomic="true"></p>') in html
        assert html.count('aria-live="assertive"') == 1 and timer["final-warning"] == "attempt-timer-final"
        script = re.search(r'<script src="([^"]+attempt_timer\.js)" defer></script>', html)
        assert script is not None
        served = client.get(script.group(1))
        assert served.status_code == 200 and b'"finish"' in served.data
        served.close()


def test_an_attempt_without_a_time_limit_shows_its_clock_in_its_last_hour_only(learner, sample, client, login) -> None:
    login(client, learner)
    attempt_id = started_id(client.post("/quizzes/sample-quiz/start"))
    attempt = db.session.get(Attempt, attempt_id)
    attempt.minutes_allowed, attempt.deadline_at = None, utcnow() + timedelta(days=3)  # the quiz's closing alone
    db.session.commit()
    timer = timer_of(client.get(f"/attempts/{attempt_id}/pages/0").get_data(as_text=True))
    assert timer["show"] == "last-hour" and int(timer["seconds-left"]) > 2 * 24 * 3600
    attempt.deadline_at = None
    db.session.commit()
    html = client.get(f"/attempts/{attempt_id}/pages/0").get_data(as_text=True)
    assert timer_of(html) == {} and "attempt_timer.js" not in html


def test_the_clock_sends_the_page_as_it_stands_and_the_attempt_is_submitted(learner, sample, client, login) -> None:
    login(client, learner)
    attempt_id = started_id(client.post("/quizzes/sample-quiz/start"))
    assert client.post(f"/attempts/{attempt_id}/pages/0", data={**CORRECT[0], "go": "next"}).status_code == 302
    sent = client.post(f"/attempts/{attempt_id}/pages/3", data={**CORRECT[3], "go": "finish"})
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"/attempts/{attempt_id}")
    result = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "the answers on the page were saved and the attempt submitted" in result
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt.finished and attempt.closed_by == "learner"
    assert attempt.score == 2 + 1  # page 0 saved before, page 3 (short answer) saved by the clock


def test_an_answer_the_clock_sends_that_is_refused_still_submits_the_rest(learner, sample, client, login) -> None:
    login(client, learner)
    attempt_id = started_id(client.post("/quizzes/sample-quiz/start"))
    client.post(f"/attempts/{attempt_id}/pages/0", data={**CORRECT[0], "go": "next"})
    sent = client.post(f"/attempts/{attempt_id}/pages/4", data={"p4": "forty", "go": "finish"})
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"/attempts/{attempt_id}")
    result = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "the answer to question 5 could not be saved" in result and "submitted on your other answers" in result
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt.finished and attempt.score == 2
    assert not any(r[4] for r in response_rows() if r[1] == attempt_id and r[3] and "forty" in str(r[4]))


def test_what_the_clock_sends_after_the_deadline_is_refused_like_any_late_page(learner, sample, client, login) -> None:
    login(client, learner)
    attempt_id = started_id(client.post("/quizzes/sample-quiz/start"))
    client.post(f"/attempts/{attempt_id}/pages/0", data={**CORRECT[0], "go": "next"})
    expire_in_db(attempt_id)
    late = client.post(f"/attempts/{attempt_id}/pages/3", data={**CORRECT[3], "go": "finish"})
    assert late.headers["Location"].endswith(f"/attempts/{attempt_id}")
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt.closed_by == "time_limit" and attempt.score == 2  # the late short answer was not saved


def test_the_question_buttons_save_the_page_and_enter_goes_on(learner, sample, client, login) -> None:
    """The questions' list is buttons of the page's form (a link would leave what was typed
    unsaved), and the form's first button, the one Enter in a field sends, goes on."""
    login(client, learner)
    attempt_id = started_id(client.post("/quizzes/sample-quiz/start"))
    html = client.get(f"/attempts/{attempt_id}/pages/3").get_data(as_text=True)
    form = html[html.index('<form method="post" action="/attempts/'):]
    form = form[:form.index("</form>")]
    assert f'href="/attempts/{attempt_id}/pages/' not in html
    buttons = re.findall(r'<button type="submit" name="go" value="([^"]+)"', form)
    assert buttons[0] == "next" and buttons[1:10] == [str(i) for i in range(9)]
    assert 'value="3" class="current " aria-label="Question 4" aria-current="page"' in form
    jumped = client.post(f"/attempts/{attempt_id}/pages/3", data={**CORRECT[3], "go": "7"})
    assert jumped.headers["Location"].endswith(f"/attempts/{attempt_id}/pages/7")
    assert 'aria-label="Question 4, answered"' in client.get(jumped.headers["Location"]).get_data(as_text=True)
    last = client.get(f"/attempts/{attempt_id}/pages/8").get_data(as_text=True)
    assert re.findall(r'<button type="submit" name="go" value="([^"]+)"', last)[0] == "review"


# --------------------------------------------------------------------------- 7. attempts allowed


def test_attempts_allowed_then_refused(learner, sample, client, login) -> None:
    now = utcnow()
    for i in range(3):
        take(sample, learner, {0: CORRECT[0]}, now + timedelta(minutes=i))
    with pytest.raises(services.QuizError, match="used all 3 attempts"):
        services.start_attempt(db.session, sample, learner, now + timedelta(minutes=5))
    db.session.rollback()  # the refused start's unit of work ends (it holds the learner's enrolment) before the next request
    login(client, learner)
    refused = client.post("/quizzes/sample-quiz/start")
    assert refused.status_code == 302 and refused.headers["Location"].endswith("/quizzes/sample-quiz")
    assert "You have used all 3 attempts." in client.get(refused.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Attempt)) == 3


def test_double_submission_and_second_start(learner, sample, client, login) -> None:
    login(client, learner)
    attempt_id = started_id(client.post("/quizzes/sample-quiz/start"))
    assert started_id(client.post("/quizzes/sample-quiz/start")) == attempt_id  # same attempt
    client.post(f"/attempts/{attempt_id}/pages/0", data={"p0": "a", "go": "next"})
    first = client.post(f"/attempts/{attempt_id}/submit")
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    snapshot = (attempt.submitted_at, attempt.score, attempt.closed_by)
    rows = response_rows()
    second = client.post(f"/attempts/{attempt_id}/submit")
    assert first.headers["Location"] == second.headers["Location"]
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    assert (attempt.submitted_at, attempt.score, attempt.closed_by) == snapshot == (snapshot[0], 2, "learner")
    assert response_rows() == rows
    assert db.session.scalar(select(func.count()).select_from(Attempt)) == 1
    # Service level too: submitting again returns the same attempt unchanged.
    assert services.submit_attempt(db.session, attempt, utcnow() + timedelta(minutes=5)).submitted_at == snapshot[0]


# --------------------------------------------------------------------------- 8. tampered input


@pytest.fixture()
def two_learners(sample, make_cohort, enrol_learner, client, login):
    cohort = make_cohort(months_ago=1)
    mine, theirs = enrol_learner(cohort), enrol_learner(cohort)
    other = take(sample, theirs, {0: CORRECT[0]}, utcnow(), submit=False)
    login(client, mine)
    attempt_id = started_id(client.post("/quizzes/sample-quiz/start"))
    return attempt_id, other.id


def test_tampered_answers_change_nothing(two_learners, client) -> None:
    attempt_id, _ = two_learners
    assert client.post(f"/attempts/{attempt_id}/pages/0", data={"p0": "a", "go": "next"}).status_code == 302
    before = response_rows()
    cases = [
        (0, {"p0": "zzz"}),                                  # unknown option
        (0, {"p0": ["a", "b"]}),                             # two answers to a single choice
        (1, {"p1": ["a", "nope"]}),                          # unknown option among real ones
        (2, {"p2": "maybe"}),
        (4, {"p4": "1,5"}),
        (5, {"p5-0": "r0", "p5-1": "r7"}),                   # a matching choice that does not exist
        (6, {"p6-i0": "1", "p6-i1": "1"}),                   # duplicate positions
        (6, {"p6-i0": "9"}),                                 # out of range
        (6, {"p6-i0": "\u00b2"}),                            # not a plain digit
        (8, {"p8-first": "a", "p8-measure": "ninety"}),      # one bad part refuses the whole page
    ]
    for page, data in cases:
        response = client.post(f"/attempts/{attempt_id}/pages/{page}", data={**data, "go": "next"})
        assert response.status_code == 400, (page, data)
        assert "Nothing on this page was saved." in response.get_data(as_text=True)
        assert response_rows() == before, (page, data)


def test_a_refused_page_shows_the_answers_again_as_they_were_given(two_learners, client) -> None:
    """A page refused for one malformed answer is shown again with every answer on it as the
    learner gave it (nothing saved, nothing lost to type again), not as last saved."""
    attempt_id, _ = two_learners
    assert client.post(f"/attempts/{attempt_id}/pages/8", data={"p8-first": "b", "p8-measure": "80", "go": "next"}
                       ).status_code == 302  # saved once: b and 80
    before = response_rows()
    refused = client.post(f"/attempts/{attempt_id}/pages/8", data={"p8-first": "a", "p8-measure": "ninety", "go": "next"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "Your answers are shown as you gave them" in html
    assert 'name="p8-measure" value="ninety"' in html
    assert re.search(r'name="p8-first" value="a" checked', html) and not re.search(r'name="p8-first" value="b" checked', html)
    assert response_rows() == before
    cases = {
        4: ({"p4": "forty-three"}, ['name="p4" value="forty-three"']),
        3: ({"p3": "x" * 501}, [f'value="{"x" * 501}"']),  # past the short answer's 500 characters
        5: ({"p5-0": "r0", "p5-1": "r9"}, ['<option value="r0" selected>']),
        6: ({"p6-i0": "2", "p6-i1": "2"}, ['<option value="2" selected>2</option>']),
        1: ({"p1": ["a", "zz"]}, ['name="p1" value="a" checked']),
        2: ({"p2": "maybe", "x": "y"}, []),
    }
    for page, (data, shown) in cases.items():
        response = client.post(f"/attempts/{attempt_id}/pages/{page}", data={**data, "go": "next"})
        html = response.get_data(as_text=True)
        assert response.status_code == 400, page
        for fragment in shown:
            assert fragment in html, (page, fragment)
    html = client.post(f"/attempts/{attempt_id}/pages/6", data={"p6-i0": "2", "p6-i1": "2", "go": "next"}).get_data(as_text=True)
    assert html.count('<option value="2" selected>2</option>') == 2
    # shown afresh, the page shows what was saved again
    html = client.get(f"/attempts/{attempt_id}/pages/8").get_data(as_text=True)
    assert 'name="p8-measure" value="80"' in html and re.search(r'name="p8-first" value="b" checked', html)


def test_each_question_is_described_by_its_kind_and_how_to_answer_it(two_learners, client) -> None:
    """Before: a learner tabbing from one question to the next heard the question (the
    group's name) and the first answer, but not the line between them: its kind and points,
    and where the kind says how to answer ("Choose every answer that applies", "Give each
    item its position, 1 first"). Now the group is described by them (WCAG 1.3.1, 3.3.2)."""
    attempt_id, _ = two_learners
    hints = {}
    for page in range(9):
        html = client.get(f"/attempts/{attempt_id}/pages/{page}").get_data(as_text=True)
        ids = set(re.findall(r'\sid="([^"]+)"', html))
        for kind, described in re.findall(r'<fieldset class="question (\w+)[^"]*"[^>]*aria-describedby="([^"]+)"', html):
            assert set(described.split()) <= ids, (page, described)  # each names an element of the page
            text = [re.search(rf'id="{i}">([^<]*)', html).group(1) for i in described.split()]
            assert re.match(r"[\w /-]+ · \d+ points?$", text[0]), text
            hints[kind] = text[1:]
    assert hints["multiple"] == ["Choose every answer that applies."]
    assert hints["ordering"] == ["Give each item its position, 1 first."]
    assert hints["single"] == []


def test_a_refused_answer_is_marked_invalid_and_described_by_its_message(two_learners, client) -> None:
    """Before: a refused page said what was wrong only at its top, and no answer was marked;
    on a scenario's page of several answers a screen reader could not tell which to correct.
    Now the answer refused carries aria-invalid and is described by the message, shown beside
    it; the page's other answers are left unmarked (WCAG 3.3.1, 1.3.1)."""
    attempt_id, _ = two_learners
    refused = client.post(f"/attempts/{attempt_id}/pages/8", data={"p8-first": "a", "p8-measure": "ninety", "go": "next"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    measure = re.search(r'<input[^>]*name="p8-measure"[^>]*>', html)
    assert measure and 'aria-invalid="true"' in measure.group(0) and 'aria-describedby="p8-measure-error"' in measure.group(0)
    assert re.search(r'<p class="error" id="p8-measure-error">(&#39;|\')ninety(&#39;|\') is not a number\.</p>', html)
    assert not any("aria-invalid" in tag for tag in re.findall(r'<input[^>]*name="p8-first"[^>]*>', html))
    # a matching question's choices, each a select of the one answer
    html = client.post(f"/attempts/{attempt_id}/pages/5", data={"p5-0": "r0", "p5-1": "r9", "go": "next"}).get_data(as_text=True)
    selects = re.findall(r'<select[^>]*name="p5-\d"[^>]*>', html)
    assert selects and all('aria-describedby="p5-error"' in tag for tag in selects)
    assert 'id="p5-error"' in html
    # shown as first asked, nothing is marked
    page = client.get(f"/attempts/{attempt_id}/pages/8").get_data(as_text=True)
    assert "aria-invalid" not in page.split('id="main"')[1] and "p8-measure-error" not in page


def test_tampered_navigation_stays_on_the_page(two_learners, client) -> None:
    attempt_id, _ = two_learners
    for go in ("\u00b2", "1" * 5000, "99", "sideways"):
        response = client.post(f"/attempts/{attempt_id}/pages/2", data={"p2": "true", "go": go})
        assert response.status_code == 302, go
        assert response.headers["Location"].endswith((f"/attempts/{attempt_id}/pages/2", f"/attempts/{attempt_id}/review"))
    assert client.post(f"/attempts/{attempt_id}/pages/2", data={"p2": "true", "go": "4"}).headers["Location"].endswith(
        f"/attempts/{attempt_id}/pages/4")


def test_pages_outside_the_attempt_are_404(two_learners, client) -> None:
    attempt_id, _ = two_learners
    before = response_rows()
    assert client.get(f"/attempts/{attempt_id}/pages/9").status_code == 404
    assert client.get(f"/attempts/{attempt_id}/pages/99").status_code == 404
    assert client.post(f"/attempts/{attempt_id}/pages/9", data={"p9": "a", "go": "next"}).status_code == 404
    assert response_rows() == before


def test_another_learners_attempt_is_404(two_learners, client) -> None:
    _, other_id = two_learners
    before = response_rows()
    assert client.get(f"/attempts/{other_id}/pages/0").status_code == 404
    assert client.post(f"/attempts/{other_id}/pages/0", data={"p0": "b", "go": "next"}).status_code == 404
    assert client.get(f"/attempts/{other_id}/review").status_code == 404
    assert client.post(f"/attempts/{other_id}/submit").status_code == 404
    assert client.get(f"/attempts/{other_id}").status_code == 404
    assert client.get("/attempts/999999").status_code == 404
    assert response_rows() == before
    db.session.expire_all()
    assert not db.session.get(Attempt, other_id).finished


def test_submission_after_the_time_limit_changes_nothing(two_learners, client) -> None:
    attempt_id, _ = two_learners
    client.post(f"/attempts/{attempt_id}/pages/0", data={"p0": "a", "go": "next"})
    expire_in_db(attempt_id)
    before = response_rows()
    deadline = db.session.get(Attempt, attempt_id).deadline_at
    assert client.post(f"/attempts/{attempt_id}/pages/1", data={"p1": ["a", "b"], "go": "review"}).status_code == 302
    submitted = client.post(f"/attempts/{attempt_id}/submit")
    assert submitted.status_code == 302
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt.closed_by == "time_limit" and attempt.submitted_at == deadline and attempt.score == 2
    answers_before = {(r[2], r[3]): r[4] for r in before}
    assert {(r[2], r[3]): r[4] for r in response_rows() if r[4] is not None} == {
        k: v for k, v in answers_before.items() if v is not None}


def test_time_limit_on_submit_is_flashed(two_learners, client) -> None:
    attempt_id, _ = two_learners
    expire_in_db(attempt_id)
    submitted = client.post(f"/attempts/{attempt_id}/submit")
    page = client.get(submitted.headers["Location"]).get_data(as_text=True)
    assert "Time was up before you submitted" in page


# --------------------------------------------------------------------------- 9. windows


WINDOW_QUIZZES = {
    "late.yml": """\
id: late-quiz
title: Late quiz
module: international-operations
phase: compliance-infrastructure
questions:
  - id: late-q
    type: true_false
    objectives: [KO1]
    text: Month seven.
    answer: true
""",
    "exam.yml": """\
id: mid-exam
title: Intermediate exam
kind: exam
level: intermediate
questions:
  - id: exam-q
    type: true_false
    objectives: [KO1]
    text: The level's last month.
    answer: true
""",
}


@pytest.fixture()
def windows(app, quizzes_dir, load_content) -> None:
    for name, text in WINDOW_QUIZZES.items():
        (quizzes_dir / name).write_text(text)
    load_content()


def test_quiz_opens_with_its_phase_or_early_access(windows, make_user, make_cohort, enrol_learner) -> None:
    instructor = make_user()
    cohort = make_cohort(months_ago=5, instructors=[instructor])  # month 6
    user = enrol_learner(cohort)
    late = quiz("late-quiz")
    assert late.phase.month == 7
    now = utcnow()
    status = services.quiz_status(db.session, late, user, now)
    assert not status.can_start and "opens on" in status.reason
    assert status.window.release_on == month_opens_on(cohort.start_date, 7)
    with pytest.raises(services.QuizError, match="opens on"):
        services.start_attempt(db.session, late, user, now)

    grant_override(db.session, cohort, user, late.phase_id, OverrideKind.EARLY_ACCESS, now.date(), "Ready early", instructor, now)
    db.session.commit()
    status = services.quiz_status(db.session, late, user, now)
    assert status.can_start, status.reason
    assert services.start_attempt(db.session, late, user, now).number == 1
    # Someone else in the cohort still waits.
    other = enrol_learner(cohort)
    assert not services.quiz_status(db.session, late, other, now).can_start


WINDOWED_QUIZ = """\
id: windowed-quiz
title: Windowed quiz
module: international-operations
phase: compliance-infrastructure
settings:
  opens_after_days: 3
  closes_after_days: 20
questions:
  - id: windowed-q
    type: true_false
    objectives: [KO1]
    text: Month seven, open from day 3 to day 20.
    answer: true
"""


def test_early_access_opens_a_quiz_sooner_and_it_closes_when_it_regularly_closes(
        app, quizzes_dir, load_content, make_user, make_cohort, enrol_learner) -> None:
    """Early access counts a quiz's opening from the early date; its closing stays where it
    is for the learner's classmates: early access never shortens the window."""
    (quizzes_dir / "windowed.yml").write_text(WINDOWED_QUIZ)
    load_content()
    instructor = make_user()
    cohort = make_cohort(months_ago=5, instructors=[instructor])  # month 6
    user, other = enrol_learner(cohort), enrol_learner(cohort)
    windowed = quiz("windowed-quiz")
    now = utcnow()
    today, month7 = now.date(), month_opens_on(cohort.start_date, 7)
    regular = services.quiz_window(db.session, windowed, cohort, other.id, now)
    assert (regular.opens_at, regular.closes_at) == (opens_at(cohort, month7 + timedelta(days=3)),
                                                     opens_at(cohort, month7 + timedelta(days=20)))

    grant_override(db.session, cohort, user, windowed.phase_id, OverrideKind.EARLY_ACCESS, today, "Ready early", instructor, now)
    db.session.commit()
    window = services.quiz_window(db.session, windowed, cohort, user.id, now)
    assert (window.release_on, window.opens_at) == (today, opens_at(cohort, today + timedelta(days=3)))
    assert window.closes_at == regular.closes_at
    item = next(i for i in learner_progress(db.session, cohort, user.id, now).items if i.key == "windowed-quiz")
    assert (item.opens_on, item.due_on) == (today + timedelta(days=3), month7 + timedelta(days=20))
    # the day after it would have closed counted from the early opening, it is open and not overdue
    later = now + timedelta(days=21)
    assert services.quiz_status(db.session, windowed, user, later).can_start
    assert "windowed-quiz" not in {i.key for i in learner_progress(db.session, cohort, user.id, later).overdue}
    assert services.start_attempt(db.session, windowed, user, later).number == 1


def test_an_extension_keeps_a_quiz_open_to_the_day_the_schedule_says_it_is_due(
        app, quizzes_dir, load_content, make_user, make_cohort, enrol_learner) -> None:
    """The gradebook extends a quiz as it extends any item (an extension of its phase past
    the quiz's due date): the learner's schedule and To do then say it is due on the new
    day, and the quiz stays open to it. Before, the quiz page kept its regular closing and
    refused the learner the extension promised."""
    (quizzes_dir / "windowed.yml").write_text(WINDOWED_QUIZ)
    load_content()
    instructor = make_user()
    cohort = make_cohort(months_ago=7, instructors=[instructor])  # month 8: month 7's quiz closed
    user, other = enrol_learner(cohort), enrol_learner(cohort)
    windowed = quiz("windowed-quiz")
    now = utcnow()
    today, month7 = cohort_today(cohort, now), month_opens_on(cohort.start_date, 7)
    regular_due = month7 + timedelta(days=20)
    assert not services.quiz_status(db.session, windowed, user, now).can_start
    grant_override(db.session, cohort, user, windowed.phase_id, OverrideKind.EXTENSION, today + timedelta(days=5),
                   "Was ill", instructor, now, item_due=regular_due)
    db.session.commit()
    window = services.quiz_window(db.session, windowed, cohort, user.id, now)
    assert window.closes_at == opens_at(cohort, today + timedelta(days=5))
    item = next(i for i in learner_progress(db.session, cohort, user.id, now).items if i.key == "windowed-quiz")
    assert item.due_on == today + timedelta(days=5)
    assert services.quiz_status(db.session, windowed, user, now).can_start
    assert services.start_attempt(db.session, windowed, user, now).number == 1
    assert not services.quiz_status(db.session, windowed, other, now).can_start  # their classmate's stays closed


def test_exam_opens_in_its_levels_last_month(windows, make_cohort, enrol_learner) -> None:
    exam = quiz("mid-exam")
    level = db.session.scalar(select(Level).where(Level.key == "intermediate"))
    assert level.last_month == 8 and exam.phase_id is None
    now = utcnow()
    in_month_7 = enrol_learner(make_cohort(months_ago=6))
    status = services.quiz_status(db.session, exam, in_month_7, now)
    assert not status.can_start and status.reason.startswith("This exam opens on")
    in_month_8_cohort = make_cohort(months_ago=7)
    in_month_8 = enrol_learner(in_month_8_cohort)
    status = services.quiz_status(db.session, exam, in_month_8, now)
    assert status.can_start, status.reason
    assert status.window.release_on == month_opens_on(in_month_8_cohort.start_date, 8)


def test_quiz_without_a_phase_opens_with_the_modules_last_phase(app, quizzes_dir, load_content) -> None:
    (quizzes_dir / "q.yml").write_text(WINDOW_QUIZZES["late.yml"].replace("phase: compliance-infrastructure\n", ""))
    load_content()
    assert quiz("late-quiz").phase.key == "international-operations.adaptation-organization"


def _moments(html: str) -> list[datetime]:
    """Every opening or closing moment a quiz page or the list states, read back: the
    window line ("Open 05 Jan 2027, 16:00 PST") and the status ("opens on 05 January 2027
    at 16:00 PST"), both in the viewer's own zone."""
    found = [datetime.strptime(f"{day} {clock}", "%d %b %Y %H:%M")
             for day, clock in re.findall(r"(?:Open|until) (\d\d \w{3} \d{4}), (\d\d:\d\d) \w+", html)]
    found += [datetime.strptime(f"{day} {clock}", "%d %B %Y %H:%M")
              for day, clock in re.findall(r"(?:opens|closed) on (\d\d \w+ \d{4}) at (\d\d:\d\d) \w+", html)]
    return found


@pytest.mark.parametrize(("cohort_zone", "zone"), [("Europe/London", "America/Los_Angeles"), ("Asia/Tokyo", "Asia/Tokyo")])
def test_a_quizs_dates_are_in_the_viewers_time_zone(windows, quizzes_dir, load_content, client, login, make_cohort,
                                                     enrol_learner, cohort_zone, zone) -> None:
    """The window line and the status of a quiz not open yet (and of one closed) say the
    same day and time, the learner's own: the status had the UTC date, a day off for a
    learner west of the cohort's zone ("Open 05 Jan 2027, 16:00 PST" and "This quiz opens
    on 06 January 2027") and for one in a cohort east of UTC (its midnight is the day
    before in UTC), on the quiz's page, the list and the refused start alike."""
    cohort = make_cohort(months_ago=5, timezone=cohort_zone)  # month 6: the late quiz opens with month 7
    learner = enrol_learner(cohort, timezone=zone)
    late, exam = quiz("late-quiz"), quiz("mid-exam")
    window = services.quiz_window(db.session, late, cohort, learner.id, utcnow())
    local = window.opens_at.astimezone(ZoneInfo(zone))
    assert local.date() != window.opens_at.date()  # the cohort's midnight is another day where the learner lives
    expected = local.replace(tzinfo=None)
    login(client, learner)
    page = client.get("/quizzes/late-quiz").get_data(as_text=True)
    # a quiz with no closing day of its own closes with the learner's program (lms.learning.services.Close)
    assert window.closes_at == opens_at(cohort, program_closes_on(cohort.start_date))
    closes = window.closes_at.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    assert _moments(page) == [expected, closes, expected], _moments(page)
    assert f"This quiz opens on {local:%d %B %Y} at {local:%H:%M} {local.tzname()}." in page
    exam_opens = services.quiz_window(db.session, exam, cohort, learner.id, utcnow()).opens_at
    listed = _moments(client.get("/quizzes").get_data(as_text=True))
    assert sorted(listed) == [expected, exam_opens.astimezone(ZoneInfo(zone)).replace(tzinfo=None)], listed
    refused = client.post("/quizzes/late-quiz/start", data={}, follow_redirects=True).get_data(as_text=True)
    assert f"opens on {local:%d %B %Y} at {local:%H:%M}" in refused

    # closed: ten days after it opened, on a cohort two months further on
    (quizzes_dir / "late.yml").write_text(WINDOW_QUIZZES["late.yml"].replace("phase: compliance-infrastructure\n",
                                                                             "phase: compliance-infrastructure\n"
                                                                             "settings:\n  closes_after_days: 10\n"))
    load_content()
    later = make_cohort(months_ago=8, timezone=cohort_zone)
    other = enrol_learner(later, timezone=zone)
    closes = services.quiz_window(db.session, quiz("late-quiz"), later, other.id, utcnow()).closes_at
    assert closes is not None
    local_close = closes.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    client.post("/logout")
    login(client, other)
    page = client.get("/quizzes/late-quiz").get_data(as_text=True)
    assert "This quiz closed on" in page
    assert _moments(page)[1:] == [local_close, local_close], _moments(page)


def test_not_enrolled_cannot_start(sample, make_user) -> None:
    status = services.quiz_status(db.session, sample, make_user(), utcnow())
    assert not status.can_start and "enrolled" in status.reason


# --------------------------------------------------------------------------- 10. loader errors


GOOD = """\
id: bad-quiz
title: Bad quiz
module: mlops
phase: foundation
pools:
  - id: bank
    draw: 1
questions:
  - id: bq-1
    type: single
    objectives: [KO1]
    text: Pick one.
    options:
      - {id: a, text: Right, correct: true}
      - {id: b, text: Wrong}
  - id: bq-2
    type: multiple
    pool: bank
    objectives: [SO1]
    text: Pick some.
    options:
      - {id: a, text: Half, weight: 50}
      - {id: b, text: Other half, weight: 50}
  - id: bq-3
    type: true_false
    pool: bank
    objectives: [KO1]
    text: Yes or no.
    answer: true
"""

# case: (replace old, with new, the text on the reported line, the message)
LOADER_CASES = {
    "unknown objective code": ("objectives: [SO1]", "objectives: [SO9]", "objectives: [SO9]", "unknown objective code 'SO9'"),
    "unknown module": ("module: mlops", "module: astrology", "module: astrology", "unknown module 'astrology'"),
    "unknown phase": ("phase: foundation", "phase: nowhere", "phase: nowhere", "module 'mlops' has no phase 'nowhere'"),
    "unknown type": ("type: true_false", "type: riddle", "- id: bq-3", "'riddle'"),
    "two correct options": ("{id: b, text: Wrong}", "{id: b, text: Wrong, correct: true}", "- id: bq-1",
                            "exactly one option with correct: true"),
    "weights not adding up": ("weight: 50}\n      - {id: b", "weight: 40}\n      - {id: b", "- id: bq-2",
                              "must add up to 100 (they add up to 90)"),
    "draw bigger than the pool": ("draw: 1", "draw: 3", "- id: bank", "pool 'bank' draws 3 but has 2 questions"),
    "missing text": ("    text: Pick one.\n", "", "- id: bq-1", "text: missing (required)"),
}


def line_of(path: Path, text: str) -> int:
    lines = path.read_text().splitlines()
    found = [i + 1 for i, line in enumerate(lines) if text in line]
    assert len(found) == 1, (text, found)
    return found[0]


def test_the_good_file_loads(app, quizzes_dir) -> None:
    (quizzes_dir / "bad.yml").write_text(GOOD)
    result = invoke(app, "--check")
    assert result.exit_code == 0, result.output
    assert "1 quizzes, 3 questions" in result.output


@pytest.mark.parametrize("case", sorted(LOADER_CASES))
def test_loader_errors_name_file_and_line(app, quizzes_dir, case: str) -> None:
    old, new, on_line, message = LOADER_CASES[case]
    assert old in GOOD
    path = quizzes_dir / "bad.yml"
    path.write_text(GOOD.replace(old, new, 1))
    result = invoke(app, "--check")
    assert result.exit_code == 1, result.output
    assert message in result.output
    reported = f"{path}:{line_of(path, on_line)}: "
    assert any(reported in line and message in line for line in result.output.splitlines()), result.output
    assert "database was not changed" in result.output
    loaded = invoke(app)
    assert loaded.exit_code == 1
    assert db.session.scalar(select(func.count()).select_from(Quiz)) == 0


def test_duplicate_question_id_across_files(app, quizzes_dir) -> None:
    first = quizzes_dir / "a.yml"
    second = quizzes_dir / "b.yml"
    first.write_text(GOOD)
    second.write_text(GOOD.replace("id: bad-quiz", "id: other-quiz").replace("id: bq-2", "id: other-2")
                      .replace("id: bq-3", "id: other-3"))
    result = invoke(app, "--check")
    assert result.exit_code == 1, result.output
    expected = f"{second}:{line_of(second, '- id: bq-1')}: duplicate id 'bq-1' (also at {first}:{line_of(first, '- id: bq-1')})"
    assert expected in result.output, result.output
    assert "other-2" not in result.output


# --------------------------------------------------------------------------- 11. statistics and essays


L1 = {**CORRECT, 7: {"p7": "First essay: accuracy, a 5% drop threshold, Sam owns it."}}  # 19 of 24 + essay
L2 = {0: {"p0": "b"}, 1: {"p1": ["a"]}, 2: {"p2": "true"}, 3: {"p3": "repository"}, 4: {"p4": "45"},
      5: CORRECT[5], 6: CORRECT[6], 7: {"p7": "Second essay: I would check latency."}, 8: CORRECT[8]}  # 13.5 + essay
L3 = {0: {"p0": "b"}, 2: {"p2": "true"}, 8: {"p8-first": "a", "p8-measure": "80"}}  # 2, no essay


@pytest.fixture()
def graded_cohort(sample, make_user, make_cohort, make_org, enrol_learner):
    instructor, outsider, neighbour = make_user(name="Ines Instructor"), make_user(), make_user()
    org = make_org()
    cohort = make_cohort(org, months_ago=1, instructors=[instructor])
    neighbour_cohort = make_cohort(org, months_ago=1, instructors=[neighbour])  # same organization, another cohort
    make_cohort(months_ago=1, instructors=[outsider])        # another organization
    now = utcnow()
    attempts = [take(sample, enrol_learner(cohort, name=f"Learner {i}"), answers, now)
                for i, answers in enumerate((L1, L2, L3), start=1)]
    return SimpleNamespace(cohort=cohort, instructor=instructor, neighbour=neighbour, outsider=outsider,
                           neighbour_cohort=neighbour_cohort,
                           attempts=attempts)


def essay_response(attempt: Attempt) -> Response:
    return next(r for r in attempt.responses if r.version.type == "essay")


def test_statistics_service(graded_cohort, sample) -> None:
    l1, l2, l3 = graded_cohort.attempts
    assert (l1.score, l1.pending_manual) == (AUTO_POINTS, True)
    assert (l2.score, l2.pending_manual) == (13.5, True)
    assert (l3.score, l3.pending_manual) == (2, False)
    stats = services.quiz_statistics(db.session, sample, graded_cohort.cohort)
    assert (stats.attempts, stats.learners) == (3, 3)
    assert stats.average == round(100 * 2 / MAX_POINTS, 2)  # attempts waiting for a grade are left out
    assert stats.distribution == [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    by_key = {q.key: q for q in stats.questions}
    single = by_key["s-single"]
    assert single.answered == 3 and single.facility == 0.333 and single.discrimination == 1.0
    assert single.wrong_answers == [("Retraining from scratch", 2)]
    assert by_key["s-short"].facility == 0.5  # 1 + 0.5 + 0 of 3
    assert by_key["s-short"].wrong_answers == [("repository", 1)]
    assert by_key["s-essay"].answered == 2
    assert by_key["s-essay"].facility == 0.0  # only the blank essay has a score yet
    assert by_key["s-scenario / measure"].wrong_answers == [("80", 1)]
    assert {r.answer["text"] for r in stats.pending_essays} == {L1[7]["p7"], L2[7]["p7"]}


def test_the_written_answers_to_grade_are_counted_by_cohort_through_their_partial_index(graded_cohort) -> None:
    """The instructor's home counts the answers the essay queue lists, by cohort, without
    loading them; SQLite finds them through ``ix_quiz_responses_ungraded``, which holds
    only the answers without a score (with every answer's row read, 27 ms at 60,000 answers;
    through it, 6 ms)."""
    cohort, other = graded_cohort.cohort, graded_cohort.neighbour_cohort
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        counts = services.pending_essay_counts(db.session, [cohort.id, other.id])
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert counts == {cohort.id: len(services.pending_essays(db.session, [cohort.id]))} == {cohort.id: 2}
    assert services.pending_essay_counts(db.session, [other.id]) == {}
    counted = [(statement, parameters) for statement, parameters in statements if "quiz_responses" in statement]
    assert len(counted) == 1, counted  # one statement, no answer loaded
    if db.engine.dialect.name == "sqlite":
        statement, parameters = counted[0]
        plan = " ".join(str(row[-1]) for row in db.session.connection().exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement}", parameters))
        assert "ix_quiz_responses_ungraded" in plan, plan


def seen_on(page: str, response_id: int) -> str:
    """The ``seen`` value the statistics page gives the grading form of one essay answer."""
    form = page[page.index(f'/responses/{response_id}/grade"'):]
    return re.search(r'name="seen" value="([^"]*)"', form[:form.index("</form>")]).group(1)


def test_an_essay_graded_since_the_page_opened_is_not_overwritten(graded_cohort, app, client, login, make_user) -> None:
    """Two graders (or two tabs) open the same answer: the second save is refused, says whose
    grade stands, keeps the input, and goes through when made again from that page."""
    g = graded_cohort
    essay = essay_response(g.attempts[1])
    url = f"/cohorts/{g.cohort.id}/quizzes/sample-quiz/statistics"
    grade_url = f"/cohorts/{g.cohort.id}/responses/{essay.id}/grade"
    login(client, g.instructor)
    opened = seen_on(client.get(url).get_data(as_text=True), essay.id)  # both tabs show it ungraded
    assert opened == "ungraded"
    assert client.post(grade_url, data={"points": "4", "comment": "Names the owner.", "seen": opened}).status_code == 302

    late = client.post(grade_url, data={"points": "1", "comment": "Too thin, from the older tab.", "seen": opened})
    page = late.get_data(as_text=True)
    assert late.status_code == 409
    assert "Not saved: you graded this answer 4 points at" in page and "in another tab or window" in page
    assert "Too thin, from the older tab." in page  # the input is kept
    db.session.expire_all()
    kept = db.session.get(Response, essay.id)
    assert (kept.score, kept.grader_comment) == (4, "Names the owner.")
    assert db.session.get(Attempt, g.attempts[1].id).score == 13.5 + 4

    # saved again from the refusal, which showed the grade that stands: it replaces it
    again = client.post(grade_url, data={"points": "1", "comment": "Too thin.", "seen": seen_on(page, essay.id)})
    assert again.status_code == 302
    db.session.expire_all()
    assert db.session.get(Response, essay.id).score == 1 and db.session.get(Attempt, g.attempts[1].id).score == 13.5 + 1

    # a colleague's page, opened before that save: their name, not "you"
    colleague = make_user(name="Cole Colleague")
    g.cohort.instructors.append(colleague)
    db.session.commit()
    other = app.test_client()
    login(other, colleague)
    refused = other.post(grade_url, data={"points": "5", "comment": "Mine.", "seen": opened}).get_data(as_text=True)
    assert "Not saved: Ines Instructor graded this answer 1 point at" in refused and "another tab" not in refused


def test_two_saves_of_one_essay_from_one_page_write_one_grade(graded_cohort) -> None:
    """The check holds when the other save lands between this one's read and its write."""
    g = graded_cohort
    essay = essay_response(g.attempts[1])
    now = utcnow()
    assert services.essay_seen(essay) == "ungraded"
    db.session.execute(update(Response).where(Response.id == essay.id)  # the other grader's save, unseen by this session
                       .values(score=3, grader_comment="First.", graded_by_id=g.instructor.id, graded_at=now)
                       .execution_options(synchronize_session=False))
    with pytest.raises(services.StaleEssayGrade):
        services.grade_essay(db.session, essay, 5, "Second.", g.instructor, now + timedelta(seconds=1), seen="ungraded")
    assert (essay.score, essay.grader_comment) == (3, "First.")


def test_statistics_page_and_grading(graded_cohort, client, login) -> None:
    g = graded_cohort
    l1, l2, _ = g.attempts
    url = f"/cohorts/{g.cohort.id}/quizzes/sample-quiz/statistics"
    login(client, g.instructor)
    response = client.get(url)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "3 submitted attempts by 3 learners" in page
    assert f"average {round(100 * 2 / MAX_POINTS, 2):g}%" in page
    assert re.search(r'<table class="distribution">.*?<td>1</td>(<td>0</td>){9}</tr>', page, re.S)
    row = re.search(r"<code>s-single</code>.*?</tr>", page, re.S).group(0)
    assert "<td>0.333</td>" in row and "<td>1.0</td>" in row and "Retraining from scratch (2)" in row
    assert "Single choice" in row
    assert L1[7]["p7"] in page and L2[7]["p7"] in page
    assert "Learner 1" in page and "Learner 2" in page

    # Grade the first essay: the attempt is complete.
    first_essay, second_essay = essay_response(l1), essay_response(l2)
    graded = client.post(f"/cohorts/{g.cohort.id}/responses/{first_essay.id}/grade",
                         data={"points": "4", "comment": "Clear owner."})
    assert graded.status_code == 302
    db.session.expire_all()
    l1 = db.session.get(Attempt, l1.id)
    assert not l1.pending_manual and l1.score == AUTO_POINTS + 4
    first_essay = db.session.get(Response, first_essay.id)
    assert first_essay.score == 4 and first_essay.grader_comment == "Clear owner."
    assert first_essay.graded_by_id == g.instructor.id
    page = client.get(url).get_data(as_text=True)
    waiting = page[:page.index('id="graded-essays"')]  # graded, it moves to the answers graded, to correct
    assert L1[7]["p7"] not in waiting and L2[7]["p7"] in waiting
    average = round((round(100 * 23 / MAX_POINTS, 2) + round(100 * 2 / MAX_POINTS, 2)) / 2, 2)
    assert f"average {average:g}%" in page

    # Too many points: the form comes back with the error and nothing changes.
    rows = response_rows()
    too_many = client.post(f"/cohorts/{g.cohort.id}/responses/{second_essay.id}/grade", data={"points": "6"})
    assert too_many.status_code == 400
    assert "Give between 0 and 5 points." in too_many.get_data(as_text=True)
    for bad in ("-1", "NaN", "Infinity", "", "four"):
        refused = client.post(f"/cohorts/{g.cohort.id}/responses/{second_essay.id}/grade", data={"points": bad})
        assert refused.status_code == 400, bad
    assert response_rows() == rows
    l2 = db.session.get(Attempt, l2.id)
    assert l2.pending_manual and l2.score == 13.5

    # An essay from another cohort cannot be graded through this cohort.
    assert client.post(f"/cohorts/{g.cohort.id}/responses/999999/grade", data={"points": "1"}).status_code == 404


def test_other_cohorts_instructors_are_refused(graded_cohort, client, login) -> None:
    g = graded_cohort
    essay = essay_response(g.attempts[1])
    rows = response_rows()
    for other in (g.neighbour, g.outsider):
        client.post("/logout")
        login(client, other)
        assert client.get(f"/cohorts/{g.cohort.id}/quizzes/sample-quiz/statistics").status_code in (403, 404)
        assert client.post(f"/cohorts/{g.cohort.id}/responses/{essay.id}/grade",
                           data={"points": "5"}).status_code in (403, 404)
    # Through their own cohort, the other cohort's response is not found.
    client.post("/logout")
    login(client, g.neighbour)
    assert client.get(f"/cohorts/{g.neighbour_cohort.id}/quizzes/sample-quiz/statistics").status_code == 200
    assert client.post(f"/cohorts/{g.neighbour_cohort.id}/responses/{essay.id}/grade",
                       data={"points": "5"}).status_code == 404
    assert response_rows() == rows


def test_statistics_queries_do_not_grow_with_attempts(sample, make_user, make_cohort, enrol_learner, client, login,
                                                      count_queries) -> None:
    instructor = make_user()
    cohort = make_cohort(months_ago=1, instructors=[instructor])
    now = utcnow()
    answers = [L1, L2, L3]
    for i in range(3):
        take(sample, enrol_learner(cohort), answers[i % 3], now)
    login(client, instructor)
    url = f"/cohorts/{cohort.id}/quizzes/sample-quiz/statistics"
    assert client.get(url).status_code == 200  # warm up
    # The client's requests share the test's session: start both counts from an expired one.
    db.session.expire_all()
    with_three = count_queries(lambda: client.get(url))
    for i in range(9):
        take(sample, enrol_learner(cohort), answers[i % 3], now)
    pages: list[str] = []
    db.session.expire_all()
    with_twelve = count_queries(lambda: pages.append(client.get(url).get_data(as_text=True)))
    assert "12 submitted attempts by 12 learners" in pages[0]
    assert with_twelve == with_three


def test_the_quiz_list_reads_every_status_at_once_and_each_equals_the_quiz_page(
        loaded, demo_command, count_queries) -> None:
    """The quiz list shows each quiz's status for the learner (``quiz_statuses``): their
    attempts read at once and their schedule built once, where it asked four statements a
    quiz (77 statements, 49 ms on PostgreSQL). Each status equals the quiz page's own
    (``quiz_status``) for every demo learner with months of attempts, one of them with
    early access to a later month (the shipped quizzes open as their phase ends, so it moves
    none of them; tests above cover a window early access moves); the statements do not
    grow with the quizzes."""
    assert demo_command().exit_code == 0
    quizzes = services.active_quizzes(db.session)
    assert len(quizzes) >= 10
    now = utcnow()
    learners = list(db.session.scalars(select(User).join(Enrolment, Enrolment.user_id == User.id)
                                       .where(Enrolment.active).order_by(User.id)))
    assert len(learners) >= 12
    early = next(q for q in quizzes if q.phase is not None and q.phase.month > 6)  # a month not open yet
    cohort = db.session.get(Enrolment, db.session.scalar(select(Enrolment.id).where(Enrolment.user_id == learners[0].id,
                                                                                     Enrolment.active))).cohort
    staff = db.session.scalar(select(User).where(User.email == "instructor@demo.lms"))
    grant_override(db.session, cohort, learners[0], early.phase_id, OverrideKind.EARLY_ACCESS, now.date(), "Ready", staff, now)
    db.session.commit()
    attempted = 0
    for learner in learners:
        together = services.quiz_statuses(db.session, quizzes, learner, now)
        for q in quizzes:
            alone = services.quiz_status(db.session, q, learner, now)
            assert together[q.id] == alone, (learner.email, q.key)
            attempted += bool(alone.attempts)
    assert attempted >= 12  # months of real attempts among them
    # as the list page asks: the quizzes read, then their statuses (a commit between would
    # expire the quizzes, and reading each again is a statement a quiz of its own)
    db.session.commit()
    few = count_queries(lambda: services.quiz_statuses(db.session, services.active_quizzes(db.session)[:2], learners[0], now))
    db.session.commit()
    every = count_queries(lambda: services.quiz_statuses(db.session, services.active_quizzes(db.session), learners[0], now))
    assert every == few


def test_the_quiz_list_shows_status_and_grade_to_learners_and_statistics_to_staff(app, loaded, world, login) -> None:
    learner = app.test_client()
    login(learner, world.learner_a)
    mine = learner.get("/quizzes").get_data(as_text=True)
    assert '<th scope="col">Your grade</th>' in mine and '<th scope="col">Statistics</th>' not in mine
    teacher = app.test_client()
    login(teacher, world.instructor_a)
    staff = teacher.get("/quizzes").get_data(as_text=True)
    assert '<th scope="col">Statistics</th>' in staff and "Your grade" not in staff and '<th scope="col">Status</th>' not in staff


def test_the_learner_reads_the_graders_comment_on_an_essay(app, graded_cohort, client, login) -> None:
    """The essay grading form asks for a "Comment for the learner": it reaches the learner's
    result page beside the essay's points (Markdown, sanitised), and nobody else's."""
    g = graded_cohort
    first, second = g.attempts[0], g.attempts[1]
    login(client, g.instructor)
    graded = client.post(f"/cohorts/{g.cohort.id}/responses/{essay_response(first).id}/grade",
                         data={"points": "4", "comment": "Name **one** owner.\n\n<script>alert(1)</script>"})
    assert graded.status_code == 302
    learner = app.test_client()
    login(learner, first.user)
    page = learner.get(f"/attempts/{first.id}").get_data(as_text=True)
    assert "Your instructor's comment:" in page
    assert "Name <strong>one</strong> owner." in page and "<script>alert(1)</script>" not in page
    other = app.test_client()
    login(other, second.user)  # still waiting for a grade: no comment of anyone's
    page = other.get(f"/attempts/{second.id}").get_data(as_text=True)
    assert "Name <strong>one</strong> owner." not in page and "Waiting for an instructor to grade this answer." in page


def test_statistics_read_each_answer_with_the_version_it_answered(app, quizzes_dir, load_content, make_cohort,
                                                                   make_user, enrol_learner, client, login) -> None:
    """A content load gave the ordering question a fifth step and a point more; the
    statistics read every answer with its first version's spec, so the answer naming the
    fifth step failed the page (IndexError, a 500), and facility divided new points by old.
    Each answer is now read and weighed with the version it answered."""
    path = quizzes_dir / "sample.yml"
    shutil.copy(SAMPLE_DIR / "sample.yml", path)
    load_content()
    instructor = make_user(name="Ida Instructor")
    cohort = make_cohort(months_ago=1, instructors=[instructor])
    first, second = enrol_learner(cohort), enrol_learner(cohort)
    take(quiz(), first, {6: {"p6-i0": "4", "p6-i1": "3", "p6-i2": "2", "p6-i3": "1"}}, utcnow())  # none in place
    old = "points: 4\n    text: Put the release steps in order.\n    items: [Train, Validate, Register, Deploy]"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, old.replace("points: 4", "points: 5").replace("Deploy]", "Deploy, Monitor]")))
    assert load_content().counts["question versions"]["created"] == 1
    take(quiz(), second, {6: {"p6-i0": "5", "p6-i1": "4", "p6-i2": "3", "p6-i3": "2", "p6-i4": "1"}}, utcnow())  # one in place

    stats = services.quiz_statistics(db.session, quiz(), cohort)
    row = next(q for q in stats.questions if q.key == "s-ordering")
    assert row.answered == 2 and row.scored == 2
    assert row.facility == 0.1  # 0 of 4 and 1 of 5: the mean share, each of its own version's points
    assert ("Monitor → Deploy → Register → Validate → Train", 1) in row.wrong_answers
    assert ("Deploy → Register → Validate → Train", 1) in row.wrong_answers
    login(client, instructor)
    page = client.get(f"/cohorts/{cohort.id}/quizzes/sample-quiz/statistics")
    assert page.status_code == 200 and "Monitor → Deploy" in page.get_data(as_text=True)


def test_a_graded_essay_can_be_corrected_from_the_statistics_page(app, graded_cohort, client, login) -> None:
    """Once graded, a written answer left the page: a wrong number of points or a comment
    with a slip could not be corrected, though the grading route rescores an attempt when
    given new points. Graded answers are listed with their points and comment, to change."""
    g = graded_cohort
    first = g.attempts[0]
    essay = essay_response(first)
    url = f"/cohorts/{g.cohort.id}/quizzes/sample-quiz/statistics"
    login(client, g.instructor)
    assert "None yet." in client.get(url).get_data(as_text=True)
    client.post(f"/cohorts/{g.cohort.id}/responses/{essay.id}/grade", data={"points": "4", "comment": "Clear owner."})
    page = client.get(url).get_data(as_text=True)
    # once each, inside the page's main part after the questions (a merge had put both lists
    # above the page's <html>, outside every landmark, and the waiting answers twice)
    assert page.count('id="essays"') == page.count('id="graded-essays"') == 1
    assert page.index("<main") < page.index('id="items"') < page.index('id="essays"') < page.index('id="graded-essays"')
    graded = page[page.index('id="graded-essays"'):]
    assert L1[7]["p7"] in graded and 'value="4"' in graded and ">Clear owner.</textarea>" in graded
    assert "Change the grade" in graded
    assert client.post(f"/cohorts/{g.cohort.id}/responses/{essay.id}/grade",
                       data={"points": "2.5", "comment": "Name the owner."}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Attempt, first.id).score == AUTO_POINTS + 2.5
    learner = app.test_client()
    login(learner, first.user)
    result = learner.get(f"/attempts/{first.id}").get_data(as_text=True)
    assert "Name the owner." in result and "Clear owner." not in result
    refused = client.post(f"/cohorts/{g.cohort.id}/responses/{essay.id}/grade", data={"points": "9"})
    assert refused.status_code == 400 and "Give between 0 and 5 points." in refused.get_data(as_text=True)
