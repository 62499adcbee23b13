"""The house's wiring: features attach behaviour only in ``init_app``, registries are built
explicitly, one unit of work commits per request, and no code commits anywhere else."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from flask import Flask
from sqlalchemy import func, select

from config import BASE_DIR
from lms.catalog.models import Lesson
from lms.content.services import ContentSource
from lms.extensions import db
from lms.mail.models import OutboxMessage
from lms.sections import CONTENT_SECTIONS, load_curriculum
from lms.web.access import PUBLIC
from lms.web.unit_of_work import WriteOnSafeRequest

LMS = BASE_DIR / "lms"

# Run in a fresh interpreter: import every module of the package (nothing may attach),
# then build the app (everything attaches) and report what each registry holds.
PROBE = r"""
import importlib, json, pkgutil, sys
import lms
from lms.assessment.services import attempt_handed_in, attempt_scored, essays_graded
from lms.cohorts.enrolment import learner_moved
from lms.grading.services import grade_saved, peer_review_completed
from lms.gradebook.services import learners_messaged
from lms.teams.services import adjustment_saved
from lms.extensions import login_manager

def receivers():
    return {s.name: sorted(f"{r.__module__}.{r.__qualname__}" for r in s.receivers_for(None))
            for s in (attempt_scored, attempt_handed_in, essays_graded, grade_saved, peer_review_completed, learner_moved,
                      adjustment_saved, learners_messaged)}

for info in pkgutil.walk_packages(lms.__path__, "lms."):
    importlib.import_module(info.name)
before = {"receivers": receivers(), "user_loader": login_manager._user_callback is not None}
app = lms.create_app("testing", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
after = {"receivers": receivers(), "user_loader": login_manager._user_callback is not None,
         "blueprints": sorted(app.blueprints), "commands": sorted(app.cli.commands["lms"].commands),
         "sections": [s.name for s in app.extensions["lms.content_sections"]],
         "after_commit": [f"{h.__module__}.{h.__qualname__}" for h in app.extensions["lms.after_commit"]]}
print(json.dumps({"before": before, "after": after}))
"""


@pytest.fixture(scope="module")
def probe() -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=BASE_DIR, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_every_module_attaches_nothing(probe: dict) -> None:
    assert probe["before"]["receivers"] == {"attempt-scored": [], "attempt-handed-in": [], "essays-graded": [], "grade-saved": [], "peer-review-completed": [],
                                            "learner-moved": [], "adjustment-saved": [], "learners-messaged": []}
    assert probe["before"]["user_loader"] is False


def test_create_app_wires_every_feature(probe: dict) -> None:
    after = probe["after"]
    assert after["receivers"] == {
        "attempt-scored": ["lms.certificates.services.on_attempt_scored", "lms.lti.grades.on_attempt_scored", "lms.notifications.receivers.on_attempt_scored",
                           "lms.progress.evidence.on_attempt_scored", "lms.xapi.receivers.on_attempt_scored"],
        "attempt-handed-in": ["lms.notifications.reminders.on_attempt_handed_in"],
        "essays-graded": ["lms.notifications.reminders.on_essays_graded"],
        "grade-saved": ["lms.admin.receivers.on_grade_saved",
                        "lms.certificates.services.on_grade_saved", "lms.lti.grades.on_grade_saved", "lms.notifications.receivers.on_grade_saved",
                        "lms.notifications.reminders.on_grade_saved_recount",
                        "lms.progress.evidence.on_grade_saved", "lms.teams.services.on_grade_saved",
                        "lms.webhooks.receivers.on_grade_saved", "lms.xapi.receivers.on_grade_saved"],
        "peer-review-completed": ["lms.notifications.receivers.on_peer_review_completed",
                                  "lms.progress.evidence.on_peer_review_completed"],
        "learner-moved": ["lms.assessment.services.on_learner_moved", "lms.coursework.services.on_learner_moved",
                          "lms.grading.peer.on_learner_moved"],
        "adjustment-saved": ["lms.lti.grades.on_adjustment_saved", "lms.notifications.receivers.on_adjustment_saved",
                             "lms.webhooks.receivers.on_adjustment_saved", "lms.xapi.receivers.on_adjustment_saved"],
        "learners-messaged": ["lms.inbox.wiring.on_learners_messaged"],
    }
    assert after["user_loader"] is True
    assert after["blueprints"] == ["accounts", "admin", "announcements", "api", "api_v1", "assessment", "catalog", "certificates", "cohorts", "competency", "coursework",
                                   "discussions", "expert", "feedback", "framework", "gradebook", "grading", "inbox", "jobs", "kpi", "learning", "lti", "mail", "notifications", "openbadges", "portfolio", "privacy", "progress", "resources", "search", "simulations",
                                   "sso", "teams", "today", "twofactor", "web", "webhooks"]
    assert after["commands"] == ["backup", "badge-key", "check-lti-links", "close-expired-attempts", "content-stats", "create-admin", "deliver-mail", "deliver-webhooks", "demo", "export-gift", "import-gift",
                                 "load-content", "lti-sync", "mail-worker", "move-files", "prune-removals", "prune-sign-ins", "publish-announcements", "purge-uploads", "queue-job", "rebuild-mastery", "rebuild-progress", "rebuild-search", "rejudge-kpi", "restore",
                                 "run-jobs", "send-reminders", "send-xapi", "webhook-worker", "worker"]
    assert after["sections"] == ["catalog", "quizzes", "coursework", "mastery", "templates", "simulations", "search"]
    assert after["after_commit"] == ["lms.mail.jobs.deliver_after_commit", "lms.jobs.runner.dispatch_after_commit", "lms.lti.jobs.send_after_commit", "lms.privacy.views.delete_committed_files",
                                     "lms.webhooks.jobs.deliver_after_commit", "lms.xapi.jobs.send_after_commit"]


def test_the_content_loader_works_without_an_app_factory(app: Flask) -> None:
    """A script that loads the curriculum through the public function gets every section."""
    assert [s.name for s in CONTENT_SECTIONS] == ["catalog", "quizzes", "coursework", "mastery", "templates", "simulations", "search"]
    report = load_curriculum(db.session, ContentSource(content_dir=BASE_DIR / "content", quizzes_dir=BASE_DIR / "quizzes"))
    labels = set(report.counts)
    assert {"lessons", "questions", "assignments"} <= labels, labels
    assert db.session.scalar(select(func.count()).select_from(Lesson)) > 0
    db.session.rollback()


def test_no_commit_outside_the_unit_of_work() -> None:
    offenders = [f"{path.relative_to(BASE_DIR)}:{n}" for path in sorted(LMS.rglob("*.py"))
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if re.search(r"\.commit\(\)", line) and path != LMS / "database.py"]
    assert offenders == []


def test_no_module_connects_a_signal_or_registers_at_import() -> None:
    offenders = []
    for path in sorted(LMS.rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            top_level = not line.startswith((" ", "\t"))
            if top_level and re.search(r"\.connect\(|^@(?!click\.)\w+\.(user_loader|command)\b|register_section", line):
                offenders.append(f"{path.relative_to(BASE_DIR)}:{n}: {line}")
    assert offenders == []


# ---------------------------------------------------------------------------- unit of work

@pytest.fixture
def probe_routes(app: Flask) -> Flask:
    """Routes that exist only in this test's app, to watch the unit of work."""
    def write(status: int) -> tuple[str, int]:
        db.session.add(OutboxMessage(recipient="probe@example.com", subject=f"status {status}", body="x"))
        db.session.flush()
        return "written", status

    def fail() -> str:
        write(200)
        raise RuntimeError("boom")

    def isolation() -> str:  # psycopg's connection says whether it is in autocommit
        return str(getattr(db.session.connection().connection.dbapi_connection, "autocommit", None))

    app.add_url_rule("/_probe/write/<int:status>", "probe_write", write, methods=["GET", "POST"])
    app.add_url_rule("/_probe/fail", "probe_fail", fail, methods=["POST"])
    app.add_url_rule("/_probe/isolation", "probe_isolation", isolation, methods=["GET", "POST"])
    app.extensions["lms.access_policy"].update(probe_write=PUBLIC, probe_fail=PUBLIC, probe_isolation=PUBLIC)
    return app


def outbox_subjects() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage.subject).order_by(OutboxMessage.id)))


