"""The organization's comparison of its cohorts on a phone: its sticky first column (a
cohort's name, and the link to its certified learners) leaves the figures room to scroll
into view. It was kept on one line, and at 390 px it was as wide as the screen."""

from __future__ import annotations

from typing import Any

import pytest

from lms.demo.services import DEMO_PASSWORD, demo_organization
from lms.extensions import db
from tests.browser.test_browser import sign_in

pytestmark = pytest.mark.browser
PHONE = 390


def test_the_sticky_cohort_column_is_narrow_on_a_phone_as_the_demo_org_admin(server_url: str, demo_command: Any,
                                                                             browser: Any) -> None:
    assert demo_command().exit_code == 0
    org_id = demo_organization(db.session).id
    db.session.rollback()
    context = browser.new_context(viewport={"width": PHONE, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, server_url, "orgadmin@demo.lms", DEMO_PASSWORD)
    page.goto(f"{server_url}/organizations/{org_id}/competency")
    name = page.locator("#compare tbody th.name").first
    assert "certified learners" in name.inner_text()
    assert name.evaluate("th => getComputedStyle(th).position") == "sticky"
    width = name.evaluate("th => th.getBoundingClientRect().width")
    assert width <= PHONE / 2, f"the sticky cohort column is {width} px of a {PHONE} px screen"
    # the figures scroll into view beside it: the table's box scrolls sideways, and the
    # last column, scrolled to, is on screen right of the sticky column, not under it
    wrap = page.locator("#compare").locator("xpath=..")
    assert wrap.evaluate("w => w.scrollWidth > w.clientWidth")
    wrap.evaluate("w => { w.scrollLeft = w.scrollWidth; }")
    last = page.locator("#compare tbody tr").first.locator("td").last
    box, sticky = last.bounding_box(), name.bounding_box()
    assert box is not None and sticky is not None
    assert box["x"] >= sticky["x"] + sticky["width"] - 1 and box["x"] + box["width"] <= PHONE + 1, (box, sticky)
    context.close()
