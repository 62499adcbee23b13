"""A KPI's trend chart in Chromium: its labels as the screen shows them. The chart is an SVG
scaled to the page's width, so a label's size in the SVG is not the size a reader sees."""

from __future__ import annotations

from datetime import date

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from lms.catalog.models import Metric
from lms.database import utcnow
from lms.extensions import db
from lms.kpi.services import record_figure
from tests.browser.test_browser import signed_in_page

pytestmark = pytest.mark.browser

DEPLOY = "mlops-deployment-success"  # at least 95%


@pytest.mark.parametrize("width", [390, 1280])
def test_the_trend_charts_labels_are_at_least_12_px_as_shown(server_url: str, load_content, make_cohort, enrol_learner,
                                                             browser, width: int) -> None:
    """At 390 px the chart (640 units wide, scaled to the screen) drew its month, value and
    target labels 5-6 px high. The page draws a narrow chart for a phone: every label of the
    chart shown is at least 12 px high as rendered (``getBoundingClientRect``), one chart is
    shown (the other hidden from everyone), and the page does not scroll sideways."""
    load_content()
    cohort = make_cohort(months_ago=11)
    learner = enrol_learner(cohort, email="kpi.phone@example.com", name="Kim Phone")
    metric = db.session.scalar(select(Metric).where(Metric.key == DEPLOY))
    first = date.today().replace(day=1) - relativedelta(months=11)
    for month in range(11):
        record_figure(db.session, learner.id, metric, first + relativedelta(months=month), 80 + month * 1.5, utcnow())
    db.session.commit()
    context, page = signed_in_page(browser, server_url, learner.email, width, 844)
    page.goto(f"{server_url}/kpis/{DEPLOY}")
    shown = page.locator("svg.kpi-chart:visible")
    assert shown.count() == 1
    assert shown.get_attribute("class") == ("kpi-chart kpi-chart-narrow" if width < 600 else "kpi-chart kpi-chart-wide")
    heights = shown.evaluate("svg => [...svg.querySelectorAll('text')].map(t => [t.textContent, t.getBoundingClientRect().height,"
                             " parseFloat(getComputedStyle(t).fontSize) * svg.getBoundingClientRect().width / svg.viewBox.baseVal.width])")
    assert len(heights) >= 5 and any(label == "Target at least 95%" for label, _box, _size in heights), heights
    assert all(size >= 12 and box >= 12 for _label, box, size in heights), heights
    assert page.get_by_role("img", name="Model deployment success rate: 11 figures", exact=False).count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    context.close()
