"""xAPI to a real Learning Record Store (issue 16 point 2): Ralph (``ralph-malph`` from PyPI,
its file-system backend) runs on 127.0.0.1 for this module; statements made by the events
are read back through its xAPI API (GET /xAPI/statements). Also: the LRS down (statements
kept, sent later, never twice), the command, and xAPI off by default.

Ralph's dependencies (FastAPI, pydantic settings, ...) stay out of the project's venv: it is
installed once in a venv of its own under ~/.cache/lms-ralph (or LMS_RALPH_VENV)."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select, update

from lms.assessment.models import Attempt, Quiz
from lms.assessment.services import attempt_scored
from lms.catalog.models import Level, Objective
from lms.certificates.models import Certificate
from lms.certificates.services import certificate_issued
from lms.coursework.models import SubmissionVersion
from lms.coursework.services import dates_for, get_assignment, start_submission, submit
from lms.database import utcnow
from lms.extensions import db
from lms.grading.services import rubric_for, save_grade
from lms.learning.models import OverrideKind, ScheduleOverride
from lms.learning.services import build_schedule, cohort_today, grant_override
from lms.progress.lateness import lateness_changed
from lms.progress.models import EvidenceSourceName, ProgressItem
from lms.progress.services import record
from lms.xapi import services
from lms.xapi.models import StatementStatus, XapiStatement
from tests.plans import plan_of, scans_whole, statements_during
from tests.redis_db import redis_database

RALPH_VENV = Path(os.environ.get("LMS_RALPH_VENV") or Path.home() / ".cache" / "lms-ralph" / "venv")
RALPH_PACKAGES = ["ralph-malph[cli,lrs]==5.1.0", "requests"]
USER, PASSWORD = "lms", "lrs-secret"
HOMEPAGE = "https://lms.example.org/"
LESSON = "cs-predictive-insights"  # open in a cohort that started five months ago


# Ralph 5.1's file-system LRS backend writes each POST with its default operation, CREATE,
# which refuses an existing file: only the first POST would be stored. The launcher makes
# it APPEND (one JSON line per statement to the same file), then serves Ralph's own app.
LAUNCHER = """
import sys, uvicorn
from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend
FSLRSBackend.default_operation_type = BaseOperationType.APPEND
uvicorn.run("ralph.api:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ralph_python() -> Path:
    """Ralph's venv, made (bounded in time) when missing."""
    python = RALPH_VENV / "bin" / "python"
    check = [str(python), "-c", "import ralph.api, bcrypt, uvicorn, requests"]
    # ralph.api picks its backend at import (Elasticsearch unless told): without this the check
    # failed on a complete venv, and every run reinstalled it (a few seconds, more under load).
    env = {**os.environ, "RALPH_RUNSERVER_BACKEND": "fs"}
    if python.exists() and subprocess.run(check, capture_output=True, timeout=60, env=env).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(RALPH_VENV)], check=True, timeout=120)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *RALPH_PACKAGES], check=True, timeout=600)
    return python


