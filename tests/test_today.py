"""What's due (issue 13 point 2), navigation matching permissions (point 3) and the rough
edges (point 8): the learner's to-do list, recent results and what opens next; the
instructor's cohorts at a glance; the navigation per role; locked items as plain text with
their opening date; the favicon; time zones by region; assessed work in month order;
un-marking a lesson asks first."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask, url_for
from markupsafe import Markup
from sqlalchemy import select
from wtforms import Form, SelectField
from wtforms.fields.choices import SelectChoice

from lms.accounts.timezones import grouped_choices
from lms.assessment.models import Attempt, Quiz, QuizKind
from lms.assessment.services import quiz_window
from lms.catalog.models import Module
from lms.competency import services as competency_services
from lms.coursework.models import Assignment
from lms.coursework.services import add_attachment, dates_for, get_assignment, start_submission, submit
from lms.database import utcnow
from lms.extensions import db
from lms.feedback.models import FeedbackInvite, FeedbackRelation, FeedbackResponse
from lms.grading.models import GradeAction
from lms.grading.services import rubric_for, save_grade
from lms.inbox.services import mark_read, open_conversations, reply
from lms.learning.models import OverrideKind
from lms.learning.services import build_schedule, grant_override, opens_at
from lms.progress.completion import learner_progress
from lms.progress.models import ItemKind
from lms.today.services import CohortToday, TodoKind, instructor_today, learner_today
from lms.web.forms import CachedOptionsSelect
from lms.web.links import fixed_url


@pytest.fixture()
def course(app: Flask, loaded) -> None:
    """The shipped curriculum, loaded."""


def page(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return str(response.get_data(as_text=True))


def todo_rows(html: str) -> list[tuple[str, str, bool]]:
    """(key, due date, overdue) of each to-do entry, in the order shown."""
    return [(key, due, "overdue" in classes) for classes, key, due in
            re.findall(r'<li class="todo-item([^"]*)" data-key="([^"]+)" data-due="([^"]+)"', html)]


def hand_in(cohort: Any, learner: Any, key: str, app: Flask) -> Any:
    work = start_submission(db.session, get_assignment(db.session, key), learner.id, cohort.id, utcnow())
    dates = dates_for(work.assignment, build_schedule(db.session, cohort, learner.id, utcnow()))
    add_attachment(db.session, work, "plan.txt", b"plan", dates, Path(app.instance_path) / "uploads", utcnow())
    submit(db.session, work, dates, utcnow())
    db.session.commit()
    return work


# ---------------------------------------------------------------- the learner's to-do list


def test_the_to_do_list_is_the_schedule_overdue_first(course, client, make_cohort, enrol_learner, login) -> None:
    cohort = make_cohort(months_ago=5)
    learner = enrol_learner(cohort, name="Lea Learner")
    login(client, learner)
    html = page(client.get("/home"))
    rows = todo_rows(html)
    assert rows, "a learner five months in has work to do"
    # overdue first, then by due date
    flags = [overdue for _key, _due, overdue in rows]
    assert flags == sorted(flags, reverse=True)
    assert [due for _k, due, overdue in rows if overdue] == sorted(due for _k, due, overdue in rows if overdue)
    assert [due for _k, due, overdue in rows if not overdue] == sorted(due for _k, due, overdue in rows if not overdue)
    # every open assessed item not done is listed with the schedule's due date (but a quiz
    # or exam closed: they close at the start of their due day)
    progress = learner_progress(db.session, cohort, learner.id, utcnow())
    expected = {(i.key, i.due_on.isoformat()) for i in progress.items
                if i.assessed and not i.done and i.opens_on <= progress.today
                and not (i.kind in (ItemKind.QUIZ, ItemKind.EXAM) and i.due_on <= progress.today)}
    listed = {(key, due) for key, due, _overdue in rows}
    assert expected <= listed
    # the assessed-work page gives the same due dates
    plan = build_schedule(db.session, cohort, learner.id, utcnow())
    for assignment in db.session.scalars(select(Assignment).where(Assignment.key.in_([k for k, _d, _o in rows]))):
        dates = dates_for(assignment, plan)
        assert dates is not None and (assignment.key, dates.due_on.isoformat()) in listed
    # the weekly checks of the units open now are there too, due with their unit
    checks = {k for k, _d, _o in rows} - {i.key for i in progress.items}
    open_lessons = {lesson.id: slot for slot in plan.open_now for lesson in slot.lessons}
    for quiz in db.session.scalars(select(Quiz).where(Quiz.key.in_(checks))):
        assert quiz.kind == QuizKind.CHECK and quiz.lesson_id in open_lessons
        assert (quiz.key, open_lessons[quiz.lesson_id].due_on.isoformat()) in listed
    assert "What unlocks next" in html and 'id="opens-next"' in html
    opening = html.split('id="opens-next"')[1].split("</ul>")[0]
    assert re.findall(r'<li><span class="tag">(module|assignment|quiz|exam|portfolio)</span> ', opening)
    assert "<li>assignment: " not in opening and "<li>quiz: " not in opening  # what it is, as a tag, not a prefix


def test_work_handed_in_leaves_the_list_and_a_released_grade_shows(course, app, client, make_user, make_cohort,
                                                                   enrol_learner, login) -> None:
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(months_ago=5, instructors=[teacher])
    learner = enrol_learner(cohort, name="Lea Learner")
    key = "cs-hands-on-own-operation"
    login(client, learner)
    assert key in {k for k, _d, _o in todo_rows(page(client.get("/home")))}
    work = hand_in(cohort, learner, key, app)
    assert key not in {k for k, _d, _o in todo_rows(page(client.get("/home")))}

    today = instructor_today(db.session, teacher.id, utcnow())
    assert [(w.learner.name, w.submission.id) for w in today[0].waiting] == [("Lea Learner", work.id)]
    rubric = rubric_for(db.session, work, None)
    levels: dict[str, str | None] = {c.id: c.levels[-1].id for c in rubric.criteria}
    save_grade(db.session, work, teacher, levels, {}, "Well argued.", None, GradeAction.RELEASE, utcnow())
    db.session.commit()
    recent = page(client.get("/home")).split('id="recent"')[1].split("</ul>")[0]
    assert "grade" in recent and work.assignment.title in recent
    assert learner_today(db.session, build_schedule(db.session, cohort, learner.id, utcnow()), learner.id, utcnow()).recent[0].what == "grade"


def test_recent_results_list_scored_quizzes_and_stakeholder_feedback_newest_first(course, client, make_cohort,
                                                                                   enrol_learner, login) -> None:
    """A scored module quiz and an exam show with their percentage, a stakeholder's answer
    with who they are; a weekly check, an attempt waiting for an essay's marking and
    another learner's results do not."""
    cohort = make_cohort(months_ago=5)
    learner, other = enrol_learner(cohort, name="Lea Learner"), enrol_learner(cohort, name="Otto Other")
    quiz = db.session.scalars(select(Quiz).where(Quiz.kind == QuizKind.QUIZ).order_by(Quiz.id)).first()
    exam = db.session.scalars(select(Quiz).where(Quiz.kind == QuizKind.EXAM).order_by(Quiz.id)).first()
    check = db.session.scalars(select(Quiz).where(Quiz.kind == QuizKind.CHECK).order_by(Quiz.id)).first()
    assert quiz is not None and exam is not None and check is not None
    now = utcnow()

    def attempt(who: Any, which: Quiz, days_ago: int, score: float, max_score: float, pending: bool = False,
                number: int = 1) -> None:
        at = now - timedelta(days=days_ago)
        db.session.add(Attempt(quiz_id=which.id, user_id=who.id, cohort_id=cohort.id, number=number, layout=[], started_at=at,
                               submitted_at=at, score=score, max_score=max_score, pending_manual=pending))

    attempt(learner, quiz, 9, 7, 8)
    attempt(learner, exam, 3, 20, 30)
    attempt(learner, check, 1, 1, 2)                 # practice: not a result
    attempt(learner, exam, 2, 10, 30, pending=True, number=2)  # an essay still to mark
    attempt(other, quiz, 1, 8, 8)
    module = quiz.module if quiz.module is not None else db.session.scalars(select(Module)).first()
    invite = FeedbackInvite(learner_id=learner.id, module_id=module.id, name="Cara Customer", email="cara@example.com",
                            relation=FeedbackRelation.TEAM_MEMBER, token_hash="f" * 64, expires_at=now + timedelta(days=9),
                            used_at=now - timedelta(days=5))
    db.session.add(invite)
    db.session.flush()
    db.session.add(FeedbackResponse(invite_id=invite.id, ratings={}, comment="", submitted_at=now - timedelta(days=5)))
    db.session.commit()

    recent = learner_today(db.session, build_schedule(db.session, cohort, learner.id, now), learner.id, now).recent
    assert [(r.what, r.title, r.result) for r in recent] == [
        ("quiz", exam.title, "66.67%"),
        ("feedback", f"Cara Customer on {module.title}", "team member"),
        ("quiz", quiz.title, "87.5%"),
    ]
    assert [r.link.key for r in recent if r.what == "quiz"] == [exam.key, quiz.key]
    login(client, learner)
    shown = page(client.get("/home")).split('id="recent"')[1].split("</ul>")[0]
    assert "66.67%" in shown and "Cara Customer" in shown and "87.5%" in shown


