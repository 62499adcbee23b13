"""In Chromium: the learner's to-do list matches the schedule (the dates the assessed-work
page gives), and on a phone the navigation folds behind "Menu"."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_browser import follow, sign_in

pytestmark = pytest.mark.browser


def test_the_to_do_list_matches_the_schedule(server_url: str, load_content, make_cohort, enrol_learner, browser) -> None:
    load_content()
    learner = enrol_learner(make_cohort(months_ago=5), name="Lea Learner")
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server_url, learner.email)
    entries = page.locator("#todo li.todo-item")
    assert entries.count() > 3
    todo = {entries.nth(i).get_attribute("data-key"): entries.nth(i).locator("time").inner_text() for i in range(entries.count())}
    overdue = [entries.nth(i).evaluate("e => e.classList.contains('overdue')") for i in range(entries.count())]
    assert overdue == sorted(overdue, reverse=True), "overdue entries come first"

    follow(page, page.get_by_role("link", name="Assessed work"))
    rows = page.locator("table tbody tr")
    schedule = {}
    for i in range(rows.count()):
        link = rows.nth(i).locator("a")
        due = re.search(r"due (\d\d \w{3} \d{4})", rows.nth(i).inner_text())
        if link.count() and due:
            schedule[link.get_attribute("href").rsplit("/", 1)[-1]] = due.group(1)
    assignments = {key: due for key, due in todo.items() if key in schedule}
    assert assignments, "the to-do list holds open assessed work"
    assert assignments == {key: schedule[key] for key in assignments}

    # The first entry opens its page.
    page.goto(server_url + "/home")
    first = page.locator("#todo li.todo-item a").first
    title = first.inner_text()
    follow(page, first)
    assert title in page.locator("h1").inner_text()
    context.close()


@pytest.mark.parametrize("width", [390, 320])
def test_the_navigation_folds_behind_menu_on_a_phone(server_url: str, load_content, make_cohort, enrol_learner, browser,
                                                     width: int) -> None:
    """"Menu" is a button (it read as a checkbox): it says whether the menu is open
    (aria-expanded) and which it opens (aria-controls), opens and closes by mouse and by
    keyboard, and Escape in the menu closes it and goes back to the button."""
    load_content()
    learner = enrol_learner(make_cohort(months_ago=2))
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    sign_in(page, server_url, learner.email)
    menu = page.locator("#nav-menu")
    assert not menu.is_visible()
    assert page.get_by_role("checkbox").count() == 0  # the no-script fallback is gone: one control, a button
    button = page.get_by_role("button", name="Menu", exact=True)
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_have_attribute("aria-controls", "nav-menu")
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    assert menu.is_visible()
    button.click()
    expect(button).to_have_attribute("aria-expanded", "false")
    assert not menu.is_visible()
    button.focus()
    page.keyboard.press("Enter")
    expect(menu).to_be_visible()
    page.keyboard.press("Tab")  # into the menu
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(button).to_be_focused()
    expect(button).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("Space")
    expect(menu).to_be_visible()
    page.locator("#nav-menu").get_by_role("link", name="Schedule").click()
    page.wait_for_url("**/schedule")
    assert page.evaluate("document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth")
    expect(page.get_by_role("button", name="Menu", exact=True)).to_have_attribute("aria-expanded", "false")
    context.close()


def test_without_javascript_the_phone_menu_still_opens(server_url: str, load_content, make_cohort, enrol_learner,
                                                       browser) -> None:
    """No script: the checkbox and its label open the menu, and the script's button stays hidden."""
    load_content()
    learner = enrol_learner(make_cohort(months_ago=2))
    context = browser.new_context(viewport={"width": 320, "height": 800}, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, server_url, learner.email)
    menu = page.locator("#nav-menu")
    assert not menu.is_visible()
    assert page.get_by_role("button", name="Menu", exact=True).count() == 0  # hidden: not in the accessibility tree
    page.locator("label[for='nav-toggle']").click()
    assert menu.is_visible()
    page.locator("#nav-menu").get_by_role("link", name="Schedule").click()
    page.wait_for_url("**/schedule")
    context.close()


def test_on_a_wide_screen_there_is_no_menu_button(server_url: str, load_content, make_cohort, enrol_learner,
                                                  browser) -> None:
    load_content()
    learner = enrol_learner(make_cohort(months_ago=2))
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, server_url, learner.email)
    expect(page.get_by_role("button", name="Menu", exact=True)).to_be_hidden()
    expect(page.locator("#nav-menu").get_by_role("link", name="Schedule")).to_be_visible()
    context.close()


# the middle of each entry of a list, rounded: entries on one line share it (the search box is taller than a link)
LINES = """sel => [...document.querySelectorAll(sel + ' > li')].map(li => {
    const box = li.getBoundingClientRect(); return Math.round(box.top + box.height / 2); })"""


@pytest.mark.parametrize("width", [1024, 1280])
def test_on_a_laptop_the_navigation_keeps_to_two_rows(server_url: str, load_content, make_cohort, enrol_learner,
                                                      browser, width: int) -> None:
    """The learner's navigation, the longest (nineteen entries): the course's pages, search,
    notifications, inbox and account on the brand's row, what they work in on the row below, each
    on one line, the page they are on marked."""
    load_content()
    learner = enrol_learner(make_cohort(months_ago=2))
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    sign_in(page, server_url, learner.email)
    page.goto(server_url + "/progress")
    tools, main = page.evaluate(LINES, ".nav-tools"), page.evaluate(LINES, ".nav-main")
    assert len(main) == 11 and len(set(main)) == 1, f"the working row wraps: {main}"  # Simulations the eleventh
    assert len(tools) == 8 and len(set(tools)) == 1, f"the top row wraps: {tools}"
    assert tools[0] < main[0]
    brand = page.locator(".site-nav .brand").bounding_box()
    assert brand is not None and abs(brand["y"] + brand["height"] / 2 - tools[0]) < 4, "the brand and the top row share a line"
    current = page.locator(".nav-main a[aria-current='page']")
    assert current.count() == 1 and current.inner_text() == "Progress"
    assert page.evaluate("document.querySelector('.site-header').getBoundingClientRect().height") < 100
    assert page.evaluate("document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth")
    page.locator(".nav-main").get_by_role("link", name="KPIs").click()
    page.wait_for_url("**/kpis")
    assert page.locator(".nav-main a[aria-current='page']").inner_text() == "KPIs"
    context.close()
