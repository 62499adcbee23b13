"""Learners' data rights: the export (every kind's JSON key, files byte for byte, other
people hidden as the app hides them), erasure (personal data gone, files deleted, peer
reviews kept as by "a former learner", other learners and the cohort's heat map
untouched, audited, refused for staff and on a wrong confirmation), the coverage of every
foreign key to users by a data kind, and ``flask lms purge-uploads``."""

from __future__ import annotations

import io
import json
import re
import threading
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from markupsafe import escape
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from config import Config
from lms.accounts.models import User, erased_email
from lms.api.models import ApiToken
from lms.api.tokens import create_token
from lms.assessment.kinds import QuestionKind
from lms.assessment.models import Attempt, QuestionVersion, Response
from lms.assessment.questions import part_key
from lms.audit.models import AuditAction, AuditEntry
from lms.catalog.models import Level, Metric, Module, Objective
from lms.certificates.models import Certificate
from lms.cohorts.models import Cohort, Enrolment, EnrolmentImport, Invitation, TimeAllowance
from lms.competency.services import heat_map
from lms.coursework.models import Attachment, Submission
from lms.database import utcnow
from lms.discussions.models import Post
from lms.discussions.services import reply, start_thread
from lms.extensions import db
from lms.grading.models import Grade, GradeAction, GradeEvent, PeerReview, PeerReviewStatus
from lms.grading.services import save_grade
from lms.jobs.models import Job, JobStatus
from lms.kpi.models import KpiEntry
from lms.learning.services import set_time_allowance
from lms.mail.models import OutboxMessage
from lms.privacy.kinds import ERASED_NAME, ERASED_POST, KINDS, covered
from lms.privacy.services import erase_learner, export_bundle, months_before
from lms.progress.models import Evidence, Mastery
from lms.sso.models import SsoIdentity

HANDS_ON = "cs-hands-on-own-operation"  # month 6, two peer reviews each
PDF = b"%PDF-1.4 Ana's plan \x00\x01\x02 binary tail"


def post_work(client: Any, body: str, file: tuple[str, bytes] | None = None, action: str = "submit") -> Any:
    fields: dict[str, Any] = {"body": body, "action": action}
    if file:
        fields["file"] = FileStorage(io.BytesIO(file[1]), filename=file[0])
    boundary, data = encode_multipart(fields)
    return client.post(f"/assignments/{HANDS_ON}/work", data=data, content_type=f"multipart/form-data; boundary={boundary}")


@pytest.fixture()
def course(app: Flask, loaded, make_cohort, make_user, enrol_learner, login) -> dict[str, Any]:
    teacher = make_user(name="Tom Teacher")
    admin = make_user(name="Sid Admin", admin=True)
    cohort = make_cohort(months_ago=5, instructors=[teacher])

    def client_for(user: Any) -> Any:
        client = app.test_client()
        login(client, user)
        return client

    people = {name: enrol_learner(cohort, name=name) for name in ("Ana Erased", "Ben Stays", "Cleo Stays")}
    clients = {name: client_for(user) for name, user in people.items()}
    assert post_work(clients["Ana Erased"], "Ana's private plan", ("plan.pdf", PDF)).status_code == 302
    assert post_work(clients["Ben Stays"], "Ben's plan", ("ben.pdf", b"%PDF-1.4 Ben")).status_code == 302
    assert post_work(clients["Cleo Stays"], "Cleo's plan").status_code == 302
    for name in people:
        assert clients[name].post(f"/assignments/{HANDS_ON}/peer-reviews").status_code == 302
    db.session.expire_all()
    for review in db.session.scalars(select(PeerReview).where(PeerReview.status == PeerReviewStatus.ASSIGNED)):
        reviewer = next(n for n, u in people.items() if u.id == review.reviewer_id)
        done = {f"level-{c.id}": c.levels[1].id for c in review.rubric_version.criteria}
        done["comment"] = f"Notes of {reviewer.split()[0].lower()} on #{review.submission_id}"
        assert clients[reviewer].post(f"/peer-reviews/{review.id}", data=done).status_code == 302
    db.session.expire_all()
    now = utcnow()
    for submission in db.session.scalars(select(Submission).order_by(Submission.id)):
        criteria = submission.assignment.rubric.current.criteria
        levels = {c.id: c.levels[2].id for c in criteria}
        returned = save_grade(db.session, submission, teacher, levels, {criteria[0].id: f"Redo part one of #{submission.id}"},
                              f"Revise #{submission.id}", None, GradeAction.RETURN, now - timedelta(days=1))
        save_grade(db.session, submission, teacher, levels, {c.id: f"Comment on #{submission.id}" for c in criteria},
                   f"Feedback for #{submission.id}", returned.revision, GradeAction.RELEASE, now)
    module = db.session.scalars(select(Module).order_by(Module.id)).first()
    thread = start_thread(db.session, cohort, module, people["Ana Erased"], "Drift alerts", "Ana asks: how often?", now, lambda post: "/")
    reply(db.session, thread, people["Ben Stays"], "Ben answers: daily.", now, lambda post: "/")
    db.session.add(KpiEntry(user_id=people["Ana Erased"].id, metric_id=_a_metric(), period=now.date().replace(day=1),
                            value=42.0, note="my revenue is secret"))
    set_time_allowance(db.session, cohort, people["Ana Erased"], TimeAllowance.EXTRA_50, TimeAllowance.STANDARD, teacher)
    set_time_allowance(db.session, cohort, people["Ben Stays"], TimeAllowance.DOUBLE, TimeAllowance.STANDARD, teacher)
    db.session.commit()
    return {"cohort": cohort, "teacher": teacher, "admin": admin, "people": people, "clients": clients,
            "client_for": client_for}


