"""Each learner's own schedule: a learner who joins after their cohort started gets dates
from their joining (catch-up: the months under way or gone compressed into a window of 14
days per month, then the cohort's dates; own start: the program's pace from the joining
day). The schedule, lesson release, completion ("behind schedule"), the heat map's at-risk
list, the calendar feed and the pages all use those dates; overrides apply on top; a move
carries the pace the manager chose; the statements do not grow with learners of different
paces."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from icalendar import Calendar
from sqlalchemy import select

from lms.assessment.models import Quiz
from lms.assessment.services import quiz_status
from lms.catalog.models import Phase
from lms.cohorts.enrolment import active_enrolment, move_learner
from lms.cohorts.models import Cohort, Enrolment, Pace
from lms.cohorts.services import CohortError
from lms.competency.services import heat_map
from lms.coursework.models import Assignment
from lms.coursework.services import dates_for
from lms.extensions import db
from lms.learning.models import OverrideKind
from lms.learning.services import (
    Timeline,
    build_schedule,
    calendar_ics,
    grant_override,
    learner_dates,
    learner_schedule,
    lesson_access,
    month_opens_on,
)
from lms.progress.completion import ItemKind, cohort_progress, learner_progress

M1_PHASE = "mlops.foundation"
M6_PHASE = "customer-success.advanced"
M7_PHASE = "international-operations.compliance-infrastructure"
M1_LESSON = "mlops-release-pipeline-registry"
M6_LESSON = "cs-predictive-insights"


def now_utc() -> datetime:
    return datetime.now(UTC)


def start_in_month_6(today: date) -> date:
    """A cohort start that puts ``today`` on day 11 of the cohort's month 6."""
    return today - relativedelta(months=5, days=10)


def phase(key: str) -> Phase:
    found = db.session.scalar(select(Phase).where(Phase.key == key))
    assert found is not None, key
    return found


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


@pytest.fixture()
def setting(loaded, make_user, make_org, make_cohort, enrol_learner) -> dict[str, Any]:
    """A cohort on day 11 of month 6 with a learner there from the start and two who join
    today: one catching up, one on their own start."""
    now = now_utc()
    staff = make_user(name="Olivia Org")
    org = make_org("Acme", admins=[staff])
    cohort = make_cohort(org, "Acme 1", start=start_in_month_6(now.date()))
    return {
        "now": now, "staff": staff, "org": org, "cohort": cohort,
        "early": enrol_learner(cohort, name="Ada Early"),
        "catch_up": enrol_learner(cohort, name="Bo Catchup", joined=now, pace=Pace.CATCH_UP),
        "own": enrol_learner(cohort, name="Cy Ownstart", joined=now, pace=Pace.OWN_START),
    }


# --------------------------------------------------------------------------- the date maths


def test_catch_up_dates_compress_the_missed_months_then_follow_the_cohort() -> None:
    start, joined = date(2026, 1, 1), date(2026, 6, 11)  # day 11 of month 6
    dates = {m: learner_dates(start, joined, Pace.CATCH_UP, m) for m in range(1, 13)}
    assert dates[1] == (joined, joined + timedelta(days=14))
    assert dates[5] == (joined, joined + timedelta(days=70))
    assert dates[6] == (joined, joined + timedelta(days=84))        # the month under way is caught up too
    assert dates[7] == (date(2026, 7, 1), date(2026, 8, 1))         # the cohort's own dates
    assert dates[12] == (date(2026, 12, 1), date(2027, 1, 1))
    # Another window length: a setting, not a constant.
    assert learner_dates(start, joined, Pace.CATCH_UP, 2, days_per_month=10)[1] == joined + timedelta(days=20)
    # No due date earlier than the cohort's own: joined on day 2, month 1's window (14 days)
    # would end before the cohort's month 1 is due.
    assert learner_dates(start, date(2026, 1, 2), Pace.CATCH_UP, 1) == (date(2026, 1, 2), date(2026, 2, 1))
    timeline = Timeline(start, joined, Pace.CATCH_UP)
    assert timeline.caught_up == 6 and timeline.catch_up_window == (joined + timedelta(days=14), joined + timedelta(days=84))
    assert timeline.month(joined) == 6


