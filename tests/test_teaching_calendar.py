"""The instructor's teaching calendar: a private feed of the deadlines of the cohorts they
teach (assessed work falling due, when grading starts; quizzes and exams closing; each
program's close), on each cohort's own dates and clock, made and turned off as a learner's
schedule feed is, apart from it, and read in a fixed number of statements whatever the
number of cohorts or learners."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from icalendar import Calendar
from sqlalchemy import select

from lms.assessment.models import Quiz
from lms.cohorts.calendar import program_closes_on
from lms.coursework.models import Assignment
from lms.database import utcnow
from lms.extensions import db
from lms.learning import services
from lms.learning.models import CalendarFeed, FeedKind
from lms.learning.services import month_opens_on

CASE = "intl-critique-compliance-register"  # month 7's critique, due 21 days after its phase opens
QUIZ = "customer-success-quiz"         # a module quiz whose window closes
BERLIN, TOKYO = "Europe/Berlin", "Asia/Tokyo"


@pytest.fixture()
def course(app: Flask, loaded) -> None:
    """The shipped curriculum, loaded."""


def events(ics: bytes) -> dict[str, Any]:
    calendar = Calendar.from_ical(ics)
    assert str(calendar["version"]) == "2.0" and str(calendar["prodid"])
    found = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
    assert len(found) == len(calendar.walk("VEVENT")), "every event's uid is its own"
    for event in found.values():
        assert event.decoded("dtstart") < event.decoded("dtend") and event.decoded("dtstart").utcoffset() == timedelta(0)
        assert event.decoded("dtstamp") and str(event["summary"]) and str(event["url"]).startswith("http://localhost/")
    return found


def start_of(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def link_of(client: Any) -> str:
    html = client.post("/teaching/calendar").get_data(as_text=True)
    start = html.index("http://localhost/teaching-calendar/")
    return html[start:html.index('"', start)].removeprefix("http://localhost")


def test_an_instructor_makes_a_link_reads_their_cohorts_deadlines_and_turns_it_off(course, app, make_user, make_cohort,
                                                                                   enrol_learner, client, login) -> None:
    teacher = make_user(email="tara@example.com", name="Tara Teacher", timezone=TOKYO)
    berlin = make_cohort(name="Berlin 2026", months_ago=5, timezone=BERLIN, instructors=[teacher])
    other = make_cohort(name="Not hers", months_ago=5)
    enrol_learner(berlin)
    login(client, teacher)
    home = client.get("/home").get_data(as_text=True)
    assert '<a href="/teaching/calendar">Your teaching calendar</a>' in home
    page = client.get("/teaching/calendar").get_data(as_text=True)
    assert "Berlin 2026" in page and "Not hers" not in page and "Create a new calendar link" in page
    url = link_of(client)
    feed = app.test_client().get(url)
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    assert "private" in feed.headers["Cache-Control"]
    found = events(feed.data)
    assert all(uid.startswith(f"teaching-{teacher.id}-cohort-{berlin.id}-") for uid in found)
    assert not any(f"cohort-{other.id}-" in uid for uid in found)

    # assessed work: grading starts as the cohort's due day ends in its own zone (Berlin), written in UTC
    due = month_opens_on(berlin.start_date, 7) + timedelta(days=21)
    case = found[f"teaching-{teacher.id}-cohort-{berlin.id}-assignment-{CASE}-grading@lms"]
    assert case.decoded("dtstart") == start_of(due + timedelta(days=1), BERLIN)
    title = db.session.scalar(select(Assignment.title).where(Assignment.key == CASE))
    assert str(case["summary"]) == f"Grading starts: {title} (Berlin 2026)"
    assert str(case["url"]) == f"http://localhost/grading?cohort={berlin.id}"
    assert f"{due:%A %d %B %Y}" in str(case["description"]) and BERLIN in str(case["description"])
    # a quiz that closes: at the start of its closing day in the cohort's zone
    quiz = db.session.scalar(select(Quiz).where(Quiz.key == QUIZ))
    closing = found[f"teaching-{teacher.id}-cohort-{berlin.id}-quiz-{QUIZ}-closes@lms"]
    assert str(closing["summary"]) == f"Closes: {quiz.title} (Berlin 2026)"
    assert closing.decoded("dtend").astimezone(ZoneInfo(BERLIN)).time() == time(0)
    assert str(closing["url"]) == f"http://localhost/quizzes/{QUIZ}"
    # the program's close
    closes = found[f"teaching-{teacher.id}-cohort-{berlin.id}-program-closes@lms"]
    assert closes.decoded("dtend") == start_of(program_closes_on(berlin.start_date), BERLIN)
    assert str(closes["summary"]) == "Program closes: Berlin 2026"
    kinds = {uid.split(f"cohort-{berlin.id}-")[1].split("-")[0] for uid in found}
    assert kinds == {"assignment", "portfolio", "quiz", "exam", "program"}

    # a new link replaces the old one; turning it off ends it; other kinds of link are not touched
    again = link_of(client)
    assert app.test_client().get(url).status_code == 404 and app.test_client().get(again).status_code == 200
    assert client.post("/teaching/calendar/revoke").status_code == 302
    assert app.test_client().get(again).status_code == 404
    assert "The teaching calendar link is turned off." in client.get("/teaching/calendar").get_data(as_text=True)


def test_a_teaching_link_and_a_schedule_link_are_apart(course, app, make_user, make_cohort, enrol_learner,
                                                       client, login) -> None:
    """A person who learns in one cohort and teaches another keeps one link of each: making
    one leaves the other, and neither token answers at the other's address."""
    learner_cohort = make_cohort(months_ago=3)
    person = enrol_learner(learner_cohort, email="both@example.com")
    make_cohort(name="Taught", months_ago=3, instructors=[person])
    schedule_token = services.new_feed(db.session, person)
    db.session.commit()
    login(client, person)
    url = link_of(client)
    teaching_token = url.removeprefix("/teaching-calendar/").removesuffix(".ics")
    reader = app.test_client()
    assert reader.get(f"/calendar/{schedule_token}.ics").status_code == 200
    assert reader.get(f"/teaching-calendar/{schedule_token}.ics").status_code == 404
    assert reader.get(f"/calendar/{teaching_token}.ics").status_code == 404
    assert client.post("/schedule/calendar/revoke").status_code == 302
    assert reader.get(url).status_code == 200 and reader.get(f"/calendar/{schedule_token}.ics").status_code == 404
    kinds = {f.kind for f in db.session.scalars(select(CalendarFeed).where(CalendarFeed.user_id == person.id))}
    assert kinds == {FeedKind.SCHEDULE, FeedKind.TEACHING}


