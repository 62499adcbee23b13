"""Announcements in Chromium (issue 13 done-when: an announcement reaches learners): the
instructor posts one from the cohort page, the learner finds it on their home with its
Markdown rendered, is notified, dismisses it, and it stays under Announcements; the
instructor sees it counted as dismissed."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from lms.extensions import db
from lms.notifications.models import Notification, NotificationEvent
from tests.browser.test_browser import sign_in

pytestmark = pytest.mark.browser


def test_an_announcement_reaches_learners(server_url: str, make_user, make_cohort, enrol_learner, browser) -> None:
    instructor = make_user(email="ann.instructor@example.com", name="Ines Announcer")
    cohort = make_cohort(months_ago=2, instructors=[instructor])
    learner = enrol_learner(cohort, email="ann.learner@example.com", name="Lena Learner")

    staff = browser.new_context()
    page = staff.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, server_url, instructor.email)
    page.goto(f"{server_url}/cohorts/{cohort.id}")
    page.get_by_role("link", name="Post, schedule and edit announcements").click()
    page.get_by_label("Title").fill("Live session on Thursday")
    page.get_by_label("Message").fill("Join us at **17:00** to review the drift runbook.")
    page.get_by_role("button", name="Post announcement").click()
    page.get_by_text("Announcement posted").wait_for()
    assert "0 of 1" in page.locator("#announcements").inner_text()

    mine = browser.new_context()
    learner_page = mine.new_page()
    learner_page.set_default_timeout(10_000)
    sign_in(learner_page, server_url, learner.email)
    panel = learner_page.locator("#announcements")
    panel.get_by_role("heading", name="Live session on Thursday").wait_for()
    assert panel.locator("strong", has_text="17:00").count() == 1
    panel.get_by_role("button", name="Dismiss Live session on Thursday").click()
    learner_page.wait_for_url("**/home")
    expect(learner_page.locator("#announcements")).to_have_count(0)  # the reloaded home: wait_for_url alone is already true
    learner_page.goto(f"{server_url}/announcements")
    assert "Live session on Thursday" in learner_page.locator("main").inner_text()
    mine.close()

    db.session.expire_all()
    note = db.session.scalar(select(Notification).where(Notification.user_id == learner.id))
    assert note is not None and note.event == NotificationEvent.ANNOUNCEMENT and "Live session" in note.title

    page.reload()
    assert "1 of 1" in page.locator("#announcements").inner_text()
    staff.close()
