"""Every streamed download sends its whole body, and every page answers as the access table
says, when the app is served as in production.

A streamed body is sent after its request has ended: the unit of work has rolled back
(expiring what the request loaded) and the app context has been torn down (closing the
request's session). The suite's in-process client keeps an app context around each request,
which hid that: under a real server the grades and gradebook CSV downloads broke off after
their first line (the cohort and the rubric versions they had loaded could not be read
again). Here a real HTTP server on 127.0.0.1 serves the app in its own thread, with no
context of the test's, and each download must arrive whole: the same bytes as the
in-process client's answer."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator

import pytest
import requests
from flask import Flask
from flask import Response as FlaskResponse
from werkzeug.serving import make_server

from lms.coursework.models import Submission
from lms.extensions import db
from lms.web.downloads import StreamedList, json_stream
from tests.conftest import World
from tests.receivers import running
from tests.test_access import ROUTES, USER_OF_ROLE, route_extras, verdict


@pytest.fixture()
def served(app: Flask) -> Iterator[str]:
    """The app behind a real threaded HTTP server on a free port (its own thread: no app or
    request context of the test's reaches a request)."""
    with running(make_server("127.0.0.1", 0, app, threaded=True)) as server:
        yield f"http://127.0.0.1:{server.server_port}"  # type: ignore[attr-defined]


def over_http(client, served: str) -> requests.Session:
    """A browser holding the session cookie ``client`` signed in with."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    browser = requests.Session()
    browser.cookies.set("session", cookie.value, domain="127.0.0.1")
    return browser


def zip_contents(body: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_every_streamed_download_arrives_whole_from_a_real_server(app: Flask, client, loaded, world: World, login,
                                                                   served: str) -> None:
    extra = route_extras(app, world)
    work = db.session.get(Submission, extra["submission_id"])
    assert work is not None
    criteria = work.assignment.rubric.current.criteria
    cohort, org = world.cohort_a.id, world.org_a.id
    db.session.commit()
    instructor = app.test_client()
    login(instructor, world.instructor_a)
    released = instructor.post(f"/cohorts/{cohort}/submissions/{work.id}",
                               data={**{f"level-{c.id}": c.levels[0].id for c in criteria}, "action": "release"})
    assert released.status_code == 302
    login(client, world.admin)
    browser = over_http(client, served)

    gets = [f"/cohorts/{cohort}/grades.csv", f"/cohorts/{cohort}/gradebook.csv", f"/cohorts/{cohort}/competency.csv",
            f"/cohorts/{cohort}/competency.json", f"/organizations/{org}/competency.csv",
            f"/organizations/{org}/competency.json", "/admin/audit/export.csv", "/admin/audit/export.json"]
    for url in gets:
        expected = client.get(url)
        assert expected.status_code == 200, url
        body = expected.get_data()
        answer = browser.get(served + url, timeout=60)
        assert answer.status_code == 200, url
        assert answer.content == body, f"{url}: {len(answer.content)} bytes of {len(body)}"

    grades = list(csv.reader(io.StringIO(browser.get(f"{served}/cohorts/{cohort}/grades.csv", timeout=60).text)))
    graded = [row for row in grades[1:] if row[grades[0].index("status")] == "released"
              and row[2] == work.assignment.key]  # this work's (the access test's data holds another released piece)
    assert graded and all(row[grades[0].index(f"{work.assignment.key} / {c.id}")] == str(c.levels[0].points)
                          for c in criteria for row in graded)
    assert len(grades) > 2  # the team's work too: a row for each member

    # The zips (a column's submissions, a learner's own data) are streamed as they are made.
    bulk = {"action": "download", "column": f"assignment:{work.assignment.key}", "scope": "shown"}
    expected = zip_contents(client.post(f"/cohorts/{cohort}/gradebook", data=bulk).get_data())
    answer = browser.post(f"{served}/cohorts/{cohort}/gradebook", data=bulk, timeout=60)
    assert answer.status_code == 200 and zip_contents(answer.content) == expected
    assert any(name.endswith("plan.txt") for name in expected)
    learner = app.test_client()
    login(learner, world.learner_a)
    own = zip_contents(learner.post("/account/data/export").get_data())
    answer = over_http(learner, served).post(f"{served}/account/data/export", timeout=60)
    assert answer.status_code == 200
    mine = zip_contents(answer.content)
    assert mine.keys() == own.keys() and any(name.endswith("plan.txt") for name in mine)


@pytest.mark.parametrize("role", ["learner", "instructor", "org_admin", "admin"])
def test_every_page_answers_as_declared_from_a_real_server(app: Flask, client, loaded, world: World, login,
                                                           served: str, role: str) -> None:
    """Every GET route of the access table, asked over HTTP by a signed-in user of each
    role that opens pages: the answer the table declares, and every body read to its end
    (a body that breaks off fails the read)."""
    extra = route_extras(app, world)
    app.config["TWO_FACTOR_REQUIRED"] = True  # as in production (the login fixture passes it)
    login(client, getattr(world, USER_OF_ROLE[role]))
    browser = over_http(client, served)
    wrong = []
    for endpoint, route in sorted(ROUTES.items()):
        if route.method != "GET" or endpoint == "accounts.logout":
            continue
        url = route.url(world, extra)
        answer = browser.get(served + url, allow_redirects=False, timeout=60)
        got: str | int = verdict(FlaskResponse(status=answer.status_code, headers=dict(answer.headers)), "GET")
        expected = route.expected[role]
        if isinstance(expected, int):
            got = answer.status_code
        if got != expected:
            wrong.append(f"GET {url} ({endpoint}): expected {expected}, got {got} [{answer.status_code}]")
    assert wrong == [], f"{role}:\n" + "\n".join(wrong)


def test_a_json_export_streams_its_second_list_as_it_is_made() -> None:
    """``json_stream`` writes a ``StreamedList`` in the tail (the heat map's at-risk list) one
    item a piece, as its items are made, and the joined pieces are the document."""
    made: list[int] = []

    def items(name: str, count: int) -> Iterator[dict[str, int | str]]:
        for n in range(count):
            made.append(n)
            yield {"n": n, "list": name}

    pieces = json_stream({"a": 1}, "rows", items("rows", 3), {"b": [1, 2], "at_risk": StreamedList(items("risk", 4)),
                                                                 "c": None})
    first = [next(pieces) for _ in range(3)]  # the head, the key, the first row
    assert made == [0] and json.loads(first[2].lstrip(",\n")) == {"n": 0, "list": "rows"}
    rest = list(pieces)
    assert json.loads("".join([*first, *rest])) == {
        "a": 1, "rows": [{"n": n, "list": "rows"} for n in range(3)], "b": [1, 2],
        "at_risk": [{"n": n, "list": "risk"} for n in range(4)], "c": None}
    assert sum(1 for piece in rest if '"risk"' in piece) == 4  # a piece an item
    empty = json.loads("".join(json_stream({}, "rows", [], {"at_risk": StreamedList([])})))
    assert empty == {"rows": [], "at_risk": []}