def _a_metric() -> int:
    metric_id = db.session.scalar(select(Metric.id).limit(1))
    assert metric_id is not None
    return int(metric_id)


def uploads(app: Flask) -> Path:
    return Path(app.config.get("UPLOAD_DIR") or Path(app.instance_path) / "uploads")


def download(client: Any) -> zipfile.ZipFile:
    response = client.post("/account/data/export")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="my-data-')
    return zipfile.ZipFile(io.BytesIO(response.get_data()))


def test_every_foreign_key_to_users_has_a_data_kind(app: Flask) -> None:
    keys = {f"{table.name}.{fk.parent.name}" for table in db.metadata.tables.values() for fk in table.foreign_keys
            if fk.column.table.name == "users"}
    claimed = covered()
    assert keys - claimed == set(), "a model keeps a user id that no lms/privacy kind exports or erases"
    assert claimed - keys == set(), "a kind claims a column that is no foreign key to users"
    names = [kind.name for kind in KINDS]
    assert len(names) == len(set(names))
    every = [c for kind in KINDS for c in kind.covers]
    assert len(every) == len(set(every)), "a column claimed by two kinds"


def test_the_learner_downloads_everything_about_them(app: Flask, course) -> None:
    ana = course["people"]["Ana Erased"]
    archive = download(course["clients"]["Ana Erased"])
    data = json.loads(archive.read("data.json"))
    assert {kind.name for kind in KINDS if kind.exported} <= set(data)
    assert "staff_actions" not in data
    account = data["account"][0]
    assert account["email"] == ana.email and account["name"] == "Ana Erased"
    assert "password_hash" not in account and "session_version" not in account
    assert any(e["role"] == "learner" and e["cohort"] == course["cohort"].name and e["time_allowance"] == "extra_50"
               for e in data["memberships"])

    [own] = data["submissions"]
    assert own["versions"][0]["body"] == "Ana's private plan"
    [attached] = own["attachments"]
    assert attached["filename"] == "plan.pdf" and "stored_name" not in attached
    assert archive.read(attached["in_zip"]) == PDF  # byte for byte
    assert data["grades"][0]["feedback"] == f"Feedback for #{own['id']}" and "grader_id" not in data["grades"][0]
    [back] = [g for g in data["grades"] if g["record"] == "returned for revision"]  # what the learner was shown
    assert back["submission_id"] == own["id"] and back["feedback"] == f"Revise #{own['id']}"
    assert list(back["comments"].values()) == [f"Redo part one of #{own['id']}"] and "selections" not in back
    given = [r for r in data["peer_reviews"] if r["direction"] == "given"]
    received = [r for r in data["peer_reviews"] if r["direction"] == "received"]
    assert given and all(r["comment"].startswith("Notes of ana") for r in given)
    assert received and all("reviewer_id" not in r for r in received)
    assert data["evidence_and_mastery"] and data["kpi_figures"][0]["note"] == "my revenue is secret"
    assert [p["body"] for p in data["discussions"] if p["record"] == "post"] == ["Ana asks: how often?"]
    # nothing of anyone else (but the notices the app showed them): no other learner's name, email or text
    text = json.dumps({k: v for k, v in data.items() if k != "notifications"}, ensure_ascii=False)
    for other in ("Ben Stays", "Cleo Stays", "Ben's plan", course["people"]["Ben Stays"].email, "Tom Teacher"):
        assert other not in text
    assert [n for n in archive.namelist() if n.startswith("files/")] == [attached["in_zip"]]
    # the download is audited
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.DATA_EXPORTED)).one()
    assert entry.actor_id == ana.id and entry.target == f"user:{ana.id}"


