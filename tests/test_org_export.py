"""An organization's competency export (issue 14 point 3): every learner of the
organization's active cohorts, one row each with its cohort and the heat map's columns,
in CSV and JSON, from the comparison page. It is the cohorts' heat map exports one after
the other, streamed; past EXPORT_BACKGROUND_ABOVE learners it is a background job whose
file is the same; only the organization's admins and site admins may ask for it, and its
statements grow by a chunk of learners, not by learner."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from lms.cohorts.models import Cohort
from lms.competency import services
from lms.database import utcnow
from lms.extensions import db
from lms.jobs.models import Job, JobStatus


def rows(body: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body)))


def jobs() -> list[Job]:
    db.session.expire_all()
    found = list(db.session.scalars(select(Job).order_by(Job.id)))
    db.session.rollback()
    return found


@pytest.fixture()
def org(loaded: Flask, world: Any, make_cohort: Callable[..., Any], enrol_learner: Callable[..., Any]) -> Any:
    """Organization A: cohort A (three learners), cohort A2 (two) and an archived cohort
    (one learner, left out); organization B's learner is left out too."""
    enrol_learner(world.cohort_a, name="=Formula Fan")
    enrol_learner(world.cohort_a, name="Zoë Ünicode")
    enrol_learner(world.cohort_a2, name="Ada Second")
    old = make_cohort(world.org_a, "Alpha 0", months_ago=14)
    enrol_learner(old, name="Archived Learner")
    old.archived_at = utcnow()
    db.session.commit()
    return world.org_a


def test_the_comparison_says_its_downloads_leave_out_the_archived_cohorts_it_lists(
    app: Flask, client: Any, login: Callable[..., Any], world: Any, org: Any,
) -> None:
    """The table lists every cohort, archived ones tagged; "every learner" in the downloads
    means the active cohorts' learners, and the page says so when the two differ."""
    login(client, world.org_admin_a)
    page = client.get(f"/organizations/{org.id}/competency").get_data(as_text=True)
    assert "Alpha 0" in page and "archived cohorts in the table are left out of them" in page
    old = db.session.scalar(select(Cohort).where(Cohort.name == "Alpha 0"))
    old.archived_at = None
    db.session.commit()
    assert "left out of them" not in client.get(f"/organizations/{org.id}/competency").get_data(as_text=True)


def test_the_streamed_export_is_the_cohorts_heat_map_exports_one_after_another(
    app: Flask, client: Any, login: Callable[..., Any], world: Any, org: Any,
) -> None:
    login(client, world.org_admin_a)
    page = client.get(f"/organizations/{org.id}/competency").get_data(as_text=True)
    assert f'href="/organizations/{org.id}/competency.csv"' in page and f'href="/organizations/{org.id}/competency.json"' in page
    cohorts = [world.cohort_a2, world.cohort_a]  # as the comparison orders them: by start date
    cohorts.sort(key=lambda c: (c.start_date, c.name))

    response = client.get(f"/organizations/{org.id}/competency.csv")
    assert response.status_code == 200 and response.is_streamed and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"] and "competency-alpha-org-" in response.headers["Content-Disposition"]
    got = rows(response.get_data(as_text=True))
    expected: list[list[str]] = []
    for cohort in cohorts:
        theirs = rows(client.get(f"/cohorts/{cohort.id}/competency.csv").get_data(as_text=True))
        assert got[0] == ["cohort", *theirs[0]]
        expected += [[cohort.name, *row] for row in theirs[1:]]
    assert got[1:] == expected and len(expected) == 5
    names = {row[1] for row in got[1:]}
    assert "'=Formula Fan" in names and "Archived Learner" not in names and "Learner B" not in names  # formula-safe, as before

    document = json.loads(client.get(f"/organizations/{org.id}/competency.json").get_data(as_text=True))
    assert document["organization"] == {"id": org.id, "name": "Alpha Org"}
    assert [c["id"] for c in document["cohorts"]] == [c.id for c in cohorts]
    expected_rows: list[dict[str, Any]] = []
    for cohort in cohorts:
        theirs = json.loads(client.get(f"/cohorts/{cohort.id}/competency.json").get_data(as_text=True))
        assert [o["code"] for o in document["objectives"]] == [o["code"] for o in theirs["objectives"]]
        assert document["thresholds"] == theirs["thresholds"]
        expected_rows += [{"cohort_id": cohort.id, "cohort": cohort.name, **row} for row in theirs["rows"]]
    assert document["rows"] == expected_rows
    assert client.get(f"/organizations/{org.id}/competency.xlsx").status_code == 404


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_past_the_threshold_it_is_a_job_whose_file_is_the_streamed_one(
    app: Flask, client: Any, login: Callable[..., Any], world: Any, org: Any, fmt: str,
) -> None:
    login(client, world.org_admin_a)
    url = f"/organizations/{org.id}/competency.{fmt}"
    streamed = client.get(url).get_data(as_text=True)
    app.config["EXPORT_BACKGROUND_ABOVE"] = 4  # five learners in the active cohorts: past it
    offer = client.get(url)
    page = offer.get_data(as_text=True)
    assert offer.status_code == 200 and not offer.is_streamed and "Prepare the export" in page
    assert f'action="/organizations/{org.id}/exports/competency.{fmt}"' in page
    asked = client.post(f"/organizations/{org.id}/exports/competency.{fmt}")
    made = jobs()[-1]
    assert asked.status_code == 302 and asked.headers["Location"].endswith(f"/jobs/{made.id}")
    # no REDIS_URL: it ran inline once the request committed
    assert made.kind == "organization-export" and made.params["organization_id"] == org.id
    assert made.status is JobStatus.DONE and made.attempts == 1 and made.requested_by_id == world.org_admin_a.id
    assert made.progress_done == made.progress_total == 5 + 1
    assert made.result == f"{made.file_name}: 5 learners"  # what it counts, in CSV as in JSON (not the file's pieces)
    page = client.get(f"/jobs/{made.id}").get_data(as_text=True)
    assert ": 5 learners" in page
    assert "Ready." in page and f'href="/jobs/{made.id}/download"' in page and "Alpha Org" in page
    download = client.get(f"/jobs/{made.id}/download")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    assert download.get_data(as_text=True) == streamed
    again = client.post(f"/organizations/{org.id}/exports/competency.{fmt}")  # a new job once the last is done
    assert again.status_code == 302 and len(jobs()) == 2

    admin = app.test_client()
    login(admin, world.admin)
    assert admin.get(f"/jobs/{made.id}/download").get_data(as_text=True) == streamed
    for person in (world.org_admin_b, world.instructor_a):  # not theirs: no such job
        other = app.test_client()
        login(other, person)
        assert other.get(f"/jobs/{made.id}").status_code == 404
        assert other.get(f"/jobs/{made.id}/download").status_code == 404
    assert client.post(f"/organizations/{org.id}/exports/competency.xlsx").status_code == 404
    assert client.post(f"/organizations/{org.id}/exports/grades.csv").status_code == 404


