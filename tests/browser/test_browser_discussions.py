"""Module discussions in Chromium (issue 13 done-when: a discussion thread with a marked
answer): a learner opens their cohort's discussion from the module page and asks, a
classmate replies, the instructor marks the reply as the answer and locks the thread, and
the asker sees the answer marked and that the thread takes no more replies."""

from __future__ import annotations

import pytest

from tests.browser.test_browser import sign_in

pytestmark = pytest.mark.browser


def _page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


def test_a_thread_gets_a_marked_answer(server_url: str, load_content, make_user, make_cohort, enrol_learner,
                                       browser) -> None:
    load_content()
    instructor = make_user(email="disc.instructor@example.com", name="Ivo Instructor")
    cohort = make_cohort(name="Northwind 1", months_ago=5, instructors=[instructor])
    asker = enrol_learner(cohort, email="disc.asker@example.com", name="Asha Asker")
    helper = enrol_learner(cohort, email="disc.helper@example.com", name="Hugo Helper")

    context, page = _page(browser)
    sign_in(page, server_url, asker.email)
    page.goto(f"{server_url}/modules/mlops")
    page.get_by_role("link", name="Discuss AI Development Operations (MLOps) with your cohort").click()
    page.get_by_label("Title").fill("How often should we retrain?")
    page.get_by_label("Your question or topic").fill("Our churn model *drifts* after a month.")
    page.get_by_role("button", name="Start thread").click()
    page.get_by_role("heading", name="How often should we retrain?").wait_for()
    thread_url = page.url
    context.close()

    context, page = _page(browser)
    sign_in(page, server_url, helper.email)
    page.goto(thread_url)
    page.get_by_label("Your reply").fill("Retrain when the **drift metric** crosses its threshold, not on a calendar.")
    page.get_by_role("button", name="Reply").click()
    page.get_by_text("Reply posted").wait_for()
    context.close()

    context, page = _page(browser)
    sign_in(page, server_url, instructor.email)
    page.goto(thread_url)
    reply = page.locator("article.post", has_text="drift metric")
    reply.get_by_role("button", name="Mark as the answer").click()
    page.get_by_text("Marked as the answer.").wait_for()
    page.locator(".moderation-thread").get_by_role("button", name="Lock").click()
    page.get_by_text("Locked: the thread takes no new replies.").wait_for()
    log = page.locator("#moderation-log").inner_text()
    assert "Mark as the answer" in log and "Lock" in log and "Ivo Instructor" in log
    context.close()

    context, page = _page(browser)
    sign_in(page, server_url, asker.email)
    page.goto(f"{server_url}/cohorts/{cohort.id}/discussions/mlops")
    row = page.locator("li.thread-row", has_text="How often should we retrain?")
    assert "answered" in row.inner_text() and "locked" in row.inner_text()
    row.get_by_role("link", name="How often should we retrain?").click()
    answer = page.locator("article.post-answer")
    assert "drift metric" in answer.inner_text() and "Hugo Helper" in answer.inner_text()
    assert answer.locator("strong", has_text="drift metric").count() == 1
    assert "This thread is locked: it takes no new replies." in page.locator("main").inner_text()
    assert page.get_by_label("Your reply").count() == 0
    context.close()


def test_a_long_line_of_code_in_a_post_fits_a_phone(server_url: str, load_content, make_cohort, enrol_learner,
                                                    browser) -> None:
    """A fenced code block with a long line, in a post read at 390 px: its lines wrap inside
    the post (the page scrolled sideways to 930 px)."""
    load_content()
    asker = enrol_learner(make_cohort(months_ago=5), email="disc.phone@example.com")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, server_url, asker.email)
    page.goto(f"{server_url}/modules/mlops")
    page.get_by_role("link", name="Discuss AI Development Operations (MLOps) with your cohort").click()
    page.get_by_label("Title").fill("Which features drift?")
    page.get_by_label("Your question or topic").fill(
        "Our query:\n\n```\nSELECT customer_id, days_since_last_login, tickets_in_last_thirty_days,"
        " plan_tier FROM feature_catalogue_snapshots WHERE snapshot_date = '2026-12-01';\n```")
    page.get_by_role("button", name="Start thread").click()
    page.get_by_role("heading", name="Which features drift?").wait_for()
    page.wait_for_load_state("load")  # the stylesheet applied: a read before it measured the bare page (1,182 px)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    block = page.locator("article.post pre").bounding_box()
    post = page.locator("article.post").first.bounding_box()
    assert block is not None and post is not None
    assert block["x"] + block["width"] <= post["x"] + post["width"], (block, post)
    context.close()