def test_the_export_says_in_words_what_each_record_is_about(app: Flask, course) -> None:
    """Quiz answers named only a question version's id and an option's letter, evidence and
    mastery an objective's row id, KPI figures a metric's and certificates a level's: the
    learner could not tell what any of it was about."""
    ana = course["people"]["Ana Erased"]
    single = db.session.scalars(select(QuestionVersion).where(QuestionVersion.type == QuestionKind.SINGLE)
                                .order_by(QuestionVersion.id)).first()
    scenario = db.session.scalars(select(QuestionVersion).where(QuestionVersion.type == QuestionKind.SCENARIO)
                                  .order_by(QuestionVersion.id)).first()
    assert single is not None and scenario is not None
    part = next(p for p in scenario.spec.questions if p.type == QuestionKind.SINGLE)
    attempt = Attempt(quiz_id=single.question.quiz_id, user_id=ana.id, number=1, layout=[{"version": single.id}],
                      started_at=utcnow(), max_score=single.points)
    db.session.add(attempt)
    db.session.add_all([
        Response(attempt=attempt, version_id=single.id, part="", answer={"option": single.spec.options[1].id}),
        Response(attempt=attempt, version_id=scenario.id, part=part_key(scenario.spec, part),
                 answer={"option": part.options[0].id})])
    level = db.session.scalars(select(Level).order_by(Level.id)).first()
    assert level is not None
    db.session.add(Certificate(user_id=ana.id, level_id=level.id, code="readable-export-test", holder_name=ana.name))
    db.session.commit()

    data = json.loads(download(course["clients"]["Ana Erased"]).read("data.json"))
    [exported] = data["quiz_attempts"]
    first, second = exported["responses"]
    assert first["question"] == single.question.key and first["question_version"] == single.number
    assert first["question_text"] == single.spec.text
    assert first["answer_text"] == single.spec.options[1].text
    assert second["question"] == scenario.question.key and second["question_text"] == part.text
    assert second["answer_text"] == part.options[0].text
    codes = set(db.session.scalars(select(Objective.key)))
    assert data["evidence_and_mastery"]
    assert all(record["objective"] in codes for record in data["evidence_and_mastery"])
    metric = db.session.get_one(Metric, _a_metric())
    assert data["kpi_figures"][0]["metric"] == metric.key and data["kpi_figures"][0]["metric_name"] == metric.name
    assert data["certificates"][0]["level"] == level.key


def test_the_files_in_the_export_extract_whatever_their_names(app: Flask, course, enrol_learner, login, tmp_path: Path) -> None:
    """A file's name is cut when uploaded (lms.coursework), and its member name in the zip
    to what a file system takes (255 bytes a name), its extension kept: a 304-character
    name could not be extracted (Errno 36), nor a long name in another script, nor a
    name stored before names were cut."""
    dee = enrol_learner(course["cohort"], name="Dee Longnames")
    client = course["client_for"](dee)
    files = {"x" * 300 + ".pdf": b"%PDF-1.4 long", "📄" * 130 + ".txt": b"emoji", "отчёт.pdf": b"%PDF-1.4 report"}
    for name, data in files.items():
        assert post_work(client, "Dee's plan", (name, data), action="save").status_code == 302
    assert post_work(client, "Dee's plan").status_code == 302
    db.session.expire_all()
    old = db.session.scalar(select(Attachment).join(Submission).where(Submission.user_id == dee.id,
                                                                        Attachment.filename == "отчёт.pdf"))
    assert old is not None
    old.filename = "é" * 251 + ".pdf"  # as a name could be stored before: 255 characters, 506 bytes
    db.session.commit()
    archive = download(client)
    attached = [a for s in json.loads(archive.read("data.json"))["submissions"] for a in s["attachments"]]
    assert len(attached) == 3
    for member in archive.namelist():
        assert all(len(part.encode()) <= 255 for part in member.split("/")), member
    archive.extractall(tmp_path)
    for item in attached:
        assert item["in_zip"].rsplit(".", 1)[1] == item["filename"].rsplit(".", 1)[1]
        assert (tmp_path / item["in_zip"]).read_bytes() in files.values()
    assert {(tmp_path / a["in_zip"]).read_bytes() for a in attached} == set(files.values())


