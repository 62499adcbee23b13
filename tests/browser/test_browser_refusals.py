"""In Chromium, with the keyboard alone: where the focus lands when a form is refused.

Before, a refused form came back with the focus at the top of the page (or in its first
field), and its errors, shown under each field or above the form with role "alert", were
not read out: a screen reader reads out an alert that appears on a page, not one the page
opens with. A person who cannot see the page did not learn that nothing was saved. Now the
page opens with the focus on what went wrong (WCAG 3.3.1, error identification; 2.4.3,
focus order): the list of the form's problems, each a link to its field, or the one
message the page shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.test_browser import sign_in

pytestmark = pytest.mark.browser

def test_a_refused_sign_in_puts_the_focus_on_its_problems_each_a_way_to_its_field(server_url: str, page) -> None:
    page.goto(server_url + "/login")
    page.get_by_role("button", name="Sign in").click()
    summary = page.get_by_role("region", name="2 problems to put right")
    expect(summary).to_be_focused()
    assert summary.get_by_role("link").all_inner_texts() == ["Email: This field is required.", "Password: This field is required."]
    page.keyboard.press("Tab")
    expect(summary.get_by_role("link", name="Email: This field is required.")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the second problem: to its field
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type("a password")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")


def test_a_refused_hand_in_and_a_refused_release_put_the_focus_on_what_went_wrong(
        server_url: str, load_content, make_cohort, enrol_learner, make_user, browser, tmp_path: Path) -> None:
    load_content()
    teacher = make_user(email="teacher@example.com", name="Tara Teacher")
    cohort = make_cohort(months_ago=2, instructors=[teacher])
    learner = enrol_learner(cohort, email="lena@example.com", name="Lena Learner")
    program = tmp_path / "tool.exe"
    program.write_bytes(b"MZ")
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"notes")

    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, server_url, learner.email)
    page.goto(server_url + "/assignments/mlops-case-coldwatch/work")
    page.get_by_label("Your answer (Markdown)").fill("Releases depend on one person.")
    page.get_by_label("Attach a file").set_input_files(str(program))
    page.get_by_role("button", name="Save draft").click()
    # The refusal is the file field's: the page opens on the summary linking to it, and the
    # field itself reads as invalid, described by its help and the message.
    summary = page.get_by_role("region", name="1 problem to put right")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_text(re.compile(r"^Attach a file: 'tool\.exe': files of this type are not accepted"))
    expect(page).to_have_title("Error: Your work: Case study: false alarms and a silent outage at Coldwatch · lms")
    upload = page.get_by_label("Attach a file")
    expect(upload).to_have_attribute("aria-invalid", "true")
    expect(upload).to_have_accessible_description(re.compile(r"^PDF, images.* up to 10 MB each\. 'tool\.exe': files of "
                                                             r"this type are not accepted.* Nothing was saved\.$"))
    expect(page.get_by_label("Your answer (Markdown)")).to_have_value("Releases depend on one person.")  # nothing lost
    page.get_by_label("Attach a file").set_input_files(str(notes))
    page.get_by_role("button", name="Save draft").click()
    # each file's button names its file to a screen reader (before: "Remove", "Remove", ...)
    expect(page.get_by_role("button", name="Remove notes.txt", exact=True)).to_have_count(1)
    page.get_by_role("button", name="Submit for grading").click()
    page.get_by_text("Version 1 submitted").wait_for()
    context.close()

    # The instructor grades with the keyboard: releasing with a criterion left without a
    # level is refused, and the focus is on the message naming it.
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, server_url, teacher.email)
    page.goto(server_url + "/grading")
    page.get_by_role("link", name=re.compile(r"^Open Lena Learner: ")).click()
    first, *others = page.locator("fieldset.criterion").all()
    first.locator("input[type=radio]").first.focus()
    page.keyboard.press("Space")
    page.keyboard.press("ArrowDown")  # the arrows move the choice within the criterion's levels
    assert first.locator("input[type=radio]").nth(1).is_checked()
    page.keyboard.press("Tab")
    expect(first.get_by_role("textbox")).to_be_focused()  # then its comment
    page.keyboard.type("Clear diagnosis.")
    page.get_by_role("button", name="Release to learner").focus()
    page.keyboard.press("Enter")
    message = page.get_by_role("alert").filter(has_text="Choose a level for every criterion before releasing")
    expect(message).to_be_focused()
    assert all(title in message.inner_text() for title in [other.locator("legend strong").inner_text() for other in others])
    # each criterion left without a level says so where it is, to the grader going through the rubric
    expect(first.get_by_role("radio").first).not_to_have_attribute("aria-invalid", "true")
    for other in others:
        expect(other.get_by_role("radio").first).to_have_attribute("aria-invalid", "true")
        expect(other.get_by_role("radio").first).to_have_accessible_description(
            "Choose a level for this criterion to release the grade.")
    context.close()
