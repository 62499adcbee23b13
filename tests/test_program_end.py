"""The end of the 12-month program, and small cohorts.

1. A learner whose program is over (the cohort's twelve months and the closing period after
   them, or their own for a late joiner at their own pace) is at risk of nothing and behind on
   nothing: no at-risk notices, lists or counts, no overdue to-dos; their figures stay on the
   map. Until the close they are chased as before.
2. No quiz closes (and no work is due) after the program closes; the final work the content
   puts in the closing period keeps its due days; the content check refuses a quiz that would
   open after month 12 and work due after the close.
3. A learner nobody is left to team with hands the team assignment in alone, is graded
   (the grader is told) and can complete the level.
4. The organization admins' certified list and the API count a cohort's certificates alike."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta
from flask import Flask
from sqlalchemy import select

from lms.assessment.models import Quiz
from lms.assessment.services import quiz_window
from lms.catalog.models import Lesson, Level
from lms.certificates import services as certificates
from lms.certificates.models import Certificate
from lms.cohorts.calendar import CLOSING_DAYS, program_closes_on, program_ends_on
from lms.cohorts.enrolment import end_enrolment, move_learner
from lms.cohorts.models import Pace
from lms.competency.services import at_risk_ids, compare, heat_map
from lms.coursework.models import Assignment, Submission
from lms.database import utcnow
from lms.extensions import db
from lms.learning.services import CalendarEvent, Timeline, due_by, final_work_due, learner_schedule, month_opens_on, opens_at
from lms.notifications.reminders import at_risk_notices, due_items
from lms.progress.completion import learner_progress
from lms.progress.models import LessonRead
from lms.teams.models import Team
from lms.today.services import instructor_today
from tests.test_api import bearer, follow
from tests.test_at_risk import cohort  # noqa: F401 - the fixture: a cohort in month 8 with four learners at risk
from tests.test_certificates import _accept, _pass
from tests.test_critique import check

TEAM_KEY = "intl-hands-on-entry-plan"


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


# --------------------------------------------------------------------------- 1. a finished program


def test_a_finished_programs_learners_are_on_no_list_that_asks_someone_to_act(cohort) -> None:  # noqa: F811
    group = cohort["cohort"]
    everyone = {cohort[name].id for name in ("early", "late", "zigzag", "idle")}
    during = at(month_opens_on(group.start_date, 12) + timedelta(days=10))
    assert at_risk_ids(db.session, group, during) == everyone  # month 12: still four at risk
    closes = program_closes_on(group.start_date)
    assert closes == program_ends_on(group.start_date) + timedelta(days=CLOSING_DAYS)
    # the closing period after month 12 (its final work falls due in it): chased until the close, not after
    assert at_risk_ids(db.session, group, at(program_ends_on(group.start_date) + timedelta(days=1))) == everyone
    assert at_risk_ids(db.session, group, at(closes - timedelta(days=1))) == everyone
    assert at_risk_ids(db.session, group, at(closes)) == set()
    after = at(closes + timedelta(days=40))

    heat = heat_map(db.session, group, after)
    assert heat.risky == [] and heat.risk_paging.total == 0 and at_risk_ids(db.session, group, after) == set()
    assert all(not r.reasons for r in heat.rows)
    # still the cohort's learners: counted on the map and in its figures, not marked as closed accounts
    assert heat.count == 4 and {s.user_id for s in heat.learners_in_order} == everyone
    assert not any(line.closed for line in heat.map_lines) and not any(line.at_risk for line in heat.map_lines)
    assert compare(db.session, cohort["org"], after).cohorts[0].at_risk == 0
    today = instructor_today(db.session, cohort["instructor"].id, after)[0]
    assert today.overdue == [] and today.new_at_risk == []
    assert at_risk_notices(db.session, group, [cohort["instructor"]], after) == []
    assert due_items(db.session, group, after) == []


def test_a_late_joiner_at_their_own_pace_finishes_on_their_own_calendar(cohort, enrol_learner) -> None:  # noqa: F811
    """Joined in month 8 at their own pace: their twelve months run on after the cohort's end."""
    group = cohort["cohort"]
    own = enrol_learner(group, name="Flo Own", joined=utcnow() - timedelta(days=1), pace=Pace.OWN_START)
    closes = program_closes_on(group.start_date)
    after_cohort = at(closes + timedelta(days=40))
    assert own.id in at_risk_ids(db.session, group, after_cohort)  # behind on their own schedule, and still in it
    assert cohort["idle"].id not in at_risk_ids(db.session, group, after_cohort)
    own_close = program_closes_on(utcnow().date() - timedelta(days=1))
    assert own.id in at_risk_ids(db.session, group, at(own_close - timedelta(days=2)))  # their own closing period
    assert at_risk_ids(db.session, group, at(own_close + timedelta(days=1))) == set()