def test_a_closed_quiz_or_exam_is_not_on_the_list(course, client, make_user, make_cohort, enrol_learner, login) -> None:
    """A quiz or exam whose window has closed for the learner can no longer be taken: it is
    not on the to-do list (it was, as "overdue, closes <a past date>"), though the progress
    page still says it was missed; one closing later, by the learner's extension, still is."""
    cohort = make_cohort(months_ago=5)
    learner, extended = enrol_learner(cohort, name="Lea Learner"), enrol_learner(cohort, name="Ext Ended")
    now = utcnow()
    plan = build_schedule(db.session, cohort, learner.id, now)
    closed = [q for q in db.session.scalars(select(Quiz).where(Quiz.kind.in_([QuizKind.QUIZ, QuizKind.EXAM])))
              if (w := quiz_window(db.session, q, cohort, learner.id, now)).closes_at is not None and w.closes_at <= now]
    assert closed, "five months in, the first quizzes have closed"
    login(client, learner)
    html = page(client.get("/home"))
    listed = {key for key, _due, _overdue in todo_rows(html)}
    assert not listed & {q.key for q in closed}, listed
    todo = html.split('id="todo"')[1].split("</ul>")[0]
    past = {d.isoformat() for d in (plan.today - timedelta(days=n) for n in range(0, 400))}
    assert not [d for d in re.findall(r'closes\s+<time datetime="([^"]+)"', todo) if d in past]
    items = {t.key: t for t in learner_today(db.session, plan, learner.id, now).todo}
    assert all(t.due_on > plan.today for t in items.values() if t.kind in (TodoKind.QUIZ, TodoKind.EXAM))
    assert not any(t.overdue for t in items.values() if t.kind in (TodoKind.QUIZ, TodoKind.EXAM))
    missed = page(client.get("/progress")).split('id="overdue"')[1].split("</section>")[0]
    assert any(q.title in missed for q in closed)  # the progress page still says it was missed

    # an extension past today keeps a module quiz on the list until it closes on the new date
    quiz = next(q for q in closed if q.phase_id is not None)
    grant_override(db.session, cohort, extended, quiz.phase_id, OverrideKind.EXTENSION, plan.today + timedelta(days=5),
                   "ill", make_user(), now)
    db.session.commit()
    mine = {t.key: t for t in learner_today(db.session, build_schedule(db.session, cohort, extended.id, now), extended.id,
                                            now).todo}
    assert quiz.key in mine and mine[quiz.key].due_on == plan.today + timedelta(days=5) and mine[quiz.key].closes