def test_export_needs_a_post_and_is_not_cached(app: Flask, course) -> None:
    client = course["clients"]["Ben Stays"]
    page = client.get("/account/data")
    assert page.status_code == 200 and "Download my data" in page.get_data(as_text=True)
    response = client.post("/account/data/export")
    assert response.headers["Cache-Control"] == "private, no-store"
    assert client.get("/account/data/export").status_code == 405


def test_the_data_page_names_whom_to_ask_for_an_erasure(app: Flask, client, make_org, make_cohort, make_user,
                                                        enrol_learner, login) -> None:
    """The page said "ask a site administrator" to have an account erased, and named nobody
    a learner could ask. A member of an organization is now given its administrators (open
    accounts only), with their addresses; anyone else the site's contact (``PRIVACY_CONTACT``)."""
    gone = make_user(name="Gil Gone", email="gil@northwind.example")
    org = make_org("Northwind Ventures", admins=[make_user(name="Olga Admin", email="olga@northwind.example"), gone])
    gone.deactivated_at = utcnow()
    learner = enrol_learner(make_cohort(org, "Northwind 1", months_ago=2), name="Lena Learner")
    db.session.commit()
    login(client, learner)
    page = client.get("/account/data").get_data(as_text=True)
    said = re.sub(r"\s+", " ", page.split('id="erasure-contact">')[1].split("</p>")[0])
    assert "ask a site administrator:" not in page
    assert said == ('To have your account erased, write to the administrators of Northwind Ventures, who ask a site '
                    'administrator to erase it: Olga Admin (<a href="mailto:olga@northwind.example">olga@northwind.example</a>).')
    assert "gil@northwind.example" not in page  # a closed account is no one to write to

    app.config["PRIVACY_CONTACT"] = "privacy@lms.example"
    other = app.test_client()
    login(other, make_user(name="Nora Nobody"))  # in no organization
    page = other.get("/account/data").get_data(as_text=True)
    said = re.sub(r"\s+", " ", page.split('id="erasure-contact">')[1].split("</p>")[0])
    assert said == ("To have your account erased, write to the site's administrators at "
                    '<a href="mailto:privacy@lms.example">privacy@lms.example</a>.')