def test_own_start_dates_run_from_the_joining_day() -> None:
    start, joined = date(2026, 1, 1), date(2026, 6, 11)
    assert learner_dates(start, joined, Pace.OWN_START, 1) == (joined, date(2026, 7, 11))
    assert learner_dates(start, joined, Pace.OWN_START, 6) == (date(2026, 11, 11), date(2026, 12, 11))
    timeline = Timeline(start, joined, Pace.OWN_START)
    assert timeline.month(joined) == 1 and timeline.caught_up == 0 and timeline.ends_on == date(2027, 6, 11)


@pytest.mark.parametrize("joined", [None, date(2025, 12, 20), date(2026, 1, 1)])
@pytest.mark.parametrize("pace", list(Pace))
def test_joining_on_or_before_the_start_keeps_the_cohorts_dates(joined: date | None, pace: Pace) -> None:
    start = date(2026, 1, 1)
    for month in range(1, 13):
        assert learner_dates(start, joined, pace, month) == (month_opens_on(start, month), month_opens_on(start, month + 1))


# --------------------------------------------------------------------------- completion and the heat map


def test_a_learner_joining_in_month_6_is_not_behind_nor_at_risk_on_the_day_they_join(setting) -> None:
    cohort, now = setting["cohort"], setting["now"]
    ids = [setting[k].id for k in ("early", "catch_up", "own")]
    progress = cohort_progress(db.session, cohort, ids, now)
    early, catch_up, own = (progress[i] for i in ids)
    # The learner there from the start who did nothing is behind, and at risk.
    assert early.behind and early.days_behind > 100
    for late in (catch_up, own):
        assert not late.behind and late.days_behind == 0 and not late.overdue
    assert catch_up.month == 6 and own.month == 1
    joined = now.date()
    month_1 = [i for i in catch_up.items if i.module is not None and i.module.key == "mlops" and i.level is not None
               and i.level.key == "foundation" and i.kind not in (ItemKind.EXAM, ItemKind.QUIZ)]
    # (a phase quiz opens when its phase ends and keeps its own window after that)
    assert month_1 and {i.due_on for i in month_1} == {joined + timedelta(days=14)}
    assert all(i.opens_on == joined for i in month_1)
    heat = heat_map(db.session, cohort, now)
    at_risk = {row.user.id for row in heat.at_risk}
    assert setting["early"].id in at_risk
    assert setting["catch_up"].id not in at_risk and setting["own"].id not in at_risk
    # The cohort's columns follow the cohort's dates: the first objectives (MLOps and customer
    # success, whose advanced phases run in month 6) close when the cohort's month 6 ends.
    assert not any(c.closed for c in heat.columns)
    closed = {c.objective.code for c in heat_map(db.session, cohort, now + timedelta(days=25)).columns if c.closed}
    assert {"KO1", "KO2"} <= closed and "KO3" not in closed


def test_a_catch_up_learner_who_does_nothing_falls_behind_from_their_own_dates(setting) -> None:
    cohort, learner, now = setting["cohort"], setting["catch_up"], setting["now"]
    later = learner_progress(db.session, cohort, learner.id, now + timedelta(days=20))
    # Month 1's work was due 14 days after joining: six days late now.
    assert later.days_behind == 6 and later.overdue
    assert {i.due_on for i in later.overdue} == {now.date() + timedelta(days=14)}
    assert not later.behind  # "behind schedule" starts after 14 days late
    much_later = learner_progress(db.session, cohort, learner.id, now + timedelta(days=29))
    assert much_later.days_behind == 15 and much_later.behind
    heat = heat_map(db.session, cohort, now + timedelta(days=29))
    assert learner.id in {row.user.id for row in heat.at_risk}
    # The own-start learner is still within month 1's dates after 20 days.
    assert not learner_progress(db.session, cohort, setting["own"].id, now + timedelta(days=20)).overdue


def test_an_objective_counts_for_at_risk_once_it_closed_for_the_learner(setting) -> None:
    cohort, learner, now = setting["cohort"], setting["catch_up"], setting["now"]
    # MLOps runs in months 1 and 6: for the catch-up learner month 6 is due 84 days after
    # joining, so KO1 counts from day 85 and not before; international operations (KO3)
    # runs to month 9 and does not count yet.
    def reasons(days: int) -> str:
        heat = heat_map(db.session, cohort, now + timedelta(days=days))
        return " ".join(str(r) for r in next(r for r in heat.rows if r.user.id == learner.id).reasons)
    assert "KO1" not in reasons(71)
    later = reasons(85)
    assert "KO1 has no evidence" in later
    assert "KO3" not in later


