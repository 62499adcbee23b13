"""A learner aces a best-attempt quiz, then tries it again and gets everything wrong: the
grade that counts is still the best attempt, so the instructor's heat map does not move."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.test_browser import sign_in
from tests.test_evidence_rules import quiz_dir

pytestmark = pytest.mark.browser


def take_quiz(page, base: str, attempt: int, answers: tuple[str, str]) -> None:
    page.goto(base + "/quizzes/rules-quiz")
    page.get_by_role("button", name=f"Start attempt {attempt}").click()
    page.get_by_text("Question 1 of 2").wait_for()
    page.get_by_label(answers[0]).check()
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_text("Question 2 of 2").wait_for()
    page.get_by_label(answers[1]).check()
    page.get_by_role("button", name="Save and review answers").click()
    page.get_by_role("button", name="Submit attempt").click()
    page.get_by_role("heading", name=f"Attempt {attempt}: result").wait_for()


def heat_map_row(page, base: str, cohort_id: int, user_id: int) -> str:
    page.goto(f"{base}/cohorts/{cohort_id}/competency")
    return page.locator(f"#heat-map tr[data-user='{user_id}']").inner_text()


def test_a_weak_reattempt_leaves_the_heat_map_unchanged(server_url: str, app, tmp_path: Path, load_content, make_user,
                                                        make_cohort, enrol_learner, browser) -> None:
    app.config["QUIZZES_DIR"] = quiz_dir(tmp_path, "highest")
    load_content()
    teacher = make_user(email="tess@example.com", name="Tess Teacher")
    cohort = make_cohort(months_ago=2, instructors=[teacher])
    learner = enrol_learner(cohort, email="lena@example.com", name="Lena Learner")

    learner_page = browser.new_context().new_page()
    sign_in(learner_page, server_url, learner.email)
    take_quiz(learner_page, server_url, 1, ("A tested rollback to the previous registered model",
                                            "The training data version"))

    staff_page = browser.new_context().new_page()
    sign_in(staff_page, server_url, teacher.email)
    before = heat_map_row(staff_page, server_url, cohort.id, learner.id)
    assert "3.4" in before  # KO1 and SO1 from the perfect first attempt, held under mastered: one piece of evidence

    take_quiz(learner_page, server_url, 2, ("Retraining from scratch", "The colour of the logo"))
    learner_page.goto(server_url + "/quizzes/rules-quiz")
    assert "0%" in learner_page.locator("table").inner_text()  # the weak attempt is on the learner's record

    assert heat_map_row(staff_page, server_url, cohort.id, learner.id) == before
