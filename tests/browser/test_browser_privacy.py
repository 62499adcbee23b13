"""In Chromium: a learner opens "Your data" and downloads the zip of everything kept about
them, with the file they attached byte for byte."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.browser.test_browser import sign_in

pytestmark = pytest.mark.browser

CASE = "mlops-case-coldwatch"
PDF = b"%PDF-1.4 Zo\xc3\xab's diagnosis \x00\xff"


def test_learner_downloads_their_data(request: pytest.FixtureRequest, app: Flask, load_content, make_cohort,
                                      enrol_learner, login, browser: Any, tmp_path: Path) -> None:
    load_content()
    cohort = make_cohort(months_ago=5)
    learner = enrol_learner(cohort, name="Zoë Learner")
    client = app.test_client()
    login(client, learner)
    assert client.post(f"/assignments/{CASE}/work", content_type="multipart/form-data",
                       data={"body": "My diagnosis.", "action": "submit",
                             "file": (io.BytesIO(PDF), "diagnosis.pdf")}).status_code == 302
    server_url = request.getfixturevalue("server_url")  # CSRF on from here

    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, server_url, learner.email)
    page.get_by_role("link", name="Your data").click()
    page.get_by_role("heading", name="Your data").wait_for()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download my data (zip)").click()
    download = info.value
    assert download.suggested_filename.startswith("my-data-") and download.suggested_filename.endswith(".zip")
    target = tmp_path / "data.zip"
    download.save_as(target)
    archive = zipfile.ZipFile(target)
    data = json.loads(archive.read("data.json"))
    assert data["account"][0]["name"] == "Zoë Learner"
    [work] = data["submissions"]
    assert work["versions"][0]["body"] == "My diagnosis."
    [attached] = work["attachments"]
    assert archive.read(attached["in_zip"]) == PDF
    assert "README.txt" in archive.namelist()
    context.close()
