"""A learner signs in, finds a quiz, answers each of its nine kinds of question, submits and
reads the result with the keyboard alone (WCAG 2.1.1, keyboard), in Chromium: every control
on the way is reached with Tab in the page's order and shows where the focus is (2.4.7,
focus visible); radios and selects are chosen with the arrow keys, boxes ticked with Space,
text typed, buttons and links used with Enter."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.test_quiz_flow import SAMPLE_QUIZZES

pytestmark = pytest.mark.browser

MOST_TABS = 80  # more stops than any page on the way has before what the learner wants

FOCUSED = """() => {
  const e = document.activeElement;
  const label = e.labels && e.labels.length ? e.labels[0].innerText : (e.getAttribute("aria-label") || e.innerText || e.value || "");
  const style = getComputedStyle(e);
  return {tag: e.tagName.toLowerCase(), text: label.trim(), outline: style.outlineStyle, width: parseFloat(style.outlineWidth),
          shadow: style.boxShadow};
}"""


def tab_to(page, text: str) -> None:
    """Press Tab until the focused control's label or text holds ``text``, checking that
    every stop on the way shows its focus; fail if it is not reached."""
    seen = []
    for _ in range(MOST_TABS):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused["tag"] == "body":  # past the last control: the browser's own stop, then the page's first again
            continue
        seen.append(focused["text"][:40])
        visible = (focused["outline"] != "none" and focused["width"] > 0) or focused["shadow"] not in ("", "none")
        assert visible, f"no visible focus on {focused['tag']} {focused['text'][:60]!r}"
        if text in focused["text"]:
            return
    raise AssertionError(f"{text!r} is not reached with Tab; the stops were {seen}")


def enter(page, path: str | None = None) -> None:
    """Press Enter on the focused link or button and wait for the page it opens (ending in
    ``path``, when given: a form's answer may redirect)."""
    left = page.url
    page.keyboard.press("Enter")
    if path is None:
        page.wait_for_url(lambda url: url != left)
    else:
        expect(page).to_have_url(re.compile(re.escape(path) + "$"))
    page.wait_for_load_state()


def test_a_quiz_taken_with_the_keyboard_alone(server_url: str, app, load_content, make_cohort, enrol_learner,
                                              browser) -> None:
    app.config["QUIZZES_DIR"] = SAMPLE_QUIZZES
    load_content()
    learner = enrol_learner(make_cohort(months_ago=1), email="keys.only@example.com")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)

    page.goto(server_url + "/login")
    expect(page.get_by_label("Email")).to_be_focused()  # the page puts the focus there
    page.keyboard.type(learner.email)
    tab_to(page, "Password")
    page.keyboard.type(PASSWORD)
    enter(page, "/home")

    tab_to(page, "Quizzes")
    enter(page, "/quizzes")
    tab_to(page, "Sample quiz")
    enter(page, "/quizzes/sample-quiz")
    tab_to(page, "Start attempt 1")
    enter(page)
    page.get_by_text("Question 1 of 9").wait_for()

    tab_to(page, "A tested rollback to the previous registered model")  # a radio: chosen as the focus moves to it
    page.keyboard.press("Space")
    assert page.get_by_label("A tested rollback to the previous registered model").is_checked()
    tab_to(page, "Save and continue")
    enter(page)
    page.get_by_text("Question 2 of 9").wait_for()

    for box in ("The training data version", "The evaluation results"):
        tab_to(page, box)
        page.keyboard.press("Space")
        assert page.get_by_label(box).is_checked()
    tab_to(page, "Save and continue")
    enter(page)
    page.get_by_text("Question 3 of 9").wait_for()

    tab_to(page, "True")  # the group's first radio; the arrows move between them
    page.keyboard.press("Space")
    assert page.get_by_label("True", exact=True).is_checked()
    page.keyboard.press("ArrowDown")
    assert page.get_by_label("False", exact=True).is_checked()
    page.keyboard.press("ArrowUp")
    assert page.get_by_label("True", exact=True).is_checked()
    tab_to(page, "Save and continue")
    enter(page)
    page.get_by_text("Question 4 of 9").wait_for()

    tab_to(page, "Your answer")  # a text field (its label visually hidden), after the site's search box
    page.keyboard.type("model registry")
    next_question(page, 5)

    tab_to(page, "Your answer (a number)")
    page.keyboard.type("43.2")
    next_question(page, 6)

    for left in ("Data versioning", "Alerting", "Access control"):  # a select for each: the arrows choose
        tab_to(page, left)
        page.keyboard.press("ArrowDown")
        assert page.get_by_label(left).input_value() != ""
    next_question(page, 7)

    for position in range(1, 5):  # a position for each step (each select named "Position of: <step>")
        tab_to(page, "Position of:")
        for _ in range(position):
            page.keyboard.press("ArrowDown")
    assert page.locator("table.ordering select").evaluate_all("els => els.map(e => e.value)") == ["1", "2", "3", "4"]
    next_question(page, 8)

    tab_to(page, "Your answer")
    page.keyboard.type("Latency, drift and accuracy against agreed thresholds, with one owner on call.")
    next_question(page, 9)

    tab_to(page, "An automated validation gate before deployment")
    page.keyboard.press("Space")
    tab_to(page, "Your answer (a number)")
    page.keyboard.type("90")
    tab_to(page, "Save and review answers")
    enter(page)
    page.get_by_role("heading", name="Before you submit").wait_for()
    assert "not answered yet" not in page.content()  # every answer given with the keyboard was saved
    tab_to(page, "Submit attempt")
    enter(page)

    page.get_by_role("heading", name="Attempt 1: result").wait_for()
    text = page.locator("main").inner_text()
    assert "Right, models degrade silently." in text and "Exactly." in text
    context.close()


def next_question(page, number: int) -> None:
    tab_to(page, "Save and continue")
    enter(page)
    page.get_by_text(f"Question {number} of 9").wait_for()
