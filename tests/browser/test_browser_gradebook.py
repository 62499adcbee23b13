"""In Chromium: the instructor opens the gradebook from the cohort page, releases the
drafted grades of the ticked learners, grants an extension and downloads every submission
of the case study as a zip with its manifest."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from lms.coursework.models import Submission
from lms.database import utcnow
from lms.extensions import db
from lms.grading.models import Grade, GradeAction, GradeStatus
from lms.grading.services import save_grade
from lms.learning.models import ScheduleOverride
from tests.browser.test_browser import sign_in

pytestmark = pytest.mark.browser

CASE = "mlops-case-coldwatch"


def test_gradebook_bulk_release_extension_and_zip(request: pytest.FixtureRequest, app: Flask, load_content, make_cohort,
                                                  enrol_learner, make_user, login, browser: Any, tmp_path: Path) -> None:
    load_content()
    teacher = make_user(email="teacher@example.com", name="Tara Teacher")
    cohort = make_cohort(name="Gruppe Zürich 東京", months_ago=5, instructors=[teacher])
    learners = {}
    for name in ("Ada Ready", "Bo Ready", "Cy Waiting"):
        learner = enrol_learner(cohort, name=name)
        client = app.test_client()
        login(client, learner)
        client.post(f"/assignments/{CASE}/work", content_type="multipart/form-data",
                    data={"body": f"{name}'s diagnosis.", "action": "submit", "file": (io.BytesIO(b"%PDF-1.4 " + name.encode()), "plan.pdf")})
        learners[name] = learner
    db.session.expire_all()
    for name in ("Ada Ready", "Bo Ready"):
        work = db.session.scalar(select(Submission).where(Submission.user_id == learners[name].id))
        criteria = work.assignment.rubric.current.criteria
        save_grade(db.session, work, teacher, {c.id: c.levels[1].id for c in criteria}, {}, "Solid.", None,
                   GradeAction.DRAFT, utcnow())
    db.session.commit()
    server_url = request.getfixturevalue("server_url")  # CSRF on from here: the learners handed in through the test client

    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, server_url, teacher.email)
    page.goto(f"{server_url}/cohorts/{cohort.id}")
    page.get_by_role("link", name="Gradebook").click()
    page.get_by_role("heading", name="Gradebook").wait_for()
    page.wait_for_load_state("load")  # the stylesheet applied: the heading can be there before it is
    assert page.locator("#gradebook thead th").first.evaluate("e => getComputedStyle(e).position") == "sticky"

    for name in learners:
        page.get_by_label(f"Select {name}").check()
    page.get_by_label("Item").select_option(f"assignment:{CASE}")
    page.get_by_role("button", name="Release drafted grades").click()
    page.get_by_text("Released 2; 1 had no drafted grade (Cy Waiting).").wait_for()
    db.session.expire_all()
    assert {g.status for g in db.session.scalars(select(Grade))} == {GradeStatus.RELEASED}

    page.get_by_label("Select Cy Waiting").check()
    page.get_by_label("Item").select_option(f"assignment:{CASE}")
    until = (utcnow() + timedelta(days=60)).date()
    page.get_by_label("Extend until").fill(until.isoformat())
    page.get_by_label("Note").fill("Illness")
    page.get_by_role("button", name="Grant extension").click()
    page.get_by_text("Extended 1.").wait_for()
    override = db.session.scalar(select(ScheduleOverride))
    assert override is not None and override.user_id == learners["Cy Waiting"].id and override.on_date == until

    page.get_by_label("Item").select_option(f"assignment:{CASE}")
    page.get_by_label("Every learner the filter shows").check()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download submissions (zip)").click()
    download = info.value
    assert download.suggested_filename.startswith("submissions-gruppe-zürich-東京-")
    target = tmp_path / "submissions.zip"
    download.save_as(target)
    archive = zipfile.ZipFile(target)
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert [m["learner"] for m in manifest] == ["Ada Ready", "Bo Ready", "Cy Waiting"]
    assert [m["grade_status"] for m in manifest] == ["released", "released", ""]
    assert archive.read(f"{manifest[2]['folder']}/plan.pdf") == b"%PDF-1.4 Cy Waiting"
    context.close()
