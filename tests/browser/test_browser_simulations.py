"""Branching simulations in Chromium: a learner opens the MLOps simulation from the module
page, plays one path to its end (each choice shows its consequence and the next
situation), reads the path and the score per objective; their instructor sees the run
and its path on the cohort's simulations page."""

from __future__ import annotations

import pytest

from tests.browser.test_browser import sign_in, signed_in_page

pytestmark = pytest.mark.browser

PATH = [
    "Open the dashboards and spend ten minutes separating symptoms before touching anything.",
    "Throttle that customer's batch to a fair share, lift the ceiling to 8 for the night, and leave v14 in place.",
    "Post a short, factual notice to both customers now and schedule the write-up for the morning.",
    "Add a load test and a cost-per-page check to the release pipeline's promotion gates, and per-tenant limits by default.",
]


def test_a_learner_plays_a_simulation_to_the_end_and_staff_see_the_path(server_url: str, load_content, make_user,
                                                                          make_cohort, enrol_learner, browser) -> None:
    load_content()
    instructor = make_user(email="sim.instructor@example.com", name="Ines Sim")
    cohort = make_cohort(months_ago=5, instructors=[instructor])  # month 6: MLOps' advanced phase is open
    learner = enrol_learner(cohort, email="sim.learner@example.com", name="Sam Learner")

    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, server_url, learner.email)
    page.goto(f"{server_url}/modules/mlops")
    page.get_by_role("link", name="The 2 a.m. page: Kestrel Docs' extraction API is failing").click()
    page.get_by_role("button", name="Start the simulation").click()
    page.get_by_role("heading", name="Decision 1").wait_for()
    for number, choice in enumerate(PATH, start=1):
        page.get_by_label(choice).check()
        page.get_by_role("button", name="Decide").click()
        page.get_by_role("heading", name="What happened").wait_for()
        if number < len(PATH):
            page.get_by_role("heading", name=f"Decision {number + 1}").wait_for()
    page.get_by_role("heading", name="How it ended").wait_for()
    text = page.locator("main").inner_text()
    assert "A month later" in text and "Your path" in text
    assert "Average over the objectives: 3.9 / 4" in text
    context.close()

    staff = browser.new_context()
    page = staff.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, server_url, instructor.email)
    page.goto(f"{server_url}/cohorts/{cohort.id}/simulations")
    text = page.locator("main").inner_text()
    assert "Sam Learner" in text and "KO1 3.8, SO1 4.0" in text
    assert PATH[1] in text
    staff.close()


def test_a_decisions_options_line_up_in_plain_weight_on_a_phone(server_url: str, load_content, make_cohort,
                                                                enrol_learner, browser) -> None:
    """At 390 px each option's radio is its own size at the same place, and the options'
    words are in plain weight: each radio was stretched to a different width (a form field's
    ``width: 100%``), so each option's text began somewhere else, and all of it was bold."""
    load_content()
    learner = enrol_learner(make_cohort(months_ago=5), email="sim.phone@example.com")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, server_url, learner.email)
    page.goto(f"{server_url}/modules/mlops")
    page.get_by_role("link", name="The 2 a.m. page: Kestrel Docs' extraction API is failing").click()
    page.get_by_role("button", name="Start the simulation").click()
    page.get_by_role("heading", name="Decision 1").wait_for()
    radios = page.locator("#situation input[type=radio]").evaluate_all(
        "els => els.map(e => [Math.round(e.getBoundingClientRect().left), e.getBoundingClientRect().width,"
        " getComputedStyle(e.closest('label')).fontWeight])")
    assert len(radios) > 1
    assert len({left for left, _, _ in radios}) == 1, radios
    assert all(width < 30 and weight == "400" for _, width, weight in radios), radios
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_a_learner_finds_the_simulations_in_the_menu(server_url: str, load_content, make_cohort, enrol_learner,
                                                     browser, width: int) -> None:
    """The main navigation links the simulations for a learner: on a wide screen among the
    course's areas, on a phone (390 px) once the Menu opens; the link opens their index."""
    load_content()
    cohort = make_cohort(months_ago=5)
    learner = enrol_learner(cohort, email="sim.menu@example.com", name="Sam Menu")
    context, page = signed_in_page(browser, server_url, learner.email, width, 844)
    nav = page.get_by_role("navigation", name="Main")
    link = nav.get_by_role("link", name="Simulations", exact=True)
    if width < 600:
        assert not link.is_visible(), "folded behind the Menu button on a phone"
        nav.get_by_role("button", name="Menu").click()
    link.click()
    page.get_by_role("heading", name="Simulations", level=1).wait_for()
    assert page.locator('.nav-main a[href="/simulations"]').get_attribute("aria-current") == "page"  # folded again on a phone
    context.close()
