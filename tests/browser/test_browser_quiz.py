"""A learner takes a quiz in Chromium: starts, leaves mid-way, comes back in a new
browser, resumes where they were, submits and reads the feedback; and a timed attempt's
clock warns, then saves and submits."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from lms.assessment.models import Attempt
from lms.database import utcnow
from lms.extensions import db
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


def _start_first_attempt(page, server_url: str, email: str) -> int:
    """Sign in, start the sample quiz's first attempt and give its id."""
    sign_in(page, server_url, email)
    page.goto(server_url + "/quizzes/sample-quiz")
    page.get_by_role("button", name="Start attempt 1").click()
    page.get_by_text("Question 1 of 9").wait_for()
    return int(re.search(r"/attempts/(\d+)/", page.url).group(1))


def _deadline_in(attempt_id: int, seconds: int) -> None:
    attempt = db.session.get(Attempt, attempt_id)
    attempt.deadline_at = utcnow() + timedelta(seconds=seconds)
    db.session.commit()


def test_a_timed_attempts_clock_warns_then_saves_the_page_and_submits(server_url: str, app, load_content,
                                                                       make_cohort, enrol_learner, browser) -> None:
    """The clock counts down, warns when under a minute is left (read out: role "alert"),
    and a few seconds before the deadline sends the page as it stands: what the learner
    typed is saved and the attempt submitted, without a click. On the review page it
    submits the attempt."""
    app.config["QUIZZES_DIR"] = SAMPLE_QUIZZES
    load_content()
    learner = enrol_learner(make_cohort(months_ago=1), email="clock.watcher@example.com")
    context = browser.new_context()
    page = context.new_page()
    attempt_id = _start_first_attempt(page, server_url, learner.email)
    expect(page.get_by_role("timer")).to_have_text(re.compile(r"Time left: (29:[0-5]\d|30:00)"))
    expect(page.get_by_role("alert")).to_have_text("")  # no warning with half an hour left

    _deadline_in(attempt_id, 14)
    page.get_by_role("button", name="Question 4").click()  # a question button saves and moves
    page.get_by_text("Question 4 of 9").wait_for()
    expect(page.get_by_role("alert")).to_have_text(
        "Less than a minute left. When time runs out, the answers on this page are saved and the attempt is submitted.")
    expect(page.get_by_role("alert")).to_have_attribute("aria-live", "assertive")
    expect(page.locator("#attempt-timer-warning")).to_have_text("")  # the five-minute one, passed, not shown twice
    expect(page.locator(".attempt-timer")).to_have_class(re.compile("attempt-timer-low"))
    page.get_by_role("textbox", name="Your answer").fill("Model Registry")  # typed, never sent by the learner
    page.wait_for_url(f"**/attempts/{attempt_id}", timeout=20_000)
    expect(page.locator(".flash-success")).to_contain_text("the answers on the page were saved and the attempt submitted")
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt.finished and attempt.score == 1  # the short answer typed and saved by the clock

    page.goto(server_url + "/quizzes/sample-quiz")
    page.get_by_role("button", name="Start attempt 2").click()
    page.get_by_text("Question 1 of 9").wait_for()
    second = int(re.search(r"/attempts/(\d+)/", page.url).group(1))
    page.get_by_label("A tested rollback to the previous registered model").check()
    page.get_by_role("button", name="Save and review answers").click()
    page.get_by_role("heading", name="Before you submit").wait_for()
    _deadline_in(second, 9)
    page.reload()
    page.wait_for_url(f"**/attempts/{second}", timeout=20_000)
    expect(page.get_by_role("heading", name="Attempt 2: result")).to_be_visible()
    db.session.expire_all()
    assert db.session.get(Attempt, second).score == 2
    context.close()


# Records what the warning region held when the page had been read (the deferred timer script
# has run by DOMContentLoaded): a screen reader announces a live region's changes, not its text then.
WARNING_AT_LOAD = """document.addEventListener("DOMContentLoaded", () => {
  const region = document.getElementById("attempt-timer-warning");
  window.warningAtLoad = region ? region.textContent : null;
});"""


def test_a_page_opened_under_five_minutes_from_the_end_announces_the_warning(server_url: str, app, load_content,
                                                                             make_cohort, enrol_learner, browser) -> None:
    """The five-minute warning was given once an attempt: the next question, opened with four
    minutes left, had an empty warning, and a page that opened under five minutes wrote its
    warning as it loaded, which a screen reader does not announce. Every page that opens in a
    warning's time now fills the (empty) live region a moment after load."""
    app.config["QUIZZES_DIR"] = SAMPLE_QUIZZES
    load_content()
    learner = enrol_learner(make_cohort(months_ago=1), email="late.opener@example.com")
    context = browser.new_context()
    context.add_init_script(WARNING_AT_LOAD)
    page = context.new_page()
    attempt_id = _start_first_attempt(page, server_url, learner.email)
    warning = re.compile(r"^[34] minutes left\. When time runs out, the answers on this page are saved and the attempt "
                         r"is submitted\.$")

    _deadline_in(attempt_id, 230)
    page.reload()
    page.get_by_text("Question 1 of 9").wait_for()
    polite = page.locator("#attempt-timer-warning")
    expect(polite).to_have_text(warning)
    assert page.evaluate("window.warningAtLoad") == ""  # put in after load: announced

    page.get_by_role("button", name="Question 4").click()  # the next page, the warning already given once
    page.get_by_text("Question 4 of 9").wait_for()
    expect(polite).to_have_text(warning)
    assert page.evaluate("window.warningAtLoad") == ""
    # Read out when the screen reader pauses: only the last minute's warning interrupts (an alert).
    expect(polite).to_have_attribute("aria-live", "polite")
    expect(page.get_by_role("alert")).to_have_text("")
    context.close()


def test_matching_and_ordering_selects_fit_a_phone_and_a_finger(server_url: str, app, load_content, make_cohort,
                                                                enrol_learner, browser) -> None:
    """At 320 px each matching select sits inside the question's card (it overflowed into the
    table's own scroll box, its end and arrow cut off), and every select of a matching or an
    ordering question is at least 24 px tall (they were 19: WCAG 2.5.8's minimum target)."""
    app.config["QUIZZES_DIR"] = SAMPLE_QUIZZES
    load_content()
    learner = enrol_learner(make_cohort(months_ago=1), email="quiz.phone@example.com")
    context = browser.new_context(viewport={"width": 320, "height": 700}, is_mobile=True, has_touch=True)
    page = context.new_page()
    attempt_id = _start_first_attempt(page, server_url, learner.email)
    for number, kind in ((5, "matching"), (6, "ordering")):
        page.goto(f"{server_url}/attempts/{attempt_id}/pages/{number}")
        boxes = page.locator(f"table.{kind} select").evaluate_all(
            "els => els.map(e => { const r = e.getBoundingClientRect();"
            " const c = e.closest('table').parentElement.getBoundingClientRect();"
            " return [r.left - c.left, c.right - r.right, r.height]; })")
        assert boxes, kind
        for left, right, height in boxes:
            assert left >= 0 and right >= 0, (kind, left, right)
            assert height >= 24, (kind, height)
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    context.close()
