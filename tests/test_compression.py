"""Pages and JSON answers of ``COMPRESS_MIN_SIZE`` bytes and more (64 KiB unless configured)
leave compressed for a client that accepts it (Flask-Compress, configured in
``config.Config``): zstd, else brotli, else gzip, as the client offers them. A 500-learner
cohort's gradebook page is 663 KiB of HTML and about 27 KiB compressed. Streamed answers
(downloads, exports, uploaded files) leave as they are made, never held back to be
compressed whole; smaller answers and errors are left alone; ``COMPRESS_RESPONSES=off`` turns
it off for a site whose proxy compresses. The suite's pages are small (a few learners): the
tests lower the threshold as a site on slow lines would."""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brotli
import pytest
import requests
from flask import Flask
from werkzeug.datastructures import FileStorage
from werkzeug.serving import make_server
from werkzeug.test import encode_multipart

from lms import create_app
from lms.coursework.models import Attachment
from lms.extensions import db
from tests.conftest import World
from tests.receivers import running

try:  # Python 3.14's own, else the backport Flask-Compress brings before it
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:
    from backports import zstd

DECODERS: dict[str, Callable[[bytes], bytes]] = {"gzip": gzip.decompress, "br": brotli.decompress, "zstd": zstd.decompress}
CSRF = re.compile(rb'(name="csrf_token"[^>]*value=")[^"]+"|(value=")[^"]+("[^>]*name="csrf_token")')


def without_tokens(html: bytes) -> bytes:
    """The page with its CSRF tokens blanked: each answer signs its own (with the time)."""
    return CSRF.sub(lambda m: (m.group(1) or m.group(2)) + b'"' + (m.group(3) or b""), html)


@pytest.fixture()
def instructor(app: Flask, loaded, world: World, login) -> Any:
    app.config["COMPRESS_MIN_SIZE"] = 500
    client = app.test_client()
    login(client, world.instructor_a)
    return client


def test_a_page_is_compressed_as_the_client_accepts_and_reads_the_same(instructor: Any, world: World) -> None:
    url = f"/cohorts/{world.cohort_a.id}/gradebook"
    plain = instructor.get(url)
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers  # the client asked for none
    html = plain.get_data()
    assert b'id="gradebook"' in html
    for offered, chosen in (("gzip", "gzip"), ("br", "br"), ("zstd", "zstd"),
                            ("gzip, deflate, br, zstd", "zstd"),   # what a browser offers over HTTPS
                            ("gzip, deflate", "gzip"),             # ... and over plain HTTP
                            ("zstd;q=0, br;q=0.5, gzip", "gzip")):  # its preferences weigh
        answer = instructor.get(url, headers={"Accept-Encoding": offered})
        assert answer.status_code == 200
        assert answer.headers["Content-Encoding"] == chosen, offered
        assert "Accept-Encoding" in answer.headers["Vary"]
        body = answer.get_data()
        assert int(answer.headers["Content-Length"]) == len(body) < len(html) / 3
        assert without_tokens(DECODERS[chosen](body)) == without_tokens(html), offered
    unknown = instructor.get(url, headers={"Accept-Encoding": "compress"})
    assert "Content-Encoding" not in unknown.headers and without_tokens(unknown.get_data()) == without_tokens(html)


def test_answers_under_the_configured_size_leave_as_they_are(app: Flask, instructor: Any, world: World) -> None:
    url = f"/cohorts/{world.cohort_a.id}/gradebook"
    size = len(instructor.get(url).get_data())
    for threshold, compressed in ((size + 1, False), (size, True), (64 * 1024, size >= 64 * 1024)):
        app.config["COMPRESS_MIN_SIZE"] = threshold
        answer = instructor.get(url, headers={"Accept-Encoding": "gzip, br, zstd"})
        assert ("Content-Encoding" in answer.headers) is compressed, threshold


