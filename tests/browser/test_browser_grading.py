"""In Chromium: a learner hands in a case study with a file; the instructor grades it
with the rubric and releases it; the learner reads the grade."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.test_browser import follow, sign_in

pytestmark = pytest.mark.browser


def test_submit_grade_release(server_url: str, load_content, make_cohort, enrol_learner, make_user, browser, tmp_path: Path) -> None:
    load_content()
    teacher = make_user(email="teacher@example.com", name="Tara Teacher")
    cohort = make_cohort(months_ago=2, instructors=[teacher])
    learner = enrol_learner(cohort, email="lena@example.com", name="Lena Learner")
    plan = tmp_path / "release-checklist.pdf"
    plan.write_bytes(b"%PDF-1.4 checklist")

    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server_url, learner.email)
    page.get_by_role("link", name="Assessed work").click()
    page.get_by_role("link", name="Case study: false alarms and a silent outage at Coldwatch").click()
    page.get_by_role("link", name="Your work on this assignment").click()
    page.get_by_label("Your answer (Markdown)").fill("## Diagnosis\nReleases depend on one person.")
    page.get_by_label("Attach a file").set_input_files(str(plan))
    page.get_by_role("button", name="Submit for grading").click()
    page.get_by_text("Version 1 submitted").wait_for()
    assert page.get_by_role("link", name="release-checklist.pdf").count() == 1
    handed_in = page.get_by_role("article", name="Version 1 as handed in")  # what they handed in, readable
    assert handed_in.get_by_role("heading", name="Diagnosis").count() == 1
    assert "Releases depend on one person." in handed_in.inner_text()
    context.close()

    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server_url, teacher.email)
    page.goto(server_url + "/grading")
    page.get_by_role("link", name="Open").click()
    assert "Releases depend on one person." in page.locator("article").inner_text()
    for criterion in page.locator("fieldset.criterion").all():
        criterion.locator("input[type=radio]").nth(1).check()  # Proficient everywhere
    page.get_by_label("Overall feedback").fill("A sharp diagnosis; make the checklist testable.")
    page.get_by_role("button", name="Release to learner").click()
    page.get_by_text("Grade released to the learner.").wait_for()
    context.close()

    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server_url, learner.email)
    page.goto(server_url + "/assignments/mlops-case-coldwatch/work")
    follow(page, page.get_by_role("link", name="Read your grade and feedback"))
    text = page.locator("main").inner_text()
    assert "A sharp diagnosis; make the checklist testable." in text and "Proficient" in text
    context.close()
