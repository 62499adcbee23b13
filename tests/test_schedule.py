"""The cohort schedule end to end: the date arithmetic, the schedule a learner sees, lesson
release, extensions and early access, the calendar feed, every role's home, moving a
learner, the demo command, and a fixed number of SQL statements per page."""

from __future__ import annotations

import html as htmlmod
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from click.testing import Result
from dateutil.relativedelta import relativedelta
from flask import Flask
from flask.testing import FlaskClient
from icalendar import Calendar
from sqlalchemy import func, select

from lms.accounts.models import User
from lms.admin.services import deactivate, reactivate
from lms.audit.services import Origin
from lms.catalog.models import Phase
from lms.cohorts.calendar import program_closes_on
from lms.cohorts.enrolment import move_learner
from lms.cohorts.models import Cohort, Enrolment, Organization
from lms.cohorts.services import CohortError
from lms.coursework.models import Assignment
from lms.database import utcnow
from lms.extensions import db
from lms.learning import services
from lms.learning.models import OverrideKind, ScheduleOverride
from lms.learning.services import (
    build_schedule,
    cohort_today,
    current_month,
    month_opens_on,
    opens_at,
    override_history,
)
from lms.progress.completion import learner_progress
from lms.progress.models import ProgressItem

UTC = UTC

# One lesson per interesting month of the shipped curriculum (ids from the front matter).
M1_LESSON = "mlops-release-pipeline-registry"      # mlops.foundation, month 1
M6_LESSON = "cs-predictive-insights"               # customer-success.advanced, month 6
M7_LESSON = "intl-regulation-and-data"             # international-operations.compliance-infrastructure, month 7
M7_CASE = "intl-critique-compliance-register"     # its critique, due 21 days after the phase opens
M12_LESSON = "impl-capstone-brief"                 # operations-implementation.capstone, month 12
M6_PHASE = "customer-success.advanced"
M7_PHASE = "international-operations.compliance-infrastructure"
M6_TITLE = "Advanced customer success: prediction and proven value"
M7_TITLE = "Global operations and compliance for a second market"


def shipped_phases() -> dict[str, int]:
    """Every phase of the shipped modules (``module.phase``) with its month, read from the files."""
    phases = {}
    for path in sorted((Path(__file__).parent.parent / "content" / "modules").glob("*/module.yml")):
        spec = yaml.safe_load(path.read_text())
        phases.update({f"{spec['id']}.{phase['id']}": phase["month"] for phase in spec["phases"]})
    return phases


PHASES = shipped_phases()
DEMO_PASSWORD = "demo-password-2026"


# --------------------------------------------------------------------------- helpers


def today_utc() -> date:
    return datetime.now(UTC).date()


def text(html: str) -> str:
    """The page's visible text, tags stripped and whitespace collapsed."""
    return re.sub(r"\s+", " ", htmlmod.unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def page(response: Any) -> str:
    return response.get_data(as_text=True)


def between(html: str, start: str, end: str) -> str:
    assert start in html, f"{start!r} not in page"
    rest = html.split(start, 1)[1]
    assert end in rest, f"{end!r} not after {start!r}"
    return rest.split(end, 1)[0]


def section(html: str, element_id: str) -> str:
    """The element with that id, up to its matching closing tag (elements of its kind may nest)."""
    match = re.search(rf'<(section|li)[^>]*\bid="{re.escape(element_id)}"[^>]*>', html)
    assert match, f"no element #{element_id} in the page"
    tag, depth, at = match.group(1), 1, match.end()
    for tag_match in re.finditer(rf"<(/?){tag}\b[^>]*>", html[at:]):
        depth += -1 if tag_match.group(1) else 1
        if depth == 0:
            return html[at:at + tag_match.start()]
    raise AssertionError(f"#{element_id} is not closed")


def phase_slot(month_html: str, lesson_key: str) -> str:
    """Within one month of the schedule page, the slot (one module's phase) that lists the lesson."""
    slots = [s for s in month_html.split('<li class="slot">') if f"/lessons/{lesson_key}" in s]
    assert len(slots) == 1, f"expected one slot listing {lesson_key}, found {len(slots)}"
    return slots[0]


def table_row(html: str, needle: str) -> str:
    rows = [r for r in re.findall(r"<tr>(.*?)</tr>", html, re.S) if needle in r]
    assert len(rows) == 1, f"expected one row with {needle!r}, found {len(rows)}"
    return rows[0]


def phase_id(key: str) -> int:
    value = db.session.scalar(select(Phase.id).where(Phase.key == key))
    assert value is not None, key
    return value


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in an app context of its own, as in
    production. pytest-flask keeps a request context of ``app`` pushed during each test,
    and a request to the same app would otherwise reuse its app context: ``g`` (where
    Flask-Login caches the signed-in user) and ``db.session`` would be shared by the
    test body and every client, so a second sign-in would silently keep the first user."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        with self.application.app_context():
            return super().open(*args, **kwargs)


def new_client(app: Flask) -> IsolatedClient:
    return IsolatedClient(app, app.response_class, use_cookies=True)


def signed_in(app: Flask, login: Any, user: Any, password: str | None = None) -> Any:
    client = new_client(app)
    if password is None:
        login(client, user)
    else:
        login(client, user, password)
    return client


def long_date(day: date) -> str:
    return f"{day:%d %B %Y}"


def short_date(day: date) -> str:
    return day.strftime("%d %b %Y")


def override_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(ScheduleOverride)) or 0


def grant_url(cohort: Any, user: Any) -> str:
    return f"/cohorts/{cohort.id}/learners/{user.id}/overrides"


# --------------------------------------------------------------------------- pure functions


@pytest.mark.parametrize(("start", "month", "expected"), [
    (date(2026, 1, 15), 1, date(2026, 1, 15)),
    (date(2026, 1, 15), 2, date(2026, 2, 15)),
    (date(2026, 1, 15), 12, date(2026, 12, 15)),
    (date(2026, 1, 15), 13, date(2027, 1, 15)),
    # a start on the 31st: short months clamp, and the next month does not inherit the clamp
    (date(2026, 1, 31), 2, date(2026, 2, 28)),
    (date(2026, 1, 31), 3, date(2026, 3, 31)),
    (date(2026, 1, 31), 4, date(2026, 4, 30)),
    (date(2026, 1, 31), 5, date(2026, 5, 31)),
    (date(2027, 1, 31), 2, date(2027, 2, 28)),
    (date(2028, 1, 31), 2, date(2028, 2, 29)),  # leap year
    (date(2026, 8, 30), 7, date(2027, 2, 28)),
])
def test_month_opens_on(start: date, month: int, expected: date) -> None:
    assert month_opens_on(start, month) == expected