# --------------------------------------------------------------------------- the schedule and release


def test_the_schedule_and_release_follow_the_learners_own_dates(setting) -> None:
    cohort, now = setting["cohort"], setting["now"]
    joined = now.date()
    catch_up = build_schedule(db.session, cohort, setting["catch_up"].id, now)
    m1, m6, m7 = (catch_up.slot_for(phase(k).id) for k in (M1_PHASE, M6_PHASE, M7_PHASE))
    assert m1 is not None and m6 is not None and m7 is not None
    assert (m1.opens_on, m1.due_on, m1.is_open) == (joined, joined + timedelta(days=14), True)
    assert (m6.opens_on, m6.due_on, m6.is_open) == (joined, joined + timedelta(days=84), True)
    assert (m7.opens_on, m7.due_on) == (month_opens_on(cohort.start_date, 7), month_opens_on(cohort.start_date, 8))
    own = build_schedule(db.session, cohort, setting["own"].id, now)
    o1, o6 = own.slot_for(phase(M1_PHASE).id), own.slot_for(phase(M6_PHASE).id)
    assert o1 is not None and o6 is not None
    assert (o1.opens_on, o1.is_open) == (joined, True)
    assert (o6.opens_on, o6.is_open) == (joined + relativedelta(months=5), False)
    assert own.month == 1
    own_user = setting["own"]
    assert lesson_access(db.session, own_user, M1_LESSON, now).allowed
    refused = lesson_access(db.session, own_user, M6_LESSON, now)
    assert not refused.allowed and refused.opens_on == joined + relativedelta(months=5)
    assert lesson_access(db.session, setting["catch_up"], M6_LESSON, now).allowed
    # The learner there from the start keeps the cohort's dates.
    early = build_schedule(db.session, cohort, setting["early"].id, now)
    for slot in early.slots:
        assert (slot.opens_on, slot.due_on) == (month_opens_on(cohort.start_date, slot.phase.month),
                                                month_opens_on(cohort.start_date, slot.phase.month + 1))


def test_overrides_apply_on_top_of_the_learners_own_dates(setting) -> None:
    cohort, learner, staff, now = setting["cohort"], setting["catch_up"], setting["staff"], setting["now"]
    joined = now.date()
    # An extension must run past the learner's own due date, not the cohort's.
    with pytest.raises(CohortError, match="past the regular due date"):
        grant_override(db.session, cohort, learner, phase(M1_PHASE).id, OverrideKind.EXTENSION,
                       joined + timedelta(days=14), "", staff, now)
    db.session.rollback()
    grant_override(db.session, cohort, learner, phase(M1_PHASE).id, OverrideKind.EXTENSION,
                   joined + timedelta(days=40), "ill", staff, now)
    grant_override(db.session, cohort, learner, phase(M7_PHASE).id, OverrideKind.EARLY_ACCESS, joined, "ready", staff, now)
    db.session.commit()
    plan = build_schedule(db.session, cohort, learner.id, now)
    m1, m7 = plan.slot_for(phase(M1_PHASE).id), plan.slot_for(phase(M7_PHASE).id)
    assert m1 is not None and m1.extended and m1.due_on == joined + timedelta(days=40)
    assert m7 is not None and m7.early and m7.is_open
    later = learner_progress(db.session, cohort, learner.id, now + timedelta(days=20))
    assert not any(i.module is not None and i.module.key == "mlops" and i.level is not None and i.level.key == "foundation"
                   for i in later.overdue)
    # Own start: early access to month 6 opens it today.
    own = setting["own"]
    grant_override(db.session, cohort, own, phase(M6_PHASE).id, OverrideKind.EARLY_ACCESS, joined, "", staff, now)
    db.session.commit()
    m6 = build_schedule(db.session, cohort, own.id, now).slot_for(phase(M6_PHASE).id)
    assert m6 is not None and m6.early and m6.is_open


