"""An organization admin opens a cohort's heat map, finds the learner at risk, and sorts by
a column with the header links (no JavaScript needed)."""

from __future__ import annotations

import pytest

from tests.browser.test_browser import sign_in
from tests.test_competency import do_work, evidence

pytestmark = pytest.mark.browser


def test_org_admin_finds_at_risk_learners_and_sorts(server_url: str, load_content, make_user, make_org, make_cohort,
                                                     enrol_learner, page) -> None:
    load_content()
    admin = make_user(email="olivia@example.com", name="Olivia Org")
    org = make_org("Acme", admins=[admin])
    cohort = make_cohort(org, "Acme 1", months_ago=7)
    strong, weak, idle = (enrol_learner(cohort, name=n) for n in ("Ada Strong", "Bo Weak", "Cy Idle"))
    for learner in (strong, weak):
        do_work(cohort, learner)
    evidence(strong, {"KO1": 3.6, "SO1": 3.2, "KO2": 3.8, "SO2": 3.0})
    evidence(weak, {"KO1": 3.0, "SO1": 3.0, "KO2": 1.0, "SO2": 2.8})

    sign_in(page, server_url, admin.email)
    page.goto(f"{server_url}/cohorts/{cohort.id}")
    page.get_by_role("link", name="Competency heat map and learners at risk").click()
    page.wait_for_url(f"**/cohorts/{cohort.id}/competency")

    at_risk = page.locator("#at-risk")
    assert "At risk (2)" in at_risk.locator("h2").inner_text()
    assert "Cy Idle" in at_risk.inner_text() and "days behind schedule" in at_risk.inner_text()
    bo = at_risk.locator(f"li.at-risk-learner[data-user='{weak.id}']")
    assert "KO2 below proficient after its modules closed" in bo.inner_text() and "since" in bo.inner_text()
    assert "Not reviewed yet." in bo.inner_text()
    assert "Ada Strong" not in at_risk.inner_text()
    assert page.locator("#heat-map tr[data-user] .risk").count() == 2

    # Record a review of Bo: back on the list with the reviewer's name.
    bo.get_by_role("link", name="Record a review").click()
    page.wait_for_url(f"**/cohorts/{cohort.id}/learners/{weak.id}/at-risk")
    page.get_by_label("Support note").fill("Talked with Bo about KO2; practice plan agreed.")
    page.get_by_role("button", name="Record the review").click()
    page.wait_for_url(f"**/cohorts/{cohort.id}/competency#at-risk")
    assert "Last reviewed by Olivia Org" in bo.inner_text() and "No change since that review." in bo.inner_text()

    names = lambda: page.locator("#heat-map tbody th.name").all_inner_texts()  # noqa: E731
    assert names() == ["Ada Strong", "Bo Weak", "Cy Idle"]
    page.locator("#heat-map thead a", has_text="KO2").click()
    page.wait_for_url("**sort=KO2&dir=asc")
    assert names() == ["Cy Idle", "Bo Weak", "Ada Strong"]
    assert page.locator("#heat-map thead th[aria-sort=ascending]").inner_text().startswith("KO2")
    page.locator("#heat-map thead a", has_text="KO2").click()
    page.wait_for_url("**sort=KO2&dir=desc")
    assert names() == ["Ada Strong", "Bo Weak", "Cy Idle"]
    # Each cell shows its number, not only a colour.
    ko2 = page.locator(f"#heat-map tr[data-user='{weak.id}'] td.heat").nth(1)
    assert ko2.inner_text().startswith("1.0") and "heat-1" in ko2.get_attribute("class")