def test_the_privacy_contact_defaults_to_the_mail_sender(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PRIVACY_CONTACT", raising=False)
    monkeypatch.setenv("MAIL_FROM", "lms@school.example")
    assert Config(tmp_path).PRIVACY_CONTACT == "lms@school.example"
    monkeypatch.setenv("PRIVACY_CONTACT", " privacy@school.example ")
    assert Config(tmp_path).PRIVACY_CONTACT == "privacy@school.example"


def test_the_data_page_names_each_section_in_words(app: Flask, course) -> None:
    """The "Your data" page listed the sections as their keys were written ("kpi figures",
    "lti links", "two factor"). Each kind now carries its own label, kept on its class."""
    for kind in KINDS:
        assert "label" in type(kind).__dict__, f"{type(kind).__name__} has no label of its own"
        assert kind.label[0].isupper() and "_" not in kind.label, kind.label
    assert len({kind.label for kind in KINDS}) == len(KINDS)
    labels = {kind.name: kind.label for kind in KINDS}
    assert (labels["kpi_figures"], labels["lti_links"], labels["two_factor"]) == (
        "KPI figures", "Linked learning platforms (LTI)", "Two-factor sign-in")
    page = course["clients"]["Ben Stays"].get("/account/data").get_data(as_text=True)
    listed = re.findall(r"<li>(.*?)</li>", page.split('class="privacy-kinds"')[1].split("</ul>")[0])
    assert listed == [str(escape(kind.label)) for kind in KINDS if kind.exported]
    assert "kpi figures" not in page and "two factor" not in page


def _snapshot(cohort: Any) -> Any:
    db.session.expire_all()
    cohort = db.session.get(Cohort, cohort.id)
    book = heat_map(db.session, cohort, utcnow())
    rows = [(r.user.id, [(c.level, c.evidence) for c in r.cells], r.mean) for r in book.rows]
    return rows, [(d.__dict__ if hasattr(d, "__dict__") else d) for d in book.distributions]


def test_a_site_admin_erases_a_learner(app: Flask, course) -> None:
    ana, ben = course["people"]["Ana Erased"], course["people"]["Ben Stays"]
    folder = uploads(app)
    ana_files = [folder / a.stored_name for a in db.session.scalars(
        select(Attachment).join(Submission).where(Submission.user_id == ana.id))]
    ben_files = [folder / a.stored_name for a in db.session.scalars(
        select(Attachment).join(Submission).where(Submission.user_id == ben.id))]
    assert ana_files and all(p.is_file() for p in ana_files) and ben_files
    ana_id, email = ana.id, ana.email
    evidence_before = db.session.scalar(select(db.func.count()).select_from(Evidence).where(Evidence.user_id == ana_id))
    mastery_before = [(m.objective_id, m.level) for m in db.session.scalars(
        select(Mastery).where(Mastery.user_id == ana_id).order_by(Mastery.id))]
    given_before = {r.id: r.comment for r in db.session.scalars(select(PeerReview).where(PeerReview.reviewer_id == ana_id))}
    ben_before = download(course["clients"]["Ben Stays"]).read("data.json")
    heat_before = _snapshot(course["cohort"])

    admin = course["client_for"](course["admin"])
    page = admin.get(f"/admin/users/{ana_id}/erase")
    assert page.status_code == 200 and email in page.get_data(as_text=True)
    wrong = admin.post(f"/admin/users/{ana_id}/erase", data={"confirm_email": "someone@else.example"})
    assert wrong.status_code == 400 and "exactly" in wrong.get_data(as_text=True)
    assert all(p.is_file() for p in ana_files)
    done = admin.post(f"/admin/users/{ana_id}/erase", data={"confirm_email": email.upper()})
    assert done.status_code == 302

    db.session.expire_all()
    user = db.session.get(User, ana_id)
    assert user is not None and user.name == ERASED_NAME and user.email == erased_email(ana_id)
    assert user.password_hash is None and not user.is_active
    assert not any(p.exists() for p in ana_files) and all(p.is_file() for p in ben_files)
    [work] = db.session.scalars(select(Submission).where(Submission.user_id == ana_id)).all()
    assert work.draft_body == "" and all(v.body == "" for v in work.versions)
    assert all(a.filename == "erased" and a.stored_name.startswith("deleted/") for a in work.attachments)
    grade = db.session.scalars(select(Grade).where(Grade.submission_id == work.id)).one()
    assert grade.score is not None and grade.feedback == ""
    assert grade.selections and all(chosen["comment"] == "" and chosen["level"] for chosen in grade.selections.values())
    for event in db.session.scalars(select(GradeEvent).where(GradeEvent.grade_id == grade.id)):
        for kept in (event.before, event.after):  # the grade's history holds no comment or feedback of theirs either
            assert not kept or (kept.get("feedback", "") == "" and all(
                c["comment"] == "" for c in (kept.get("selections") or {}).values())), kept
    # peer reviews they wrote stay, text and all, as by "a former learner"
    assert {r.id: r.comment for r in db.session.scalars(
        select(PeerReview).where(PeerReview.reviewer_id == ana_id))} == given_before
    assert db.session.scalar(select(KpiEntry.note).where(KpiEntry.user_id == ana_id)) == ""
    # a time allowance tells of a need: back to standard (another learner's kept)
    assert db.session.scalar(select(Enrolment.time_allowance).where(Enrolment.user_id == ana_id)) == TimeAllowance.STANDARD
    assert db.session.scalar(select(Enrolment.time_allowance).where(Enrolment.user_id == ben.id)) == TimeAllowance.DOUBLE
    assert [p.body for p in db.session.scalars(select(Post).order_by(Post.id))] == [ERASED_POST, "Ben answers: daily."]
    # statistics: evidence and mastery kept, the heat map and other learners untouched
    assert db.session.scalar(select(db.func.count()).select_from(Evidence).where(Evidence.user_id == ana_id)) == evidence_before
    assert [(m.objective_id, m.level) for m in db.session.scalars(
        select(Mastery).where(Mastery.user_id == ana_id).order_by(Mastery.id))] == mastery_before
    assert _snapshot(course["cohort"]) == heat_before
    ben_after = json.loads(download(course["clients"]["Ben Stays"]).read("data.json"))
    ben_was = json.loads(ben_before)
    for key in ("submissions", "grades", "peer_reviews", "evidence_and_mastery"):
        assert ben_after[key] == ben_was[key]
    # the grader sees the review as by a former learner
    ben_work = db.session.scalar(select(Submission.id).where(Submission.user_id == ben.id))
    grading = course["client_for"](course["teacher"]).get(f"/cohorts/{course['cohort'].id}/submissions/{ben_work}")
    graded = grading.get_data(as_text=True)
    assert grading.status_code == 200 and "Ana Erased" not in graded
    if any(r.submission_id == ben_work for r in db.session.scalars(select(PeerReview).where(PeerReview.reviewer_id == ana_id))):
        assert ERASED_NAME in graded
    # audited, without the name or the address
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.LEARNER_ERASED)).one()
    assert entry.actor_id == course["admin"].id and entry.target == f"user:{ana_id}"
    assert entry.organization_id == course["cohort"].organization_id
    assert email not in json.dumps(entry.after) and "Ana" not in json.dumps(entry.after)
    # the erased learner cannot sign in any more; erasing again is refused
    again = admin.post(f"/admin/users/{ana_id}/erase", data={"confirm_email": erased_email(ana_id)})
    assert again.status_code == 400 and "already been erased" in again.get_data(as_text=True)