def test_a_quiz_closed_this_morning_is_not_due_today_on_the_progress_page(course, client, make_user, make_cohort,
                                                                          enrol_learner, login) -> None:
    """A quiz closes at the start of its due day: on that day the progress page listed it as
    "due today" though it could no longer be taken. It follows the To do list's rule (closed
    from the start of its due day): neither due soon nor open; work due today still is."""
    cohort = make_cohort(months_ago=5)
    learner = enrol_learner(cohort, name="Lea Learner")
    now = utcnow()
    plan = build_schedule(db.session, cohort, learner.id, now)
    quiz = next(q for q in db.session.scalars(select(Quiz).where(Quiz.kind == QuizKind.QUIZ, Quiz.phase_id.is_not(None),
                                                                 Quiz.closes_after_days.is_not(None)).order_by(Quiz.id))
                if (w := quiz_window(db.session, q, cohort, learner.id, now)).closes_at is not None and w.closes_at <= now)
    assert quiz.phase_id is not None
    # its phase extended to today: it closed at the start of today, in the cohort's time zone
    grant_override(db.session, cohort, learner, quiz.phase_id, OverrideKind.EXTENSION, plan.today, "ill", make_user(), now)
    db.session.commit()
    window = quiz_window(db.session, quiz, cohort, learner.id, now)
    assert window.closes_at is not None and window.closes_at <= now
    progress = learner_progress(db.session, cohort, learner.id, now)
    item = next(i for i in progress.items if i.key == quiz.key)
    assert item.due_on == progress.today and item.closes and item.closed(progress.today)
    assert quiz.key not in {i.key for i in progress.due_soon} | {i.key for i in progress.open_now}
    plan = build_schedule(db.session, cohort, learner.id, now)
    assert quiz.key not in {t.key for t in learner_today(db.session, plan, learner.id, now).todo}  # as To do has it
    login(client, learner)
    soon = page(client.get("/progress")).split('id="due-soon"')[1].split("</section>")[0]
    assert quiz.title not in soon, soon
    # the phase's assessed work, extended to today as well, is due by the end of today: still listed
    work = [i for i in progress.items if i.kind == ItemKind.ASSIGNMENT and i.due_on == progress.today and i.owed]
    assert all(i.key in {d.key for d in progress.due_soon} for i in work)