def test_current_month_counts_zero_to_thirteen() -> None:
    start = date(2026, 1, 15)
    assert current_month(start, date(2025, 6, 1)) == 0
    assert current_month(start, start - timedelta(days=1)) == 0
    assert current_month(start, start) == 1
    assert current_month(start, date(2026, 2, 14)) == 1
    assert current_month(start, date(2026, 2, 15)) == 2
    for month in range(1, 13):
        opens = month_opens_on(start, month)
        assert current_month(start, opens) == month
        assert current_month(start, opens + relativedelta(months=1) - timedelta(days=1)) == month
    assert current_month(start, date(2027, 1, 14)) == 12
    assert current_month(start, date(2027, 1, 15)) == 13
    assert current_month(start, date(2030, 1, 1)) == 13


def test_current_month_with_a_month_end_start() -> None:
    start = date(2026, 1, 31)
    assert current_month(start, date(2026, 2, 27)) == 1
    assert current_month(start, date(2026, 2, 28)) == 2
    assert current_month(start, date(2026, 3, 30)) == 2
    assert current_month(start, date(2026, 3, 31)) == 3
    assert current_month(start, date(2026, 4, 30)) == 4


def test_opens_at_is_midnight_in_the_cohort_time_zone(app: Flask) -> None:
    tokyo = Cohort(name="Tokyo", start_date=date(2026, 3, 1), timezone="Asia/Tokyo")
    assert opens_at(tokyo, date(2026, 3, 1)) == datetime(2026, 2, 28, 15, 0, tzinfo=UTC)
    assert opens_at(tokyo, date(2026, 3, 1)).utcoffset() == timedelta(0)
    utc = Cohort(name="UTC", start_date=date(2026, 3, 1), timezone="UTC")
    assert opens_at(utc, date(2026, 3, 1)) == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    new_york = Cohort(name="NY", start_date=date(2026, 1, 1), timezone="America/New_York")
    assert opens_at(new_york, date(2026, 1, 1)) == datetime(2026, 1, 1, 5, 0, tzinfo=UTC)
    assert opens_at(new_york, date(2026, 7, 1)) == datetime(2026, 7, 1, 4, 0, tzinfo=UTC)  # summer time


def test_cohort_today_across_a_date_boundary(app: Flask) -> None:
    tokyo = Cohort(name="Tokyo", start_date=date(2026, 1, 1), timezone="Asia/Tokyo")
    utc = Cohort(name="UTC", start_date=date(2026, 1, 1), timezone="UTC")
    la = Cohort(name="LA", start_date=date(2026, 1, 1), timezone="America/Los_Angeles")
    before = datetime(2026, 2, 28, 14, 59, tzinfo=UTC)
    after = datetime(2026, 2, 28, 15, 0, tzinfo=UTC)
    assert cohort_today(tokyo, before) == date(2026, 2, 28)
    assert cohort_today(tokyo, after) == date(2026, 3, 1)
    assert cohort_today(utc, after) == date(2026, 2, 28)
    early_utc = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
    assert cohort_today(utc, early_utc) == date(2026, 3, 1)
    assert cohort_today(la, early_utc) == date(2026, 2, 28)


# --------------------------------------------------------------------------- build_schedule


def test_build_schedule_five_months_in(loaded: Flask, make_cohort) -> None:
    now = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)
    start = date(2026, 1, 20)  # five months before ``now``
    cohort = make_cohort(start=start)
    plan = build_schedule(db.session, cohort, None, now)

    assert plan.today == date(2026, 6, 20)
    assert plan.month == 6
    assert plan.level is not None and plan.level.key == "intermediate"
    assert len(plan.slots) == len(PHASES)
    assert sorted({s.phase.month for s in plan.slots}) == list(range(1, 13))
    for slot in plan.slots:
        month = slot.phase.month
        assert slot.opens_on == month_opens_on(start, month)
        assert slot.due_on == slot.opens_on + relativedelta(months=1)
        assert slot.is_open is (month <= 6), slot.phase.key
        assert not slot.early and not slot.extended
    assert M6_PHASE in [s.phase.key for s in plan.open_now]
    assert sorted(s.phase.key for s in plan.open_now) == sorted(k for k, m in PHASES.items() if m == 6)
    assert sorted(s.phase.month for s in plan.released_earlier) == sorted(m for m in PHASES.values() if m < 6)
    assert sorted(s.phase.month for s in plan.upcoming) == sorted(m for m in PHASES.values() if m > 6)
    assert plan.next_up is not None and plan.next_up.phase.key == M7_PHASE
    assert plan.next_up.opens_on == date(2026, 7, 20)
    assert [len(v) for v in plan.by_month().values()] == [list(PHASES.values()).count(m) for m in range(1, 13)]


def test_build_schedule_levels_and_bounds(loaded: Flask, make_cohort) -> None:
    cohort = make_cohort(start=date(2026, 1, 20))
    at = lambda d: build_schedule(db.session, cohort, None, datetime.combine(d, datetime.min.time(), UTC))  # noqa: E731
    before = at(date(2026, 1, 19))
    assert before.month == 0 and before.level is None and not any(s.is_open for s in before.slots)
    assert at(date(2026, 1, 20)).level.key == "foundation"  # type: ignore[union-attr]
    assert at(date(2026, 9, 20)).level.key == "advanced"  # type: ignore[union-attr]
    done = at(date(2027, 1, 20))
    assert done.month == 13 and all(s.is_open for s in done.slots) and not done.open_now


def test_build_schedule_with_a_month_end_start(loaded: Flask, make_cohort) -> None:
    cohort = make_cohort(start=date(2026, 1, 31))
    plan = build_schedule(db.session, cohort, None, datetime(2026, 2, 28, 0, 0, tzinfo=UTC))
    assert plan.month == 2
    month2 = plan.by_month()[2][0]
    assert month2.is_open and month2.opens_on == date(2026, 2, 28) and month2.due_on == date(2026, 3, 31)