def test_an_erased_account_cannot_be_reactivated(app: Flask, course) -> None:
    """The admin page offered "Reactivate: A former learner will be able to sign in again":
    reactivated, the placeholder account would have been given notices and mail again, at an
    address nobody reads, and no one could sign in to it."""
    ana_id = course["people"]["Ana Erased"].id
    admin = course["client_for"](course["admin"])
    assert admin.post(f"/admin/users/{ana_id}/erase",
                      data={"confirm_email": course["people"]["Ana Erased"].email}).status_code == 302
    page = admin.get(f"/admin/users/{ana_id}").get_data(as_text=True)
    assert "This account was erased" in page and f"/admin/users/{ana_id}/reactivate" not in page
    assert "Erased " in page and "removed by the erasure" in page and "not set yet" not in page
    db.session.expire_all()
    version = db.session.get_one(User, ana_id).session_version
    refused = admin.post(f"/admin/users/{ana_id}/reactivate", data={"version": version, "confirm": "y"})
    assert refused.status_code == 409
    assert f"Account #{ana_id} was erased: it cannot be reactivated." in refused.get_data(as_text=True)
    db.session.expire_all()
    user = db.session.get_one(User, ana_id)
    assert user.deactivated_at is not None and user.erased
    # A merely deactivated account keeps its Reactivate.
    ben = course["people"]["Ben Stays"]
    ben.deactivated_at = utcnow()
    db.session.commit()
    assert f"/admin/users/{ben.id}/reactivate" in admin.get(f"/admin/users/{ben.id}").get_data(as_text=True)


def test_staff_are_not_erased(app: Flask, course) -> None:
    teacher = course["teacher"]
    admin = course["client_for"](course["admin"])
    response = admin.post(f"/admin/users/{teacher.id}/erase", data={"confirm_email": teacher.email})
    assert response.status_code == 400 and "deactivate them" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, teacher.id).name == "Tom Teacher"  # type: ignore[union-attr]
    assert admin.get("/admin/users/999999/erase").status_code == 404


def test_months_before_clamps_the_day() -> None:
    moment = utcnow().replace(year=2026, month=3, day=31)
    assert months_before(moment, 1).date().isoformat() == "2026-02-28"
    assert months_before(moment, 14).date().isoformat() == "2025-01-31"


