"""In Chromium: the portfolio page handed in (read-only, with the version the instructor
reads) and returned for revision (what to revise above the form), at both widths and
through axe-core, as the crawl checks the pages it reaches (tests/browser/test_browser_crawl.py)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from lms.coursework.models import Submission
from lms.extensions import db
from tests.browser.test_browser_crawl import in_the_browser

pytestmark = pytest.mark.browser

CASE = "mlops-case-coldwatch"
CODES = ["KO1", "KO2", "KO4", "SO1", "SO2", "SO4", "AO1"]


def test_a_handed_in_and_a_returned_portfolio_read_well(app: Flask, server_url: str, load_content, make_cohort,
                                                         enrol_learner, make_user, login, browser: Any) -> None:
    load_content()
    teacher = make_user(name="Greta Grader")
    cohort = make_cohort(months_ago=5, instructors=[teacher])
    learner = enrol_learner(cohort, name="Pia Portfolio")
    app.config["WTF_CSRF_ENABLED"] = False  # the test clients set the scene; the browser reads it
    learner_client, teacher_client = app.test_client(), app.test_client()
    login(learner_client, learner)
    login(teacher_client, teacher)

    def grade(work: Submission, **form: str) -> None:
        levels = {f"level-{c.id}": str(c.levels[0].id) for c in work.assignment.rubric.current.criteria}
        assert teacher_client.post(f"/cohorts/{cohort.id}/submissions/{work.id}", data={**levels, **form}).status_code == 302
        db.session.expire_all()

    learner_client.post(f"/assignments/{CASE}/work", data={"body": "My analysis.", "action": "submit"})
    case = db.session.scalar(select(Submission).where(Submission.user_id == learner.id))
    grade(case, action="release")
    assert learner_client.post("/portfolio/foundation", data={
        "artifact": [str(case.id)], "action": "submit",
        **{f"reflection-{c}": f"{c}: what the work shows." for c in CODES}}).status_code == 302
    review = db.session.scalar(select(Submission).where(Submission.user_id == learner.id, Submission.id != case.id))
    assert review is not None
    app.config["WTF_CSRF_ENABLED"] = True
    problems = in_the_browser(browser, server_url, learner.email, ["/portfolio/foundation"])

    app.config["WTF_CSRF_ENABLED"] = False
    criterion = review.assignment.rubric.current.criteria[0]
    grade(review, action="return", feedback="Please add **more work**.", revision="",
          **{f"comment-{criterion.id}": "Name the alarm threshold."})
    app.config["WTF_CSRF_ENABLED"] = True
    problems += in_the_browser(browser, server_url, learner.email, ["/portfolio/foundation", "/portfolio"])
    assert not problems, "\n".join(problems)
