"""In Chromium: a learner sees the unread count after a grade release, opens the
notification and lands on the feedback; the reminder command run twice notifies once."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import func, select

from lms.coursework.services import dates_for, get_assignment, start_submission, submit
from lms.database import utcnow
from lms.extensions import db
from lms.learning.services import build_schedule
from lms.mail.models import OutboxMessage
from lms.notifications.models import Notification
from tests.browser.test_browser import sign_in

pytestmark = pytest.mark.browser

CASE = "mlops-case-coldwatch"


def test_a_learner_opens_the_notification_of_a_released_grade(server_url: str, load_content, make_cohort, enrol_learner,
                                                              make_user, browser) -> None:
    load_content()
    teacher = make_user(email="teacher@example.com", name="Tara Teacher")
    cohort = make_cohort(months_ago=2, instructors=[teacher])
    learner = enrol_learner(cohort, email="lena@example.com", name="Lena Learner")
    work = start_submission(db.session, get_assignment(db.session, CASE), learner.id, cohort.id, utcnow())
    work.draft_body = "Releases depend on one person."
    submit(db.session, work, dates_for(work.assignment, build_schedule(db.session, cohort, learner.id, utcnow())), utcnow())
    db.session.commit()

    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server_url, teacher.email)
    page.goto(server_url + "/grading")
    page.get_by_role("link", name="Open").click()
    page.locator("fieldset.criterion").first.wait_for()  # .all() does not wait for the page the click opens
    for criterion in page.locator("fieldset.criterion").all():
        criterion.locator("input[type=radio]").nth(1).check()
    page.get_by_label("Overall feedback").fill("A sharp diagnosis; make the checklist testable.")
    page.get_by_role("button", name="Release to learner").click()
    page.get_by_text("Grade released to the learner.").wait_for()
    context.close()

    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server_url, learner.email)
    nav = page.get_by_role("navigation", name="Main")
    link = nav.get_by_role("link", name=re.compile(r"Notifications 1 unread"))
    link.click()
    page.wait_for_url("**/notifications")
    item = page.locator("li.notification.unread")
    assert item.count() == 1 and "Your grade for" in item.inner_text()
    item.get_by_role("button", name=re.compile("^Open")).click()
    page.wait_for_url(f"**/assignments/{CASE}/feedback")
    assert "A sharp diagnosis; make the checklist testable." in page.locator("main").inner_text()
    assert page.get_by_role("navigation", name="Main").locator(".notification-count").count() == 0  # read now
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Notifications").click()
    page.wait_for_url("**/notifications")
    expect(page.locator("li.notification")).to_have_count(1)
    expect(page.locator("li.notification.unread")).to_have_count(0)
    context.close()


def test_the_reminder_command_run_twice_notifies_once(server_url: str, app: Flask, load_content, make_cohort, enrol_learner,
                                                      browser) -> None:
    load_content()
    cohort = make_cohort(months_ago=5)  # month 6 opens today
    learner = enrol_learner(cohort, email="lena@example.com", name="Lena Learner")
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["lms", "send-reminders"])
        assert result.exit_code == 0, result.output
    assert "Made 0 notices" in result.output
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Notification).where(Notification.user_id == learner.id)) == 1
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.recipient == learner.email)) == 1

    page = browser.new_context().new_page()
    sign_in(page, server_url, learner.email)
    page.goto(server_url + "/notifications")
    assert page.locator("li.notification").count() == 1
    assert "Month 6 of the program is open" in page.locator("li.notification").inner_text()
    page.get_by_role("button", name="Mark all read").click()
    page.get_by_text("Marked 1 notification read.").wait_for()
    page.context.close()