def test_purge_uploads_of_long_archived_cohorts(app: Flask, course, make_cohort, enrol_learner, login) -> None:
    folder = uploads(app)
    old = course["cohort"]
    recent = make_cohort(months_ago=5)
    learner = enrol_learner(recent, name="Rita Recent")
    client = course["client_for"](learner)
    assert post_work(client, "Rita's plan", ("rita.pdf", b"%PDF-1.4 Rita")).status_code == 302
    db.session.expire_all()
    old_files = [folder / a.stored_name for a in db.session.scalars(
        select(Attachment).join(Submission).where(Submission.cohort_id == old.id))]
    [rita_file] = [folder / a.stored_name for a in db.session.scalars(
        select(Attachment).join(Submission).where(Submission.cohort_id == recent.id))]
    now = utcnow()
    db.session.get(Cohort, old.id).archived_at = now - timedelta(days=800)  # type: ignore[union-attr]
    db.session.get(Cohort, recent.id).archived_at = now - timedelta(days=30)  # type: ignore[union-attr]
    db.session.commit()

    runner = app.test_cli_runner()
    dry = runner.invoke(args=["lms", "purge-uploads", "--dry-run"])
    assert dry.exit_code == 0 and f"Would delete {len(old_files)} files" in dry.output and old.name in dry.output
    assert all(p.is_file() for p in old_files)
    first = runner.invoke(args=["lms", "purge-uploads"])
    assert first.exit_code == 0 and f"Deleted {len(old_files)} files" in first.output
    assert not any(p.exists() for p in old_files) and rita_file.is_file()
    db.session.expire_all()
    kept = db.session.scalars(select(Attachment).join(Submission).where(Submission.cohort_id == old.id)).all()
    assert kept and all(a.stored_name.startswith("deleted/") and a.filename for a in kept)
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.UPLOADS_PURGED)).all()
    assert [(e.target, e.after["files"]) for e in entries] == [(f"cohort:{old.id}", len(old_files))]  # type: ignore[index]
    second = runner.invoke(args=["lms", "purge-uploads"])
    assert second.exit_code == 0 and "Deleted 0 files" in second.output
    assert db.session.scalar(select(db.func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == AuditAction.UPLOADS_PURGED)) == 1
    # a downloaded export lists the purged file without it
    archive = download(course["clients"]["Ben Stays"])
    data = json.loads(archive.read("data.json"))
    assert all(a["in_zip"] is None for s in data["submissions"] for a in s["attachments"])


def test_purge_refuses_a_bad_setting(app: Flask) -> None:
    app.config["UPLOAD_RETENTION_MONTHS"] = 0
    try:
        result = app.test_cli_runner().invoke(args=["lms", "purge-uploads"])
    finally:
        app.config["UPLOAD_RETENTION_MONTHS"] = 24
    assert result.exit_code != 0 and "UPLOAD_RETENTION_MONTHS" in result.output


def test_the_export_runs_a_fixed_number_of_statements(app: Flask, course, count_queries) -> None:
    """More rows of every kind, same statements: nothing is loaded row by row."""
    ana = course["people"]["Ana Erased"]

    def export() -> None:
        db.session.expire_all()
        user = db.session.get(User, ana.id)
        export_bundle(db.session, user, utcnow())

    before = count_queries(export)
    now = utcnow()
    metric = _a_metric()
    for month in range(1, 6):
        db.session.add(KpiEntry(user_id=ana.id, metric_id=metric, period=now.date().replace(year=2020, month=month, day=1),
                                value=float(month)))
    module = db.session.scalars(select(Module).order_by(Module.id)).first()
    for n in range(3):
        start_thread(db.session, course["cohort"], module, ana, f"Topic {n}", f"Question {n}", now, lambda post: "/")
    db.session.commit()
    assert count_queries(export) == before