def test_the_learners_to_do_lists_nothing_overdue_once_their_program_is_over(app: Flask, loaded, make_cohort, enrol_learner,
                                                                            client, login) -> None:
    group = make_cohort(months_ago=13)  # month 12 ended about a month ago: the program has closed
    learner = enrol_learner(group, name="Gus Done")
    login(client, learner)
    home = client.get("/home").get_data(as_text=True)
    todo = home.split('id="todo"')[1].split("</ul>")[0]
    assert "overdue" not in todo and "Nothing to do right now." in todo
    # month 12 ended five days ago: in the closing period what is past due is still overdue
    closing = make_cohort(start=utcnow().date() - relativedelta(months=12) - timedelta(days=5))
    assert program_ends_on(closing.start_date) < utcnow().date() < program_closes_on(closing.start_date)
    late, theirs = enrol_learner(closing, name="Ida Closing"), app.test_client()
    login(theirs, late)
    todo = theirs.get("/home").get_data(as_text=True).split('id="todo"')[1].split("</ul>")[0]
    assert "overdue" in todo
    running = make_cohort(months_ago=11)
    other, theirs = enrol_learner(running, name="Hal Running"), app.test_client()
    login(theirs, other)
    todo = theirs.get("/home").get_data(as_text=True).split('id="todo"')[1].split("</ul>")[0]
    assert "overdue" in todo  # in month 12 what is past due is still overdue


# --------------------------------------------------------------------------- 2. quizzes close by the program's close


def test_no_quiz_closes_after_the_program_closes(app: Flask, loaded, make_cohort, enrol_learner) -> None:
    group = make_cohort(months_ago=11)
    learner = enrol_learner(group)
    closes = opens_at(group, program_closes_on(group.start_date))
    quizzes = db.session.scalars(select(Quiz).where(Quiz.closes_after_days.is_not(None))).all()
    assert quizzes
    closings = {q.key: quiz_window(db.session, q, group, learner.id, utcnow()).closes_at for q in quizzes}
    assert all(when is not None and when <= closes for when in closings.values()), closings
    # the advanced exam's 45 days from month 12's opening end at the close where month 12 is short
    exam_ends = opens_at(group, month_opens_on(group.start_date, 12) + timedelta(days=45))
    assert closings["advanced-exam"] == min(exam_ends, closes)
    progress = learner_progress(db.session, group, learner.id, utcnow())
    items = [item for status in progress.levels for part in status.parts for item in part.items]
    assert all(item.due_on is None or item.due_on <= program_closes_on(group.start_date) for item in items)
    # the final work keeps its content's due days after month 12: the portfolio a week after the capstone
    month_12 = month_opens_on(group.start_date, 12)
    capstone = next(item for item in items if item.key == "impl-capstone")
    portfolio = progress.level_status("advanced").portfolio
    assert capstone.due_on == month_12 + timedelta(days=35) > program_ends_on(group.start_date)
    assert portfolio is not None and portfolio.due_on == month_12 + timedelta(days=42)


def test_a_window_ends_with_the_learners_own_program() -> None:
    start = date(2026, 1, 15)
    timeline = Timeline(start)
    assert timeline.ends_on == date(2027, 1, 15) and timeline.closes_on == date(2027, 1, 29)
    assert timeline.item_dates(12, 0, 90) == (date(2026, 12, 15), date(2027, 1, 29))  # to the close
    assert timeline.item_dates(12, 0, 35)[1] == date(2027, 1, 19)  # in the closing period: untouched
    assert timeline.item_dates(3, 0, 90) == (date(2026, 3, 15), date(2026, 6, 13))  # well inside: untouched
    own = Timeline(start, joined_on=date(2026, 5, 2), pace=Pace.OWN_START)
    assert own.item_dates(12, 0, 90)[1] == date(2027, 5, 16)
    # the shortest month 12 (February): the capstone and the portfolio still a week apart, the portfolio on the close
    short = Timeline(date(2026, 3, 1))
    capstone, portfolio = short.item_dates(12, 0, 35)[1], short.item_dates(12, 0, 42)[1]
    assert (portfolio - capstone).days == 7 and portfolio == short.closes_on == date(2027, 3, 15)


