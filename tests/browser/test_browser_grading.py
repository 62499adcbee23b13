"""In Chromium: a learner hands in a case study with a file; the instructor grades it
with the rubric and releases it; the learner reads the grade."""

from __future__ import annotations

from pathlib import Path

import pytest

from lms.coursework.services import dates_for, get_assignment, save_draft, start_submission, submit
from lms.database import utcnow
from lms.extensions import db
from lms.grading.services import save_grade
from lms.learning.services import build_schedule
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


def handed_in(cohort, learner, key: str = "mlops-case-coldwatch"):
    """``learner``'s work on ``key``, handed in (committed: the served app reads it)."""
    assignment = get_assignment(db.session, key)
    work = start_submission(db.session, assignment, learner.id, cohort.id, utcnow())
    dates = dates_for(assignment, build_schedule(db.session, cohort, learner.id, utcnow()), work)
    save_draft(db.session, work, "## Diagnosis\nReleases depend on one person.", dates, utcnow())
    submit(db.session, work, dates, utcnow())
    db.session.commit()
    return work


def test_back_to_the_grading_page_shows_the_grade_as_it_now_stands(server_url: str, load_content, make_org, make_cohort,
                                                                  enrol_learner, make_user, browser) -> None:
    """A grader saves, a colleague saves over it, the first grader goes back a page: the
    browser must not put back what they had typed over the page (the server sends the
    colleague's grade and its revision), or saving that page would replace the colleague's
    grade unseen. The grading form asks the browser not to restore its fields."""
    load_content()
    teacher, admin = make_user(name="Tara Teacher"), make_user(name="Olga Admin")
    cohort = make_cohort(make_org(admins=[admin]), months_ago=2, instructors=[teacher])
    learner = enrol_learner(cohort, name="Lena Learner")
    work = handed_in(cohort, learner)
    url = f"{server_url}/cohorts/{cohort.id}/submissions/{work.id}"

    first, second = browser.new_context(), browser.new_context()
    mine, theirs = first.new_page(), second.new_page()
    sign_in(mine, server_url, teacher.email)
    sign_in(theirs, server_url, admin.email)
    mine.goto(url)
    mine.locator("fieldset.criterion").first.locator("input[type=radio]").nth(0).check()
    mine.get_by_label("Overall feedback").fill("My first reading.")
    mine.get_by_role("button", name="Save draft").click()
    mine.get_by_text("Draft saved; the learner sees nothing yet.").wait_for()

    theirs.goto(url)
    theirs.locator("fieldset.criterion").first.locator("input[type=radio]").nth(3).check()
    theirs.get_by_label("Overall feedback").fill("The colleague's reading.")
    theirs.get_by_role("button", name="Save draft").click()
    theirs.get_by_text("Draft saved; the learner sees nothing yet.").wait_for()

    mine.go_back()
    mine.wait_for_load_state()
    assert mine.get_by_label("Overall feedback").input_value() == "The colleague's reading."
    first_criterion = mine.locator("fieldset.criterion").first.locator("input[type=radio]")
    assert first_criterion.nth(3).is_checked() and not first_criterion.nth(0).is_checked()
    first.close()
    second.close()