def test_the_open_units_weekly_checks_are_on_the_list(course, make_cohort, enrol_learner) -> None:
    cohort = make_cohort(months_ago=1)
    learner = enrol_learner(cohort)
    plan = build_schedule(db.session, cohort, learner.id, utcnow())
    kinds = {t.kind for t in learner_today(db.session, plan, learner.id, utcnow()).todo}
    assert TodoKind.CHECK in kinds


def test_the_weekly_checks_due_together_are_listed_in_the_weeks_order(course, make_cohort, enrol_learner) -> None:
    """Month 1's four checks fall due on one day: listed by their titles' alphabet, a new
    learner met week 3's check ("Data operations ...") before week 2's ("Infrastructure ...")."""
    cohort = make_cohort(months_ago=0)
    learner = enrol_learner(cohort)
    plan = build_schedule(db.session, cohort, learner.id, utcnow())
    weeks = [lesson.id for slot in plan.open_now for lesson in slot.lessons]
    checks = {q.lesson_id: q.key for q in db.session.scalars(select(Quiz).where(Quiz.kind == QuizKind.CHECK))}
    listed = [t.key for t in learner_today(db.session, plan, learner.id, utcnow()).todo if t.kind == TodoKind.CHECK]
    assert len(listed) == 4 and listed == [checks[lesson_id] for lesson_id in weeks]
    assert listed != sorted(listed, key=lambda key: db.session.scalar(select(Quiz.title).where(Quiz.key == key)))


def test_an_attempt_under_way_says_on_the_list_when_its_time_runs_out(course, client, make_cohort, enrol_learner,
                                                                      login) -> None:
    """A timed attempt's clock runs while the learner is elsewhere: their to-do entry says
    the attempt is under way and when its time runs out, in their own time (it said only
    that the quiz closes, months away); once the time is up, it says so no more."""
    cohort = make_cohort(months_ago=5)
    learner = enrol_learner(cohort, timezone="America/New_York")
    now = utcnow()
    plan = build_schedule(db.session, cohort, learner.id, now)
    todo = learner_today(db.session, plan, learner.id, now).todo
    timed = {q.key: q for q in db.session.scalars(select(Quiz).where(Quiz.kind == QuizKind.QUIZ, Quiz.time_limit_minutes.is_not(None)))}
    entry = next(t for t in todo if t.key in timed)
    login(client, learner)
    assert client.post(f"/quizzes/{entry.key}/start").status_code in (302, 303)
    attempt = db.session.scalars(select(Attempt).where(Attempt.user_id == learner.id)).one()
    assert attempt.deadline_at is not None
    local = attempt.deadline_at.astimezone(ZoneInfo("America/New_York"))
    row = page(client.get("/home")).split(f'data-key="{entry.key}"')[1].split("</li>")[0]
    assert "attempt under way" in row and f"{local:%d %b %Y, %H:%M} {local.tzname()}" in row, row
    attempt.deadline_at = utcnow() - timedelta(minutes=1)  # time is up, not yet closed by the cron job
    db.session.commit()
    row = page(client.get("/home")).split(f'data-key="{entry.key}"')[1].split("</li>")[0]
    assert "attempt under way" not in row, row


def test_the_to_do_list_says_the_hour_things_fall_due_on_the_learners_clock(course, app, client, make_cohort,
                                                                           enrol_learner, login) -> None:
    """Work is due by the end of its day in the cohort's zone and a quiz closes at the start
    of its day there: a learner elsewhere reads that moment in their own time on each entry
    (the list said only the day, a different one from the quiz page's for a quiz); a learner
    whose midnight it is reads the day alone."""
    cohort = make_cohort(months_ago=5, timezone="Europe/London")
    west, here = enrol_learner(cohort, timezone="America/Los_Angeles"), enrol_learner(cohort, timezone="Europe/London")
    login(client, west)
    html = page(client.get("/home"))
    rows = todo_rows(html)
    kinds = {t.key: t for t in learner_today(db.session, build_schedule(db.session, cohort, west.id, utcnow()), west.id, utcnow()).todo}
    assert any(kinds[k].closes for k, _d, _o in rows) and any(not kinds[k].closes for k, _d, _o in rows)
    for key, due, _overdue in rows:
        day = date.fromisoformat(due) + (timedelta(0) if kinds[key].closes else timedelta(days=1))
        local = opens_at(cohort, day).astimezone(ZoneInfo("America/Los_Angeles"))
        entry = html.split(f'data-key="{key}"')[1].split("</li>")[0]
        said = f"({'at' if kinds[key].closes else 'by'} {local:%H:%M} {local.tzname()} on {local:%a %d %b}, your time)"
        assert said in entry, entry
    other = app.test_client()
    login(other, here)
    assert "your time)" not in page(other.get("/home")).split('id="todo"')[1].split("</ul>")[0]


