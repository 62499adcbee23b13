"""In Chromium: a page that leaves compressed (here every page of 500 bytes and more, as on a
site whose learners' lines are slow) reads and works as it would uncompressed: the browser
decodes it, and the form it carries posts with the CSRF token it brought."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from lms.web.errors import CSRF_MESSAGE
from tests.browser.test_browser import sign_in

pytestmark = pytest.mark.browser


def test_a_compressed_gradebook_reads_and_its_forms_post(request: pytest.FixtureRequest, app: Flask, load_content,
                                                         make_cohort, enrol_learner, make_user, page: Any) -> None:
    load_content()
    teacher = make_user(email="teacher@example.com", name="Tara Teacher")
    cohort = make_cohort(name="Compressed cohort", months_ago=5, instructors=[teacher])
    for name in ("Ada Aline", "Bo Brandt"):
        enrol_learner(cohort, name=name)
    app.config["COMPRESS_MIN_SIZE"] = 500
    server_url = request.getfixturevalue("server_url")
    sign_in(page, server_url, teacher.email)

    answer = page.goto(f"{server_url}/cohorts/{cohort.id}/gradebook")
    assert answer is not None and answer.status == 200
    assert answer.header_value("content-encoding") in {"gzip", "br", "zstd"}  # whichever Chromium offered first
    page.get_by_role("heading", name="Gradebook").wait_for()
    rows = page.locator("#gradebook tbody tr")
    assert rows.count() == 2 and "Ada Aline" in rows.nth(0).inner_text()

    with page.expect_navigation():
        page.get_by_role("button", name="Grant extension").click()  # a POST with the page's own CSRF token
    page.get_by_role("heading", name="Gradebook").wait_for()
    assert CSRF_MESSAGE not in page.content()
    assert page.get_by_role("alert").count() == 1  # the form's own message (nobody ticked), not a refusal