def test_two_admins_erasing_at_once_erase_once(app: Flask, course, make_user) -> None:
    ana = course["people"]["Ana Erased"]
    second_admin = make_user(name="Second Admin", admin=True)
    clients = [course["client_for"](course["admin"]), course["client_for"](second_admin)]
    url, email = f"/admin/users/{ana.id}/erase", ana.email
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def erase(client: Any) -> None:
        barrier.wait(timeout=30)
        statuses.append(client.post(url, data={"confirm_email": email}).status_code)

    threads = [threading.Thread(target=erase, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [302, 400]
    db.session.expire_all()
    assert db.session.scalar(select(db.func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == AuditAction.LEARNER_ERASED)) == 1
    assert db.session.get(User, ana.id).name == ERASED_NAME  # type: ignore[union-attr]


def test_erasure_reaches_rows_kept_by_address(app: Flask, course) -> None:
    """Mail to the old address, invitations sent to it and enrolment imports naming it;
    the single sign-on identity linked to the account is exported, then deleted."""
    ana, ben, now = course["people"]["Ana Erased"], course["people"]["Ben Stays"], utcnow()
    cohort_id, email = course["cohort"].id, ana.email
    db.session.add_all([
        OutboxMessage(recipient=email, subject="Your grade", body="Dear Ana"),
        OutboxMessage(recipient=ben.email, subject="Your grade", body="Dear Ben"),
        Invitation(organization_id=course["cohort"].organization_id, cohort_id=cohort_id, email=email, name="Ana Erased", token_hash="a" * 64, expires_at=now),
        EnrolmentImport(cohort_id=cohort_id, created_by_id=course["teacher"].id, filename="people.csv",
                        rows=[{"email": email, "name": "Ana Erased"}, {"email": ben.email, "name": "Ben Stays"}]),
        SsoIdentity(organization_id=course["cohort"].organization_id, user_id=ana.id,
                    issuer="https://idp.example.org", subject="ana-subject"),
    ])
    db.session.commit()
    exported = export_bundle(db.session, db.session.get(User, ana.id), now).data  # type: ignore[arg-type]
    assert [i["subject"] for i in exported["account"][0]["single_sign_on"]] == ["ana-subject"]
    erase_learner(db.session, db.session.get(User, ana.id), email, actor_id=None, ip=None, now=now)  # type: ignore[arg-type]
    db.session.commit()
    db.session.expire_all()
    recipients = db.session.scalars(select(OutboxMessage.recipient)).all()
    assert email not in recipients and ben.email in recipients
    assert db.session.scalars(select(SsoIdentity)).all() == []
    invitation = db.session.scalars(select(Invitation)).one()
    assert (invitation.email, invitation.name) == (erased_email(ana.id), ERASED_NAME)
    assert db.session.scalars(select(EnrolmentImport)).one().rows == [
        {"email": erased_email(ana.id), "name": ERASED_NAME}, {"email": ben.email, "name": "Ben Stays"}]


def test_api_tokens_and_requested_jobs_are_exported_then_erased(app: Flask, course) -> None:
    """A learner's personal API tokens (never their hash or prefix) and the jobs they asked
    for are in the export; erasure deletes the tokens, the finished jobs and their files."""
    ana, ben = course["people"]["Ana Erased"], course["people"]["Ben Stays"]
    made = create_token(db.session, ana, "My notebook", ["read:grades"], None)
    create_token(db.session, ben, "Ben's", ["read:grades"], None)
    exported_file = uploads(app) / "exports" / "ana.csv"
    exported_file.parent.mkdir(parents=True, exist_ok=True)
    exported_file.write_text("learner\n")
    db.session.add(Job(kind="export", label="Ana's export", status=JobStatus.DONE, requested_by_id=ana.id,
                       file_path="exports/ana.csv", file_name="ana.csv", file_type="text/csv"))
    db.session.add(Job(kind="export", label="Ana's old export", status=JobStatus.EXPIRED, requested_by_id=ana.id,
                       file_name="old.csv", file_type="text/csv"))
    db.session.commit()
    data = json.loads(download(course["clients"]["Ana Erased"]).read("data.json"))
    [token] = data["api_tokens"]
    assert token["name"] == "My notebook" and token["scopes"] == ["read:grades"] and "last_used_at" in token
    assert "token_hash" not in token and "prefix" not in token and made.token.token_hash not in json.dumps(data)
    job, old_job = data["requested_jobs"]
    assert old_job["label"] == "Ana's old export" and old_job["status"] == "expired"
    assert job["label"] == "Ana's export" and job["file_name"] == "ana.csv" and "file_path" not in job

    admin = course["client_for"](course["admin"])
    assert admin.post(f"/admin/users/{ana.id}/erase", data={"confirm_email": ana.email}).status_code == 302
    db.session.expire_all()
    assert [t.user_id for t in db.session.scalars(select(ApiToken))] == [ben.id]
    assert db.session.scalars(select(Job)).all() == [] and not exported_file.exists()