def test_build_schedule_uses_the_cohort_time_zone(loaded: Flask, make_cohort) -> None:
    start = date(2026, 1, 1)
    tokyo = make_cohort(start=start, timezone="Asia/Tokyo")
    utc = make_cohort(start=start, timezone="UTC")
    now = datetime(2026, 5, 31, 15, 30, tzinfo=UTC)  # already 1 June in Tokyo
    in_tokyo = build_schedule(db.session, tokyo, None, now)
    in_utc = build_schedule(db.session, utc, None, now)
    assert (in_tokyo.today, in_tokyo.month) == (date(2026, 6, 1), 6)
    assert (in_utc.today, in_utc.month) == (date(2026, 5, 31), 5)
    phase = phase_id(M6_PHASE)
    assert in_tokyo.slot_for(phase).is_open  # type: ignore[union-attr]
    assert not in_utc.slot_for(phase).is_open  # type: ignore[union-attr]


# --------------------------------------------------------------------------- lessons over HTTP


def test_learner_five_months_in_sees_month_six(loaded: Flask, make_cohort, enrol_learner, login) -> None:
    cohort = make_cohort(months_ago=5)
    learner = enrol_learner(cohort)
    client = signed_in(loaded, login, learner)
    month7_opens = month_opens_on(cohort.start_date, 7)

    response = client.get("/home")
    assert response.status_code == 200
    html = page(response)
    assert "Month 6 of 12" in text(html)
    assert "Intermediate level" in text(html)
    open_now = between(html, "<h3>Open now</h3>", "<h3>Next</h3>")
    assert M6_TITLE in htmlmod.unescape(open_now)
    assert f"/lessons/{M6_LESSON}" in open_now
    assert M7_TITLE not in htmlmod.unescape(open_now)
    next_up = between(html, "<h3>Next</h3>", "</section>")
    assert M7_TITLE in htmlmod.unescape(next_up)
    assert f"opens {short_date(month7_opens)}" in next_up
    assert "/lessons/" not in next_up  # locked work links to no lesson

    assert client.get(f"/lessons/{M1_LESSON}").status_code == 200
    assert client.get(f"/lessons/{M6_LESSON}").status_code == 200
    locked = client.get(f"/lessons/{M7_LESSON}")
    assert locked.status_code == 403
    assert "month 7" in page(locked)
    assert long_date(month7_opens) in page(locked)
    last = client.get(f"/lessons/{M12_LESSON}")
    assert last.status_code == 403
    assert long_date(month_opens_on(cohort.start_date, 12)) in page(last)


def test_the_schedule_says_a_cohort_starts_until_it_has_started(loaded: Flask, make_cohort, enrol_learner, login) -> None:
    later = make_cohort(start=datetime.now(UTC).date() + timedelta(days=7))
    running = make_cohort(months_ago=2)
    for cohort, word in ((later, "starts"), (running, "started")):
        client = signed_in(loaded, login, enrol_learner(cohort))
        heading = text(between(page(client.get("/schedule")), "<h1>", "</p>"))
        assert f"{cohort.name} · {word} {cohort.start_date.strftime('%d %B %Y')}" in heading


def test_anonymous_lesson_goes_to_sign_in(loaded: Flask) -> None:
    response = new_client(loaded).get(f"/lessons/{M6_LESSON}")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [f"/lessons/{M6_LESSON}"]


@pytest.mark.parametrize("who", ["instructor_a", "org_admin_a", "admin", "instructor_b", "org_admin_b"])
def test_staff_read_every_lesson(loaded: Flask, world, login, who: str) -> None:
    client = signed_in(loaded, login, getattr(world, who))
    for key in (M1_LESSON, M6_LESSON, M7_LESSON, M12_LESSON):
        assert client.get(f"/lessons/{key}").status_code == 200, key


def test_signed_in_without_enrolment_is_refused(loaded: Flask, world, login) -> None:
    client = signed_in(loaded, login, world.nobody)
    for key in (M1_LESSON, M12_LESSON):
        response = client.get(f"/lessons/{key}")
        assert response.status_code == 403
        assert "enrolled in a cohort" in page(response)
    assert client.get("/schedule").status_code == 403
    assert client.post("/schedule/calendar").status_code == 403


def test_unknown_lesson_is_404_for_a_learner(loaded: Flask, world, login) -> None:
    client = signed_in(loaded, login, world.learner_a)
    assert client.get("/lessons/no-such-lesson").status_code == 404


# --------------------------------------------------------------------------- overrides