def test_the_schedule_says_when_the_final_work_is_due(app: Flask, loaded, make_cohort, enrol_learner, client,
                                                      login) -> None:
    group = make_cohort(months_ago=11)
    learner = enrol_learner(group, name="Jo Final")
    login(client, learner)
    page = client.get("/schedule").get_data(as_text=True)
    month_12 = page.split('id="month-12"')[1].split("</li>\n</ol>")[0]
    assert page.count('id="closing"') == 1 and 'id="closing"' in month_12
    assert f"the program's final work is due by {program_closes_on(group.start_date):%d %B %Y}." in month_12, month_12
    plan = learner_schedule(db.session, learner)
    assert plan is not None and final_work_due(plan, []) is None  # no work after month 12: nothing said
    moment = due_by(group.timezone, plan.timeline.ends_on)  # work due as month 12 ends is not in the closing period
    assert final_work_due(plan, [CalendarEvent("due", "Due", moment - timedelta(minutes=1), moment)]) is None


def test_the_content_check_refuses_a_quiz_opening_after_month_12(app: Flask, content_dir: Path) -> None:
    path = content_dir.parent / "quizzes" / "operations-implementation-quiz.yml"
    path.write_text(path.read_text().replace("phase: integration\n", "phase: capstone\n"))
    result = check(app)
    line = next(i for i, row in enumerate(path.read_text().splitlines(), start=1) if "opens_when_phase_ends" in row)
    assert result.exit_code != 0
    assert f"operations-implementation-quiz.yml:{line}: this quiz would open in month 13" in result.output, result.output


def test_the_content_check_refuses_work_due_after_the_close(app: Flask, content_dir: Path) -> None:
    path = content_dir / "modules" / "operations-implementation" / "assignments" / "09-portfolio-advanced.md"
    path.write_text(path.read_text().replace("due_after_days: 42\n", "due_after_days: 43\n"))
    result = check(app)
    line = next(i for i, row in enumerate(path.read_text().splitlines(), start=1) if row.startswith("due_after_days"))
    assert result.exit_code != 0
    assert (f"09-portfolio-advanced.md:{line}: 'portfolio-advanced' is due 43 days into month 12, after the program "
            f"closes ({CLOSING_DAYS} days after month 12 ends) on some cohort calendars: work of month 12 is due at "
            "most 42 days into it") in result.output, result.output


# --------------------------------------------------------------------------- 3. a cohort of one


def _complete_advanced(group: Any, user: Any, leave: str) -> None:
    """Every assessed item of the advanced level done but ``leave`` (as tests/test_certificates.py does)."""
    status = learner_progress(db.session, group, user.id, utcnow()).level_status("advanced")
    lessons, quizzes, assignments = set(), {status.exam.key}, {status.portfolio.key}
    for part in status.parts:
        for item in part.items:
            {"lesson": lessons, "quiz": quizzes, "assignment": assignments}[item.kind].add(item.key)
    for lesson in db.session.scalars(select(Lesson).where(Lesson.key.in_(lessons))):
        db.session.add(LessonRead(user_id=user.id, lesson_id=lesson.id))
    for quiz in db.session.scalars(select(Quiz).where(Quiz.key.in_(quizzes))):
        _pass(user.id, quiz)
    for assignment in db.session.scalars(select(Assignment).where(Assignment.key.in_(assignments - {leave}))):
        _accept(user.id, group.id, assignment)
    db.session.commit()
    assert leave in assignments


