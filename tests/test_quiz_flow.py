"""Taking a quiz over HTTP: start, save page by page, resume, submit, result."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from lms.assessment.models import Attempt, Response
from lms.extensions import db

SAMPLE_QUIZZES = Path(__file__).parent / "data" / "quizzes"


@pytest.fixture()
def quiz_app(app: Flask, load_content) -> Flask:
    app.config["QUIZZES_DIR"] = SAMPLE_QUIZZES
    load_content()
    return app


@pytest.fixture()
def learner(quiz_app, make_cohort, enrol_learner, client, login):
    user = enrol_learner(make_cohort(months_ago=1))
    login(client, user)
    return user


def answer_all_correctly(client, attempt_id: int) -> None:
    pages = {
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
    for page, data in pages.items():
        response = client.post(f"/attempts/{attempt_id}/pages/{page}", data={**data, "go": "next"})
        assert response.status_code == 302, (page, response.get_data(as_text=True)[:500])


def test_take_resume_submit_and_see_feedback(quiz_app, learner, client, app) -> None:
    overview = client.get("/quizzes/sample-quiz")
    assert overview.status_code == 200 and "Start attempt 1" in overview.get_data(as_text=True)
    start = client.post("/quizzes/sample-quiz/start")
    assert start.status_code == 302
    attempt_id = int(start.headers["Location"].split("/attempts/")[1].split("/")[0])

    client.post(f"/attempts/{attempt_id}/pages/0", data={"p0": "a", "go": "next"})
    # "Closing the browser": a fresh visit resumes where the learner was.
    resume = client.post("/quizzes/sample-quiz/start")
    assert resume.headers["Location"].endswith(f"/attempts/{attempt_id}/pages/1")
    assert db.session.scalar(select(func.count()).select_from(Attempt)) == 1
    page0 = client.get(f"/attempts/{attempt_id}/pages/0").get_data(as_text=True)
    assert 'value="a" checked' in page0

    answer_all_correctly(client, attempt_id)
    done = client.post(f"/attempts/{attempt_id}/submit")
    assert done.headers["Location"].endswith(f"/attempts/{attempt_id}")
    again = client.post(f"/attempts/{attempt_id}/submit")
    assert again.status_code == 302
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt.finished and attempt.pending_manual  # the essay waits for a grader
    assert attempt.score == 2 + 4 + 1 + 1 + 2 + 3 + 4 + 1 + 1  # every auto-scored point
    assert attempt.max_score == 2 + 4 + 1 + 1 + 2 + 3 + 4 + 5 + 2
    result = client.get(f"/attempts/{attempt_id}").get_data(as_text=True)
    assert "Right, models degrade silently." in result and "Exactly." in result
    assert "Waiting for an instructor" in result


def test_tampered_option_is_refused_and_nothing_saved(quiz_app, learner, client) -> None:
    attempt_id = int(client.post("/quizzes/sample-quiz/start").headers["Location"].split("/attempts/")[1].split("/")[0])
    bad = client.post(f"/attempts/{attempt_id}/pages/0", data={"p0": "zzz", "go": "next"})
    assert bad.status_code == 400
    assert "not part of this question" in bad.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Response)) == 0
    assert client.post(f"/attempts/{attempt_id}/pages/99", data={"go": "next"}).status_code == 404


def test_essays_wait_in_the_instructors_queue(quiz_app, make_user, make_cohort, enrol_learner, login, app, count_queries) -> None:
    instructor = make_user(name="Ida Instructor")
    cohort = make_cohort(months_ago=1, instructors=[instructor])
    other = make_cohort(months_ago=1)

    def essay_from(cohort, name: str) -> None:
        client = app.test_client()
        login(client, enrol_learner(cohort, name=name))
        attempt_id = int(client.post("/quizzes/sample-quiz/start").headers["Location"].split("/attempts/")[1].split("/")[0])
        client.post(f"/attempts/{attempt_id}/pages/7", data={"p7": f"{name}'s monitoring plan.", "go": "review"})
        client.post(f"/attempts/{attempt_id}/submit")

    essay_from(cohort, "Ana Mine")
    essay_from(other, "Otto Other")
    staff = app.test_client()
    login(staff, instructor)
    page = staff.get("/grading/essays").get_data(as_text=True)
    assert "Ana Mine" in page and "Otto Other" not in page
    assert f"/cohorts/{cohort.id}/quizzes/sample-quiz/statistics#essays" in page

    few = count_queries(lambda: staff.get("/grading/essays"))
    for n in range(4):
        essay_from(cohort, f"Extra {n}")
    assert count_queries(lambda: staff.get("/grading/essays")) == few


def test_an_answered_question_is_marked_by_more_than_its_shade(quiz_app, learner, client) -> None:
    """WCAG 1.4.1 (use of colour): the question buttons told an answered question from an
    open one by a pale shade alone; an answered one shows a tick too (hidden from screen
    readers, whose label says "answered")."""
    attempt_id = int(client.post("/quizzes/sample-quiz/start").headers["Location"].split("/attempts/")[1].split("/")[0])
    client.post(f"/attempts/{attempt_id}/pages/0", data={"p0": "a", "go": "next"})
    page = client.get(f"/attempts/{attempt_id}/pages/1").get_data(as_text=True)
    buttons = re.findall(r'<button type="submit" name="go" value="(\d+)"[^>]*aria-label="([^"]*)"[^>]*>(.*?)</button>', page)
    shown = {int(value): (label, re.sub(r"<[^>]+>", "", text)) for value, label, text in buttons}
    assert shown[0] == ("Question 1, answered", "1✓")
    assert shown[1] == ("Question 2", "2") and shown[2] == ("Question 3", "3")
    assert '<span class="mark" aria-hidden="true">✓</span>' in page