def test_the_link_answers_nothing_once_its_owner_no_longer_teaches_or_is_deactivated(course, app, make_user, make_cohort,
                                                                                     client, login) -> None:
    teacher = make_user(email="tara@example.com")
    cohort = make_cohort(months_ago=2, instructors=[teacher])
    login(client, teacher)
    url = link_of(client)
    reader = app.test_client()
    assert reader.get(url).status_code == 200
    teacher.deactivated_at = utcnow()
    db.session.commit()
    assert reader.get(url).status_code == 404
    teacher.deactivated_at = None
    cohort.instructors.remove(teacher)
    db.session.commit()
    assert reader.get(url).status_code == 404


def test_the_feed_runs_a_fixed_number_of_statements(course, app, make_user, make_cohort, enrol_learner, client, login,
                                                    count_queries) -> None:
    teacher = make_user(email="tara@example.com")
    first = make_cohort(months_ago=4, timezone=BERLIN, instructors=[teacher])
    enrol_learner(first)
    login(client, teacher)
    url = link_of(client)
    reader = app.test_client()

    def fetch() -> tuple[int, int]:
        assert reader.get(url).status_code == 200  # warm up
        return count_queries(lambda: reader.get(url)), len(events(reader.get(url).data))

    few, shown = fetch()
    for months in (1, 2, 7, 11):
        cohort = make_cohort(months_ago=months, timezone=TOKYO, instructors=[teacher])
        for _ in range(3):
            enrol_learner(cohort)
    many, more = fetch()
    assert more == shown * 5 and many == few
