"""Grades are never silently overwritten, and racing requests get an answer, not a 500.

The races are real: each thread has its own test client, so each request runs in its own
app context with its own session and its own connection to the worker's database (a file
on SQLite, a schema on PostgreSQL with TEST_DATABASE_URL), and the threads are released
together by a barrier. The service tests below replay the losing interleaving exactly:
another session saves and commits between the loser's read and its write."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.assessment import services as assessment
from lms.assessment.models import Attempt, Quiz
from lms.cohorts.enrolment import hold_enrolment
from lms.cohorts.models import Enrolment, MemberMark
from lms.coursework.models import Submission
from lms.database import utcnow
from lms.extensions import db
from lms.grading import services as grading
from lms.grading.models import Grade, GradeEvent

CASE = "mlops-case-coldwatch"
SAMPLE_QUIZZES = Path(__file__).parent / "data" / "quizzes"
RACERS = 8


def race(actions: list[Callable[[], Any]]) -> list[Any]:
    """Run the actions in threads released together; their results, in order. A thread
    that raised fails the test with its exception."""
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[i] = actions[i]()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a racing request hung"
    if errors:
        raise errors[0]
    return results


def outcomes(responses: list[Any]) -> Counter[int]:
    return Counter(r.status_code for r in responses)


# --------------------------------------------------------------------------- grading


@pytest.fixture()
def grading_course(app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user, login):
    """Submitted work in a cohort with an instructor and an organization admin, and eight
    signed-in clients: four of each."""
    admin = make_user(name="Olga Admin", timezone="Europe/Berlin")
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(make_org(admins=[admin]), "Main", months_ago=5, instructors=[teacher])
    learner = enrol_learner(cohort, name="Lia Learner")
    client = app.test_client()
    login(client, learner)
    assert client.post(f"/assignments/{CASE}/work", data={"body": "My analysis.", "action": "submit"}).status_code == 302
    db.session.expire_all()
    work = db.session.scalar(select(Submission).where(Submission.user_id == learner.id))
    graders = []
    for i in range(RACERS):
        grader = app.test_client()
        login(grader, teacher if i % 2 == 0 else admin)
        graders.append(grader)
    return {"work": work, "teacher": teacher, "admin": admin, "graders": graders,
            "url": f"/cohorts/{work.cohort_id}/submissions/{work.id}",
            "criteria": work.assignment.rubric.current.criteria}


def grade_form(criteria: Any, pick: int, feedback: str, revision: Any, action: str = "draft") -> dict[str, str]:
    return {**{f"level-{c.id}": c.levels[pick].id for c in criteria}, "feedback": feedback,
            "action": action, "revision": "" if revision is None else str(revision)}


def test_concurrent_saves_from_one_revision_keep_exactly_one(grading_course) -> None:
    course = grading_course
    first = course["graders"][0].post(course["url"], data=grade_form(course["criteria"], 0, "First pass", None))
    assert first.status_code == 302
    revision = db.session.scalar(select(Grade.revision))
    actions = ["draft", "release", "return", "draft"]
    forms = [grade_form(course["criteria"], i % 4, f"Verdict number {i}", revision, actions[i % 4]) for i in range(RACERS)]
    responses = race([lambda c=client, f=form: c.post(course["url"], data=f)
                      for client, form in zip(course["graders"], forms, strict=True)])
    counts = outcomes(responses)
    print(f"\nconcurrent saves from one revision: {dict(counts)}")
    assert counts == {302: 1, 409: RACERS - 1}
    db.session.expire_all()
    grade = db.session.scalars(select(Grade)).one()
    winner = next(i for i, r in enumerate(responses) if r.status_code == 302)
    assert grade.revision == revision + 1 and grade.feedback == f"Verdict number {winner}"
    events = db.session.scalars(select(GradeEvent).order_by(GradeEvent.id)).all()
    assert len(events) == 2  # the first save and the one accepted save
    assert events[1].after["feedback"] == f"Verdict number {winner}" and events[1].action == actions[winner % 4]
    winner_name = (course["teacher"] if winner % 2 == 0 else course["admin"]).name
    for i, response in enumerate(responses):
        if i == winner:
            continue
        page = response.get_data(as_text=True)
        if i % 2 == winner % 2:  # the same grader, from another tab: told it was their own save
            assert "you changed this grade at " in page and "in another tab or window" in page
        else:
            assert f"changed by {winner_name} at " in page
        assert f"Verdict number {i}" in page  # the refused grader's input is kept in the form
        assert f'name="revision" value="{revision + 1}"' in page  # a deliberate second save may replace it


def test_concurrent_first_grades_make_one_grade(grading_course) -> None:
    course = grading_course
    forms = [grade_form(course["criteria"], i % 4, f"First verdict {i}", None) for i in range(RACERS)]
    responses = race([lambda c=client, f=form: c.post(course["url"], data=f)
                      for client, form in zip(course["graders"], forms, strict=True)])
    counts = outcomes(responses)
    print(f"\nconcurrent first grades: {dict(counts)}")
    assert counts == {302: 1, 409: RACERS - 1}
    db.session.expire_all()
    grade = db.session.scalars(select(Grade)).one()
    winner = next(i for i, r in enumerate(responses) if r.status_code == 302)
    assert grade.revision == 1 and grade.feedback == f"First verdict {winner}"
    assert db.session.scalar(select(func.count()).select_from(GradeEvent)) == 1
    other = next(i for i, r in enumerate(responses) if r.status_code == 409 and i % 2 != winner % 2)  # the other grader
    assert "Not saved: this grade was changed by" in responses[other].get_data(as_text=True)
    same = next(i for i, r in enumerate(responses) if r.status_code == 409 and i % 2 == winner % 2)  # the winner's other tab
    assert "Not saved: you changed this grade at " in responses[same].get_data(as_text=True)


def test_the_refusal_names_the_winner_and_the_time_in_the_viewers_zone(grading_course) -> None:
    course = grading_course
    teacher, admin = course["graders"][0], course["graders"][1]
    assert teacher.post(course["url"], data=grade_form(course["criteria"], 1, "Tess decides", None)).status_code == 302
    db.session.expire_all()
    grade = db.session.scalars(select(Grade)).one()
    late = admin.post(course["url"], data=grade_form(course["criteria"], 2, "Olga's late view", None, "release"))
    assert late.status_code == 409
    page = late.get_data(as_text=True)
    local = grade.updated_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert f"changed by Tess Teacher at {local:%d %b %Y, %H:%M} {local.tzname()}" in page
    assert "Olga&#39;s late view" in page and "Tess decides" in page  # her input, and the grade as it stands


# --------------------------------------------------------------------------- the losing interleaving, replayed


@contextmanager
def before_first_flush(session: Any, meanwhile: Callable[[], None]) -> Iterator[None]:
    """Run ``meanwhile`` (another session's committed work) when ``session`` is about to
    write for the first time: after it read, before it wrote."""
    done = []

    def hook(*_: Any) -> None:
        if not done:
            done.append(True)
            meanwhile()

    target = session() if isinstance(session, sa.orm.scoped_session) else session
    sa.event.listen(target, "before_flush", hook)
    try:
        yield
    finally:
        sa.event.remove(target, "before_flush", hook)
    assert done, "the session never wrote"


def save_elsewhere(work_id: int, grader_id: int, feedback: str, revision: int | None) -> Callable[[], None]:
    def save() -> None:
        with Session(db.engine) as other:
            work = other.get_one(Submission, work_id)
            grader = other.get_one(grading.User, grader_id)
            levels = {c.id: c.levels[0].id for c in work.assignment.rubric.current.criteria}
            grading.save_grade(other, work, grader, levels, {}, feedback, revision, "draft", utcnow())
            other.commit()
    return save


@pytest.fixture()
def sent_grades() -> Iterator[list[Any]]:
    sent: list[Any] = []

    def receive(grade: Any, session: Any, **_: Any) -> None:
        sent.append((grade.feedback, session))

    grading.grade_saved.connect(receive)
    yield sent
    grading.grade_saved.disconnect(receive)


def test_a_save_overtaken_between_read_and_write_is_refused(grading_course, sent_grades) -> None:
    course = grading_course
    work, teacher, admin = course["work"], course["teacher"], course["admin"]
    levels = {c.id: c.levels[1].id for c in course["criteria"]}
    grading.save_grade(db.session, work, teacher, levels, {}, "First pass", None, "draft", utcnow())
    db.session.commit()
    sent_grades.clear()
    # The admin's save reads the grade at revision 1 (so the check in Python passes), then
    # the instructor's save from revision 1 commits, then the admin's write runs.
    with (before_first_flush(db.session, save_elsewhere(work.id, teacher.id, "Teacher's second pass", 1)),
          pytest.raises(grading.StaleGrade) as refused):
        grading.save_grade(db.session, work, admin, levels, {}, "Admin overwrites", 1, "release", utcnow())
    assert refused.value.changed_by == "Tess Teacher" and refused.value.current.revision == 2
    assert refused.value.current.feedback == "Teacher's second pass"
    assert [feedback for feedback, _ in sent_grades] == ["Teacher's second pass"]  # none for the refused save
    assert all(session is not db.session for _, session in sent_grades)
    assert not any(isinstance(o, GradeEvent) for o in db.session.new)  # no event for the refused save
    db.session.rollback()
    grade = db.session.scalars(select(Grade)).one()
    assert (grade.revision, grade.feedback, grade.status) == (2, "Teacher's second pass", "draft")
    assert [e.after["feedback"] for e in db.session.scalars(select(GradeEvent).order_by(GradeEvent.id))] == \
        ["First pass", "Teacher's second pass"]


def test_a_first_grade_overtaken_is_refused_and_the_callers_work_survives(grading_course) -> None:
    course = grading_course
    work, teacher, admin = course["work"], course["teacher"], course["admin"]
    levels = {c.id: c.levels[2].id for c in course["criteria"]}
    with (before_first_flush(db.session, save_elsewhere(work.id, teacher.id, "Teacher was first", None)),
          pytest.raises(grading.StaleGrade) as refused):
        grading.save_grade(db.session, work, admin, levels, {}, "Admin also first", None, "draft", utcnow())
    assert refused.value.changed_by == "Tess Teacher" and refused.value.current.revision == 1
    # The unique constraint was caught in a savepoint: the session is still usable.
    assert db.session.scalar(select(func.count()).select_from(Grade)) == 1
    db.session.rollback()
    assert db.session.scalars(select(Grade.feedback)).all() == ["Teacher was first"]
    assert db.session.scalar(select(func.count()).select_from(GradeEvent)) == 1


def test_a_save_from_an_older_revision_is_refused_before_writing(grading_course) -> None:
    course = grading_course
    work, teacher = course["work"], course["teacher"]
    levels = {c.id: c.levels[0].id for c in course["criteria"]}
    grading.save_grade(db.session, work, teacher, levels, {}, "One", None, "draft", utcnow())
    grading.save_grade(db.session, work, teacher, levels, {}, "Two", 1, "draft", utcnow())
    db.session.commit()
    with pytest.raises(grading.StaleGrade, match="changed by Tess Teacher"):
        grading.save_grade(db.session, work, teacher, levels, {}, "Three", 1, "draft", utcnow())
    db.session.rollback()
    assert db.session.scalars(select(Grade.revision)).one() == 2


# --------------------------------------------------------------------------- starting a quiz


@pytest.fixture()
def quiz_learner(app: Flask, load_content, make_cohort, enrol_learner, login):
    app.config["QUIZZES_DIR"] = SAMPLE_QUIZZES
    load_content()
    learner = enrol_learner(make_cohort(months_ago=1))
    clients = []
    for _ in range(RACERS):
        client = app.test_client()
        login(client, learner)
        clients.append(client)
    return learner, clients


def attempt_in(response: Any) -> int:
    return int(response.headers["Location"].split("/attempts/")[1].split("/")[0])


def test_concurrent_starts_of_one_quiz_make_one_attempt(quiz_learner) -> None:
    learner, clients = quiz_learner
    responses = race([lambda c=client: c.post("/quizzes/sample-quiz/start") for client in clients])
    counts = outcomes(responses)
    print(f"\nconcurrent starts of one quiz: {dict(counts)}")
    assert counts == {302: RACERS}
    db.session.expire_all()
    attempts = db.session.scalars(select(Attempt).where(Attempt.user_id == learner.id)).all()
    assert len(attempts) == 1 and attempts[0].number == 1
    assert {attempt_in(r) for r in responses} == {attempts[0].id}  # every click lands on the one attempt


def test_a_start_overtaken_returns_the_attempt_that_won(quiz_learner, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another start commits just before this one takes the learner's enrolment (its first
    write, ``hold_enrolment``; a start that comes while it is held waits for it, as a move
    does): this one reads the attempt that won and returns it."""
    learner, _ = quiz_learner
    quiz = db.session.scalars(select(Quiz).where(Quiz.key == "sample-quiz")).one()

    def start_elsewhere() -> None:
        with Session(db.engine) as other:
            assessment.start_attempt(other, other.get_one(Quiz, quiz.id), other.get_one(assessment.User, learner.id), utcnow())
            other.commit()

    def overtaken(session: Any, user_id: int) -> Any:
        monkeypatch.setattr(assessment, "hold_enrolment", hold_enrolment)  # the other start holds as usual
        start_elsewhere()
        return hold_enrolment(session, user_id)

    monkeypatch.setattr(assessment, "hold_enrolment", overtaken)
    attempt = assessment.start_attempt(db.session, quiz, learner, utcnow())
    db.session.commit()
    attempts = db.session.scalars(select(Attempt)).all()
    assert [a.id for a in attempts] == [attempt.id] and attempt.number == 1


# --------------------------------------------------------------------------- a database held by another writer


@contextmanager
def sqlite_held_by_another_writer(busy_ms: int = 200) -> Iterator[None]:
    """Another process holds SQLite's write lock, and the app's connections wait ``busy_ms``
    for it (instead of Python's default five seconds) before "database is locked"."""
    engine = db.engine
    if engine.url.get_backend_name() != "sqlite":
        pytest.skip("SQLite's database-wide write lock")

    def short_wait(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {busy_ms}")

    db.session.commit()
    engine.dispose()
    sa.event.listen(engine, "connect", short_wait)
    holder = sqlite3.connect(engine.url.database or "", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        sa.event.remove(engine, "connect", short_wait)
        engine.dispose()


def test_a_save_while_another_writer_holds_sqlite_is_refused_not_a_500(grading_course) -> None:
    course = grading_course
    form = grade_form(course["criteria"], 1, "Saved while busy", None)
    with sqlite_held_by_another_writer():
        busy = course["graders"][0].post(course["url"], data=form)
    assert busy.status_code == 409
    page = busy.get_data(as_text=True)
    assert "database was busy" in page and "Saved while busy" in page  # the input is kept
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Grade)) == 0
    assert course["graders"][0].post(course["url"], data=form).status_code == 302  # saving again works


def test_a_start_while_another_writer_holds_sqlite_says_so(quiz_learner) -> None:
    learner, clients = quiz_learner
    with sqlite_held_by_another_writer():
        busy = clients[0].post("/quizzes/sample-quiz/start", follow_redirects=True)
    assert busy.status_code == 200 and "site was busy" in busy.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Attempt)) == 0
    assert "/attempts/" in clients[0].post("/quizzes/sample-quiz/start").headers["Location"]