def test_instructor_grants_early_access(loaded: Flask, world, enrol_learner, login) -> None:
    other = enrol_learner(world.cohort_a, name="Other Learner")
    learner_client = signed_in(loaded, login, world.learner_a)
    other_client = signed_in(loaded, login, other)
    assert learner_client.get(f"/lessons/{M7_LESSON}").status_code == 403

    staff = signed_in(loaded, login, world.instructor_a)
    response = staff.post(grant_url(world.cohort_a, world.learner_a), data={
        "phase": phase_id(M7_PHASE), "kind": OverrideKind.EARLY_ACCESS, "on_date": today_utc().isoformat(), "note": "Ready early"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/cohorts/{world.cohort_a.id}/learners/{world.learner_a.id}")
    staff_page = page(staff.get(response.headers["Location"]))
    assert "Early access granted to Learner A" in staff_page
    granted = between(staff_page, "<h3>Granted</h3>", "</ul>")
    assert "early access" in granted and "Ready early" in granted and "Instructor A" in granted

    db.session.expire_all()
    override = db.session.scalar(select(ScheduleOverride))
    assert override is not None
    assert (override.user_id, override.kind, override.on_date, override.granted_by_id) == (
        world.learner_a.id, OverrideKind.EARLY_ACCESS, today_utc(), world.instructor_a.id)

    assert learner_client.get(f"/lessons/{M7_LESSON}").status_code == 200
    assert learner_client.get(f"/lessons/{M12_LESSON}").status_code == 403
    month7 = section(page(learner_client.get("/schedule")), "month-7")
    assert "early access" in month7 and f"/lessons/{M7_LESSON}" in month7
    home = page(learner_client.get("/home"))
    assert "early access" in between(home, "<h3>Open now</h3>", "<h3>Next</h3>")

    # nobody else's schedule moves
    assert other_client.get(f"/lessons/{M7_LESSON}").status_code == 403
    other_month7 = section(page(other_client.get("/schedule")), "month-7")
    assert "early access" not in other_month7
    assert f"opens {short_date(month_opens_on(world.cohort_a.start_date, 7))}" in other_month7


def test_org_admin_grants_an_extension(loaded: Flask, world, enrol_learner, login) -> None:
    other = enrol_learner(world.cohort_a, name="Other Learner")
    regular_due = month_opens_on(world.cohort_a.start_date, 7)
    new_due = regular_due + timedelta(days=10)
    staff = signed_in(loaded, login, world.org_admin_a)
    response = staff.post(grant_url(world.cohort_a, world.learner_a), data={
        "phase": phase_id(M6_PHASE), "kind": OverrideKind.EXTENSION, "on_date": new_due.isoformat(), "note": ""})
    assert response.status_code == 302

    learner_client = signed_in(loaded, login, world.learner_a)
    month6 = phase_slot(section(page(learner_client.get("/schedule")), "month-6"), M6_LESSON)
    assert f"due {short_date(new_due)} (extended)" in month6
    assert short_date(regular_due) not in month6
    assert f"due {short_date(new_due)} (extended)" in page(learner_client.get("/home"))

    other_month6 = phase_slot(section(page(signed_in(loaded, login, other).get("/schedule")), "month-6"), M6_LESSON)
    assert f"due {short_date(regular_due)}" in other_month6 and "(extended)" not in other_month6

    # the newest extension wins
    later = new_due + timedelta(days=5)
    assert staff.post(grant_url(world.cohort_a, world.learner_a), data={
        "phase": phase_id(M6_PHASE), "kind": OverrideKind.EXTENSION, "on_date": later.isoformat()}).status_code == 302
    assert f"due {short_date(later)} (extended)" in section(page(learner_client.get("/schedule")), "month-6")
    far = staff.post(grant_url(world.cohort_a, world.learner_a), data={
        "phase": phase_id(M6_PHASE), "kind": OverrideKind.EXTENSION, "on_date": "9999-12-31"})
    assert far.status_code == 400 and "Choose a date between 1 January 2000 and 31 December 2099." in page(far)
    # staff see which of the two applies
    granted = page(staff.get(f"/cohorts/{world.cohort_a.id}/learners/{world.learner_a.id}"))
    granted = granted[granted.index("<h3>Granted</h3>"):]
    assert granted.index(short_date(later)) < granted.index("<strong>applies</strong>") < granted.index(
        short_date(new_due)) < granted.index("<em>replaced by a later one</em>")
    assert granted.count("<strong>applies</strong>") == 1


def test_a_grant_from_a_page_shown_before_another_grant_does_not_replace_it_unseen(loaded: Flask, world, login,
                                                                                   make_user) -> None:
    """Two admins have the learner's page open: one extends month 6 to day +20, then the
    other (their page still shows no extension) grants day +10. The newest grant wins, so
    theirs would shorten the first unseen: it is refused, naming the first, and granted
    once they send it again from the page that shows it."""
    url = grant_url(world.cohort_a, world.learner_a)
    learner_page = f"/cohorts/{world.cohort_a.id}/learners/{world.learner_a.id}"
    regular_due = month_opens_on(world.cohort_a.start_date, 7)
    first = signed_in(loaded, login, world.org_admin_a)
    second = signed_in(loaded, login, make_user(email="second.admin@example.com", name="Second Admin", admin=True))
    shown = re.search(r'name="seen" type="hidden" value="(\d+)"', page(second.get(learner_page)))
    assert shown is not None and shown.group(1) == "0"
    grant = {"phase": phase_id(M6_PHASE), "kind": OverrideKind.EXTENSION, "note": ""}
    assert first.post(url, data={**grant, "seen": "0", "on_date": (regular_due + timedelta(days=20)).isoformat()}
                      ).status_code == 302
    assert override_count() == 1
    late = second.post(url, data={**grant, "seen": shown.group(1), "on_date": (regular_due + timedelta(days=10)).isoformat()})
    text = page(late)
    assert late.status_code == 400 and "since this page was opened, Org Admin A granted this part an extension to" in text
    assert override_count() == 1
    # The page shown with the refusal has seen the first grant: sent again from it, it applies.
    again = re.search(r'name="seen" type="hidden" value="(\d+)"', text)
    assert again is not None and again.group(1) != "0"
    assert second.post(url, data={**grant, "seen": again.group(1),
                                  "on_date": (regular_due + timedelta(days=10)).isoformat()}).status_code == 302
    assert override_count() == 2


@pytest.mark.parametrize(("case", "message"), [
    ("early_not_before", "Early access must open before the regular date"),
    ("extension_not_after", "An extension must run past the regular due date"),
    ("extension_past_the_end", "An extension can run at most to"),
    ("malformed", "Enter the date as YYYY-MM-DD."),
    # which date, not only its format: the new due date, or the day early access opens
    ("empty", "Enter the date: the new due date for an extension, the day it opens for early access (YYYY-MM-DD)."),
    ("unknown_phase", "Not a valid choice"),
    ("unknown_kind", "Not a valid choice"),
])
def test_invalid_override_grants_nothing(loaded: Flask, world, login, case: str, message: str) -> None:
    start = world.cohort_a.start_date
    month7_opens = month_opens_on(start, 7)
    month6_due = month_opens_on(start, 7)  # month 6's work is due when month 7 opens
    data = {
        "early_not_before": {"phase": phase_id(M7_PHASE), "kind": OverrideKind.EARLY_ACCESS, "on_date": month7_opens.isoformat()},
        "extension_not_after": {"phase": phase_id(M6_PHASE), "kind": OverrideKind.EXTENSION, "on_date": month6_due.isoformat()},
        "extension_past_the_end": {"phase": phase_id(M6_PHASE), "kind": OverrideKind.EXTENSION,  # a year typed wrong
                                   "on_date": month_opens_on(start, 13).replace(year=month_opens_on(start, 13).year + 3).isoformat()},
        "malformed": {"phase": phase_id(M7_PHASE), "kind": OverrideKind.EARLY_ACCESS, "on_date": "31/12/2025"},
        "empty": {"phase": phase_id(M7_PHASE), "kind": OverrideKind.EARLY_ACCESS, "on_date": ""},
        "unknown_phase": {"phase": 999_999, "kind": OverrideKind.EARLY_ACCESS, "on_date": today_utc().isoformat()},
        "unknown_kind": {"phase": phase_id(M7_PHASE), "kind": "forever", "on_date": today_utc().isoformat()},
    }[case]
    staff = signed_in(loaded, login, world.instructor_a)
    response = staff.post(grant_url(world.cohort_a, world.learner_a), data={**data, "note": "try"})
    assert response.status_code == 400
    html = page(response)
    assert message in htmlmod.unescape(html)
    assert 'role="alert"' in html
    assert "<h2>Extension or early access</h2>" in html  # the form is shown again
    if case == "early_not_before":
        assert long_date(month7_opens) in html
    if case == "extension_not_after":
        assert long_date(month6_due) in html
    if case == "extension_past_the_end":  # the day the program closes, after the closing period
        assert long_date(program_closes_on(start)) in html
    assert override_count() == 0
    learner_client = signed_in(loaded, login, world.learner_a)
    assert learner_client.get(f"/lessons/{M7_LESSON}").status_code == 403
    assert "(extended)" not in page(learner_client.get("/schedule"))


def test_early_access_on_the_regular_date_is_refused_by_the_service(loaded: Flask, world) -> None:
    month7_opens = month_opens_on(world.cohort_a.start_date, 7)
    with pytest.raises(CohortError):
        services.grant_override(db.session, world.cohort_a, world.learner_a, phase_id(M7_PHASE), OverrideKind.EARLY_ACCESS,
                                month7_opens, "", world.instructor_a)
    services.grant_override(db.session, world.cohort_a, world.learner_a, phase_id(M7_PHASE), OverrideKind.EARLY_ACCESS,
                            month7_opens - timedelta(days=1), "", world.instructor_a)
    with pytest.raises(CohortError):  # the learner is not in this cohort
        services.grant_override(db.session, world.cohort_b, world.learner_a, phase_id(M7_PHASE), OverrideKind.EARLY_ACCESS,
                                today_utc(), "", world.instructor_b)
    db.session.rollback()


def test_early_access_in_the_past_is_refused_and_the_form_keeps_what_was_typed(loaded: Flask, world, login) -> None:
    """Early access opens a part of the program sooner, from today on: a date in the past
    (the tester's 2020-01-01, or yesterday) is refused with the reason, the form shown
    again with what was typed, and nothing is stored."""
    staff = signed_in(loaded, login, world.instructor_a)
    today = cohort_today(world.cohort_a, datetime.now(UTC))
    for day in (date(2020, 1, 1), today - timedelta(days=1)):
        response = staff.post(grant_url(world.cohort_a, world.learner_a), data={
            "phase": phase_id(M7_PHASE), "kind": OverrideKind.EARLY_ACCESS, "on_date": day.isoformat(), "note": "Ready early"})
        assert response.status_code == 400
        html = page(response)
        assert "Early access cannot open in the past" in htmlmod.unescape(html) and long_date(today) in html
        assert 'role="alert"' in html and "<h2>Extension or early access</h2>" in html
        assert f'value="{day.isoformat()}"' in html and "Ready early" in html  # what was typed is kept
    assert override_count() == 0
    learner_client = signed_in(loaded, login, world.learner_a)
    assert learner_client.get(f"/lessons/{M7_LESSON}").status_code == 403


def test_early_access_counts_today_in_the_cohorts_time_zone(loaded: Flask, make_user, make_cohort, enrol_learner) -> None:
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(start=date(2026, 1, 1), timezone="Pacific/Kiritimati", instructors=[teacher])  # UTC+14
    learner = enrol_learner(cohort)
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # 2 March in Kiritimati
    with pytest.raises(CohortError, match="cannot open in the past: choose a date from today, 02 March 2026"):
        services.grant_override(db.session, cohort, learner, phase_id(M7_PHASE), OverrideKind.EARLY_ACCESS,
                                date(2026, 3, 1), "", teacher, now)
    override = services.grant_override(db.session, cohort, learner, phase_id(M7_PHASE), OverrideKind.EARLY_ACCESS,
                                       date(2026, 3, 2), "", teacher, now)
    assert override.on_date == date(2026, 3, 2)
    db.session.rollback()


def test_early_access_opens_the_work_sooner_and_leaves_it_due_on_its_regular_date(loaded: Flask, world, login) -> None:
    """The learner may open and hand in the work early, but is due when their classmates
    are: the work page, the progress page, the home's to-do list and the kept schedule
    give the regular due date, not one counted from the early opening."""
    today = cohort_today(world.cohort_a, datetime.now(UTC))
    work = db.session.scalar(select(Assignment).where(Assignment.key == M7_CASE))
    assert work is not None and work.phase_id == phase_id(M7_PHASE)
    regular_due = month_opens_on(world.cohort_a.start_date, 7) + timedelta(days=work.due_after_days)
    staff = signed_in(loaded, login, world.instructor_a)
    assert staff.post(grant_url(world.cohort_a, world.learner_a), data={
        "phase": phase_id(M7_PHASE), "kind": OverrideKind.EARLY_ACCESS, "on_date": today.isoformat()}).status_code == 302

    learner_client = signed_in(loaded, login, world.learner_a)
    work_page = page(learner_client.get(f"/assignments/{M7_CASE}/work"))
    assert f"Due {long_date(regular_due)}" in work_page
    home = page(learner_client.get("/home"))
    todo = re.search(rf'<li class="todo-item[^"]*" data-key="{M7_CASE}" data-due="([^"]+)">', home)
    assert todo is not None and todo.group(1) == regular_due.isoformat() and "overdue" not in todo.group(0)
    items = {i.key: i for i in learner_progress(db.session, world.cohort_a, world.learner_a.id, utcnow()).items}
    assert (items[M7_CASE].opens_on, items[M7_CASE].due_on) == (today, regular_due)
    assert (items[M7_LESSON].opens_on, items[M7_LESSON].due_on) == (today, month_opens_on(world.cohort_a.start_date, 8))
    kept = db.session.scalar(select(ProgressItem.due_on).where(ProgressItem.user_id == world.learner_a.id,
                                                               ProgressItem.key == M7_CASE))
    assert kept == regular_due
    # the day after the work would have been due counted from the early opening, it is not overdue
    later = learner_progress(db.session, world.cohort_a, world.learner_a.id,
                             datetime.now(UTC) + timedelta(days=work.due_after_days + 1))
    assert M7_CASE not in {i.key for i in later.overdue}


def test_early_access_granted_before_the_rule_makes_no_one_behind(loaded: Flask, make_user, make_cohort, enrol_learner,
                                                                  login) -> None:
    """The tester's case: early access kept from before dates in the past were refused
    (2020-01-01, on a cohort starting today) opens month 7 but dates nothing to 2020: the
    learner is not behind on their progress page, their home or the cohort's heat map."""
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(instructors=[teacher])
    learner = enrol_learner(cohort, name="Early Bird")
    services.grant_override(db.session, cohort, learner, phase_id(M7_PHASE), OverrideKind.EARLY_ACCESS, date(2020, 1, 1),
                            "", teacher, datetime(2019, 12, 31, 12, 0, tzinfo=UTC))
    db.session.commit()
    progress = learner_progress(db.session, cohort, learner.id, utcnow())
    assert not progress.behind and not progress.overdue
    client = signed_in(loaded, login, learner)
    assert client.get(f"/lessons/{M7_LESSON}").status_code == 200
    assert "behind schedule" not in page(client.get("/progress"))
    assert "2020" not in page(client.get("/progress")) and 'class="todo-item overdue"' not in page(client.get("/home"))
    heat = page(signed_in(loaded, login, teacher).get(f"/cohorts/{cohort.id}/competency"))
    row = re.search(rf'<tr[^>]* data-user="{learner.id}">.*?</tr>', heat, re.S)
    assert row is not None and row.group(0).endswith('<td><span class="muted">no</span></td></tr>')  # at risk: no
    assert "at-risk-learner" not in heat and "Jan 2020" not in heat


@pytest.mark.parametrize(("who", "status"), [
    ("instructor_b", 404),       # another organization's instructor
    ("org_admin_b", 404),        # another organization's admin
    ("instructor_a2", 403),      # instructor of another cohort of the same organization
    ("learner_a", 403),          # the learner themself
    ("nobody", 404),
])
def test_strangers_cannot_grant(loaded: Flask, world, make_user, make_cohort, login, who: str, status: int) -> None:
    if who == "instructor_a2":
        person = make_user(name="Instructor A3")
        make_cohort(world.org_a, "Alpha 3", months_ago=2, instructors=[person])
    else:
        person = getattr(world, who)
    client = signed_in(loaded, login, person)
    url = grant_url(world.cohort_a, world.learner_a)
    data = {"phase": phase_id(M7_PHASE), "kind": OverrideKind.EARLY_ACCESS, "on_date": today_utc().isoformat(), "note": ""}
    assert client.post(url, data=data).status_code == status
    assert client.get(f"/cohorts/{world.cohort_a.id}/learners/{world.learner_a.id}").status_code == status
    assert override_count() == 0
    assert signed_in(loaded, login, world.learner_a).get(f"/lessons/{M7_LESSON}").status_code == 403


@pytest.mark.parametrize("who", ["instructor_a", "org_admin_a", "admin"])
def test_granting_for_someone_outside_the_cohort_is_404(loaded: Flask, world, login, who: str) -> None:
    client = signed_in(loaded, login, getattr(world, who))
    data = {"phase": phase_id(M7_PHASE), "kind": OverrideKind.EARLY_ACCESS, "on_date": today_utc().isoformat(), "note": ""}
    for outsider in (world.learner_b, world.learner_a2, world.nobody):
        assert client.post(grant_url(world.cohort_a, outsider), data=data).status_code == 404
        assert client.get(f"/cohorts/{world.cohort_a.id}/learners/{outsider.id}").status_code == 404
    assert client.post(f"/cohorts/{world.cohort_a.id}/learners/999999/overrides", data=data).status_code == 404
    assert client.post(f"/cohorts/999999/learners/{world.learner_a.id}/overrides", data=data).status_code == 404
    assert override_count() == 0


# --------------------------------------------------------------------------- /schedule and the calendar


def test_schedule_page_lists_twelve_months(loaded: Flask, world, login) -> None:
    client = signed_in(loaded, login, world.learner_a)
    response = client.get("/schedule")
    assert response.status_code == 200
    html = page(response)
    for month in range(1, 13):
        assert f'id="month-{month}"' in html
    assert 'id="month-13"' not in html
    assert html.count(' current"') == 1
    assert re.search(r'<li class="card current" id="month-6">\s*<h2>Month 6 <span class="tag">now</span>', html)
    assert html.count('<span class="tag">now</span>') == 1
    assert f"/lessons/{M6_LESSON}" in section(html, "month-6")
    assert f"/lessons/{M7_LESSON}" not in html
    assert f"opens {short_date(month_opens_on(world.cohort_a.start_date, 12))}" in section(html, "month-12")


def feed_token(html: str) -> str:
    tokens = re.findall(r"http://localhost/calendar/([A-Za-z0-9_-]+)\.ics", html)
    assert len(set(tokens)) == 1, tokens
    return tokens[0]


def events_by_uid(ics: bytes) -> dict[str, Any]:
    calendar = Calendar.from_ical(ics)
    return {str(event["uid"]): event for event in calendar.walk("VEVENT")}


def test_calendar_feed(loaded: Flask, world, login) -> None:
    learner = world.learner_a
    client = signed_in(loaded, login, learner)
    response = client.post("/schedule/calendar")
    assert response.status_code == 200
    token = feed_token(page(response))

    # shown once: the schedule page afterwards says a link is active but does not repeat it
    later = page(client.get("/schedule"))
    assert token not in later and "A calendar link is active" in later

    anonymous = new_client(loaded)
    feed = anonymous.get(f"/calendar/{token}.ics")
    assert feed.status_code == 200
    assert feed.mimetype == "text/calendar"
    events = events_by_uid(feed.data)
    start = world.cohort_a.start_date
    phases = list(db.session.scalars(select(Phase).where(Phase.retired_at.is_(None))))
    assert len(phases) == len(PHASES)
    # the phases' dates, then the assessed work's and the quizzes' (tests/test_calendar_items.py)
    assert len([uid for uid in events if not re.match(rf"{learner.id}-(quiz|exam|assignment|portfolio)-", uid)]) == 2 * len(phases)
    for phase in phases:
        opening = events[f"{learner.id}-{phase.key}-opens@lms"]
        due = events[f"{learner.id}-{phase.key}-due@lms"]
        assert opening.decoded("dtstart") == month_opens_on(start, phase.month)
        assert due.decoded("dtstart") == month_opens_on(start, phase.month + 1)
        assert str(opening["summary"]).startswith("Opens: ") and f"(month {phase.month})" in str(opening["summary"])
        assert str(due["summary"]).startswith("Due: ")

    # early access shows in the feed
    db.session.expire_all()
    services.grant_override(db.session, world.cohort_a, db.session.get(User, learner.id), phase_id(M7_PHASE),
                            OverrideKind.EARLY_ACCESS, today_utc(), "", db.session.get(User, world.instructor_a.id))
    db.session.commit()
    events = events_by_uid(anonymous.get(f"/calendar/{token}.ics").data)
    assert events[f"{learner.id}-{M7_PHASE}-opens@lms"].decoded("dtstart") == today_utc()
    assert events[f"{learner.id}-{M7_PHASE}-due@lms"].decoded("dtstart") == month_opens_on(start, 8)

    # a new link revokes the old one
    token2 = feed_token(page(client.post("/schedule/calendar")))
    assert token2 != token
    assert anonymous.get(f"/calendar/{token}.ics").status_code == 404
    assert anonymous.get(f"/calendar/{token2}.ics").status_code == 200

    # turning it off
    revoked = client.post("/schedule/calendar/revoke")
    assert revoked.status_code == 302
    assert anonymous.get(f"/calendar/{token2}.ics").status_code == 404
    assert "A calendar link is active" not in page(client.get("/schedule"))

    assert anonymous.get("/calendar/made-up-token.ics").status_code == 404
    assert anonymous.get(f"/calendar/{token[:-1]}.ics").status_code == 404


def test_a_deactivated_learners_calendar_feed_is_not_found_until_reactivated(loaded: Flask, world, login) -> None:
    """The feed's link is the learner's secret: a deactivated account's schedule is not
    served by it (as its API tokens are refused); reactivated, the same link works again."""
    client = signed_in(loaded, login, world.learner_a)
    token = feed_token(page(client.post("/schedule/calendar")))
    anonymous = new_client(loaded)
    assert anonymous.get(f"/calendar/{token}.ics").status_code == 200
    learner = db.session.get(User, world.learner_a.id)
    deactivate(db.session, learner, learner.session_version, Origin(world.admin.id, None))
    db.session.commit()
    assert anonymous.get(f"/calendar/{token}.ics").status_code == 404
    learner = db.session.get(User, world.learner_a.id)
    reactivate(db.session, learner, learner.session_version, Origin(world.admin.id, None))
    db.session.commit()
    assert anonymous.get(f"/calendar/{token}.ics").status_code == 200


def test_calendar_feeds_are_per_person(loaded: Flask, world, login) -> None:
    token_a = feed_token(page(signed_in(loaded, login, world.learner_a).post("/schedule/calendar")))
    token_b = feed_token(page(signed_in(loaded, login, world.learner_b).post("/schedule/calendar")))
    anonymous = new_client(loaded)
    events_a = events_by_uid(anonymous.get(f"/calendar/{token_a}.ics").data)
    events_b = events_by_uid(anonymous.get(f"/calendar/{token_b}.ics").data)
    assert all(uid.startswith(f"{world.learner_a.id}-") for uid in events_a)
    assert all(uid.startswith(f"{world.learner_b.id}-") for uid in events_b)


# --------------------------------------------------------------------------- homes


def test_instructor_home(loaded: Flask, world, enrol_learner, login) -> None:
    enrol_learner(world.cohort_a)
    enrol_learner(world.cohort_a)
    html = page(signed_in(loaded, login, world.instructor_a).get("/home"))
    mine = section(html, "instructor-home")
    row = table_row(mine, "Alpha 1")
    assert '<td class="learner-count">3</td>' in row
    assert world.cohort_a.start_date.strftime("%d %b %Y") in row
    assert "Alpha 2" not in mine and "Beta 1" not in mine
    assert 'id="learner-home"' not in html and "no cohort yet" not in html


def test_org_admin_home(loaded: Flask, world, enrol_learner, login) -> None:
    enrol_learner(world.cohort_a)
    enrol_learner(world.cohort_a)
    enrol_learner(world.cohort_a2)
    html = page(signed_in(loaded, login, world.org_admin_a).get("/home"))
    org = section(html, f"org-home-{world.org_a.id}")
    assert "Alpha Org" in org
    alpha1, alpha2 = table_row(org, "Alpha 1"), table_row(org, "Alpha 2")
    assert '<td class="learner-count">3</td>' in alpha1 and world.cohort_a.start_date.strftime("%d %b %Y") in alpha1
    assert '<td class="learner-count">2</td>' in alpha2 and world.cohort_a2.start_date.strftime("%d %b %Y") in alpha2
    assert "Beta 1" not in html and "Beta Org" not in html
    assert f'id="org-home-{world.org_b.id}"' not in html


def test_site_admin_home(loaded: Flask, world, login) -> None:
    html = page(signed_in(loaded, login, world.admin).get("/home"))
    admin = section(html, "admin-home")
    assert 'href="/admin/organizations"' in admin
    assert "no cohort yet" not in html


def test_home_without_a_role(loaded: Flask, world, login) -> None:
    html = page(signed_in(loaded, login, world.nobody).get("/home"))
    assert "You have no cohort yet" in html
    for element in ("learner-home", "instructor-home", "admin-home"):
        assert f'id="{element}"' not in html


def test_home_of_an_instructor_who_is_also_a_learner(loaded: Flask, world, enrol_learner, login) -> None:
    enrol_learner(world.cohort_a2, user=world.instructor_b)
    html = page(signed_in(loaded, login, world.instructor_b).get("/home"))
    learner = section(html, "learner-home")
    assert "Alpha 2" in learner and "Month 2 of 12" in text(learner)
    teaching = section(html, "instructor-home")
    assert '<td class="learner-count">1</td>' in table_row(teaching, "Beta 1")
    assert "no cohort yet" not in html


def test_home_before_the_start_and_after_the_end(loaded: Flask, make_cohort, enrol_learner, login) -> None:
    future = make_cohort(start=today_utc() + timedelta(days=10))
    html = page(signed_in(loaded, login, enrol_learner(future)).get("/home"))
    assert f"Your cohort starts on {long_date(future.start_date)}" in text(html)
    # What to do before it starts, each item a link: the clock deadlines are shown on (the
    # learner's zone named), the notices, how the year runs and the objectives, the schedule.
    before = between(html, 'id="before-start"', "</section>")
    for link in ('href="/account"', 'href="/notifications/preferences"', 'href="/"', 'href="/objectives"',
                 'href="/schedule"'):
        assert link in before
    assert "now UTC" in text(before) and f"month 1 opens on {long_date(future.start_date)}" in text(before)
    running = make_cohort(months_ago=1)
    assert 'id="before-start"' not in page(signed_in(loaded, login, enrol_learner(running)).get("/home"))
    finished = make_cohort(months_ago=13)
    html = page(signed_in(loaded, login, enrol_learner(finished)).get("/home"))
    # Over is not done: a learner with work still open is not told they completed anything.
    assert "twelve months of the program are over" in html and "You have completed" not in html
    assert 'id="before-start"' not in html


# --------------------------------------------------------------------------- moving a learner


def test_move_keeps_history(loaded: Flask, world, login) -> None:
    staff = signed_in(loaded, login, world.instructor_a)
    assert staff.post(grant_url(world.cohort_a, world.learner_a), data={
        "phase": phase_id(M7_PHASE), "kind": OverrideKind.EARLY_ACCESS, "on_date": today_utc().isoformat(),
        "note": "Before the move"}).status_code == 302

    db.session.expire_all()
    learner = db.session.get(User, world.learner_a.id)
    move_learner(db.session, learner, db.session.get(Cohort, world.cohort_a.id), db.session.get(Cohort, world.cohort_a2.id))
    db.session.commit()
    db.session.expire_all()

    plan = services.learner_schedule(db.session, db.session.get(User, learner.id))
    assert plan is not None and plan.cohort.id == world.cohort_a2.id and plan.month == 2
    history = override_history(db.session, learner.id)
    assert [(o.kind, o.note, o.phase.key) for o in history] == [(OverrideKind.EARLY_ACCESS, "Before the move", M7_PHASE)]

    client = signed_in(loaded, login, learner)
    assert "Month 2 of 12" in text(page(client.get("/home")))
    assert client.get(f"/lessons/{M6_LESSON}").status_code == 403  # month 6 of the new cohort is months away
    # the old cohort's staff lose the learner; the new cohort's staff see the history
    assert staff.get(f"/cohorts/{world.cohort_a.id}/learners/{learner.id}").status_code == 404
    admin_page = page(signed_in(loaded, login, world.org_admin_a).get(f"/cohorts/{world.cohort_a2.id}/learners/{learner.id}"))
    assert "Before the move" in between(admin_page, "<h3>Granted</h3>", "</ul>")
    assert "month 2 of 12" in admin_page


# --------------------------------------------------------------------------- flask lms demo


CREDENTIAL = re.compile(r"^(?P<role>\S.*?)\s+(?P<email>\S+@\S+)\s+(?P<password>\S+)$")


def run_demo(app: Flask) -> list[dict[str, str]]:
    with app.app_context():  # a session of its own, as on the command line
        result = app.test_cli_runner().invoke(args=["lms", "demo"])
    return demo_credentials(result)


def demo_credentials(result: Result) -> list[dict[str, str]]:
    assert result.exit_code == 0, result.output
    return [m.groupdict() for line in result.output.splitlines() if (m := CREDENTIAL.match(line.strip()))]


def people_counts() -> tuple[int, ...]:
    db.session.rollback()
    db.session.expire_all()
    return tuple(db.session.scalar(select(func.count()).select_from(model)) or 0
                 for model in (User, Enrolment, Organization, Cohort))


def test_demo_command(loaded: Flask, login, demo_command: Callable[[], Result]) -> None:
    credentials = demo_credentials(demo_command())
    roles = [c["role"] for c in credentials]
    assert roles.count("site admin") == 1
    assert roles.count("organization admin") == 1
    assert roles.count("instructor") == 1
    assert roles.count("learner") == 12
    assert len({c["email"] for c in credentials}) == 15
    assert {c["password"] for c in credentials} == {DEMO_PASSWORD}
    counts = people_counts()
    assert counts == (15, 12, 1, 1)

    by_role = {c["role"]: c["email"] for c in credentials}
    admin = db.session.scalar(select(User).where(User.email == by_role["site admin"]))
    assert admin is not None and admin.is_admin
    org = db.session.scalar(select(Organization))
    cohort = db.session.scalar(select(Cohort))
    assert [u.email for u in org.admins] == [by_role["organization admin"]]
    assert [u.email for u in cohort.instructors] == [by_role["instructor"]]
    learner_emails = {c["email"] for c in credentials if c["role"] == "learner"}
    enrolled = set(db.session.scalars(select(User.email).join(Enrolment, Enrolment.user_id == User.id)
                                      .where(Enrolment.cohort_id == cohort.id, Enrolment.ended_at.is_(None))))
    assert enrolled == learner_emails

    again = run_demo(loaded)
    assert sorted(c["email"] for c in again) == sorted(c["email"] for c in credentials)
    assert people_counts() == counts

    first_learner = next(c for c in credentials if c["role"] == "learner")
    user = db.session.scalar(select(User).where(User.email == first_learner["email"]))
    client = signed_in(loaded, login, user, first_learner["password"])
    html = page(client.get("/home"))
    assert "Month 6 of 12" in text(html)
    assert client.get(f"/lessons/{M6_LESSON}").status_code == 200
    assert client.get(f"/lessons/{M7_LESSON}").status_code == 403

    staff = db.session.scalar(select(User).where(User.email == by_role["instructor"]))
    html = page(signed_in(loaded, login, staff, DEMO_PASSWORD).get("/home"))
    assert '<td class="learner-count">12</td>' in table_row(section(html, "instructor-home"), "Northwind cohort 1")


# --------------------------------------------------------------------------- query counts


def grow_cohort(cohort: Any, enrol_learner: Any, to: int) -> None:
    current = db.session.scalar(select(func.count()).select_from(Enrolment).where(
        Enrolment.cohort_id == cohort.id, Enrolment.ended_at.is_(None))) or 0
    for _ in range(to - current):
        enrol_learner(cohort, password=None)  # no password: skips the deliberately slow hash


def statements(count_queries: Any, client: Any, url: str) -> int:
    def fetch() -> None:
        response = client.get(url)
        assert response.status_code == 200, url
    fetch()  # warm up
    return count_queries(fetch)


@pytest.mark.parametrize("who", ["instructor_a", "org_admin_a", "staff_learner_page"])
def test_pages_run_a_fixed_number_of_statements(loaded: Flask, world, enrol_learner, login, count_queries,
                                                who: str) -> None:
    learner = world.learner_a
    services.grant_override(db.session, world.cohort_a, learner, phase_id(M7_PHASE), OverrideKind.EARLY_ACCESS,
                            today_utc(), "one", world.instructor_a)
    services.grant_override(db.session, world.cohort_a, learner, phase_id(M6_PHASE), OverrideKind.EXTENSION,
                            month_opens_on(world.cohort_a.start_date, 8), "two", world.org_admin_a)
    db.session.commit()
    if who == "staff_learner_page":
        client = signed_in(loaded, login, world.instructor_a)
        url = f"/cohorts/{world.cohort_a.id}/learners/{learner.id}"
    else:
        client = signed_in(loaded, login, getattr(world, who))
        url = "/home"
    grow_cohort(world.cohort_a, enrol_learner, 3)
    grow_cohort(world.cohort_a2, enrol_learner, 3)
    small = statements(count_queries, client, url)
    grow_cohort(world.cohort_a, enrol_learner, 30)
    grow_cohort(world.cohort_a2, enrol_learner, 30)
    large = statements(count_queries, client, url)
    assert small == large, f"{url}: {small} statements with 3 learners, {large} with 30"
