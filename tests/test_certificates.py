"""Level certificates and Open Badges 2.0: a learner who completes a level gets exactly one
certificate (when the exam attempt is scored, when the portfolio grade is released, or when
they ask for a check), with a public printable page and a hosted Assertion whose BadgeClass,
Issuer Profile, image and evidence all resolve."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from lms.assessment.models import Attempt, Quiz
from lms.assessment.services import field_name, page_versions, save_page, start_attempt, submit_attempt
from lms.catalog.models import Lesson, Level
from lms.certificates import services
from lms.certificates.models import Certificate, CredentialRevocation
from lms.cohorts.enrolment import end_enrolment
from lms.coursework.models import Assignment, Submission, SubmissionVersion
from lms.database import utcnow
from lms.extensions import db
from lms.grading.services import save_grade
from lms.jobs.models import Job
from lms.progress.completion import learner_progress
from lms.progress.models import LessonRead
from lms.teams.models import Team, TeamMember

OB = "https://w3id.org/openbadges/v2"
BASE = "http://localhost"

# --------------------------------------------------------------------------- Open Badges 2.0 structure
# The required properties of the three core classes (Open Badges v2.0, IMS Final Release:
# Assertion, BadgeClass, Profile used as an issuer, IdentityObject, VerificationObject).

URI = {"type": "string", "format": "uri"}
ASSERTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["@context", "type", "id", "recipient", "badge", "verification", "issuedOn"],
    "properties": {
        "@context": {"const": OB},
        "type": {"const": "Assertion"},
        "id": URI,
        "recipient": {
            "type": "object",
            "required": ["type", "identity", "hashed"],
            "properties": {
                "type": {"const": "email"},
                "hashed": {"type": "boolean", "const": True},
                "salt": {"type": "string", "minLength": 8},
                "identity": {"type": "string", "pattern": r"^sha256\$[0-9a-f]{64}$"},
            },
        },
        "badge": URI,
        "verification": {"type": "object", "required": ["type"], "properties": {"type": {"enum": ["hosted", "HostedBadge"]}}},
        "issuedOn": {"type": "string", "format": "date-time"},
        "evidence": URI,
    },
}
BADGE_CLASS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["@context", "type", "id", "name", "description", "image", "criteria", "issuer"],
    "properties": {
        "@context": {"const": OB},
        "type": {"const": "BadgeClass"},
        "id": URI,
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string", "minLength": 1},
        "image": URI,
        "criteria": {"type": "object", "anyOf": [{"required": ["narrative"]}, {"required": ["id"]}],
                     "properties": {"id": URI, "narrative": {"type": "string", "minLength": 1}}},
        "issuer": URI,
    },
}
ISSUER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["@context", "type", "id", "name", "url", "email"],
    "properties": {
        "@context": {"const": OB},
        "type": {"enum": ["Issuer", "Profile"]},
        "id": URI,
        "name": {"type": "string", "minLength": 1},
        "url": URI,
        "email": {"type": "string", "pattern": r"^[^@\s]+@[^@\s]+$"},
    },
}
TYPES = {"object": dict, "string": str, "boolean": bool, "array": list}


def _date_time(value: str) -> bool:
    try:
        return datetime.fromisoformat(value).tzinfo is not None and "T" in value
    except ValueError:
        return False


FORMATS = {"uri": lambda v: bool(re.match(r"^https?://[^/\s]+", v)), "date-time": _date_time}


def schema_errors(schema: dict[str, Any], value: Any, at: str = "$") -> list[str]:
    """The JSON Schema keywords these schemas use (jsonschema is not a dependency here)."""
    errors: list[str] = []
    if "type" in schema and not isinstance(value, TYPES[schema["type"]]):
        return [f"{at}: expected {schema['type']}"]
    if "const" in schema and (value != schema["const"] or type(value) is not type(schema["const"])):
        errors.append(f"{at}: expected {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{at}: expected one of {schema['enum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{at}: too short")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{at}: does not match {schema['pattern']}")
        if "format" in schema and not FORMATS[schema["format"]](value):
            errors.append(f"{at}: not a {schema['format']}")
    if isinstance(value, dict):
        errors += [f"{at}: missing {name}" for name in schema.get("required", []) if name not in value]
        if "anyOf" in schema and all(schema_errors(option, value, at) for option in schema["anyOf"]):
            errors.append(f"{at}: matches none of anyOf")
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                errors += schema_errors(sub, value[name], f"{at}.{name}")
    return errors


def test_the_schemas_catch_broken_documents() -> None:
    good = {"@context": OB, "type": "Assertion", "id": f"{BASE}/a.json", "badge": f"{BASE}/b.json",
            "recipient": {"type": "email", "hashed": True, "salt": "0123456789", "identity": "sha256$" + "a" * 64},
            "verification": {"type": "hosted"}, "issuedOn": "2024-05-01T10:00:00+00:00"}
    assert schema_errors(ASSERTION_SCHEMA, good) == []
    assert schema_errors(ASSERTION_SCHEMA, {k: v for k, v in good.items() if k != "recipient"}) == ["$: missing recipient"]
    assert schema_errors(ASSERTION_SCHEMA, {**good, "issuedOn": "2024-05-01T10:00:00"}) == ["$.issuedOn: not a date-time"]
    assert schema_errors(ASSERTION_SCHEMA, {**good, "recipient": {**good["recipient"], "hashed": "true"}})
    assert schema_errors(BADGE_CLASS_SCHEMA, {"criteria": {}})
    assert schema_errors(ISSUER_SCHEMA, {"@context": OB, "type": "Issuer", "id": "x", "name": "n", "url": BASE, "email": "e@x.org"}) \
        == ["$.id: not a uri"]


# --------------------------------------------------------------------------- making a level complete


@pytest.fixture()
def course(app, loaded) -> None:
    """The shipped curriculum, loaded."""


def _foundation_items(cohort: Any, user_id: int) -> dict[str, set[str]]:
    status = learner_progress(db.session, cohort, user_id, utcnow()).level_status("foundation")
    kinds: dict[str, set[str]] = {"lesson": set(), "quiz": set(), "assignment": set()}
    for part in status.parts:
        for item in part.items:
            kinds[item.kind].add(item.key)
    kinds["exam"] = {status.exam.key}
    kinds["portfolio"] = {status.portfolio.key}
    return kinds


def _pass(user_id: int, quiz: Quiz, percent: float = 80, number: int = 1) -> None:
    db.session.add(Attempt(quiz_id=quiz.id, user_id=user_id, number=number, layout=[], submitted_at=utcnow(),
                           score=percent, max_score=100))


def _accept(user_id: int, cohort_id: int, assignment: Assignment) -> None:
    db.session.add(Submission(assignment_id=assignment.id, user_id=user_id, cohort_id=cohort_id, status="released",
                              submitted_at=utcnow()))


def complete(cohort: Any, user: Any, leave: tuple[str, ...] = ()) -> dict[str, set[str]]:
    """Make the foundation level complete for ``user`` except the kinds in ``leave``
    (lesson, quiz, assignment, exam, portfolio), as tests/test_completion.py does; commits."""
    items = _foundation_items(cohort, user.id)
    if "lesson" not in leave:
        for lesson in db.session.scalars(select(Lesson).where(Lesson.key.in_(items["lesson"]))):
            db.session.add(LessonRead(user_id=user.id, lesson_id=lesson.id))
    for kind in ("quiz", "exam"):
        if kind not in leave:
            for quiz in db.session.scalars(select(Quiz).where(Quiz.key.in_(items[kind]))):
                _pass(user.id, quiz)
    for kind in ("assignment", "portfolio"):
        if kind not in leave:
            for assignment in db.session.scalars(select(Assignment).where(Assignment.key.in_(items[kind]))):
                _accept(user.id, cohort.id, assignment)
    db.session.commit()
    return items


def held(user_id: int) -> list[str]:
    db.session.expire_all()
    return [c.level.key for c in services.certificates_of(db.session, user_id)]


def total_certificates() -> int:
    return db.session.scalar(select(func.count()).select_from(Certificate))


# --------------------------------------------------------------------------- issuing


def test_released_portfolio_grade_issues_the_certificate(course, make_cohort, enrol_learner, make_user) -> None:
    teacher = make_user()
    cohort = make_cohort(months_ago=5, instructors=[teacher])
    user = enrol_learner(cohort)
    items = complete(cohort, user, leave=("portfolio",))
    assert services.issue_due(db.session, cohort, user.id, utcnow()) == [] and held(user.id) == []
    portfolio = db.session.scalar(select(Assignment).where(Assignment.key.in_(items["portfolio"])))
    work = Submission(assignment_id=portfolio.id, user_id=user.id, cohort_id=cohort.id, status="submitted", submitted_at=utcnow())
    db.session.add(work)
    db.session.add(SubmissionVersion(submission=work, number=1, body="My portfolio.", attachment_ids=[], submitted_at=utcnow()))
    db.session.commit()
    best = {c.id: c.levels[0].id for c in portfolio.rubric.current.criteria}
    save_grade(db.session, work, teacher, best, {}, "Nearly there.", None, "draft", utcnow())
    db.session.commit()
    assert held(user.id) == []  # a draft grade is not an accepted portfolio
    save_grade(db.session, db.session.get(Submission, work.id), teacher, best, {}, "Accepted.", 1, "release", utcnow())
    db.session.commit()
    assert held(user.id) == ["foundation"]
    # Idempotent: released again, or checked again, nothing more is issued.
    save_grade(db.session, db.session.get(Submission, work.id), teacher, best, {}, "Accepted, with a note.", 2, "release", utcnow())
    assert services.issue_due(db.session, cohort, user.id, utcnow()) == []
    db.session.commit()
    assert held(user.id) == ["foundation"] and total_certificates() == 1
    code = services.certificates_of(db.session, user.id)[0].code
    assert len(code) >= 22 and re.fullmatch(r"[A-Za-z0-9_-]+", code)


def _take_exam(user: Any, correct: bool, at: datetime | None = None) -> Attempt:
    """A real attempt at the foundation exam through the quiz services, on its single-choice
    questions only (answering the whole drawn exam correctly is beside the point here),
    started and handed in at ``at`` (now by default)."""
    at = at or utcnow()
    exam = db.session.scalar(select(Quiz).where(Quiz.key == "foundation-exam"))
    attempt = start_attempt(db.session, exam, user, at)
    versions = page_versions(db.session, attempt)
    pages = [p for p in attempt.layout if versions[p["version"]].spec.type == "single"]
    assert pages, "the exam draws single-choice questions"
    attempt.layout = pages
    attempt.max_score = sum(versions[p["version"]].points for p in pages)
    db.session.flush()
    for index, page in enumerate(pages):
        spec = versions[page["version"]].spec
        option = next(o.id for o in spec.options if o.correct is correct)
        save_page(db.session, attempt, index, MultiDict({field_name(index, spec, spec): option}), at)
    submit_attempt(db.session, attempt, at)
    db.session.commit()
    return attempt


def test_without_a_passed_exam_and_an_accepted_portfolio_the_check_reads_no_progress(
        course, make_cohort, enrol_learner, count_queries) -> None:
    """A level is complete only once its exam is passed and its portfolio accepted, so until
    the learner passed the exam of a level they hold no certificate for, ``issue_due`` stops
    after two statements (their certificates, their exam attempts), and after it, until a
    portfolio of theirs is accepted, after a few more, instead of working out their whole
    progress: what a passing module quiz or a released assignment grade costs meanwhile."""
    cohort = make_cohort(months_ago=5)
    user = enrol_learner(cohort)
    items = complete(cohort, user, leave=("exam", "portfolio"))
    exam = db.session.scalar(select(Quiz).where(Quiz.key.in_(items["exam"])))
    portfolio = db.session.scalar(select(Assignment).where(Assignment.key.in_(items["portfolio"])))
    assert exam.level_id is not None and exam.passing_score > 50
    uid = user.id

    def statements() -> int:
        db.session.expire_all()
        return count_queries(lambda: services.issue_due(db.session, cohort, uid, utcnow()))

    assert statements() == 2 and held(uid) == []  # everything done but the exam and the portfolio
    db.session.add(Attempt(quiz_id=exam.id, user_id=uid, number=1, layout=[], submitted_at=utcnow(), score=50, max_score=100))
    db.session.add(Attempt(quiz_id=exam.id, user_id=uid, number=2, layout=[], submitted_at=utcnow(), score=95,
                           max_score=100, pending_manual=True))  # not passed until its essays are graded
    db.session.add(Attempt(quiz_id=exam.id, user_id=uid, number=3, layout=[], submitted_at=None, score=None, max_score=100))
    db.session.commit()
    assert statements() == 2 and held(uid) == []
    attempt = db.session.scalar(select(Attempt).where(Attempt.user_id == uid, Attempt.number == 2))
    attempt.pending_manual = False  # graded: now passed
    db.session.add(Submission(assignment_id=portfolio.id, user_id=uid, cohort_id=cohort.id, status="submitted",
                              submitted_at=utcnow()))  # handed in, not yet accepted
    db.session.commit()
    waiting = statements()
    assert 2 < waiting <= 5 and held(uid) == []
    work = db.session.scalar(select(Submission).where(Submission.user_id == uid, Submission.assignment_id == portfolio.id))
    work.status = "released"
    db.session.commit()
    assert statements() > waiting and held(uid) == ["foundation"]
    assert statements() == 2  # the exam passed is of a level they now hold: nothing left to check


def test_a_teams_accepted_portfolio_completes_each_members_level(course, make_cohort, enrol_learner, make_user) -> None:
    """Team work is each member's (``lms.coursework.sharing``): a portfolio handed in by one
    member of a team and accepted lets the check through for the others too, and each gets
    the certificate."""
    teacher = make_user()
    cohort = make_cohort(months_ago=5, instructors=[teacher])
    holder, member = enrol_learner(cohort), enrol_learner(cohort)
    items = complete(cohort, holder, leave=("portfolio",))
    complete(cohort, member, leave=("portfolio",))
    portfolio = db.session.scalar(select(Assignment).where(Assignment.key.in_(items["portfolio"])))
    work = Submission(assignment_id=portfolio.id, user_id=holder.id, cohort_id=cohort.id, status="released",
                      submitted_at=utcnow())
    team = Team(assignment_id=portfolio.id, cohort_id=cohort.id, name="Portfolio pair", submission=work,
                created_by_id=teacher.id)
    db.session.add_all([work, team, TeamMember(assignment_id=portfolio.id, team=team, user_id=holder.id),
                        TeamMember(assignment_id=portfolio.id, team=team, user_id=member.id)])
    db.session.commit()
    assert services.has_accepted_portfolio(db.session, member.id)
    for person in (holder, member):
        services.issue_due(db.session, cohort, person.id, utcnow())
    db.session.commit()
    assert held(holder.id) == ["foundation"] and held(member.id) == ["foundation"]


def test_scored_exam_attempt_issues_the_certificate(course, make_cohort, enrol_learner) -> None:
    cohort = make_cohort(months_ago=4)  # the foundation exam is open
    user = enrol_learner(cohort)
    complete(cohort, user, leave=("exam",))
    failed = _take_exam(user, correct=False)
    assert failed.percent == 0 and held(user.id) == []
    passed = _take_exam(user, correct=True)
    assert passed.percent == 100 and passed.number == 2
    assert held(user.id) == ["foundation"] and total_certificates() == 1
    certificate = services.certificates_of(db.session, user.id)[0]
    assert certificate.user_id == user.id and certificate.issued_at is not None


def test_the_certificate_is_dated_when_the_exam_completed_the_level(course, make_cohort, enrol_learner) -> None:
    """The exam scored three days ago completed the level: the certificate (its page, its
    badges' issuedOn) says so, not the moment the signal's receiver happened to run."""
    cohort = make_cohort(months_ago=4)
    user = enrol_learner(cohort)
    complete(cohort, user, leave=("exam",))
    then = utcnow() - timedelta(days=3)
    _take_exam(user, correct=True, at=then)
    certificate = services.certificates_of(db.session, user.id)[0]
    assert certificate.issued_at == then


def test_the_check_button_issues_after_the_last_lesson(course, make_cohort, enrol_learner, client, login, count_queries) -> None:
    cohort = make_cohort(months_ago=5)
    user = enrol_learner(cohort)
    complete(cohort, user, leave=("lesson",))
    login(client, user)
    page = client.get("/certificates").get_data(as_text=True)
    assert "Still to do" in page and "lessons read 0 of" in page and "Check for new certificates" in page
    assert "Pass the Foundation level exam" not in page  # the exam is passed
    items = _foundation_items(cohort, user.id)
    for lesson in db.session.scalars(select(Lesson).where(Lesson.key.in_(items["lesson"]))):
        db.session.add(LessonRead(user_id=user.id, lesson_id=lesson.id))
    db.session.commit()
    assert client.get("/certificates").status_code == 200
    assert held(user.id) == []  # looking at the page writes nothing
    response = client.post("/certificates/check")
    assert response.status_code == 302 and response.headers["Location"].endswith("/certificates")
    assert held(user.id) == ["foundation"]
    assert client.post("/certificates/check").status_code == 302 and total_certificates() == 1
    page = client.get("/certificates").get_data(as_text=True)
    code = services.certificates_of(db.session, user.id)[0].code
    assert f"{BASE}/certificates/{code}" in page and f"{BASE}/badges/assertions/{code}.json" in page
    # The page costs the same number of statements for one certificate as for three.
    one = count_queries(lambda: client.get("/certificates"))
    for level in db.session.scalars(select(Level).where(Level.key != "foundation")):
        db.session.add(Certificate(user_id=user.id, level_id=level.id, code=f"test-{level.key}", issued_at=utcnow(),
                                   holder_name=user.name))
    db.session.commit()
    assert len(held(user.id)) == 3
    assert count_queries(lambda: client.get("/certificates")) == one


def test_the_periodic_check_asks_only_the_learners_whose_kept_state_has_a_level_complete(
        app, course, make_cohort, enrol_learner, count_queries) -> None:
    """``check-certificates`` used to work out every current learner's whole schedule, two
    statements each before that, on every run; it now asks the kept schedule state which
    learners have a level complete without its certificate, one statement a cohort."""
    cohort = make_cohort(months_ago=5)
    done, halfway = enrol_learner(cohort), enrol_learner(cohort)
    complete(cohort, done)  # written directly, as an import would: no certificate issued yet
    complete(cohort, halfway, leave=("exam",))
    assert held(done.id) == [] and services.learners_due(db.session, cohort.id) == [done.id]
    db.session.rollback()

    def check() -> str:
        result = app.test_cli_runner().invoke(args=["lms", "queue-job", "check-certificates"])
        assert result.exit_code == 0 and ": done." in result.output, result.output
        db.session.expire_all()
        return db.session.scalars(select(Job.result).order_by(Job.id.desc())).first() or ""

    assert "Issued 1 certificate to the learners of 1 cohort." in check()
    assert held(done.id) == ["foundation"] and held(halfway.id) == []
    assert services.learners_due(db.session, cohort.id) == []
    db.session.rollback()
    assert "Issued 0 certificates" in check()
    # Ten more learners part of the way through cost the check no statement more.
    before = count_queries(check)
    for _ in range(10):
        complete(cohort, enrol_learner(cohort), leave=("portfolio",))
    assert count_queries(check) == before


def test_an_unfinished_learner_gets_nothing_and_sees_what_is_missing(course, make_cohort, enrol_learner, client, login) -> None:
    cohort = make_cohort(months_ago=4)  # the foundation exam is open
    user = enrol_learner(cohort)
    complete(cohort, user, leave=("exam", "portfolio"))
    progress = learner_progress(db.session, cohort, user.id, utcnow())
    gaps = services.missing(progress.level_status("foundation"), progress.today)
    assert gaps[0].startswith("Pass the Foundation level exam") and "accepted" in gaps[1] and len(gaps) == 2
    login(client, user)
    assert client.post("/certificates/check").status_code == 302
    assert held(user.id) == []
    page = client.get("/certificates").get_data(as_text=True)
    assert "Pass the Foundation level exam" in page


def test_an_exam_and_quizzes_closed_without_a_pass_are_not_asked_to_be_passed(
        course, make_cohort, enrol_learner, client, login) -> None:
    """Months after the level, its exam and quizzes are closed: "Pass the exam" was a dead
    end. The page says which closed without a pass and what can still be done."""
    cohort = make_cohort(months_ago=10)
    user = enrol_learner(cohort)
    complete(cohort, user, leave=("exam", "quiz"))
    login(client, user)
    page = html.unescape(client.get("/certificates").get_data(as_text=True))
    foundation = page[page.index('id="level-foundation"'):page.index('id="level-intermediate"')]
    assert "Pass the Foundation level exam" not in foundation
    assert "The Foundation level exam closed on" in foundation and "without a pass" in foundation
    assert "closed without a pass: MLOps foundation quiz" in foundation
    assert services.REOPEN in foundation and services.EXAM_CLOSED in foundation


def test_my_list_holds_only_my_certificates(course, make_cohort, enrol_learner, client, login) -> None:
    cohort = make_cohort(months_ago=5)
    me, other = enrol_learner(cohort), enrol_learner(cohort)
    complete(cohort, other)
    theirs = services.issue_due(db.session, cohort, other.id, utcnow())
    db.session.commit()
    assert [c.level.key for c in theirs] == ["foundation"]
    assert services.certificates_of(db.session, me.id) == []
    login(client, me)
    page = client.get("/certificates").get_data(as_text=True)
    assert theirs[0].code not in page and "Still to do" in page


def test_a_former_learner_still_finds_their_certificates(app, course, make_cohort, enrol_learner, client, login) -> None:
    """The program over, the enrolment ended: the certificates page (and home's pointer to
    it) still lists what they earned, instead of a 403 and "You have no cohort yet"."""
    cohort = make_cohort(months_ago=13)
    graduate, leaver = enrol_learner(cohort), enrol_learner(cohort)
    complete(cohort, graduate)
    issued = services.issue_due(db.session, cohort, graduate.id, utcnow())
    for user in (graduate, leaver):
        end_enrolment(db.session, user, cohort, "Program finished")
    db.session.commit()
    login(client, graduate)
    mine = client.get("/certificates")
    page = mine.get_data(as_text=True)
    assert mine.status_code == 200 and issued[0].code in page and "Foundation level" in page
    assert f"Your enrolment in {cohort.name} ended on" in page and "/certificates/check" not in page
    home = client.get("/home").get_data(as_text=True)
    assert 'id="former-learner"' in home and 'href="/certificates"' in home and "You have no cohort yet" not in home
    other = app.test_client()
    login(other, leaver)
    page = other.get("/certificates").get_data(as_text=True)
    assert "No certificate was issued to you" in page


def test_losing_a_race_to_issue_keeps_the_callers_work(course, make_cohort, enrol_learner, monkeypatch) -> None:
    """Another request certifies the level between our check and our insert: we issue
    nothing, raise nothing, and the rest of our transaction still commits."""
    cohort = make_cohort(months_ago=5)
    user = enrol_learner(cohort)
    complete(cohort, user)
    foundation = db.session.scalar(select(Level).where(Level.key == "foundation"))

    def progress_then_a_rival_issues(session, cohort_, user_id, now):
        found = learner_progress(session, cohort_, user_id, now)
        session.execute(Certificate.__table__.insert().values(user_id=user_id, level_id=foundation.id, code="rival", issued_at=now,
                                                              holder_name="Rival"))
        return found

    monkeypatch.setattr(services, "learner_progress", progress_then_a_rival_issues)
    db.session.add(LessonRead(user_id=enrol_learner(cohort).id, lesson_id=db.session.scalar(select(Lesson.id).limit(1))))
    assert services.issue_due(db.session, cohort, user.id, utcnow()) == []
    db.session.commit()
    assert [c.code for c in db.session.scalars(select(Certificate))] == ["rival"]
    assert db.session.scalar(select(func.count()).select_from(LessonRead)) > 0  # our own work survived


# --------------------------------------------------------------------------- public page and badge documents


@pytest.fixture()
def certified(course, make_cohort, enrol_learner) -> Certificate:
    cohort = make_cohort(months_ago=5)
    user = enrol_learner(cohort, name="Ada Lovelace", email="ada@example.com")
    complete(cohort, user)
    certificate = services.issue_due(db.session, cohort, user.id, utcnow())[0]
    db.session.commit()
    return certificate


def path_of(url: str) -> str:
    assert url.startswith(f"{BASE}/"), url
    return urlsplit(url).path


def test_the_public_certificate_page(certified: Certificate, client) -> None:
    response = client.get(f"/certificates/{certified.code}")  # nobody signed in
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Ada Lovelace" in page and "Foundation level" in page and "AI Operations for Entrepreneurs" in page
    assert f"{BASE}/certificates/{certified.code}" in page
    assert certified.issued_at.strftime("%d %b %Y") in page
    assert "style.css" in page  # the print rules live in the stylesheet now (no inline styles under the CSP)
    assert client.get("/certificates/not-a-real-code").status_code == 404
    assert client.get(f"/certificates/{certified.code[:-1]}").status_code == 404


def test_the_assertion_validates_and_every_url_resolves(certified: Certificate, client, app) -> None:
    response = client.get(f"/badges/assertions/{certified.code}.json")
    assert response.status_code == 200 and response.mimetype == "application/ld+json"
    document = response.get_json(force=True)
    assert schema_errors(ASSERTION_SCHEMA, document) == []
    assert document["id"] == f"{BASE}/badges/assertions/{certified.code}.json"
    recipient = document["recipient"]
    assert recipient["identity"] == "sha256$" + hashlib.sha256(("ada@example.com" + recipient["salt"]).encode()).hexdigest()
    assert document["issuedOn"] == certified.issued_at.replace(microsecond=0).isoformat()
    # The salt is stable for the certificate, and differs between certificates.
    again = client.get(f"/badges/assertions/{certified.code}.json", headers={"Accept": "application/json"})
    assert again.mimetype == "application/json" and again.get_json()["recipient"] == recipient
    assert services.recipient_salt("another-code", app.config["SECRET_KEY"]) != recipient["salt"]

    assert client.get(path_of(document["id"])).get_json(force=True) == document  # hosted at its own id
    evidence = client.get(path_of(document["evidence"]))
    assert evidence.status_code == 200 and "Ada Lovelace" in evidence.get_data(as_text=True)

    badge = client.get(path_of(document["badge"]))
    assert badge.status_code == 200 and badge.mimetype == "application/ld+json"
    badge_class = badge.get_json(force=True)
    assert schema_errors(BADGE_CLASS_SCHEMA, badge_class) == []
    assert badge_class["id"] == document["badge"] and "Foundation" in badge_class["name"]
    image = client.get(path_of(badge_class["image"]))
    assert image.status_code == 200 and image.mimetype == "image/svg+xml"
    assert image.get_data(as_text=True).startswith("<svg") and "Foundation" in image.get_data(as_text=True)
    assert client.get(path_of(badge_class["criteria"]["id"])).status_code == 200

    issuer = client.get(path_of(badge_class["issuer"]))
    assert issuer.status_code == 200 and issuer.mimetype == "application/ld+json"
    profile = issuer.get_json(force=True)
    assert schema_errors(ISSUER_SCHEMA, profile) == []
    assert profile["id"] == badge_class["issuer"] and profile["email"] == app.config["MAIL_FROM"]
    assert client.get(path_of(profile["url"])).status_code == 200
    # Hosted verification: assertion, badge and issuer on one origin.
    assert {urlsplit(u).netloc for u in (document["id"], badge_class["id"], profile["id"])} == {"localhost"}


def test_unknown_codes_and_levels_answer_404(course, client) -> None:
    for url in ("/badges/assertions/not-a-code.json", "/badges/no-such-level.json"):
        response = client.get(url)
        assert response.status_code == 404 and response.get_json(force=True)["reason"]
    assert client.get("/badges/no-such-level.svg").status_code == 404
    assert client.get(f"/badges/assertions/{'x' * 200}.json").status_code == 404


def test_documents_are_built_from_plain_values(certified: Certificate) -> None:
    base = "https://lms.example.org/"
    document = services.assertion(certified, base, "secret")
    assert document["id"] == f"https://lms.example.org/badges/assertions/{certified.code}.json"
    assert document["recipient"]["salt"] == services.assertion(certified, base, "secret")["recipient"]["salt"]
    assert document["recipient"]["salt"] != services.assertion(certified, base, "other secret")["recipient"]["salt"]
    badge = services.badge_class(certified.level, base)
    assert badge["issuer"] == "https://lms.example.org/badges/issuer.json"
    assert schema_errors(BADGE_CLASS_SCHEMA, badge) == []
    assert schema_errors(ISSUER_SCHEMA, services.issuer_profile(base, "AI Operations", "hello@example.org")) == []


def test_an_organization_admin_lists_the_cohorts_certified_learners_and_reaches_revoke(
        course, make_org, make_user, make_cohort, enrol_learner, client, login, page_statements, monkeypatch) -> None:
    """The cohort's certified learners by name, with level, issue day, public page and the way to
    revoke (the existing confirmation, which asks for the reason): a page at a time, in as many
    statements for six learners as for two; another organization's cohort is not listed."""
    admin = make_user(name="Ada Admin")
    org = make_org(admins=[admin])
    cohort, elsewhere = make_cohort(org=org, months_ago=13), make_cohort(months_ago=13)
    levels = list(db.session.scalars(select(Level).order_by(Level.position)))
    stranger = enrol_learner(elsewhere, name="Sam Stranger")

    def certify(user: Any, level: Level) -> Certificate:
        found = Certificate(user_id=user.id, level_id=level.id, code=f"code-{user.id}-{level.id}", holder_name=user.name,
                            issued_at=utcnow())
        db.session.add(found)
        db.session.commit()
        return found

    certify(stranger, levels[0])
    ana, bo = enrol_learner(cohort, name="Ana Alder"), enrol_learner(cohort, name="Bo Birch")
    first = certify(ana, levels[0])
    certify(ana, levels[1])
    certify(bo, levels[0])
    end_enrolment(db.session, bo, cohort, "Program finished")  # a finished program: still their cohort's
    db.session.add(CredentialRevocation(certificate_id=first.id, revoked_at=utcnow(), reason="Exam copied."))
    db.session.commit()
    login(client, admin)
    url = f"/cohorts/{cohort.id}/certificates"
    page = client.get(url).get_data(as_text=True)
    rows = re.findall(r'<tr data-certificate="\d+">(.*?)</tr>', page, re.S)
    assert [re.search(r"<th scope=\"row\">(.*?)</th>", r).group(1) for r in rows] == ["Ana Alder", "Ana Alder", "Bo Birch"]
    assert levels[0].title in rows[0] and "revoked on" in rows[0] and "revoke…" not in rows[0]
    assert f'href="/badges/v3/manage/code-{ana.id}-{levels[1].id}?back=' in rows[1]  # the way back (Cancel) to this page and f"/certificates/code-{ana.id}-{levels[1].id}" in rows[1]
    assert "Sam Stranger" not in page
    assert client.get(f"/badges/v3/manage/code-{bo.id}-{levels[0].id}").status_code == 200  # the confirmation, reason asked
    assert f'href="{url}"' in client.get(f"/cohorts/{cohort.id}").get_data(as_text=True)
    assert f'href="{url}"' in client.get(f"/organizations/{org.id}/competency").get_data(as_text=True)

    before = page_statements(client, [url])
    for n in range(4):
        certify(enrol_learner(cohort, name=f"Cy {n}"), levels[0])
    assert page_statements(client, [url]) == before
    monkeypatch.setattr(services, "CERTIFIED_PER_PAGE", 2)
    second = client.get(f"{url}?page=2").get_data(as_text=True)
    assert len(re.findall(r"<tr data-certificate=", second)) == 2 and "page 2 of 4" in second
