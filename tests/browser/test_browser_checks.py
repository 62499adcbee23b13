"""Weekly checks in Chromium: a learner opens the check from the week's lesson, answers,
reads the answer and the reason at once and starts again; their instructor sees the
attempts in the check's statistics."""

from __future__ import annotations

import pytest

from tests.browser.test_browser import sign_in

pytestmark = pytest.mark.browser

LESSON = "mlops-release-pipeline-registry"  # month 1, week 1


def test_a_learner_practises_with_the_weekly_check_and_staff_see_it(server_url: str, load_content, make_user, make_cohort,
                                                                       enrol_learner, browser) -> None:
    load_content()
    instructor = make_user(email="check.instructor@example.com", name="Ines Check")
    cohort = make_cohort(months_ago=0, instructors=[instructor])
    learner = enrol_learner(cohort, email="check.learner@example.com")

    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, server_url, learner.email)
    page.goto(f"{server_url}/lessons/{LESSON}")
    page.get_by_role("heading", name="Check your understanding").wait_for()
    page.get_by_role("link", name="Open the check").click()
    page.get_by_text("practice, not part of your grade").wait_for()
    for attempt in (1, 2):  # as many tries as they like
        page.get_by_role("button", name=f"Start attempt {attempt}").click()
        page.get_by_text("Question 1 of").wait_for()
        page.get_by_label("Hold the release and find out why the largest client's slice got worse.").check()
        for _ in range(6):  # on to the last page, leaving the rest unanswered
            review = page.get_by_role("button", name="Save and review answers")
            if review.count():
                review.click()
                break
            page.get_by_role("button", name="Save and continue").click()
        page.get_by_role("button", name="Submit attempt").click()
        page.get_by_role("heading", name=f"Attempt {attempt}: result").wait_for()
        text = page.locator("main").inner_text()
        assert "The segment threshold exists precisely because" in text  # the reason, at once
        assert "Correct answer" in text
        page.goto(f"{server_url}/quizzes/check-{LESSON}")
    context.close()

    staff = browser.new_context()
    page = staff.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, server_url, instructor.email)
    page.goto(f"{server_url}/cohorts/{cohort.id}/quizzes/check-{LESSON}/statistics")
    assert "2 submitted attempts by 1 learner" in page.locator("main").inner_text()
    staff.close()