def test_the_learner_sees_the_plan_and_the_calendar_follows_it(setting, client, login) -> None:
    now, joined = setting["now"], setting["now"].date()
    login(client, setting["catch_up"])
    page = text(client.get("/schedule").get_data(as_text=True))
    first, last = joined + timedelta(days=14), joined + timedelta(days=84)
    assert (f"You joined on {joined:%d %B %Y} (month 6 of the cohort). Catch-up plan: the work of months 1–6 is due "
            f"between {first:%d %B %Y} and {last:%d %B %Y}; from month 7 you follow your cohort's dates.") in page
    plan = learner_schedule(db.session, setting["catch_up"], now)
    assert plan is not None
    calendar = Calendar.from_ical(calendar_ics(plan, setting["catch_up"], now))
    due = {str(e["uid"]): e.decoded("dtstart") for e in calendar.walk("VEVENT")}
    assert due[f"{setting['catch_up'].id}-{M1_PHASE}-due@lms"] == first
    assert due[f"{setting['catch_up'].id}-{M7_PHASE}-due@lms"] == month_opens_on(setting["cohort"].start_date, 8)
    client.post("/logout")
    login(client, setting["own"])
    page = text(client.get("/schedule").get_data(as_text=True))
    assert f"Your program runs from {joined:%d %B %Y} to {joined + relativedelta(months=12):%d %B %Y}" in page
    client.post("/logout")
    login(client, setting["early"])
    assert "joined-plan" not in client.get("/schedule").get_data(as_text=True)


def test_staff_see_the_learners_plan(setting, client, login) -> None:
    login(client, setting["staff"])
    cohort, learner = setting["cohort"], setting["own"]
    page = text(client.get(f"/cohorts/{cohort.id}/learners/{learner.id}").get_data(as_text=True))
    assert f"Cy Ownstart joined on {setting['now'].date():%d %B %Y}" in page and "Their program runs from" in page


# --------------------------------------------------------------------------- moving a learner


def test_moving_a_learner_stores_the_pace(setting, make_cohort, client, login) -> None:
    cohort, org, now = setting["cohort"], setting["org"], setting["now"]
    other = make_cohort(org, "Acme 2", months_ago=2)
    enrolment = move_learner(db.session, setting["early"], cohort, other, now, pace=Pace.OWN_START).enrolment
    db.session.commit()
    assert enrolment.pace == Pace.OWN_START and enrolment.cohort_id == other.id
    plan = build_schedule(db.session, other, setting["early"].id, now)
    assert plan.timeline.own_start and plan.month == 1
    # Through the cohort page's move form.
    login(client, setting["staff"])
    assert 'name="move-pace"' in client.get(f"/cohorts/{cohort.id}").get_data(as_text=True)  # offered with the move
    learner_id = setting["catch_up"].id
    response = client.post(f"/cohorts/{cohort.id}/learners/{learner_id}/move",
                           data={"move-target": other.id, "move-pace": "own_start"})
    assert response.status_code == 302
    db.session.expire_all()
    moved = active_enrolment(db.session, learner_id)
    assert moved is not None and moved.cohort_id == other.id and moved.pace == Pace.OWN_START
    # An unknown pace is refused; nothing moves.
    learner_id = setting["own"].id
    client.post(f"/cohorts/{cohort.id}/learners/{learner_id}/move", data={"move-target": other.id, "move-pace": "whenever"})
    db.session.expire_all()
    stay = active_enrolment(db.session, learner_id)
    assert stay is not None and stay.cohort_id == cohort.id


# --------------------------------------------------------------------------- statements


def test_statements_do_not_grow_with_learners_of_different_paces(setting, enrol_learner, count_queries) -> None:
    cohort, now = setting["cohort"], setting["now"]

    def ids() -> list[int]:
        return list(db.session.scalars(select(Enrolment.user_id).where(Enrolment.cohort_id == cohort.id,
                                                                        Enrolment.ended_at.is_(None))))

    def counts() -> tuple[int, int]:
        db.session.expire_all()
        heat = count_queries(lambda: heat_map(db.session, cohort, now))
        db.session.expire_all()
        progress = count_queries(lambda: cohort_progress(db.session, db.session.get(Cohort, cohort.id), ids(), now))
        return heat, progress

    few = counts()
    for n in range(6):
        joined = now - timedelta(days=5 * n)
        enrol_learner(cohort, name=f"Extra {n}", joined=joined, pace=Pace.OWN_START if n % 2 else Pace.CATCH_UP)
    assert counts() == few