def test_a_cohort_of_one_hands_in_the_team_project_alone_and_is_certified(app: Flask, loaded, make_org, make_cohort,
                                                                         enrol_learner, make_user, login) -> None:
    teacher = make_user(name="Tess Teacher")
    group = make_cohort(make_org(), "Solo", months_ago=11, instructors=[teacher])
    solo = enrol_learner(group, name="Sam Solo")
    learner, staff = app.test_client(), app.test_client()
    login(learner, solo)
    login(staff, teacher)
    _complete_advanced(group, solo, TEAM_KEY)
    assert learner.post(f"/assignments/{TEAM_KEY}/team/new", data={"name": "Sam alone"}).status_code == 302
    team = db.session.scalars(select(Team).where(Team.name == "Sam alone")).one()
    page = learner.get(f"/assignments/{TEAM_KEY}/team").get_data(as_text=True)
    assert "Nobody else in your cohort is left to join the team, so it may hand in with 1 member." in page
    sent = learner.post(f"/assignments/{TEAM_KEY}/team/work",
                        data={"body": "Entry plan, by one.", "revision": str(team.draft_revision), "action": "submit"})
    assert sent.status_code == 302, sent.get_data(as_text=True)
    db.session.expire_all()
    team = db.session.get_one(Team, team.id)
    assert team.submitted
    url = f"/cohorts/{group.id}/submissions/{team.submission_id}"
    grading = staff.get(url).get_data(as_text=True)
    assert "Handed in with 1 of the 2 members the assignment asks for" in grading
    criteria = team.assignment.rubric.current.criteria
    form = {f"level-{c.id}": c.levels[0].id for c in criteria} | {"feedback": "Sound plan.", "action": "release", "revision": ""}
    assert staff.post(url, data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get_one(Submission, team.submission_id).status == "released"
    certificates.issue_due(db.session, group, solo.id, utcnow())
    db.session.commit()
    assert "advanced" in [c.level.key for c in certificates.certificates_of(db.session, solo.id)]


def test_a_team_short_of_its_minimum_waits_while_someone_could_still_join(app: Flask, loaded, make_org, make_cohort,
                                                                        enrol_learner, login) -> None:
    group = make_cohort(make_org(), "Three", months_ago=9)
    a, b, c = (enrol_learner(group, name=f"Member {n}") for n in "ABC")
    clients = {}
    for person in (a, b, c):
        clients[person.id] = app.test_client()
        login(clients[person.id], person)

    def team(name: str) -> Team:
        db.session.expire_all()
        return db.session.scalars(select(Team).where(Team.name == name)).one()

    assert clients[a.id].post(f"/assignments/{TEAM_KEY}/team/new", data={"name": "Pair"}).status_code == 302
    assert clients[b.id].post(f"/assignments/{TEAM_KEY}/teams/{team('Pair').id}/join").status_code == 302
    assert clients[c.id].post(f"/assignments/{TEAM_KEY}/team/new", data={"name": "Left"}).status_code == 302

    def hand_in(person: Any, name: str) -> Any:
        return clients[person.id].post(f"/assignments/{TEAM_KEY}/team/work", data={
            "body": "Plan", "revision": str(team(name).draft_revision), "action": "submit"})

    early = hand_in(c, "Left")  # A and B could still join C's team: not yet
    assert early.status_code == 400 and "A team hands in with at least 2 members; Left has 1." in early.get_data(as_text=True)
    assert hand_in(a, "Pair").status_code == 302  # the pair hands in: its members are fixed
    assert hand_in(c, "Left").status_code == 302  # nobody is left to join C
    assert team("Left").submitted


# --------------------------------------------------------------------------- 4. one count of certificates


def test_the_certified_list_and_the_api_count_the_same_certificates(app: Flask, loaded, world, enrol_learner, client,
                                                                    login) -> None:
    group, other = world.cohort_a, world.cohort_a2
    staying = world.learner_a
    finished = enrol_learner(group, name="Fay Finished")
    moved = enrol_learner(group, name="Mo Moved")
    level = db.session.scalar(select(Level).order_by(Level.position))
    for person in (staying, finished, moved):
        db.session.add(Certificate(user_id=person.id, level=level, code=f"code-{person.id}", issued_at=utcnow(),
                                   holder_name=person.name))
    db.session.commit()
    end_enrolment(db.session, finished, group, "finished the program")
    move_learner(db.session, moved, group, other)
    db.session.commit()

    shown, at_page = certificates.certified_in(db.session, group.id, 1)
    listed = {c.certificate.user_id for c in shown}
    assert listed == {staying.id, finished.id} and at_page.total == 2
    api = follow(client, f"/api/v1/cohorts/{group.id}/certificates", bearer(world.org_admin_a, ["read:competency"]))
    assert {item["learner_id"] for item in api} == listed
    # the learner who moved is counted where they are now, once
    assert {c.certificate.user_id for c in certificates.certified_in(db.session, other.id, 1)[0]} == {moved.id}
    login(client, world.org_admin_a)
    page = client.get(f"/cohorts/{group.id}/certificates").get_data(as_text=True)
    assert "Fay Finished" in page and "Mo Moved" not in page
