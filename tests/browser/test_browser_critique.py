"""A critique assignment in Chromium: the learner opens the assignment, opens the flawed
runbook it asks them to assess (and can download it), hands in the critique; the
instructor grades it with the critique rubric and releases it; the learner reads the grade."""

from __future__ import annotations

import pytest

from tests.browser.test_browser import follow, sign_in
from tests.browser.test_browser_expert import new_page

pytestmark = pytest.mark.browser

CRITIQUE = "mlops-critique-on-call-runbook"
TITLE = "Critique: the Kestrel Docs on-call runbook"
ARTIFACT = "Flawed artifact: Kestrel Docs on-call runbook"


def test_a_learner_critiques_the_artifact_and_reads_the_rubric_grade(server_url: str, load_content, make_user,
                                                                     make_cohort, enrol_learner, browser) -> None:
    load_content()
    teacher = make_user(email="critique.teacher@example.com", name="Tara Teacher")
    cohort = make_cohort(months_ago=5, instructors=[teacher])
    learner = enrol_learner(cohort, email="critique.learner@example.com", name="Lena Learner")

    page = new_page(browser)
    sign_in(page, server_url, learner.email)
    page.goto(f"{server_url}/assignments/{CRITIQUE}")
    page.get_by_role("heading", name="The artifact to assess").wait_for()
    download = page.get_by_role("link", name="Download").get_attribute("href")
    assert download is not None and page.request.get(server_url + download).ok
    page.get_by_role("link", name=ARTIFACT).click()
    page.get_by_role("heading", name=ARTIFACT).wait_for()
    assert "deliberate weaknesses" in page.locator("main").inner_text()

    page.goto(f"{server_url}/assignments/{CRITIQUE}")
    page.get_by_role("link", name="Your work on this assignment").click()
    page.get_by_label("Your answer (Markdown)").fill(
        "## Findings\n| Flaw | Section | Practice broken |\n|---|---|---|\n"
        "| Root password in the document | Access | Secrets live in a vault |\n\n## Top fixes\n1. Rotate the password.")
    page.get_by_role("button", name="Submit for grading").click()
    page.get_by_text("Version 1 submitted").wait_for()

    staff = new_page(browser)
    sign_in(staff, server_url, teacher.email)
    staff.goto(server_url + "/grading")
    staff.locator("tr", has_text=TITLE).get_by_role("link", name="Open").click()
    assert "Rotate the password." in staff.locator("article").inner_text()
    criteria = staff.locator("fieldset.criterion").all()
    assert "Flaws found" in criteria[0].inner_text()
    for criterion in criteria:
        criterion.locator("input[type=radio]").nth(1).check()  # Proficient everywhere
    staff.get_by_label("Overall feedback").fill("You found the exposed secret first; rank the purge commands next.")
    staff.get_by_role("button", name="Release to learner").click()
    staff.get_by_text("Grade released to the learner.").wait_for()

    page.goto(f"{server_url}/assignments/{CRITIQUE}/work")
    follow(page, page.get_by_role("link", name="Read your grade and feedback"))
    text = page.locator("main").inner_text()
    assert "You found the exposed secret first" in text and "Proficient" in text and "Flaws found" in text
