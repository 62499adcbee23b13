"""After a learner's program has closed (``lms.learning.services.Close``: the cohort's close,
or their own for a late joiner at their own pace) nothing more is handed in (work, team work,
the portfolio review, quiz attempts) unless an extension runs to today or later; reading stays
open, and the pages say so instead of offering a form. Extensions may run to the close; the
gradebook's overdue filter leaves finished learners off, as the at-risk lists do."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from flask import Flask
from sqlalchemy import func, select

from lms.assessment import services as quizzes
from lms.assessment.models import Attempt, AttemptClosedBy, Quiz, QuizKind
from lms.catalog.models import Level, Phase
from lms.cohorts.calendar import program_closes_on
from lms.cohorts.models import Pace
from lms.coursework.models import Assignment, Submission, SubmissionVersion
from lms.database import utcnow
from lms.extensions import db
from lms.gradebook.models import RowFilter
from lms.gradebook.services import gradebook
from lms.learning.models import OverrideKind
from lms.learning.services import Close, Timeline, cohort_today, grant_override, latest_extension, learner_schedule, opens_at
from lms.teams.models import Team

CAPSTONE = "impl-capstone"  # month 12, due 35 days into it
TEAM_KEY = "intl-hands-on-entry-plan"  # month 9, learners form the teams


def _assignment(key: str) -> Assignment:
    return db.session.scalars(select(Assignment).where(Assignment.key == key)).one()


def _said(cohort: Any) -> str:
    return f"The program of {cohort.name} closed on {program_closes_on(cohort.start_date):%d %B %Y}"


@pytest.fixture()
def closed(app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user, login) -> dict[str, Any]:
    """A cohort whose program closed about two weeks ago (13 months after its start), its
    instructor and two learners, each signed in on a client of their own."""
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(make_org(), "Founders", months_ago=13, instructors=[teacher])
    assert cohort_today(cohort, utcnow()) > program_closes_on(cohort.start_date)
    learners = [enrol_learner(cohort, name=f"Founder {n}") for n in "AB"]
    clients = {}
    for person in [*learners, teacher]:
        clients[person.id] = app.test_client()
        login(clients[person.id], person)
    return {"cohort": cohort, "teacher": teacher, "learners": learners, "clients": clients}


def _extend(closed: dict[str, Any], learner: Any, phase_id: int, days: int = 5) -> None:
    today = cohort_today(closed["cohort"], utcnow())
    grant_override(db.session, closed["cohort"], learner, phase_id, OverrideKind.EXTENSION, today + timedelta(days=days),
                   "after the close", closed["teacher"])
    db.session.commit()


def test_the_close_refuses_past_due_work_and_lets_work_due_today_or_extended_through() -> None:
    close = Close("Founders", datetime(2027, 3, 15).date(), own=False, zone="Europe/Berlin")
    day = close.on
    before = datetime.combine(day - timedelta(days=1), time(12), tzinfo=UTC)
    on_the_day = datetime.combine(day, time(12), tzinfo=UTC)
    assert close.refuses(day - timedelta(days=30), before, "work") is None  # not closed yet: late, not refused
    # the final work may be due on the close itself (a short month 12): handed in that day
    assert close.refuses(day, on_the_day, "work") is None
    refused = close.refuses(day - timedelta(days=1), on_the_day, "work")
    assert refused == ("The program of Founders closed on 15 March 2027: work can no longer be handed in unless your "
                       "instructor grants you an extension.")
    assert close.refuses(day + timedelta(days=10), on_the_day + timedelta(days=5), "work") is None  # extended
    # counted in the cohort's zone: 23:30 UTC on the eve is already the closing day in Berlin
    eve = datetime.combine(day - timedelta(days=1), time(23, 30), tzinfo=UTC)
    assert close.passed(eve) and not Close("Founders", day, own=False, zone="UTC").passed(eve)
    own = Close("Founders", day, own=True, zone="UTC")
    assert own.says("x").startswith("Your program in Founders closed on 15 March 2027: x")


def test_work_is_refused_after_the_close_and_the_page_says_so(closed) -> None:
    learner, client, cohort = closed["learners"][0], closed["clients"][closed["learners"][0].id], closed["cohort"]
    page = client.get(f"/assignments/{CAPSTONE}/work").get_data(as_text=True)
    assert 'id="program-closed"' in page and _said(cohort) in page
    assert 'value="submit"' not in page  # no hand-in form
    brief = client.get(f"/assignments/{CAPSTONE}").get_data(as_text=True)
    assert 'id="program-closed"' in brief and _said(cohort) in brief
    refused = client.post(f"/assignments/{CAPSTONE}/work", data={"body": "My capstone", "action": "submit"})
    assert refused.status_code == 400 and _said(cohort) in refused.get_data(as_text=True)
    saved = client.post(f"/assignments/{CAPSTONE}/work", data={"body": "A draft", "action": "save"})
    assert saved.status_code == 400  # no draft either: nothing is handed in
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(SubmissionVersion)) == 0
    assert db.session.scalar(select(Submission.draft_body).where(Submission.user_id == learner.id)) in (None, "")
    # reading stays open
    for path in ("/home", "/schedule", "/progress", "/certificates", "/portfolio", "/coursework"):
        assert client.get(path).status_code == 200, path


def test_an_extension_past_today_lets_that_learner_hand_in_after_the_close(closed) -> None:
    first, second = closed["learners"]
    capstone = _assignment(CAPSTONE)
    _extend(closed, first, capstone.phase_id)
    mine = closed["clients"][first.id]
    page = mine.get(f"/assignments/{CAPSTONE}/work").get_data(as_text=True)
    assert 'id="program-closed"' not in page and 'value="submit"' in page
    assert mine.post(f"/assignments/{CAPSTONE}/work", data={"body": "My capstone", "action": "submit"}).status_code == 302
    # the other learner has none: still refused
    theirs = closed["clients"][second.id].post(f"/assignments/{CAPSTONE}/work", data={"body": "Mine", "action": "submit"})
    assert theirs.status_code == 400
    db.session.expire_all()
    assert db.session.scalars(select(Submission.user_id).join(SubmissionVersion)).all() == [first.id]


def test_an_extension_that_ended_before_today_does_not_reopen_hand_ins(closed) -> None:
    learner, cohort = closed["learners"][0], closed["cohort"]
    capstone = _assignment(CAPSTONE)
    today = cohort_today(cohort, utcnow())
    earlier = utcnow() - timedelta(days=10)
    # granted ten days ago to four days ago: past due again today
    grant_override(db.session, cohort, learner, capstone.phase_id, OverrideKind.EXTENSION, today - timedelta(days=4),
                   "", closed["teacher"], now=earlier)
    db.session.commit()
    refused = closed["clients"][learner.id].post(f"/assignments/{CAPSTONE}/work", data={"body": "Late", "action": "submit"})
    assert refused.status_code == 400 and _said(cohort) in refused.get_data(as_text=True)


def own_pace_learner(app: Flask, cohort: Any, enrol_learner: Any, login: Any) -> tuple[Any, Any, Any]:
    """A learner of ``cohort`` (its program closed) who joined six months ago at their own
    pace, signed in on a client of their own, and their schedule: their own program still runs."""
    own = enrol_learner(cohort, name="Flo Own", joined=utcnow() - relativedelta(months=6), pace=Pace.OWN_START)
    client = app.test_client()
    login(client, own)
    plan = learner_schedule(db.session, own)
    assert plan is not None and not plan.closed  # the cohort's program closed, theirs runs on
    return own, client, plan


def test_a_late_joiner_at_their_own_pace_hands_in_until_their_own_close(app: Flask, closed, enrol_learner, login) -> None:
    cohort = closed["cohort"]
    own, client, plan = own_pace_learner(app, cohort, enrol_learner, login)
    page = client.get(f"/assignments/{CAPSTONE}/work").get_data(as_text=True)
    assert 'id="program-closed"' not in page, page.split('id="program-closed"')[1][:300]
    # a year later theirs has closed too: told of their own program
    later = Timeline(cohort.start_date, plan.timeline.joined_on, Pace.OWN_START)
    assert later.closes_on > program_closes_on(cohort.start_date)
    assert plan.close.says("x").startswith(f"Your program in {cohort.name} closed on {later.closes_on:%d %B %Y}")


def test_team_work_is_refused_after_the_close(closed) -> None:
    first, second = closed["learners"]
    mine = closed["clients"][first.id]
    assert mine.post(f"/assignments/{TEAM_KEY}/team/new", data={"name": "Late Team"}).status_code == 302
    team = db.session.scalars(select(Team).where(Team.name == "Late Team")).one()
    assert closed["clients"][second.id].post(f"/assignments/{TEAM_KEY}/teams/{team.id}/join").status_code == 302
    page = mine.get(f"/assignments/{TEAM_KEY}/team").get_data(as_text=True)
    assert 'id="program-closed"' in page and _said(closed["cohort"]) in page and 'value="submit"' not in page
    refused = mine.post(f"/assignments/{TEAM_KEY}/team/work", data={"body": "Our plan", "revision": "0", "action": "submit"})
    assert refused.status_code == 400 and _said(closed["cohort"]) in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(SubmissionVersion)) == 0


def test_the_portfolio_review_is_not_handed_in_after_the_close(closed) -> None:
    client = closed["clients"][closed["learners"][0].id]
    level = db.session.scalars(select(Level).where(Level.key == "advanced")).one()
    page = client.get(f"/portfolio/{level.key}").get_data(as_text=True)
    assert 'id="program-closed"' in page and _said(closed["cohort"]) in page and 'value="submit"' not in page
    refused = client.post(f"/portfolio/{level.key}", data={"action": "submit"})
    assert refused.status_code == 400 and _said(closed["cohort"]) in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(SubmissionVersion)) == 0
    assert client.get(f"/portfolio/{level.key}").status_code == 200  # the portfolio itself stays theirs to read


def _month_12_check() -> Quiz:
    """A weekly check of month 12: it sets no closing day of its own."""
    return db.session.scalars(select(Quiz).join(Phase, Phase.id == Quiz.phase_id)
                              .where(Quiz.kind == QuizKind.CHECK, Phase.month == 12, Quiz.retired_at.is_(None))
                              .order_by(Quiz.id)).first() or pytest.fail("no weekly check in month 12")


def test_no_quiz_is_started_after_the_close_unless_extended(closed) -> None:
    first, second = closed["learners"]
    check = _month_12_check()
    assert check.closes_after_days is None
    status = quizzes.quiz_status(db.session, check, first, utcnow())
    assert not status.can_start and status.reason is not None and status.reason.startswith(_said(closed["cohort"]))
    assert status.window is not None and status.window.closes_at == opens_at(closed["cohort"],
                                                                             program_closes_on(closed["cohort"].start_date))
    mine = closed["clients"][first.id]
    page = mine.get(f"/quizzes/{check.key}").get_data(as_text=True)
    assert _said(closed["cohort"]) in page
    mine.post(f"/quizzes/{check.key}/start")
    assert db.session.scalar(select(func.count()).select_from(Attempt)) == 0
    assert check.phase_id is not None
    _extend(closed, first, check.phase_id)
    assert mine.post(f"/quizzes/{check.key}/start").status_code == 302
    closed["clients"][second.id].post(f"/quizzes/{check.key}/start")
    db.session.expire_all()
    assert db.session.scalars(select(Attempt.user_id)).all() == [first.id]
    # a level exam has no part to extend: its refusal offers none
    exam = db.session.scalars(select(Quiz).where(Quiz.key == "advanced-exam")).one()
    refused = quizzes.quiz_status(db.session, exam, second, utcnow()).reason
    assert refused is not None and refused.startswith(_said(closed["cohort"])) and "extension" not in refused


def test_an_attempt_under_way_at_the_close_is_closed_with_the_program(app: Flask, loaded, make_cohort, enrol_learner) -> None:
    cohort = make_cohort(start=utcnow().date() - relativedelta(months=12) - timedelta(days=5))  # closes in nine days or so
    learner = enrol_learner(cohort)
    check = _month_12_check()
    closes = opens_at(cohort, program_closes_on(cohort.start_date))
    attempt = quizzes.start_attempt(db.session, check, learner, closes - timedelta(hours=1))
    assert attempt.deadline_at == closes
    db.session.commit()
    quizzes.submit_attempt(db.session, attempt, closes + timedelta(days=1))
    assert attempt.closed_by == AttemptClosedBy.QUIZ_CLOSED and attempt.submitted_at == closes


def test_extensions_may_run_to_the_close_and_the_form_says_how_late(closed) -> None:
    cohort, learner, teacher = closed["cohort"], closed["learners"][0], closed["teacher"]
    timeline = Timeline(cohort.start_date)
    phase = db.session.scalars(select(Phase).where(Phase.month == 1).order_by(Phase.id)).first()
    assert phase is not None
    # a month-1 part: its due date and 90 days are long gone; the close is the latest day
    assert latest_extension(timeline, timeline.phase_dates(1)[1]) == timeline.closes_on
    page = closed["clients"][teacher.id].get(f"/cohorts/{cohort.id}/learners/{learner.id}").get_data(as_text=True)
    assert f"at most to {timeline.closes_on:%d %B %Y}, the day the program closes" in page
    # past month 12 into the closing period: granted (it was refused past month 12's last day)
    into_closing = timeline.ends_on + timedelta(days=3)
    grant_override(db.session, cohort, learner, phase.id, OverrideKind.EXTENSION, into_closing, "", teacher)
    grant_override(db.session, cohort, learner, phase.id, OverrideKind.EXTENSION, timeline.closes_on, "", teacher)
    response = closed["clients"][teacher.id].post(
        f"/cohorts/{cohort.id}/learners/{learner.id}/overrides",
        data={"phase": str(phase.id), "kind": "extension", "on_date": (timeline.closes_on + timedelta(days=1)).isoformat()})
    assert response.status_code == 400
    assert (f"An extension can run at most to {timeline.closes_on:%d %B %Y}: the day the learner&#39;s program closes"
            in response.get_data(as_text=True))


def test_the_gradebooks_overdue_filter_leaves_finished_learners_off(closed, make_cohort, enrol_learner) -> None:
    cohort = closed["cohort"]
    after = utcnow()
    book = gradebook(db.session, cohort, after, row_filter=RowFilter.OVERDUE)
    assert book.paging.total == 0 and list(book.rows) == []
    # a running cohort's learners with work overdue are still listed
    running = make_cohort(months_ago=5)
    behind = enrol_learner(running, name="Bea Behind")
    listed = gradebook(db.session, running, after, row_filter=RowFilter.OVERDUE)
    assert [row.user.id for row in listed.rows] == [behind.id]


def test_the_home_page_says_the_program_has_closed_and_what_is_still_open(closed) -> None:
    home = closed["clients"][closed["learners"][0].id].get("/home").get_data(as_text=True)
    note = home.split('id="program-closed"')[1].split("</p>")[0]
    assert _said(closed["cohort"]) in note
    assert 'href="/portfolio"' in note and 'href="/certificates"' in note and 'href="/progress"' in note
    todo = home.split('id="todo"')[1].split('class="recent"')[0]
    assert "overdue" not in todo.split("</p>", 1)[1]
