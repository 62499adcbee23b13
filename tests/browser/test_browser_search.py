"""Search from the nav box: a learner finds a lesson by a phrase from its body and opens
it; an instructor finds a learner of their cohort by part of their email."""

from __future__ import annotations

import pytest

from lms.extensions import db
from tests.browser.test_browser import sign_in
from tests.test_search import lesson_phrase, month_lesson

pytestmark = pytest.mark.browser


def search_from_nav(page, text: str) -> None:  # type: ignore[no-untyped-def]
    box = page.get_by_role("searchbox", name="Search lessons, templates and learners")
    box.fill(text)
    box.press("Enter")
    page.wait_for_url("**/search?q=*")


def test_search_finds_a_lesson_by_a_phrase_and_a_learner_by_part_of_their_email(server_url: str, load_content, world,
                                                                                 enrol_learner, browser) -> None:
    load_content()
    key = month_lesson(1)
    phrase = lesson_phrase(key)
    enrol_learner(world.cohort_a, email="harriet.vance@founders.example", name="Harriet Vance")
    enrol_learner(world.cohort_b, email="harold.vance@founders.example", name="Harold Vance")  # another organization
    db.session.commit()

    learner = browser.new_context()
    page = learner.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, server_url, world.learner_a.email)
    search_from_nav(page, f'"{phrase}"')
    hit = page.locator(".search-hit", has=page.locator(f'a[href="/lessons/{key}"]'))
    assert hit.locator("mark").count() >= 1
    assert "Learners" not in page.locator("main").inner_text()  # learners do not search people
    hit.locator(f'a[href="/lessons/{key}"]').click()
    page.wait_for_url(f"**/lessons/{key}")
    learner.close()

    staff = browser.new_context()
    page = staff.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, server_url, world.instructor_a.email)
    search_from_nav(page, "vance@found")
    learners = page.locator(".search-learners")
    assert "Harriet Vance" in learners.inner_text() and "harriet.vance@founders.example" in learners.inner_text()
    assert "Harold Vance" not in page.locator("main").inner_text()
    learners.get_by_role("link", name="Harriet Vance").click()
    page.wait_for_url(f"**/cohorts/{world.cohort_a.id}/learners/*")
    staff.close()