def test_a_successful_post_is_committed_once(probe_routes: Flask, client) -> None:
    assert client.post("/_probe/write/200").status_code == 200
    assert client.post("/_probe/write/302").status_code == 302
    assert outbox_subjects() == ["status 200", "status 302"]


def test_an_error_answer_or_an_exception_rolls_back(probe_routes: Flask, client) -> None:
    assert client.post("/_probe/write/400").status_code == 400
    assert client.post("/_probe/write/409").status_code == 409
    with pytest.raises(RuntimeError):  # testing propagates exceptions: the teardown rolls back
        client.post("/_probe/fail")
    probe_routes.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        assert client.post("/_probe/fail").status_code == 500  # production: the error page, rolled back
    finally:
        probe_routes.config["PROPAGATE_EXCEPTIONS"] = None
    assert outbox_subjects() == []


def test_a_get_never_writes(probe_routes: Flask, client) -> None:
    with pytest.raises(WriteOnSafeRequest):
        client.get("/_probe/write/200")
    assert outbox_subjects() == []
    # in production too: on PostgreSQL a GET reads outside a transaction, so the flush is
    # refused before it reaches the database (an error page), not rolled back after it
    probe_routes.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        assert client.get("/_probe/write/200").status_code == 500
    finally:
        probe_routes.config["PROPAGATE_EXCEPTIONS"] = None
    assert outbox_subjects() == []


def test_a_get_reads_without_a_transaction_on_postgresql(probe_routes: Flask, client) -> None:
    """No BEGIN and ROLLBACK round trips for a page view; a POST is one transaction."""
    postgres = db.engine.dialect.name == "postgresql"
    answers = [client.open("/_probe/isolation", method=method).get_data(as_text=True) for method in ("GET", "POST", "GET", "POST")]
    # the pool hands the connection to the next request as it was before the GET
    assert answers == (["True", "False", "True", "False"] if postgres else ["None"] * 4)


def test_a_stale_csrf_token_is_refused_once_with_a_clear_message(app: Flask, client, world) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = client.post("/login", data={"email": "x@example.com", "password": "whatever"})
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert response.status_code == 400
    assert "had expired" in response.get_data(as_text=True)


def test_architecture_checklists_name_files_that_exist() -> None:
    text = (BASE_DIR / "ARCHITECTURE.md").read_text(encoding="utf-8")
    paths = set(re.findall(r"`((?:lms|content|quizzes|tests|migrations)/[\w./-]+\.(?:py|yml|yaml|html|md))`", text))
    assert len(paths) >= 15
    missing = sorted(p for p in paths if not (BASE_DIR / p).exists())
    assert missing == []


def test_architecture_names_each_registry(app: Flask) -> None:
    text = (BASE_DIR / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for name in ("QUESTION_TYPES", "SOURCES", "MASTERY_METHODS", "EXPORTERS", "CONTENT_SECTIONS", "init_app"):
        assert name in text, name