def test_only_the_organizations_admins_and_site_admins_may_export(
    app: Flask, client: Any, login: Callable[..., Any], world: Any, org: Any,
) -> None:
    app.config["EXPORT_BACKGROUND_ABOVE"] = 4
    answers = {world.org_admin_b: 404, world.instructor_b: 404, world.learner_b: 404, world.nobody: 404,
               world.instructor_a: 403, world.learner_a: 403}
    for person, status in answers.items():
        other = app.test_client()
        login(other, person)
        assert other.get(f"/organizations/{org.id}/competency.csv").status_code == status, person.name
        assert other.post(f"/organizations/{org.id}/exports/competency.csv").status_code == status, person.name
    assert jobs() == []
    login(client, world.admin)
    assert client.post(f"/organizations/{org.id}/exports/competency.csv").status_code == 302
    assert jobs()[-1].status is JobStatus.DONE and jobs()[-1].requested_by_id == world.admin.id
    for big in (2**31, 2**63, 10**30):
        assert client.get(f"/organizations/{big}/competency.csv").status_code == 404
        assert client.post(f"/organizations/{big}/exports/competency.csv").status_code == 404


def test_statements_grow_per_chunk_of_learners_not_per_learner(
    app: Flask, client: Any, login: Callable[..., Any], world: Any, org: Any, enrol_learner: Callable[..., Any],
    count_queries: Callable[..., int], monkeypatch: pytest.MonkeyPatch,
) -> None:
    login(client, world.org_admin_a)

    org_id = org.id  # read once: after a commit the test's own refresh of ``org`` would be counted

    def statements(fmt: str = "csv") -> int:
        return count_queries(lambda: client.get(f"/organizations/{org_id}/competency.{fmt}").get_data())

    def enrol(count: int) -> None:
        for _ in range(count):
            enrol_learner(world.cohort_a)

    statements()  # the objectives are read once and kept for the content revision (lms.catalog.revision)
    few = {fmt: statements(fmt) for fmt in ("csv", "json")}
    enrol(6)
    assert {fmt: statements(fmt) for fmt in ("csv", "json")} == few  # eleven learners: the same statements as five
    monkeypatch.setattr(services, "ROWS_CHUNK", 10)  # cohort A's nine learners: one chunk
    one = statements()
    enrol(10)  # one more chunk
    two = statements()
    enrol(10)
    three = statements()
    # each chunk a few statements (one more when some of its learners are behind), far fewer than one a learner
    assert 0 < two - one < 10 and 0 < three - two < 10, (one, two, three)