def test_json_answers_are_compressed_and_small_ones_left_alone(app: Flask, client: Any) -> None:
    app.config["COMPRESS_MIN_SIZE"] = 500
    document = client.get("/api/v1/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert document.status_code == 200 and document.mimetype == "application/json"
    assert document.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(document.get_data()) == client.get("/api/v1/openapi.json").get_data()
    health = client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert health.status_code == 200 and "Content-Encoding" not in health.headers  # under COMPRESS_MIN_SIZE
    missing = client.get("/no/such/page", headers={"Accept-Encoding": "gzip"})
    assert missing.status_code == 404 and "Content-Encoding" not in missing.headers


def test_streamed_downloads_and_uploaded_files_leave_as_they_are_made(app: Flask, instructor: Any, world: World,
                                                                      login, tmp_path: Path) -> None:
    """An export is streamed a chunk of learners at a time in constant memory, an uploaded
    file with its length: compressing either whole would hold it all first."""
    url = f"/cohorts/{world.cohort_a.id}/gradebook.csv"
    exported = instructor.get(url, headers={"Accept-Encoding": "gzip, br, zstd"})
    assert exported.status_code == 200 and exported.is_streamed
    assert "Content-Encoding" not in exported.headers
    assert exported.get_data() == instructor.get(url).get_data()

    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    learner = app.test_client()
    login(learner, world.learner_a)
    text = b"A plan, in plain text. " * 200
    boundary, body = encode_multipart({"body": "See the file.", "action": "save",
                                       "file": FileStorage(io.BytesIO(text), filename="plan.txt")})
    posted = learner.post("/assignments/mlops-case-coldwatch/work", data=body,
                          content_type=f"multipart/form-data; boundary={boundary}")
    assert posted.status_code == 302
    item = db.session.query(Attachment).one()
    download = learner.get(f"/attachments/{item.id}", headers={"Accept-Encoding": "gzip"})
    assert download.status_code == 200 and download.is_streamed and download.content_length == len(text)
    assert "Content-Encoding" not in download.headers and download.get_data() == text
    download.close()


def test_a_real_server_sends_pages_compressed_to_a_client_that_reads_them(app: Flask, instructor: Any,
                                                                          world: World) -> None:
    url = f"/cohorts/{world.cohort_a.id}/gradebook"
    html = instructor.get(url).get_data()
    cookie = instructor.get_cookie("session")
    assert cookie is not None
    with running(make_server("127.0.0.1", 0, app, threaded=True)) as server:
        browser = requests.Session()  # requests offers gzip, deflate, br and zstd, and decodes them
        browser.cookies.set("session", cookie.value, domain="127.0.0.1")
        answer = browser.get(f"http://127.0.0.1:{server.server_port}{url}", timeout=30, stream=True)
        raw = answer.raw.read(decode_content=False)
    assert answer.status_code == 200 and answer.headers["Content-Encoding"] == "zstd"
    assert len(raw) == int(answer.headers["Content-Length"]) < len(html) / 3
    assert without_tokens(zstd.decompress(raw)) == without_tokens(html)


def test_compression_is_configured_from_the_environment_and_a_wrong_setting_is_named(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("LMS_BASE_URL", "http://localhost")  # production needs the site's address
    production = create_app("production", instance_path=tmp_path).config
    assert production["COMPRESS_REGISTER"] is True and production["COMPRESS_MIN_SIZE"] == 64 * 1024
    monkeypatch.setenv("COMPRESS_MIN_SIZE", "500")
    assert create_app("production", instance_path=tmp_path).config["COMPRESS_MIN_SIZE"] == 500
    monkeypatch.setenv("COMPRESS_MIN_SIZE", "small")
    with pytest.raises(RuntimeError, match="COMPRESS_MIN_SIZE='small' is not a number"):
        create_app("production", instance_path=tmp_path)
    monkeypatch.setenv("COMPRESS_MIN_SIZE", "0")
    monkeypatch.setenv("COMPRESS_RESPONSES", "off")
    app = create_app("testing", instance_path=tmp_path)
    assert app.config["COMPRESS_REGISTER"] is False and app.config["COMPRESS_MIN_SIZE"] == 0
    answer = app.test_client().get("/api/v1/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert answer.status_code == 200 and "Content-Encoding" not in answer.headers
    assert "Accept-Encoding" not in answer.headers.get("Vary", "")
    monkeypatch.setenv("COMPRESS_RESPONSES", "maybe")
    with pytest.raises(RuntimeError, match="COMPRESS_RESPONSES='maybe': choose one of on, off"):
        create_app("testing", instance_path=tmp_path)