# --------------------------------------------------------------------------- moves between two cohorts


def test_moves_between_two_cohorts_both_ways_at_once_all_land(app: Flask, loaded, make_org, make_cohort, enrol_learner,
                                                                 make_user, login) -> None:
    """Learners moved from North to South and others from South to North, all at once:
    each move ends one cohort's enrolment and starts one in the other, and the database's
    triggers draw both cohorts' member marks again (``MemberMark``). Every move lands, none
    waits on another for ever (``hold_member_marks`` takes both marks in the cohorts' order
    first), and both marks are new."""
    admin = make_user(name="Olga Admin")
    org = make_org(admins=[admin])
    north, south = make_cohort(org, "North", months_ago=2), make_cohort(org, "South", months_ago=2)
    pairs = [(enrol_learner(north, name=f"North {n}"), north, south) for n in range(RACERS // 2)]
    pairs += [(enrol_learner(south, name=f"South {n}"), south, north) for n in range(RACERS // 2)]
    marks = {cohort: revision for cohort, revision in db.session.execute(select(MemberMark.cohort_id, MemberMark.revision))}
    clients = []
    for _ in pairs:
        client = app.test_client()
        login(client, admin)
        clients.append(client)
    moves = [(learner.id, source.id, target.id) for learner, source, target in pairs]
    north_id, south_id = north.id, south.id
    responses = race([lambda c=client, learner=learner, source=source, target=target: c.post(
        f"/cohorts/{source}/learners/{learner}/move", data={"move-target": target, "move-pace": "catch_up"})
        for client, (learner, source, target) in zip(clients, moves, strict=True)])
    assert outcomes(responses) == {302: len(moves)}
    db.session.expire_all()
    now_in = dict(db.session.execute(select(Enrolment.user_id, Enrolment.cohort_id).where(Enrolment.active)).all())
    assert {learner: now_in[learner] for learner, _source, _target in moves} == {learner: target for learner, _source, target in moves}
    after = dict(db.session.execute(select(MemberMark.cohort_id, MemberMark.revision)).all())
    assert after[north_id] != marks[north_id] and after[south_id] != marks[south_id]