def test_a_quiz_on_the_to_do_list_says_it_closes_as_its_day_begins(course, app, client, make_cohort, enrol_learner,
                                                                    login) -> None:
    """A quiz closes at the start of its day; work is due by the end of its day. In the
    cohort's own zone the list said "closes 07 Mar 2027" beside "due 07 Jan 2027", and a
    learner who read the two alike lost the last day: the quiz had closed at 00:00 that
    morning. It now says the hour, as the quiz page does ("until 07 Mar 2027, 00:00 GMT")."""
    cohort = make_cohort(months_ago=5, timezone="Europe/London")
    learner = enrol_learner(cohort, timezone="Europe/London")
    login(client, learner)
    html = page(client.get("/home"))
    kinds = {t.key: t for t in learner_today(db.session, build_schedule(db.session, cohort, learner.id, utcnow()),
                                             learner.id, utcnow()).todo}
    closing = [(key, due) for key, due, _overdue in todo_rows(html) if kinds[key].closes]
    assert closing
    for key, due in closing:
        entry = " ".join(re.sub(r"<[^>]+>", " ", html.split(f'data-key="{key}"')[1].split("</li>")[0]).split())
        moment = opens_at(cohort, date.fromisoformat(due)).astimezone(ZoneInfo("Europe/London"))
        assert f"closes {moment:%d %b %Y, %H:%M} {moment.tzname()}" in entry, entry
    work = [key for key, _due, _overdue in todo_rows(html) if not kinds[key].closes]
    assert work and all("00:00" not in html.split(f'data-key="{key}"')[1].split("</li>")[0] for key in work)


def test_what_unlocks_next_says_when_on_the_learners_clock(course, app, client, make_cohort, enrol_learner, login) -> None:
    """Things open at midnight in the cohort's zone: a learner elsewhere reads that moment in
    their own time beside the day (the quiz list said 16:00 the day before where the home
    said only the day); a learner whose midnight it is reads the day alone."""
    cohort = make_cohort(months_ago=5, timezone="Europe/London")
    west, here = enrol_learner(cohort, timezone="America/Los_Angeles"), enrol_learner(cohort, timezone="Europe/London")
    plan = build_schedule(db.session, cohort, west.id, utcnow())
    upcoming = learner_today(db.session, plan, west.id, utcnow()).next
    assert upcoming is not None
    local = opens_at(cohort, upcoming.on).astimezone(ZoneInfo("America/Los_Angeles"))
    login(client, west)
    said = page(client.get("/home")).split('id="opens-next"')[1].split("</p>")[0]
    assert f"On {upcoming.on:%d %B %Y} (from {local:%H:%M} {local.tzname()} on {local:%a %d %b}, your time):" in said, said
    other = app.test_client()
    login(other, here)
    said = page(other.get("/home")).split('id="opens-next"')[1].split("</p>")[0]
    assert said == f">On {upcoming.on:%d %B %Y}:", said


# ---------------------------------------------------------------- the instructor's home


def test_the_instructor_sees_grading_overdue_and_new_at_risk_learners(course, app, client, make_user, make_cohort,
                                                                      enrol_learner, login) -> None:
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(months_ago=5, instructors=[teacher])
    learner = enrol_learner(cohort, name="Lea Learner")
    work = hand_in(cohort, learner, "cs-hands-on-own-operation", app)
    login(client, teacher)
    html = page(client.get("/home"))
    section = html.split('id="instructor-today"')[1]
    assert f'/cohorts/{cohort.id}/submissions/{work.id}' in section
    assert f'/grading?cohort={cohort.id}' in section
    overdue = section.split("<h4>Overdue learners</h4>")[1].split("<h4>")[0]
    assert "Lea Learner" in overdue and "days behind" in overdue
    at_risk = section.split("<h4>At risk, waiting for a review</h4>")[1]
    assert f'/cohorts/{cohort.id}/learners/{learner.id}/at-risk' in at_risk
    # Lea has been behind for months: the list is of those nobody has reviewed, not of the
    # newly at risk, which it called itself while listing her "140 days behind"
    assert "newly" not in section.lower()
    assert "Not reviewed yet, or at risk for a new reason since their last review." in at_risk