def test_a_released_rubric_reads_one_criterion_under_another_on_a_phone(server_url: str, load_content, make_cohort,
                                                                       enrol_learner, make_user, browser) -> None:
    """At 390 px the criterion, its level and the grader's comment stack at the page's width:
    as three columns the comment, what the learner most needs, got a fifth of it."""
    load_content()
    teacher = make_user(name="Tara Teacher")
    cohort = make_cohort(months_ago=2, instructors=[teacher])
    learner = enrol_learner(cohort, name="Lena Learner")
    work = handed_in(cohort, learner)
    criteria = work.assignment.rubric.current.criteria
    comment = "Name the person who approves a release, and the check they run before it goes out."
    save_grade(db.session, work, teacher, {c.id: c.levels[1].id for c in criteria}, {criteria[0].id: comment},
               "A sharp diagnosis.", None, "release", utcnow())
    db.session.commit()

    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    sign_in(page, server_url, learner.email)
    page.goto(server_url + "/assignments/mlops-case-coldwatch/feedback")
    cell = page.get_by_role("cell", name=comment)
    assert cell.bounding_box()["width"] > 300
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def test_the_running_total_adds_up_the_levels_as_they_are_chosen(server_url: str, load_content, make_cohort, enrol_learner,
                                                                 make_user, browser) -> None:
    """Before a save the grader sees the points of the levels picked so far beside the rubric
    (running_total.js, allowed by the Content-Security-Policy as a script of the platform's own)."""
    load_content()
    teacher = make_user(name="Tara Teacher")
    cohort = make_cohort(months_ago=2, instructors=[teacher])
    learner = enrol_learner(cohort, name="Lena Learner")
    work = handed_in(cohort, learner)
    rubric = work.assignment.rubric.current
    criteria = rubric.criteria
    errors: list[str] = []

    context = browser.new_context()
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # a refused script says so here
    sign_in(page, server_url, teacher.email)
    page.goto(f"{server_url}/cohorts/{cohort.id}/submissions/{work.id}")
    total = page.locator("#running-total")
    total.wait_for()
    assert total.inner_text() == f"Levels chosen so far: 0 of {rubric.max_points:g} points, 0 of {len(criteria)} criteria with a level."
    fieldsets = page.locator("fieldset.criterion")
    fieldsets.nth(0).locator("input[type=radio]").nth(0).check()
    first = criteria[0].levels[0].points
    assert total.inner_text() == f"Levels chosen so far: {first:g} of {rubric.max_points:g} points, 1 of {len(criteria)} criteria with a level."
    fieldsets.nth(1).locator("input[type=radio]").nth(1).check()
    both = first + criteria[1].levels[1].points
    assert total.inner_text() == f"Levels chosen so far: {both:g} of {rubric.max_points:g} points, 2 of {len(criteria)} criteria with a level."
    fieldsets.nth(0).locator("input[type=radio]").nth(2).check()  # a level changed: its points replace the first one's
    both = criteria[0].levels[2].points + criteria[1].levels[1].points
    assert total.inner_text() == f"Levels chosen so far: {both:g} of {rubric.max_points:g} points, 2 of {len(criteria)} criteria with a level."
    assert not errors
    context.close()

    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, server_url, teacher.email)
    page.goto(f"{server_url}/cohorts/{cohort.id}/submissions/{work.id}")
    assert not page.locator("#running-total").is_visible()  # no script: no total that would stay at nought


def test_the_assessed_work_and_quiz_lists_read_on_a_phone_without_scrolling_sideways(
        server_url: str, load_content, make_cohort, enrol_learner, browser) -> None:
    """At 390 px each row stacks, its cells named: the dates, once a fourth column off the
    screen's right edge, are read in place, and so is where the learner's work stands."""
    load_content()
    cohort = make_cohort(months_ago=2)
    learner = enrol_learner(cohort, name="Lena Learner")
    handed_in(cohort, learner)

    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    sign_in(page, server_url, learner.email)
    for address in ("/coursework", "/quizzes"):
        page.goto(server_url + address)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, address
        assert page.evaluate("Math.max(...[...document.querySelectorAll('.table-wrap')].map(w => w.scrollWidth - w.clientWidth))") <= 0, address
    page.goto(server_url + "/coursework")
    row = page.locator("tr", has=page.get_by_role("link", name="Case study: false alarms and a silent outage at Coldwatch"))
    for label in ("Dates", "Your work"):
        cell = row.locator(f'td[data-label="{label}"]')
        box = cell.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (label, box)
        assert cell.is_visible()
    assert "due " in row.locator('td[data-label="Dates"]').inner_text()
    assert "submitted" in row.locator('td[data-label="Your work"]').inner_text()
    context.close()
