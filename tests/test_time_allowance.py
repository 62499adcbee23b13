"""Time allowances on timed quizzes and exams (WCAG 2.2.1, timing adjustable): the cohort's
staff give a learner 25% or 50% extra time, double time or no limit; a new attempt gets
the quiz's limit times the allowance and keeps it; the learner sees their own limit; two
staff changing it at once never overwrite each other silently; a move to another cohort
keeps it; every change is in the audit log."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from lms.accounts.models import User
from lms.assessment import services
from lms.assessment.models import Attempt, AttemptClosedBy, Quiz
from lms.audit.models import AuditAction, AuditEntry
from lms.cohorts.enrolment import move_learner
from lms.cohorts.models import Cohort, Enrolment, TimeAllowance
from lms.cohorts.services import CohortError
from lms.database import utcnow
from lms.extensions import db
from lms.learning.services import set_time_allowance
from tests.races import second_waits_for_first
from tests.test_quizzes import SAMPLE_DIR, quiz, started_id

LIMIT = 30  # the sample quiz's time limit, minutes


@pytest.fixture()
def sample(app: Flask, load_content) -> Quiz:
    app.config["QUIZZES_DIR"] = SAMPLE_DIR
    load_content()
    found = quiz()
    assert found.time_limit_minutes == LIMIT
    return found


@pytest.fixture()
def people(sample: Quiz, make_cohort, enrol_learner, make_user) -> dict[str, Any]:
    """A learner one month into a cohort (the sample quiz is open) and its instructor."""
    teacher = make_user()
    cohort = make_cohort(months_ago=1, instructors=[teacher])
    return {"cohort": cohort, "learner": enrol_learner(cohort), "teacher": teacher}


def allowance_of(user_id: int) -> TimeAllowance:
    db.session.expire_all()
    return db.session.scalars(select(Enrolment.time_allowance).where(Enrolment.user_id == user_id, Enrolment.active)).one()


@pytest.mark.parametrize(("allowance", "minutes"), [
    (TimeAllowance.STANDARD, 30), (TimeAllowance.EXTRA_25, 38), (TimeAllowance.EXTRA_50, 45), (TimeAllowance.DOUBLE, 60),
    (TimeAllowance.UNTIMED, None)])
def test_the_minutes_a_learner_has_follow_their_allowance(sample: Quiz, allowance: TimeAllowance, minutes: int | None) -> None:
    assert services.minutes_allowed(sample, allowance) == minutes  # 37.5 rounds up: never less than the allowance


def test_staff_give_extra_time_and_the_learners_next_attempt_has_it(app: Flask, people: dict[str, Any], sample: Quiz,
                                                                      client, login) -> None:
    learner, cohort = people["learner"], people["cohort"]
    login(client, people["teacher"])
    page = client.get(f"/cohorts/{cohort.id}/learners/{learner.id}").get_data(as_text=True)
    assert 'id="time-allowance"' in page and "has <strong>standard time</strong>" in page
    saved = client.post(f"/cohorts/{cohort.id}/learners/{learner.id}/time-allowance",
                        data={"allowance-allowance": "extra_50", "allowance-seen": "standard"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith("#time-allowance")
    assert allowance_of(learner.id) == TimeAllowance.EXTRA_50
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.TIME_ALLOWANCE_SET)).one()
    assert entry.actor_id == people["teacher"].id and entry.organization_id == cohort.organization_id
    assert entry.target == f"user:{learner.id} cohort:{cohort.id}"
    assert entry.before == {"time_allowance": "standard"} and entry.after == {"time_allowance": "extra_50"}
    assert "has <strong>50% extra time</strong>" in client.get(f"/cohorts/{cohort.id}/learners/{learner.id}").get_data(as_text=True)

    theirs = app.test_client()
    login(theirs, learner)
    shown = theirs.get("/quizzes/sample-quiz").get_data(as_text=True)
    assert "Time limit 45 minutes (yours, with 50% extra time; the quiz's is 30)" in shown
    attempt = db.session.get(Attempt, started_id(theirs.post("/quizzes/sample-quiz/start")))
    assert attempt.minutes_allowed == 45 and attempt.deadline_at == attempt.started_at + timedelta(minutes=45)


def test_a_learner_with_standard_time_sees_the_quizs_limit(people: dict[str, Any], client, login) -> None:
    login(client, people["learner"])
    shown = client.get("/quizzes/sample-quiz").get_data(as_text=True)
    assert "Time limit 30 minutes, kept by the server" in shown and "yours, with" not in shown


def test_an_attempt_keeps_the_time_it_started_with_and_runs_out_on_it(people: dict[str, Any], sample: Quiz) -> None:
    learner, cohort, teacher = people["learner"], people["cohort"], people["teacher"]
    set_time_allowance(db.session, cohort, learner, TimeAllowance.DOUBLE, TimeAllowance.STANDARD, teacher)
    db.session.commit()
    started = utcnow()
    attempt = services.start_attempt(db.session, sample, learner, started)
    db.session.commit()
    assert attempt.minutes_allowed == 2 * LIMIT
    # Lowered meanwhile: the running attempt keeps its hour.
    set_time_allowance(db.session, cohort, learner, TimeAllowance.STANDARD, TimeAllowance.DOUBLE, teacher)
    db.session.commit()
    services.save_page(db.session, attempt, 0, MultiDict({"p0": "a"}), started + timedelta(minutes=45))
    with pytest.raises(services.AttemptClosed):
        services.save_page(db.session, attempt, 1, MultiDict({"p1": "a"}), started + timedelta(minutes=61))
    db.session.commit()
    attempt = db.session.get_one(Attempt, attempt.id)
    # Closed by its own (lengthened) limit, not by the quiz closing.
    assert attempt.closed_by == AttemptClosedBy.TIME_LIMIT and attempt.submitted_at == started + timedelta(minutes=60)


def test_untimed_learners_attempts_close_only_with_the_quiz(people: dict[str, Any], sample: Quiz, client, login) -> None:
    learner = people["learner"]
    set_time_allowance(db.session, people["cohort"], learner, TimeAllowance.UNTIMED, TimeAllowance.STANDARD, people["teacher"])
    db.session.commit()
    closes = services.quiz_status(db.session, sample, learner, utcnow()).window.closes_at
    login(client, learner)
    assert "No time limit for you (the quiz's is 30 minutes)" in client.get("/quizzes/sample-quiz").get_data(as_text=True)
    attempt = db.session.get_one(Attempt, started_id(client.post("/quizzes/sample-quiz/start")))
    assert attempt.minutes_allowed is None and attempt.deadline_at == closes
    assert services.expire_if_due(db.session, attempt, closes + timedelta(seconds=1))
    assert attempt.closed_by == AttemptClosedBy.QUIZ_CLOSED


def test_a_change_made_meanwhile_is_not_overwritten(people: dict[str, Any], client, login) -> None:
    learner, cohort = people["learner"], people["cohort"]
    set_time_allowance(db.session, cohort, learner, TimeAllowance.DOUBLE, TimeAllowance.STANDARD, people["teacher"])
    db.session.commit()
    login(client, people["teacher"])
    # A page shown before that change still says "standard".
    stale = client.post(f"/cohorts/{cohort.id}/learners/{learner.id}/time-allowance",
                        data={"allowance-allowance": "extra_25", "allowance-seen": "standard"})
    assert stale.status_code == 400
    page = stale.get_data(as_text=True)
    assert "changed" in page and "meanwhile: it is now double time" in page
    assert re.search(r'name="allowance-seen" type="hidden" value="double"', page)  # saving again now applies
    assert allowance_of(learner.id) == TimeAllowance.DOUBLE


def test_two_changes_at_once_one_wins_and_the_other_is_told(app: Flask, people: dict[str, Any]) -> None:
    ids = {name: people[name].id for name in ("cohort", "learner", "teacher")}
    db.session.commit()

    def change(to: TimeAllowance) -> Any:
        def run(session: sa.orm.Session) -> str:
            try:
                set_time_allowance(session, session.get_one(Cohort, ids["cohort"]), session.get_one(User, ids["learner"]), to,
                                   TimeAllowance.STANDARD, session.get_one(User, ids["teacher"]))
            except CohortError as exc:
                return str(exc)
            return "saved"
        return run

    first, second = second_waits_for_first(app, change(TimeAllowance.EXTRA_50), change(TimeAllowance.DOUBLE))
    assert first == "saved" and "meanwhile: it is now 50% extra time" in second
    assert allowance_of(ids["learner"]) == TimeAllowance.EXTRA_50
    assert len(db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.TIME_ALLOWANCE_SET)).all()) == 1


def test_bad_input_is_refused_with_a_message(people: dict[str, Any], client, login) -> None:
    learner, cohort = people["learner"], people["cohort"]
    login(client, people["teacher"])
    for data in ({"allowance-allowance": "triple", "allowance-seen": "standard"},
                 {"allowance-allowance": "double", "allowance-seen": "whatever"}, {}):
        answer = client.post(f"/cohorts/{cohort.id}/learners/{learner.id}/time-allowance", data=data)
        assert answer.status_code == 400 and 'class="error" role="alert"' in answer.get_data(as_text=True)
    assert allowance_of(learner.id) == TimeAllowance.STANDARD


def test_a_moved_learner_keeps_their_allowance(people: dict[str, Any], make_cohort) -> None:
    learner, cohort = people["learner"], people["cohort"]
    set_time_allowance(db.session, cohort, learner, TimeAllowance.EXTRA_25, TimeAllowance.STANDARD, people["teacher"])
    target = make_cohort(org=cohort.organization, months_ago=1)
    move_learner(db.session, learner, cohort, target, utcnow())
    db.session.commit()
    assert allowance_of(learner.id) == TimeAllowance.EXTRA_25


def test_someone_not_in_the_cohort_is_refused(people: dict[str, Any], make_cohort, enrol_learner) -> None:
    elsewhere = enrol_learner(make_cohort(months_ago=1))
    with pytest.raises(CohortError, match="is not a learner of"):
        set_time_allowance(db.session, people["cohort"], elsewhere, TimeAllowance.DOUBLE, TimeAllowance.STANDARD,
                           people["teacher"])


def test_the_cohort_page_shows_staff_who_has_an_allowance(people: dict[str, Any], enrol_learner, client, login,
                                                          page_statements) -> None:
    learner, cohort = people["learner"], people["cohort"]
    other = enrol_learner(cohort)
    login(client, people["teacher"])
    [before] = page_statements(client, [f"/cohorts/{cohort.id}"])
    set_time_allowance(db.session, cohort, learner, TimeAllowance.DOUBLE, TimeAllowance.STANDARD, people["teacher"])
    db.session.commit()
    page = client.get(f"/cohorts/{cohort.id}").get_data(as_text=True)
    rows = {name: row for name, row in re.findall(r"<tr>\s*<td>([^<]+)</td>(.*?)</tr>", page, re.S)}
    assert "Timed quizzes: double time" in rows[learner.name]
    assert "Timed quizzes" not in rows[other.name]  # standard time: nothing to say
    assert page_statements(client, [f"/cohorts/{cohort.id}"]) == [before]  # read with the enrolments, no statement more