def test_the_instructors_home_builds_the_at_risk_rows_once_and_no_other(course, client, make_user, make_cohort,
                                                                          enrol_learner, login, monkeypatch) -> None:
    """The overdue list comes from the heat map's one line per learner; only the learners
    at risk get their rows built (their reasons), once, however often the template reads
    the lists. It built every learner's row twice, the at-risk rows twice and the heat
    map's first page once: 231 ms at 500 learners, then 64 ms. Their rows list the reasons
    as the map has them (the home shows their texts): no overdue item or date from the
    evidence read, and no distribution or funnel (94-104 ms at 500 learners, then 59 ms)."""
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(months_ago=5, instructors=[teacher])
    for name in ("Ann Idle", "Bo Idle", "Cy Idle"):
        enrol_learner(cohort, name=name)
    built: list[list[int]] = []
    real = competency_services._make_rows

    def spy(ctx: Any, users: Any, *args: Any, **kwargs: Any) -> Any:
        built.append(sorted(u.id for u in users))
        return real(ctx, users, *args, **kwargs)

    def unread(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the home shows no distribution, funnel, overdue item or date of falling below the bar")

    monkeypatch.setattr(competency_services, "_make_rows", spy)
    for name in ("objective_figures", "fell_below"):
        monkeypatch.setattr(competency_services, name, unread)
    monkeypatch.setattr(competency_services.state, "funnel_counts", unread)
    monkeypatch.setattr(competency_services.state, "overdue_items", unread)
    login(client, teacher)
    html = page(client.get("/home"))
    overdue = html.split("<h4>Overdue learners</h4>")[1].split("<h4>")[0]
    at_risk = html.split("<h4>At risk, waiting for a review</h4>")[1]
    assert all(name in overdue and name in at_risk for name in ("Ann Idle", "Bo Idle", "Cy Idle"))
    assert len(built) == 1 and len(built[0]) == 3, built


def test_the_instructors_home_lists_the_first_learners_and_links_the_rest(course, client, make_user, make_cohort,
                                                                          enrol_learner, login, monkeypatch) -> None:
    """A cohort of hundreds has hundreds behind: each list shows the first few (the most
    days behind, the most reasons) and says how many more, linked to where they all are."""
    monkeypatch.setattr(CohortToday, "SHOWN", 2)
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(months_ago=5, instructors=[teacher])
    for name in ("Ann Idle", "Bo Idle", "Cy Idle"):
        enrol_learner(cohort, name=name)
    login(client, teacher)
    html = page(client.get("/home"))
    overdue = html.split("<h4>Overdue learners</h4>")[1].split("<h4>")[0]
    at_risk = html.split("<h4>At risk, waiting for a review</h4>")[1].split("</div>")[0]
    for listed in (overdue, at_risk):
        shown = re.findall(r"<li><a [^>]*>([^<]+)</a>", listed)
        assert len(shown) == 2 and set(shown) < {"Ann Idle", "Bo Idle", "Cy Idle"}, shown
    assert "And 1 more" in overdue and f'href="/cohorts/{cohort.id}/gradebook?show=overdue"' in overdue
    assert "(3 in all)" in overdue
    assert "And 1 more" in at_risk and f'href="/cohorts/{cohort.id}/competency#at-risk"' in at_risk
    monkeypatch.setattr(CohortToday, "SHOWN", 3)
    html = page(client.get("/home"))
    assert "And " not in html.split('id="instructor-today"')[1].split("</section>")[0]


def replies_line(html: str, cohort: Any) -> str:
    section = html.split(f'id="today-cohort-{cohort.id}"')[1].split("</div>")[0]
    found = re.search(r'<p class="replies-waiting">(.*?)</p>', section, re.S)
    return " ".join(found.group(1).split()) if found else ""


def test_the_instructors_home_counts_the_conversations_with_a_reply_not_read(course, client, make_user, make_cohort,
                                                                             enrol_learner, login) -> None:
    """A learner answering a staff message was only in the navigation's inbox count: the
    home's "Waiting for you" now says, per cohort, how many conversations hold a learner's
    reply the instructor has not read, linked to the inbox. Their own messages, and a
    colleague's, are not replies waiting for them."""
    teacher, colleague = make_user(name="Tess Teacher"), make_user(name="Colin Colleague")
    cohort = make_cohort(months_ago=5, instructors=[teacher, colleague])
    other = make_cohort(months_ago=5, instructors=[teacher])
    ann, bo = enrol_learner(cohort, name="Ann Answer"), enrol_learner(cohort, name="Bo Answer")
    opened = open_conversations(db.session, cohort, teacher, [ann, bo], "Your plan", "Send me your plan.", "home-replies",
                                utcnow())
    reply(db.session, opened[ann.id], colleague, "A reminder.", utcnow(), lambda c: "/inbox")
    db.session.commit()
    login(client, teacher)
    assert replies_line(page(client.get("/home")), cohort) == ""  # a colleague's note is no learner reply
    reply(db.session, opened[ann.id], ann, "Here it is.", utcnow(), lambda c: "/inbox")
    reply(db.session, opened[ann.id], ann, "And the rest.", utcnow(), lambda c: "/inbox")
    reply(db.session, opened[bo.id], bo, "Mine too.", utcnow(), lambda c: "/inbox")
    db.session.commit()
    html = page(client.get("/home"))
    line = replies_line(html, cohort)
    assert line == '<a href="/inbox">2 conversations with a reply you have not read</a>', line
    assert replies_line(html, other) == ""
    mark_read(db.session, opened[bo.id], teacher.id, None, utcnow())
    db.session.commit()
    line = replies_line(page(client.get("/home")), cohort)
    assert line == '<a href="/inbox">1 conversation with a reply you have not read</a>', line


def test_homes_run_a_fixed_number_of_statements(course, app, client, make_user, make_cohort, enrol_learner, login,
                                                count_queries) -> None:
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(months_ago=5, instructors=[teacher])
    first = enrol_learner(cohort, name="Lea Learner")

    def statements(user: Any) -> int:
        client.post("/logout")
        login(client, user)
        page(client.get("/home"))  # warm up
        return count_queries(lambda: client.get("/home"))

    def answer(learner: Any, key: str) -> None:  # a learner's reply waiting on the instructor's home
        opened = open_conversations(db.session, cohort, teacher, [learner], "Plan", "Your plan?", key, utcnow())
        reply(db.session, opened[learner.id], learner, "Here.", utcnow(), lambda c: "/inbox")
        db.session.commit()

    hand_in(cohort, first, "cs-hands-on-own-operation", app)
    answer(first, "statements-first")
    few = (statements(teacher), statements(first))
    for n in range(5):
        more = enrol_learner(cohort, name=f"More {n}")
        hand_in(cohort, more, "cs-hands-on-own-operation", app)
        answer(more, f"statements-{n}")
    hand_in(cohort, first, "mlops-hands-on-own-pipeline", app)
    many = (statements(teacher), statements(first))
    assert few == many, f"statements with 1 learner: {few}; with 6: {many}"


# ---------------------------------------------------------------- navigation


def nav(html: str) -> str:
    return html.split('<div id="nav-menu"')[1].split("</nav>")[0]


def test_the_navigation_shows_each_role_what_it_may_open(course, client, make_user, make_cohort, enrol_learner,
                                                         login) -> None:
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(months_ago=2, instructors=[teacher])
    learner = enrol_learner(cohort)
    login(client, learner)
    links = nav(page(client.get("/home")))
    for label in ("Schedule", "Portfolio", "Progress", "Stakeholder feedback", "KPIs", "Certificates"):
        assert f">{label}</a>" in links, label
    assert ">Grading</a>" not in links
    client.post("/logout")
    login(client, teacher)
    links = nav(page(client.get("/home")))
    assert ">Grading</a>" in links
    for label in ("Schedule", "Portfolio", "Progress", "Stakeholder feedback"):
        assert f">{label}</a>" not in links, label
    client.post("/logout")
    links = nav(page(client.get("/")))
    assert ">Sign in</a>" in links and ">Home</a>" not in links



def current_links(html: str) -> list[str]:
    """The labels of the navigation's links marked as the current page."""
    return re.findall(r'aria-current="page">([^<]+)<', nav(html))


def test_the_navigation_marks_the_page_and_the_section_the_person_is_in(course, client, make_user, make_cohort,
                                                                        enrol_learner, login) -> None:
    learner = enrol_learner(make_cohort(months_ago=2))
    login(client, learner)
    for url, label in (("/home", "Home"), ("/schedule", "Schedule"), ("/progress", "Progress"), ("/kpis", "KPIs"),
                       ("/objectives", "Objectives"), ("/", "Program"), ("/account", "Account")):
        assert current_links(page(client.get(url))) == [label], url
    module = db.session.scalars(select(Module).order_by(Module.position)).first()
    assert module is not None
    assert current_links(page(client.get(f"/modules/{module.key}"))) == ["Program"]  # within the program's pages
    assert "Notifications" in nav(page(client.get("/notifications"))).split('aria-current="page"')[1][:30]
    assert current_links(page(client.get("/search?q=operations"))) == []


def test_the_layout_links_are_url_for_under_each_script_root(course, app: Flask, client, make_user, login) -> None:
    """The layout builds its links once per script root (lms.web.links.fixed_url): the
    same URLs url_for builds, under the root each request comes with."""
    login(client, make_user())
    for root in ("", "/lms", "/other/root", ""):
        html = page(client.get("/objectives", base_url=f"http://localhost{root}"))
        with app.test_request_context("/objectives", base_url=f"http://localhost{root}"):
            expected = [url_for("web.static", filename="style.css"), url_for("learning.home"), url_for("accounts.logout"),
                        url_for("notifications.centre"), url_for("search.search")]
            assert [fixed_url("web.static", filename="style.css"), fixed_url("learning.home"), fixed_url("accounts.logout"),
                    fixed_url("notifications.centre"), fixed_url("search.search")] == expected
        assert all(f'"{url}"' in html for url in expected), root
        assert expected[1] == f"{root}/home"
    with app.test_request_context("/", base_url="http://localhost/lms"):
        assert fixed_url("learning.home") == "/lms/home"
        assert fixed_url("learning.home", _external=True) == "http://localhost/lms/home"  # not a string value: url_for's own answer

def test_locked_lessons_are_plain_text_with_their_opening_date(course, client, make_cohort, enrol_learner, login) -> None:
    cohort = make_cohort(months_ago=1)
    login(client, enrol_learner(cohort))
    html = page(client.get("/levels/advanced"))
    assert "/lessons/" not in html and "opens on" in html
    progress = page(client.get("/progress"))
    assert "opens on" in progress


def test_the_favicon_is_served(client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    response.close()


# ---------------------------------------------------------------- rough edges


def test_time_zones_by_region_without_aliases_the_likely_ones_first(client, make_user, login) -> None:
    login(client, make_user(timezone="Europe/Berlin"))
    html = page(client.get("/account", headers={"Accept-Language": "en-GB,en;q=0.8"}))
    select_html = html.split('name="profile-timezone"')[1].split("</select>")[0]
    groups = re.findall(r'<optgroup label="([^"]+)">', select_html)
    assert groups[0] == "Likely for you" and {"Europe", "America", "Asia", "Pacific"} <= set(groups)
    likely = select_html.split('<optgroup label="Likely for you">')[1].split("</optgroup>")[0]
    assert re.findall(r'value="([^"]+)"', likely) == ["Europe/Berlin", "Europe/London", "UTC"]
    values = re.findall(r'value="([^"]+)"', select_html)
    assert len(values) == len(set(values)) < 450
    assert not {"US/Eastern", "Asia/Calcutta", "GB", "Europe/Kiev"} & set(values)
    response = client.post("/account", data={"profile-name": "Ada", "profile-timezone": "Asia/Kolkata",
                                              "profile-submit": "Save"})
    assert response.status_code == 302



def test_the_cached_options_select_writes_what_wtforms_select_writes() -> None:
    """The time-zone selects render their options once per process (CachedOptionsSelect):
    the HTML must be WTForms' own, option by option, selected or not, on a first render and
    on later ones; options it does not cache (attributes, a Markup label) are WTForms' too."""
    choices = [*grouped_choices(["Europe/Berlin", "UTC"]), SelectChoice("x", Markup("<b>x</b>"), optgroup="Other"),
               SelectChoice("y", "Y & y", render_kw={"disabled": True}, optgroup="Other"), SelectChoice("z", optgroup="Other")]

    class Plain(Form):
        zone = SelectField(choices=choices)

    class Cached(Form):
        zone = SelectField(choices=choices, widget=CachedOptionsSelect())

    for data in ("Europe/Berlin", "Asia/Kolkata", "y", "Europe/Berlin"):
        expected = str(Plain(data={"zone": data}).zone())
        assert str(Cached(data={"zone": data}).zone()) == expected
        assert expected.count("selected") == 1 and "<b>x</b>" in expected and "Y &amp; y" in expected

def test_assessed_work_is_listed_in_month_order(course, client, make_user, login) -> None:
    login(client, make_user(admin=True))
    html = page(client.get("/coursework"))
    months = [int(m) for m in re.findall(r"· month (\d+)</td>", html)]
    assert months and months == sorted(months)


def test_un_marking_a_lesson_asks_first(course, client, make_cohort, enrol_learner, login) -> None:
    cohort = make_cohort(months_ago=1)
    login(client, enrol_learner(cohort))
    plan_lesson = next(s for s in build_schedule(db.session, cohort, None, utcnow()).open_now if s.lessons).lessons[0]
    client.post(f"/lessons/{plan_lesson.key}/read", data={})
    html = page(client.get(f"/lessons/{plan_lesson.key}"))
    confirm = html.split('<details class="confirm mt-1" id="unmark-read">')[1].split("</details>")[0]
    assert "<summary" in confirm and "Yes, mark it as not read" in confirm and 'name="undo"' in confirm

