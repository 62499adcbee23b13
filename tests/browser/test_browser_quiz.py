"""A learner takes a quiz in Chromium: starts, leaves mid-way, comes back in a new
browser, resumes where they were, submits and reads the feedback."""

from __future__ import annotations

import pytest

from tests.browser.test_browser import sign_in
from tests.test_quiz_flow import SAMPLE_QUIZZES

pytestmark = pytest.mark.browser


def test_take_leave_resume_submit(server_url: str, app, load_content, make_cohort, enrol_learner, browser) -> None:
    app.config["QUIZZES_DIR"] = SAMPLE_QUIZZES
    load_content()
    learner = enrol_learner(make_cohort(months_ago=1), email="quiz.taker@example.com")

    first = browser.new_context()
    page = first.new_page()
    sign_in(page, server_url, learner.email)
    page.get_by_role("link", name="Quizzes").click()
    page.get_by_role("link", name="Sample quiz").click()
    page.get_by_role("button", name="Start attempt 1").click()
    page.get_by_text("Question 1 of 9").wait_for()
    page.get_by_label("A tested rollback to the previous registered model").check()
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_text("Question 2 of 9").wait_for()
    page.get_by_label("The training data version").check()
    page.get_by_label("The evaluation results").check()
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_text("Question 3 of 9").wait_for()
    first.close()  # the learner closes the browser mid-way

    second = browser.new_context()
    page = second.new_page()
    sign_in(page, server_url, learner.email)
    page.goto(server_url + "/quizzes/sample-quiz")
    page.get_by_role("button", name="Resume your attempt").click()
    page.get_by_text("Question 3 of 9").wait_for()  # the first unanswered question
    page.get_by_label("True", exact=True).check()
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("textbox").fill("model registry")
    page.get_by_role("button", name="Save and review answers").click()
    page.get_by_role("heading", name="Before you submit").wait_for()
    assert "5 questions are not answered yet" in page.content()
    page.get_by_role("button", name="Submit attempt").click()

    page.get_by_role("heading", name="Attempt 1: result").wait_for()
    text = page.locator("main").inner_text()
    assert "Right, models degrade silently." in text     # per-answer feedback
    assert "Exactly." in text
    assert "Correct answer" in text                      # review: immediately
    page.goto(server_url + "/quizzes/sample-quiz")
    assert page.locator("table").get_by_role("link").count() == 1  # the attempt is listed
    second.close()
