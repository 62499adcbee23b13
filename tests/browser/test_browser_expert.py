"""Expert evaluation in Chromium: a learner hands in a case study, the instructor grades
and releases it; the learner invites an outside expert; the expert opens the single-use
link without an account and rates the work on its rubric with comments and credentials;
the learner and the instructor read the rating with the expert's stated credentials; the
rating is expert evidence in the learner's competency profile; the used link is gone."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lms.extensions import db
from lms.mail.models import OutboxMessage
from tests.browser.test_browser import follow, sign_in
from tests.conftest import sent_body

pytestmark = pytest.mark.browser

CASE = "mlops-case-coldwatch"
TITLE = "Case study: false alarms and a silent outage at Coldwatch"


def new_page(browser):
    """A page in a browser context of its own (its own cookies: one signed-in person), 10 s timeouts."""
    page = browser.new_context().new_page()
    page.set_default_timeout(10_000)
    return page


def test_an_expert_rates_a_graded_submission_through_a_single_use_link(server_url: str, load_content, make_user,
                                                                       make_cohort, enrol_learner, browser) -> None:
    load_content()
    teacher = make_user(email="expert.teacher@example.com", name="Tara Teacher")
    cohort = make_cohort(months_ago=5, instructors=[teacher])
    learner = enrol_learner(cohort, email="expert.learner@example.com", name="Lena Learner")

    learner_page = new_page(browser)
    sign_in(learner_page, server_url, learner.email)
    learner_page.goto(f"{server_url}/assignments/{CASE}/work")
    learner_page.get_by_label("Your answer (Markdown)").fill("## Diagnosis\nAlerts page nobody; releases depend on one person.")
    learner_page.get_by_role("button", name="Submit for grading").click()
    learner_page.get_by_text("Version 1 submitted").wait_for()

    staff_page = new_page(browser)
    sign_in(staff_page, server_url, teacher.email)
    staff_page.goto(server_url + "/grading")
    staff_page.get_by_role("link", name="Open").click()
    staff_page.locator("fieldset.criterion").first.wait_for()  # .all() does not wait for the page the click opens
    for criterion in staff_page.locator("fieldset.criterion").all():
        criterion.locator("input[type=radio]").nth(1).check()  # Proficient everywhere
    staff_page.get_by_label("Overall feedback").fill("A sharp diagnosis; make the checklist testable.")
    staff_page.get_by_role("button", name="Release to learner").click()
    staff_page.get_by_text("Grade released to the learner.").wait_for()
    grading_url = staff_page.url

    # The learner invites an expert from the work page.
    learner_page.goto(f"{server_url}/assignments/{CASE}/work")
    learner_page.get_by_role("link", name="Invite an outside expert").click()
    learner_page.get_by_label("The expert's name").fill("Erin Expert")
    learner_page.get_by_label("Email").fill("erin@brightfield.example")
    learner_page.get_by_role("button", name=re.compile("invit", re.I)).click()
    learner_page.get_by_text("Invitation sent to Erin Expert").wait_for()
    assert "Waiting" in learner_page.locator("main").inner_text()

    db.session.rollback()  # see what the server committed
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "erin@brightfield.example")).one()
    link = re.search(r"http://127\.0\.0\.1:\d+/e/[A-Za-z0-9_-]+", sent_body(mail))
    assert link, sent_body(mail)

    # The expert: no account, a fresh browser.
    expert = new_page(browser)
    expert.goto(link.group(0))
    expert.get_by_role("heading", name=re.compile("Your expert rating of .* by Lena Learner")).wait_for()
    assert "releases depend on one person" in expert.locator("article").inner_text()
    expert.get_by_label("Your role").fill("Head of ML Platform")
    expert.get_by_label("Organization").fill("Brightfield Analytics")
    expert.get_by_label("Years of relevant experience").fill("12")
    expert.get_by_label("Why you are qualified to judge this work").fill("I run model releases and on-call for eight people.")
    criteria = expert.locator("fieldset.criterion").all()
    assert len(criteria) >= 3
    for number, criterion in enumerate(criteria):
        criterion.locator("input[type=radio]").nth(0 if number == 0 else 1).check()
        criterion.locator("textarea").fill(f"Criterion {number + 1}: clear and specific.")
    expert.get_by_label("Overall comment").fill("Sound analysis; the **alert routing** needs owners.")
    expert.get_by_role("button", name="Send my rating").click()
    expert.get_by_text(re.compile("thank", re.I)).first.wait_for()
    expert.goto(link.group(0))  # single use: the link is gone
    assert "already been used" in expert.locator("main").inner_text()

    # The learner reads it with the credentials, and it is expert evidence on their progress.
    learner_page.goto(f"{server_url}/assignments/{CASE}/work")
    panel = learner_page.locator("#expert-evaluations").inner_text()
    assert "Erin Expert" in panel and "Head of ML Platform at Brightfield Analytics, 12 years" in panel
    assert "Criterion 1: clear and specific." in panel and "alert routing" in panel
    learner_page.goto(server_url + "/progress")
    follow(learner_page, learner_page.get_by_role("link", name="Your competency profile"))
    profile = learner_page.locator("main").inner_text()
    assert "Expert evaluation of " + TITLE + " by Erin Expert, Head of ML Platform at Brightfield Analytics" in profile

    # The instructor sees the same on the grading page.
    staff_page.goto(grading_url)
    panel = staff_page.locator("#expert-evaluations").inner_text()
    assert "Erin Expert" in panel and "Head of ML Platform at Brightfield Analytics, 12 years" in panel
    assert "I run model releases" in panel