def test_quiz_and_exam_windows_follow_the_learners_own_dates(setting) -> None:
    now = setting["now"]
    joined = now.date()
    exam = db.session.scalar(select(Quiz).where(Quiz.key == "foundation-exam"))  # the foundation level's last month, 45 days
    assert exam is not None
    early = quiz_status(db.session, exam, setting["early"], now)
    assert not early.can_start and "closed on" in (early.reason or "")
    catch_up = quiz_status(db.session, exam, setting["catch_up"], now)
    assert catch_up.can_start, catch_up.reason
    assert catch_up.window is not None and catch_up.window.closes_at is not None
    last = exam.level.last_month  # the catch-up due date of the level's last month
    assert catch_up.window.closes_at.date() == joined + timedelta(days=14 * last)
    own = quiz_status(db.session, exam, setting["own"], now)
    assert not own.can_start and own.window is not None
    assert own.window.opens_at.date() == joined + relativedelta(months=last - 1)


def test_the_catch_up_window_is_an_app_setting(setting, app) -> None:
    cohort, learner, now = setting["cohort"], setting["catch_up"], setting["now"]
    assert app.config["CATCH_UP_DAYS_PER_MONTH"] == 14
    app.config["CATCH_UP_DAYS_PER_MONTH"] = 10
    slot = build_schedule(db.session, cohort, learner.id, now).slot_for(phase(M1_PHASE).id)
    assert slot is not None and slot.due_on == now.date() + timedelta(days=10)
    later = learner_progress(db.session, cohort, learner.id, now + timedelta(days=12))
    assert later.days_behind == 2


def test_a_manager_sees_and_changes_the_pace_on_the_learners_page(setting, client, login, make_user) -> None:
    cohort, learner, now = setting["cohort"], setting["catch_up"], setting["now"]
    login(client, setting["staff"])
    page = client.get(f"/cohorts/{cohort.id}/learners/{learner.id}").get_data(as_text=True)
    assert 'id="pace"' in page and "Catch-up: the missed months" in text(page)
    assert 'name="pace-pace"' in page
    response = client.post(f"/cohorts/{cohort.id}/learners/{learner.id}/pace", data={"pace-pace": "own_start"})
    assert response.status_code == 302
    db.session.expire_all()
    plan = build_schedule(db.session, cohort, learner.id, now)
    assert plan.timeline.own_start and plan.month == 1
    # A pace that does not exist is refused with the form, nothing changes.
    response = client.post(f"/cohorts/{cohort.id}/learners/{learner.id}/pace", data={"pace-pace": "sprint"})
    assert response.status_code == 400 and "Not a valid choice" in response.get_data(as_text=True)
    db.session.expire_all()
    enrolment = active_enrolment(db.session, learner.id)
    assert enrolment is not None and enrolment.pace == Pace.OWN_START
    # An instructor sees the learner's page without the pace form.
    instructor = make_user(name="Ines Teacher")
    db.session.get(Cohort, cohort.id).instructors.append(instructor)
    db.session.commit()
    client.post("/logout")
    login(client, instructor)
    page = client.get(f"/cohorts/{cohort.id}/learners/{learner.id}").get_data(as_text=True)
    assert 'id="pace"' in page and 'name="pace-pace"' not in page


def test_assignment_dates_follow_the_learners_own_dates(setting) -> None:
    cohort, now = setting["cohort"], setting["now"]
    joined = now.date()
    work = db.session.scalar(select(Assignment).where(Assignment.phase_id == phase(M1_PHASE).id,
                                                      Assignment.retired_at.is_(None)).order_by(Assignment.position))
    assert work is not None
    dates = {who: dates_for(work, build_schedule(db.session, cohort, setting[who].id, now)) for who in ("early", "catch_up", "own")}
    early, catch_up, own = dates["early"], dates["catch_up"], dates["own"]
    assert early is not None and early.due_on == cohort.start_date + timedelta(days=work.due_after_days)
    assert catch_up is not None and (catch_up.opens_on, catch_up.due_on) == (joined, joined + timedelta(days=14))
    assert own is not None and (own.opens_on, own.due_on) == (joined, joined + timedelta(days=work.due_after_days))
    # The same dates as completion's.
    items = {i.key: i for i in learner_progress(db.session, cohort, setting["catch_up"].id, now).items}
    assert items[work.key].due_on == catch_up.due_on
