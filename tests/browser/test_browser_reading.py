"""What a screen reader reads, from Chromium's accessibility tree (an aria snapshot)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_browser import sign_in
from tests.test_quiz_flow import SAMPLE_QUIZZES

pytestmark = pytest.mark.browser


def test_the_breadcrumb_separators_are_seen_and_not_read(server_url: str, load_content, page) -> None:
    """Before: each step after the first was read as "›AI Development Operations (MLOps)"
    (a character announced as "right-pointing angle bracket"); the list already says the
    steps are in order."""
    load_content()
    page.goto(server_url + "/modules/mlops")
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    snapshot = crumbs.aria_snapshot()
    assert "›" not in snapshot, snapshot
    shown = crumbs.get_by_role("listitem").nth(1).evaluate("li => getComputedStyle(li, '::before').content")
    assert shown.startswith('"›"'), shown  # still seen


def test_a_questions_answers_are_a_group_named_by_the_question(server_url: str, app, load_content, make_cohort,
                                                                enrol_learner, page) -> None:
    """Before: every question's answers were a group named "Question", so a screen reader
    reaching the first radio said "Question, group" and not what was asked."""
    app.config["QUIZZES_DIR"] = SAMPLE_QUIZZES
    load_content()
    learner = enrol_learner(make_cohort(months_ago=1), email="reads@example.com")
    sign_in(page, server_url, learner.email)
    page.goto(server_url + "/quizzes/sample-quiz")
    page.get_by_role("button", name="Start attempt 1").click()
    group = page.get_by_role("group", name="Which step lets you undo a bad model release fastest?")
    expect(group.get_by_role("radio")).to_have_count(3)
    assert page.get_by_role("group", name="Question", exact=True).count() == 0
