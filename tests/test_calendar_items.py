"""The learner's calendar feed carries what is actually due: each piece of assessed work on
the learner's own dates, each quiz's and exam's window, with stable UIDs, UTC times, a link
and a fixed number of statements; and the progress page says the hour on the viewer's clock
when their zone is not the cohort's."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta
from flask import Flask
from icalendar import Calendar
from markupsafe import escape
from sqlalchemy import select

from lms.assessment.models import Quiz
from lms.assessment.services import quiz_window
from lms.catalog.models import Phase
from lms.cohorts.enrolment import move_learner
from lms.coursework.models import Assignment
from lms.database import utcnow
from lms.extensions import db
from lms.learning import services
from lms.learning.models import OverrideKind
from lms.learning.services import month_opens_on
from lms.progress.completion import learner_progress
from lms.progress.models import ItemKind, ItemRole, ProgressItem

CASE = "intl-critique-compliance-register"  # month 7's critique, due 21 days after its phase opens
CASE_PHASE = "international-operations.compliance-infrastructure"
QUIZ = "customer-success-quiz"         # a module quiz whose window closes
EXAM = "foundation-exam"
BERLIN, LA, TOKYO = "Europe/Berlin", "America/Los_Angeles", "Asia/Tokyo"
KINDS = ("quiz", "exam", "assignment", "portfolio")


@pytest.fixture()
def course(app: Flask, loaded) -> None:
    """The shipped curriculum, loaded."""


def feed(app: Flask, learner: Any) -> bytes:
    token = services.new_feed(db.session, learner)
    db.session.commit()
    response = app.test_client().get(f"/calendar/{token}.ics")
    assert response.status_code == 200
    return bytes(response.data)


def events(ics: bytes) -> dict[str, Any]:
    return {str(e["uid"]): e for e in Calendar.from_ical(ics).walk("VEVENT")}


def item_events(found: dict[str, Any], user_id: int) -> dict[str, Any]:
    return {uid: e for uid, e in found.items() if re.match(rf"{user_id}-({'|'.join(KINDS)})-", uid)}


def end_of(day: date, zone: str) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def kept(user_id: int) -> list[ProgressItem]:
    return list(db.session.scalars(select(ProgressItem).where(ProgressItem.user_id == user_id,
                                                              ProgressItem.kind != ItemKind.LESSON)))


def test_the_feed_holds_assessed_work_and_quiz_windows_on_the_learners_dates(course, app, make_cohort,
                                                                            enrol_learner) -> None:
    cohort = make_cohort(months_ago=5, timezone=BERLIN)
    learner = enrol_learner(cohort, name="Lea Learner", timezone=LA)
    ics = feed(app, learner)
    found = events(ics)
    mine = item_events(found, learner.id)

    # every assessed item of the kept schedule state: its due event, a quiz's or exam's opening too
    items = kept(learner.id)
    assert {i.kind for i in items} == set(KINDS)
    expected = {f"{learner.id}-{i.kind}-{i.key}-due@lms" for i in items}
    expected |= {f"{learner.id}-{i.kind}-{i.key}-opens@lms" for i in items if i.kind in (ItemKind.QUIZ, ItemKind.EXAM)}
    assert set(mine) == expected

    # assessed work: due by the end of its due day in the cohort's zone, in UTC
    due = month_opens_on(cohort.start_date, 7) + timedelta(days=21)
    case = mine[f"{learner.id}-assignment-{CASE}-due@lms"]
    assert case.decoded("dtend") == end_of(due, BERLIN)
    assert case.decoded("dtend").utcoffset() == timedelta(0)
    assert case.decoded("dtstart") == end_of(due, BERLIN) - timedelta(minutes=30)
    title = db.session.scalar(select(Assignment.title).where(Assignment.key == CASE))
    assert str(case["summary"]) == f"Due: {title}"
    assert str(case["url"]) == f"http://localhost/assignments/{CASE}"
    assert f"http://localhost/assignments/{CASE}" in str(case["description"])
    assert str(case["description"]).startswith("Assignment · ")
    assert f"{due:%A %d %B %Y}" in str(case["description"]) and BERLIN in str(case["description"])

    # a quiz's window, as the quiz page opens and closes it for this learner
    for key, kind in ((QUIZ, "quiz"), (EXAM, "exam")):
        quiz = db.session.scalar(select(Quiz).where(Quiz.key == key))
        window = quiz_window(db.session, quiz, cohort, learner.id, utcnow())
        assert window.closes_at is not None
        opening, closing = mine[f"{learner.id}-{kind}-{key}-opens@lms"], mine[f"{learner.id}-{kind}-{key}-due@lms"]
        assert opening.decoded("dtstart") == window.opens_at
        assert closing.decoded("dtend") == window.closes_at
        assert str(opening["summary"]) == f"Opens: {quiz.title}" and str(closing["summary"]) == f"Closes: {quiz.title}"
        assert str(closing["url"]) == f"http://localhost/quizzes/{key}"

    portfolio = next(e for uid, e in mine.items() if uid.startswith(f"{learner.id}-portfolio-"))
    assert re.fullmatch(r"http://localhost/portfolio/[a-z-]+", str(portfolio["url"]))

    # the text is written as RFC 5545 asks: times in UTC, lines folded at 75 octets
    raw = ics.decode()
    assert re.search(r"^DTEND:\d{8}T\d{6}Z\r$", raw, re.M)
    assert all(len(line.encode()) <= 75 for line in raw.split("\r\n"))


def test_a_date_that_moves_moves_the_event_and_adds_none(course, app, make_cohort, enrol_learner, make_user) -> None:
    cohort = make_cohort(months_ago=5, timezone=BERLIN)
    learner, staff = enrol_learner(cohort), make_user(admin=True)
    before = item_events(events(feed(app, learner)), learner.id)
    uid = f"{learner.id}-assignment-{CASE}-due@lms"
    later = month_opens_on(cohort.start_date, 9)
    phase = db.session.scalar(select(Phase).where(Phase.key == CASE_PHASE))
    services.grant_override(db.session, cohort, learner, phase.id, OverrideKind.EXTENSION, later, "", staff)
    db.session.commit()
    after = item_events(events(feed(app, learner)), learner.id)
    assert set(after) == set(before)
    assert after[uid].decoded("dtend") == end_of(later, BERLIN) != before[uid].decoded("dtend")


def test_a_late_joiner_sees_their_own_dates(course, app, make_cohort, enrol_learner) -> None:
    cohort = make_cohort(months_ago=5)
    learner = enrol_learner(cohort, joined=utcnow())  # catch-up: the months gone are due in their window
    mine = item_events(events(feed(app, learner)), learner.id)
    progress = learner_progress(db.session, cohort, learner.id, utcnow())
    for item in progress.items:
        if item.assessed:
            assert mine[f"{learner.id}-{item.kind}-{item.key}-due@lms"].decoded("dtend") == progress.due_at(item)


def test_retired_items_and_other_cohorts_never_appear(course, app, make_cohort, enrol_learner) -> None:
    cohort = make_cohort(months_ago=5)
    other = make_cohort(cohort.organization, months_ago=2)
    learner = enrol_learner(cohort)
    assert f"{learner.id}-assignment-{CASE}-due@lms" in events(feed(app, learner))
    db.session.scalar(select(Assignment).where(Assignment.key == CASE)).retired_at = utcnow()
    db.session.scalar(select(Quiz).where(Quiz.key == QUIZ)).retired_at = utcnow()
    db.session.commit()
    found = events(feed(app, learner))
    assert not [uid for uid in found if CASE in uid or QUIZ in uid]

    # moved to another cohort: its dates, none of the first cohort's (a stray row of it is not read)
    move_learner(db.session, learner, cohort, other, utcnow())
    db.session.commit()
    db.session.add(ProgressItem(user_id=learner.id, cohort_id=cohort.id, position=999, kind=ItemKind.ASSIGNMENT,
                                key="stray-work", title="Stray", role=ItemRole.NONE, opens_on=date(2026, 1, 1),
                                due_on=date(2026, 2, 1)))
    db.session.commit()
    found = item_events(events(feed(app, learner)), learner.id)
    assert not [uid for uid in found if "stray-work" in uid]
    progress = learner_progress(db.session, other, learner.id, utcnow())
    assert {uid for uid in found if uid.endswith("-due@lms")} == {
        f"{learner.id}-{i.kind}-{i.key}-due@lms" for i in progress.items if i.assessed}
    for item in progress.items:
        if item.assessed:
            assert found[f"{learner.id}-{item.kind}-{item.key}-due@lms"].decoded("dtend") == progress.due_at(item)


def test_the_feed_runs_a_fixed_number_of_statements(course, app, make_cohort, enrol_learner, count_queries) -> None:
    cohort = make_cohort(months_ago=5)
    learner = enrol_learner(cohort)
    token = services.new_feed(db.session, learner)
    db.session.commit()
    client = app.test_client()

    def fetch() -> int:
        assert client.get(f"/calendar/{token}.ics").status_code == 200  # warm up
        return count_queries(lambda: client.get(f"/calendar/{token}.ics"))

    many, shown = fetch(), len(item_events(events(client.get(f"/calendar/{token}.ics").data), learner.id))
    for assignment in db.session.scalars(select(Assignment).where(Assignment.retired_at.is_(None))).all()[::2]:
        assignment.retired_at = utcnow()
    db.session.commit()
    fewer = len(item_events(events(client.get(f"/calendar/{token}.ics").data), learner.id))
    assert fewer < shown - 5
    assert fetch() == many


# --------------------------------------------------------------------------- the progress page's hours


def local(moment: datetime, zone: str) -> str:
    here = moment.astimezone(ZoneInfo(zone))
    return here.strftime("%H:%M ") + (here.tzname() or "") + here.strftime(" on %a %d %b")


def section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start:html.index("</section>", start)]


def test_the_progress_page_says_the_hour_on_the_viewers_clock(course, app, make_cohort, enrol_learner, make_user,
                                                              login) -> None:
    # month 6 opened 20 days ago: its lessons are due within two weeks, month 7 opens next
    start = datetime.now(UTC).date() - timedelta(days=20) - relativedelta(months=5)
    teacher = make_user(name="Tess Teacher", timezone=TOKYO)
    cohort = make_cohort(start=start, timezone=BERLIN, instructors=[teacher])
    learner = enrol_learner(cohort, name="Lea Learner", timezone=LA)
    progress = learner_progress(db.session, cohort, learner.id, utcnow())
    soon, first = progress.due_soon[0], progress.opens_next[0]
    due = end_of(soon.due_on - timedelta(days=1) if soon.closes else soon.due_on, BERLIN)  # a closing quiz: its day's start
    opens = end_of(first.opens_on - timedelta(days=1), BERLIN)

    client = app.test_client()
    login(client, learner)
    html = client.get("/progress").get_data(as_text=True)
    word = "at" if soon.closes else "by"
    assert f"({word} {local(due, LA)}, your time)" in section(html, "due-soon")
    assert f"(from {local(opens, LA)}, your time)" in section(html, "opens-next")
    assert local(opens, LA).startswith("15:00 P")  # Berlin's midnight, nine hours earlier

    # the staff view of the learner: the staff member's clock, said to be theirs
    staff = app.test_client()
    login(staff, teacher)
    html = staff.get(f"/cohorts/{cohort.id}/learners/{learner.id}/progress").get_data(as_text=True)
    assert f"({word} {local(due, TOKYO)}, your time)" in section(html, "due-soon")
    assert f"(from {local(opens, TOKYO)}, your time)" in section(html, "opens-next")

    # a learner in the cohort's zone reads its midnight as their own: no hour
    same = enrol_learner(cohort, timezone=BERLIN)
    client = app.test_client()
    login(client, same)
    html = client.get("/progress").get_data(as_text=True)
    assert "your time" not in section(html, "due-soon") and "your time" not in section(html, "opens-next")



@pytest.fixture()
def berlin(course, make_cohort, enrol_learner, make_user) -> SimpleNamespace:
    """A Berlin cohort whose month 6 opened 20 days ago, its instructor in Tokyo and a
    learner in Los Angeles."""
    start = datetime.now(UTC).date() - timedelta(days=20) - relativedelta(months=5)
    teacher = make_user(name="Tess Teacher", timezone=TOKYO)
    cohort = make_cohort(start=start, timezone=BERLIN, instructors=[teacher])
    return SimpleNamespace(teacher=teacher, cohort=cohort, learner=enrol_learner(cohort, name="Lea Learner", timezone=LA))


def page_for(app: Flask, login: Any, user: Any, url: str) -> str:
    client = app.test_client()
    login(client, user)
    return client.get(url).get_data(as_text=True)


def level_line(html: str, title: str) -> str:
    """The line of "Everything in this level" that names ``title``."""
    everything = html[html.index("<summary>Everything in this level</summary>"):]
    start = everything.index(str(escape(title)))
    return everything[everything.rindex("<li>", 0, start):everything.index("</li>", start)]


def test_everything_in_this_level_says_the_hour_on_the_viewers_clock(berlin, app, enrol_learner, login) -> None:
    cohort, learner = berlin.cohort, berlin.learner
    progress = learner_progress(db.session, cohort, learner.id, utcnow())
    soon, later = progress.due_soon[0], progress.opens_next[0]
    due = end_of(soon.due_on - timedelta(days=1) if soon.closes else soon.due_on, BERLIN)
    opens = end_of(later.opens_on - timedelta(days=1), BERLIN)
    word = "at" if soon.closes else "by"

    html = page_for(app, login, learner, "/progress")
    assert f"{soon.due_on:%d %b %Y} <span class=\"deadline\">({word} {local(due, LA)}, your time)" in level_line(html, soon.title)
    assert f"opens on {later.opens_on:%d %b %Y} <span class=\"deadline\">(from {local(opens, LA)}, your time)" \
        in level_line(html, later.title)

    html = page_for(app, login, berlin.teacher, f"/cohorts/{cohort.id}/learners/{learner.id}/progress")
    assert f"({word} {local(due, TOKYO)}, your time)" in level_line(html, soon.title)
    assert f"(from {local(opens, TOKYO)}, your time)" in level_line(html, later.title)

    html = page_for(app, login, enrol_learner(cohort, timezone=BERLIN), "/progress")
    assert "your time" not in html[html.index("<summary>Everything in this level</summary>"):]


def slot_line(html: str, title: str) -> str:
    """The line of a schedule page for the phase ``title`` (module and phase, as the page writes them)."""
    start = html.index(title)
    return html[html.rindex('<li class="slot', 0, start):html.index("</li>", start)]


def test_the_schedule_pages_say_the_hour_on_the_viewers_clock(berlin, app, enrol_learner, login) -> None:
    cohort, learner = berlin.cohort, berlin.learner
    plan = services.build_schedule(db.session, cohort, learner.id, utcnow())
    current, locked = plan.open_now[0], plan.next_up
    assert locked is not None
    title, locked_title = (f"{escape(slot.item.module.title)}</strong> · {escape(slot.phase.title)}" for slot in (current, locked))
    due, opens = end_of(current.due_on, BERLIN), end_of(locked.opens_on - timedelta(days=1), BERLIN)

    html = page_for(app, login, learner, "/schedule")
    assert f"due {current.due_on:%d %b %Y} <span class=\"deadline\">(by {local(due, LA)}, your time)" in slot_line(html, title)
    assert f"(from {local(opens, LA)}, your time)" in slot_line(html, locked_title)

    html = page_for(app, login, berlin.teacher, f"/cohorts/{cohort.id}/learners/{learner.id}")
    assert f"(by {local(due, TOKYO)}, your time)" in slot_line(html, title)
    assert f"(from {local(opens, TOKYO)}, your time)" in slot_line(html, locked_title)

    assert "your time" not in page_for(app, login, enrol_learner(cohort, timezone=BERLIN), "/schedule")