@pytest.fixture(scope="module")
def lrs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Ralph's LRS on a free port of 127.0.0.1; its xAPI base URL."""
    python = _ralph_python()
    home = tmp_path_factory.mktemp("ralph")
    hashed = subprocess.run([str(python), "-c", "import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), "
                             "bcrypt.gensalt(4)).decode())", PASSWORD], capture_output=True, text=True, check=True,
                            timeout=60).stdout.strip()
    (home / "auth.json").write_text(json.dumps([{"username": USER, "hash": hashed, "scopes": ["all"],
                                                 "agent": {"mbox": "mailto:lms-lrs@example.org"}}]))
    port = _free_port()
    env = {**os.environ, "RALPH_AUTH_FILE": str(home / "auth.json"), "RALPH_RUNSERVER_BACKEND": "fs",
           "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(home / "data"), "RALPH_APP_DIR": str(home)}
    with open(home / "ralph.log", "wb") as log:
        (home / "data").mkdir()
        server = subprocess.Popen([str(python), "-c", LAUNCHER, str(port)],
                                  env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(f"http://127.0.0.1:{port}/__heartbeat__", timeout=1).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("Ralph did not start: " + (home / "ralph.log").read_text()[-2000:])
                time.sleep(0.2)
            yield f"http://127.0.0.1:{port}/xAPI/"
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)


def lrs_statements(lrs: str) -> list[dict[str, Any]]:
    """Every statement the LRS holds, through its xAPI API."""
    auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    found: list[dict[str, Any]] = []
    url: str | None = lrs.rstrip("/") + "/statements?limit=500"
    while url:
        answer = requests.get(url, headers={"Authorization": auth, "X-Experience-API-Version": "1.0.3"}, timeout=10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        found += body["statements"]
        more = body.get("more")
        url = (lrs.split("/xAPI/")[0] + more) if more else None
    return found


@pytest.fixture()
def setup(app: Flask, loaded: Flask, make_user, make_org, make_cohort, enrol_learner) -> dict[str, Any]:
    instructor = make_user(name="Ines Instructor")
    org = make_org("Acme")
    cohort = make_cohort(org, "Acme 1", months_ago=5, instructors=[instructor])
    learner = enrol_learner(cohort, name="Lea Learner", email="lea@example.com")
    return {"org": org, "instructor": instructor, "cohort": cohort, "learner": learner}


def configure(app: Flask, endpoint: str, homepage: str = HOMEPAGE) -> None:
    """Send to ``endpoint``; each test names another site, as the LRS keeps every test's statements
    (and this database's ids start again for each test)."""
    app.config.update(XAPI_LRS_ENDPOINT=endpoint, XAPI_LRS_USERNAME=USER, XAPI_LRS_PASSWORD=PASSWORD, XAPI_HOMEPAGE=homepage,
                      XAPI_TIMEOUT=3)


def outbox() -> list[XapiStatement]:
    db.session.expire_all()
    return list(db.session.scalars(select(XapiStatement).order_by(XapiStatement.id)))


def every_event(setup: dict[str, Any]) -> None:
    """A quiz scored, work submitted and graded on the rubric, mastery moved, a certificate
    earned (the services and signals the features use); commits."""
    learner, cohort = setup["learner"], setup["cohort"]
    quiz = db.session.scalar(select(Quiz).where(Quiz.key == "mlops-quiz"))
    assert quiz is not None
    started = utcnow() - timedelta(minutes=12)
    attempt = Attempt(quiz_id=quiz.id, user_id=learner.id, cohort_id=cohort.id, number=1, layout=[], started_at=started,
                      submitted_at=utcnow(), score=8, max_score=10)
    db.session.add(attempt)
    db.session.flush()
    attempt_scored.send(attempt, session=db.session)
    work = start_submission(db.session, get_assignment(db.session, "cs-hands-on-own-operation"), learner.id, cohort.id, utcnow())
    work.draft_body = "My plan."
    submit(db.session, work, dates_for(work.assignment, build_schedule(db.session, cohort, learner.id, utcnow())), utcnow())
    rubric = rubric_for(db.session, work, None)
    save_grade(db.session, work, setup["instructor"], {c.id: c.levels[0].id for c in rubric.criteria}, {}, "Well done.",
               None, "release", utcnow())
    ko1 = db.session.scalar(select(Objective).where(Objective.key == "KO1"))
    assert ko1 is not None
    record(db.session, learner.id, ko1.id, EvidenceSourceName.QUIZ, "q:xapi", 0.9, utcnow())
    certificate = Certificate(user_id=learner.id, level=db.session.scalar(select(Level).where(Level.key == "foundation")),
                              code="xapi-certificate", issued_at=utcnow(), holder_name=learner.name)
    db.session.add(certificate)
    db.session.flush()
    certificate_issued.send(certificate, session=db.session, now=utcnow())
    db.session.commit()


def test_events_reach_the_lrs_as_adl_statements(app: Flask, setup: dict[str, Any], lrs: str, client: Any, login: Any) -> None:
    configure(app, lrs)
    # a lesson read through the page: the statement goes out once the response has been sent
    login(client, setup["learner"])
    response = client.post(f"/lessons/{LESSON}/read")
    assert response.status_code == 302
    response.close()
    [read] = outbox()
    assert read.status == StatementStatus.SENT and read.attempts == 1
    every_event(setup)
    assert services.send_pending(db.session, app.config) >= 6
    rows = outbox()
    assert {r.status for r in rows} == {StatementStatus.SENT}
    stored = {s["id"]: s for s in lrs_statements(lrs)}
    mine = [stored[r.statement_id] for r in rows]  # every one of ours is in the LRS, by its id
    verbs = sorted(s["verb"]["id"].rsplit("/", 1)[-1] for s in mine if not s["object"]["id"].startswith(f"{HOMEPAGE}objectives/"))
    assert verbs == sorted(["completed", "attempted", "completed", "submit", "scored", "completed"]), verbs
    moved = [s["verb"]["id"].rsplit("/", 1)[-1] for s in mine if s["object"]["id"].startswith(f"{HOMEPAGE}objectives/")]
    assert moved and set(moved) <= {"progressed", "mastered"}, moved  # mastered: the top named level reached
    by_type: dict[str, list[dict[str, Any]]] = {}
    for s in mine:
        by_type.setdefault(s["object"]["definition"]["type"].rsplit("/", 1)[-1], []).append(s)
    assert set(by_type) == {"lesson", "assessment", "performance", "objective", "course"}
    for s in mine:  # the actor is an account on the site, never the e-mail address
        assert s["actor"]["account"] == {"homePage": HOMEPAGE, "name": services.opaque_id(app.config["SECRET_KEY"],
                                                                                          setup["learner"].id)}
        assert "lea@example.com" not in json.dumps(s) and "mbox" not in s["actor"]
        assert s["verb"]["id"].startswith(("http://adlnet.gov/expapi/verbs/", "http://activitystrea.ms/"))
    assert by_type["lesson"][0]["object"]["id"] == f"{HOMEPAGE}lessons/{LESSON}"
    completed = next(s for s in by_type["assessment"] if s["verb"]["id"].endswith("/completed"))
    assert completed["result"]["score"] == {"scaled": 0.8, "raw": 8, "min": 0, "max": 10}
    assert completed["result"]["success"] is True and completed["result"]["duration"] == "PT720S"
    scored = next(s for s in by_type["performance"] if s["verb"]["id"].endswith("/scored"))
    rubric = scored["result"]["extensions"]["https://w3id.org/xapi/lms/rubric"]
    assert rubric and all({"criterion", "level", "points", "max"} <= set(c) for c in rubric)
    mastery = next(s for s in by_type["objective"] if s["object"]["id"] == f"{HOMEPAGE}objectives/KO1")
    assert mastery["result"]["extensions"]["https://w3id.org/xapi/lms/level-before"]["level"] is None
    assert by_type["course"][0]["context"]["extensions"]["https://w3id.org/xapi/lms/certificate"].endswith(
        "certificates/xapi-certificate")


def test_the_lrs_down_keeps_the_statements_and_a_resend_never_duplicates(app: Flask, setup: dict[str, Any], lrs: str) -> None:
    closed = f"http://127.0.0.1:{_free_port()}/xAPI/"  # nothing listens there
    configure(app, closed, "https://down.example.org/")
    every_event(setup)
    rows = outbox()
    assert len(rows) >= 6 and {r.status for r in rows} == {StatementStatus.PENDING}
    assert services.send_pending(db.session, app.config) == 0
    rows = outbox()
    assert all(r.status == StatementStatus.PENDING and r.attempts == 1 and "ConnectionError" in r.error for r in rows)
    assert all(r.next_attempt_at is not None and r.next_attempt_at > utcnow() for r in rows)
    assert services.send_pending(db.session, app.config) == 0 and outbox()[0].attempts == 1  # not due yet: backoff
    # the LRS is back: the command sends what is due once the backoff has passed
    configure(app, lrs, "https://down.example.org/")
    db.session.execute(update(XapiStatement).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["lms", "send-xapi"])
    assert result.exit_code == 0 and f"Sent {len(rows)} statements; pending 0, failed 0." in result.output, result.output
    ids = [r.statement_id for r in outbox()]
    before = [s["id"] for s in lrs_statements(lrs)]
    assert all(before.count(i) == 1 for i in ids)
    # sent again (as after a lost answer) and the same events signalled again: nothing new
    db.session.execute(update(XapiStatement).values(status=StatementStatus.PENDING, next_attempt_at=None))
    db.session.commit()
    assert services.send_pending(db.session, app.config) == len(rows)
    certificate = db.session.scalar(select(Certificate).where(Certificate.code == "xapi-certificate"))
    certificate_issued.send(certificate, session=db.session, now=utcnow())
    db.session.commit()
    assert len(outbox()) == len(rows)
    after = [s["id"] for s in lrs_statements(lrs)]
    assert len(after) == len(before) and all(after.count(i) == 1 for i in ids)


LATE = "https://w3id.org/xapi/lms/late"
CASE = "mlops-case-coldwatch"  # due in month 1: long past for a cohort five months in


def test_lateness_changed_after_the_hand_in_voids_the_statement_and_sends_a_corrected_one(
        app: Flask, setup: dict[str, Any], lrs: str) -> None:
    """Statements are immutable (xAPI 1.0.3, 2.3.2): when an extension or a moved cohort start
    changes whether handed-in work was late, the LRS gets a voiding statement for the one that
    said otherwise and a corrected "submitted" statement, each change once."""
    configure(app, lrs, "https://late.example.org/")
    learner, cohort = setup["learner"], setup["cohort"]
    assignment = get_assignment(db.session, CASE)
    assert assignment is not None and assignment.phase_id is not None
    work = start_submission(db.session, assignment, learner.id, cohort.id, utcnow())
    work.draft_body = "My analysis."
    submit(db.session, work, dates_for(assignment, build_schedule(db.session, cohort, learner.id, utcnow())), utcnow())
    db.session.commit()
    services.send_pending(db.session, app.config)
    [first] = outbox()
    assert json.loads(first.body)["context"]["extensions"][LATE] is True
    due = db.session.scalars(select(ProgressItem.due_on).where(ProgressItem.user_id == learner.id,
                                                               ProgressItem.key == CASE)).one()
    today = cohort_today(cohort, utcnow())

    def extend(on_date: Any) -> None:
        grant_override(db.session, cohort, learner, assignment.phase_id, OverrideKind.EXTENSION, on_date,
                       "Was ill.", setup["instructor"], utcnow(), item_due=due)
        db.session.commit()

    def new_statements(seen: list[XapiStatement]) -> list[dict[str, Any]]:
        services.send_pending(db.session, app.config)
        rows = outbox()
        assert {r.status for r in rows} == {StatementStatus.SENT}
        return [json.loads(r.body) for r in rows[len(seen):]]

    def corrected(before: dict[str, Any], made: list[dict[str, Any]], late: bool) -> dict[str, Any]:
        """``made`` voids ``before`` and says again what it said, with ``late``; the corrected one."""
        void, again = made
        assert void["verb"]["id"] == "http://adlnet.gov/expapi/verbs/voided"
        assert void["object"] == {"objectType": "StatementRef", "id": before["id"]}
        assert void["actor"] == before["actor"]
        assert again["id"] not in (before["id"], void["id"])
        assert again["verb"] == before["verb"] and again["object"] == before["object"] and again["actor"] == before["actor"]
        assert again["timestamp"] == before["timestamp"]  # still the hand-in
        assert again["context"]["extensions"][LATE] is late
        assert again["context"]["statement"] == {"objectType": "StatementRef", "id": before["id"]}
        stored = {s["id"]: s for s in lrs_statements(lrs)}
        assert stored[void["id"]]["object"]["id"] == before["id"]
        assert stored[again["id"]]["context"]["extensions"][LATE] is late
        return again

    original = json.loads(first.body)
    extend(today + timedelta(days=3))  # excused after the hand-in
    on_time = corrected(original, new_statements([first]), late=False)
    extend(today + timedelta(days=5))  # a longer extension: still on time, the LRS already knows
    assert new_statements(outbox()) == []
    # the same change signalled again (a retried unit of work): nothing new
    [version_id] = db.session.scalars(select(SubmissionVersion.id)).all()
    lateness_changed.send(None, session=db.session, now=utcnow(), changes={version_id: False})
    db.session.commit()
    assert len(outbox()) == 3

    seen = outbox()
    for override in db.session.scalars(select(ScheduleOverride)).all():  # taken away: late again
        db.session.delete(override)
    db.session.commit()
    late_again = corrected(on_time, new_statements(seen), late=True)

    seen = outbox()
    cohort.start_date = cohort_today(cohort, utcnow())  # the cohort starts today: month 1 not due yet
    db.session.commit()
    corrected(late_again, new_statements(seen), late=False)
    assert sum(1 for s in lrs_statements(lrs) if s["verb"]["id"].endswith("/voided")
               and s["actor"] == original["actor"]) == 3  # each statement voided once


def test_the_statements_of_changed_work_are_found_through_an_index(app: Flask, setup: dict[str, Any]) -> None:
    """A lateness change finds each version's statements by their event's key (``event_base``,
    indexed), not by a LIKE on ``event_key`` that reads the whole outbox: the plan on this
    database (SQLite's, or PostgreSQL's with sequential scans priced out) uses the index."""
    configure(app, "http://127.0.0.1:9/xAPI/", "https://plan.example.org/")  # nothing is sent: never committed
    learner, cohort = setup["learner"], setup["cohort"]
    assignment = get_assignment(db.session, CASE)
    assert assignment is not None
    work = start_submission(db.session, assignment, learner.id, cohort.id, utcnow())
    work.draft_body = "My analysis."
    submit(db.session, work, dates_for(assignment, build_schedule(db.session, cohort, learner.id, utcnow())), utcnow())
    [version_id] = db.session.scalars(select(SubmissionVersion.id)).all()
    [first] = outbox()
    assert first.event_base == first.event_key
    key = first.event_key

    def change(late: bool) -> list[tuple[str, Any]]:
        return [(st, params) for st, params in statements_during(lambda: lateness_changed.send(
            None, session=db.session, now=utcnow(), changes={version_id: late})) if "FROM xapi_statements" in st]

    looked_up = change(False)  # the first statement found, voided and corrected
    rows = outbox()
    assert [r.event_base for r in rows] == [key, rows[1].event_key, key]
    assert rows[2].event_key.startswith(key + ":late:false:")
    looked_up += change(True)  # the correction found by its base, voided and corrected again
    assert len(outbox()) == 5
    lookups = [(st, params) for st, params in looked_up if "event_base IN" in st]
    assert len(lookups) == 2 and not any("LIKE" in st for st, _ in looked_up), looked_up
    db.session.rollback()
    for statement, parameters in lookups:
        plan = plan_of(statement, parameters)
        assert "ix_xapi_statements_event_base" in plan and not scans_whole("xapi_statements", plan), plan

    # The check is not vacuous: the LIKE the lookup used to add reads the whole table.
    [(statement, parameters)] = statements_during(lambda: db.session.scalars(select(XapiStatement.id).where(
        XapiStatement.event_key.like(f"{key}:%"))).all())
    plan = plan_of(statement, parameters)
    assert scans_whole("xapi_statements", plan), plan


def test_statement_ids_come_from_the_event(app: Flask) -> None:
    config = {"SECRET_KEY": "k", "XAPI_HOMEPAGE": HOMEPAGE}
    assert services.statement_id(config, "attempt:1:completed") == services.statement_id(config, "attempt:1:completed")
    assert services.statement_id(config, "attempt:1:completed") != services.statement_id(config, "attempt:2:completed")
    assert services.opaque_id("k", 1) != services.opaque_id("other", 1)


def test_off_without_an_lrs(app: Flask, setup: dict[str, Any]) -> None:
    app.config["XAPI_LRS_ENDPOINT"] = ""
    every_event(setup)
    assert outbox() == []
    result = app.test_cli_runner().invoke(args=["lms", "send-xapi"])
    assert result.exit_code != 0 and "xAPI is off" in result.output


REDIS_TEST_URL = "redis://127.0.0.1:6379/7"


@pytest.fixture()
def redis_db() -> Iterator[str]:
    yield from redis_database(REDIS_TEST_URL)


def test_with_redis_a_requests_statements_go_through_the_rq_worker(app: Flask, setup: dict[str, Any], lrs: str, redis_db: str,
                                                                  client: Any, login: Any) -> None:
    configure(app, lrs, "https://queued.example.org/")
    app.config["REDIS_URL"] = redis_db
    try:
        login(client, setup["learner"])
        response = client.post(f"/lessons/{LESSON}/read")
        assert response.status_code == 302
        response.close()
        [row] = outbox()
        assert row.status == StatementStatus.PENDING and row.attempts == 0  # queued, not sent by the web process
        result = app.test_cli_runner().invoke(args=["lms", "send-xapi", "--worker", "--burst"])
        assert result.exit_code == 0, result.output
    finally:
        app.config["REDIS_URL"] = ""
        app.extensions.pop("lms.mail.redis", None)
    [row] = outbox()
    assert row.status == StatementStatus.SENT
    assert row.statement_id in {s["id"] for s in lrs_statements(lrs)}
