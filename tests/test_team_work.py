"""A team's one submission is the work of every member, wherever a learner's work is
looked up (``lms.coursework.sharing``): module completion and progress, the gradebook (the
team's status, each member's own adjusted score, one release and one folder in the zip for
the team), notifications (grade released and returned reach every member; due reminders
leave members whose team has handed in alone), the grading queue and grading page (the
team's name and members) and the learner's feedback page (their adjusted score and the
staff's note). The member who holds the submission is A; B and C are the others."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from lms.cohorts.enrolment import move_learner
from lms.competency.services import heat_map
from lms.coursework.models import Assignment, Submission
from lms.coursework.services import dates_for
from lms.database import utcnow
from lms.extensions import db
from lms.gradebook.models import RowFilter
from lms.gradebook.services import column_of, gradebook, learners_in, release_drafted, submissions_archive
from lms.grading.models import Grade, GradeAction, GradeStatus
from lms.grading.services import save_grade
from lms.learning.services import build_schedule
from lms.notifications.models import Notification, NotificationEvent
from lms.notifications.reminders import due_items, due_moment, due_notices, zone_of
from lms.progress.completion import cohort_progress, learner_progress
from lms.teams import services
from lms.teams.models import Team
from lms.today.services import kept_items, todo_list

KEY = "intl-hands-on-entry-plan"
COLUMN = f"assignment:{KEY}"


@pytest.fixture()
def course(app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user, login) -> dict[str, Any]:
    """A cohort in its tenth month (the team assignment is open) with an instructor and four
    learners; A, B and C form a team and A hands in its work (A holds the submission)."""
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(make_org(), "Founders", months_ago=9, instructors=[teacher])
    a, b, c, d = (enrol_learner(cohort, name=f"Founder {n}") for n in "ABCD")
    assignment = db.session.scalar(select(Assignment).where(Assignment.key == KEY))
    now = utcnow()
    team = services.create_team(db.session, assignment, cohort.id, "Northwind", a, now, as_learner=True)
    for person in (b, c):
        services.add_member(db.session, team, person, now)
    services.save_work(db.session, team, a.id, team.draft_revision, "Our entry plan", None, True,
                       dates(assignment, cohort, a), app.instance_path, now)
    db.session.commit()

    def client_for(user: Any) -> Any:
        client = app.test_client()
        login(client, user)
        return client

    return {"cohort": cohort, "teacher": teacher, "learners": (a, b, c, d), "assignment": assignment,
            "team": team, "client_for": client_for}


def dates(assignment: Any, cohort: Any, user: Any) -> Any:
    return dates_for(assignment, build_schedule(db.session, cohort, user.id, utcnow()))


def grade(course: dict[str, Any], action: str = GradeAction.RELEASE, pick: int = 1) -> Grade:
    team = db.session.scalars(select(Team)).one()
    submission = db.session.get(Submission, team.submission_id)
    assert submission is not None
    criteria = course["assignment"].rubric.current.criteria
    existing = db.session.scalar(select(Grade).where(Grade.submission_id == submission.id))
    result = save_grade(db.session, submission, course["teacher"], {c.id: c.levels[pick].id for c in criteria}, {},
                        "A credible plan.", existing.revision if existing else None, action, utcnow())
    db.session.commit()
    return result


def adjust_c(course: dict[str, Any], points: float = -3) -> None:
    team = services.get_team(db.session, db.session.scalars(select(Team.id)).one())
    assert team is not None
    db.session.expire(course["teacher"])  # an expired actor: adjust() reads its id before the savepoint, not inside
    services.adjust(db.session, team, course["learners"][2].id, points, "A small share of the work.", None,
                    course["teacher"], utcnow())
    db.session.commit()


def item_of(course: dict[str, Any], user: Any) -> Any:
    progress = learner_progress(db.session, course["cohort"], user.id, utcnow())
    return next(i for i in progress.items if i.key == KEY)


# --------------------------------------------------------------------------- completion


def test_every_member_has_done_the_team_assignment(course) -> None:
    a, b, c, d = course["learners"]
    assert course["team"].submission.user_id == a.id
    waiting = [item_of(course, p) for p in (a, b, c)]
    assert all(i.handed_in and not i.done and i.detail == "waiting for a grade" for i in waiting)
    assert not item_of(course, d).handed_in
    grade(course)
    assert all(item_of(course, p).done for p in (a, b, c)) and not item_of(course, d).done
    # and the module's part counts it for the members who do not hold the submission
    progress = learner_progress(db.session, course["cohort"], b.id, utcnow())
    part = next(p for s in progress.levels for p in s.parts if any(i.key == KEY for i in p.items))
    other = learner_progress(db.session, course["cohort"], d.id, utcnow())
    part_d = next(p for s in other.levels for p in s.parts if p.module.id == part.module.id and p.level.id == part.level.id)
    assert part.assignments[0] == part_d.assignments[0] + 1


def test_team_progress_statements_do_not_grow_with_learners(app: Flask, course, enrol_learner, count_queries) -> None:
    cohort = course["cohort"]
    grade(course)
    ids = [p.id for p in course["learners"]]
    small = count_queries(lambda: cohort_progress(db.session, cohort, ids, utcnow()))
    now = utcnow()
    more = [enrol_learner(cohort, name=f"Extra {n}") for n in range(6)]
    team = services.create_team(db.session, course["assignment"], cohort.id, "Southwind", more[0], now, as_learner=True)
    for person in more[1:3]:
        services.add_member(db.session, team, person, now)
    services.save_work(db.session, team, more[1].id, team.draft_revision, "Plan", None, True,
                       dates(course["assignment"], cohort, more[1]), app.instance_path, now)
    db.session.commit()
    everyone = ids + [p.id for p in more]
    assert count_queries(lambda: cohort_progress(db.session, cohort, everyone, utcnow())) == small
    progress = cohort_progress(db.session, cohort, everyone, utcnow())
    assert all(next(i for i in progress[p.id].items if i.key == KEY).handed_in for p in more[:3])


# --------------------------------------------------------------------------- gradebook


def test_the_gradebook_shows_the_teams_status_and_each_members_score(course) -> None:
    a, b, c, d = course["learners"]
    book = gradebook(db.session, course["cohort"], utcnow())
    index = next(i for i, col in enumerate(book.columns) if col.id == COLUMN)
    cells = {r.user.id: r.cells[index] for r in book.rows}
    assert {cells[p.id].status.value for p in (a, b, c)} == {"submitted"} and cells[d.id].status.value != "submitted"
    assert cells[b.id].team == "Northwind" and cells[b.id].submission_id == cells[a.id].submission_id
    graded = grade(course)
    adjust_c(course)
    book = gradebook(db.session, course["cohort"], utcnow())
    cells = {r.user.id: r.cells[index] for r in book.rows}
    assert [cells[p.id].status.value for p in (a, b, c)] == ["released"] * 3
    assert [cells[p.id].score for p in (a, b, c)] == [graded.score, graded.score, max(0.0, (graded.score or 0) - 3)]
    page = course["client_for"](course["teacher"]).get(f"/cohorts/{course['cohort'].id}/gradebook").get_data(as_text=True)
    assert page.count('class="gb-team">Northwind<') == 3


def test_the_ungraded_filter_shows_every_member_of_a_team_whose_work_waits(course) -> None:
    """Only A holds the team's submission; the filter chooses its candidates in SQL and must
    count the work for B and C too (``gradebook.services._waiting_for_marking``)."""
    a, b, c, _d = course["learners"]
    shown = gradebook(db.session, course["cohort"], utcnow(), RowFilter.UNGRADED)
    assert [r.user.id for r in shown.rows] == [a.id, b.id, c.id]
    grade(course, GradeAction.DRAFT)  # drafted: still waiting for its release
    assert [r.user.id for r in gradebook(db.session, course["cohort"], utcnow(), RowFilter.UNGRADED).rows] == [a.id, b.id, c.id]
    grade(course)
    assert gradebook(db.session, course["cohort"], utcnow(), RowFilter.UNGRADED).rows == []


def test_one_release_for_the_team_and_one_folder_in_the_zip(course) -> None:
    a, b, c, d = course["learners"]
    drafted = grade(course, GradeAction.DRAFT)
    column = column_of(db.session, COLUMN)
    users = learners_in(db.session, course["cohort"], [b.id, c.id, d.id])
    outcome = release_drafted(db.session, course["cohort"], column, users, {drafted.id: drafted.revision},
                              course["teacher"], utcnow())
    assert sorted(outcome.done) == ["Founder B", "Founder C"] and outcome.refused == {"had no drafted grade": ["Founder D"]}
    db.session.commit()
    assert db.session.get(Grade, drafted.id).status == GradeStatus.RELEASED
    adjust_c(course, -2)
    archive = submissions_archive(db.session, course["cohort"], column, learners_in(db.session, course["cohort"],
                                                                                    [a.id, b.id, c.id, d.id]))
    rows = list(csv.DictReader(io.StringIO(archive.manifest)))
    assert [r["learner"] for r in rows] == ["Founder A", "Founder B", "Founder C"]
    assert {r["team"] for r in rows} == {"Northwind"} and len({r["folder"] for r in rows}) == 1
    assert len(archive.texts) == 1 and archive.texts[0][1] == "Our entry plan"
    assert float(rows[2]["score"]) == max(0.0, (drafted.score or 0) - 2) and float(rows[1]["score"]) == drafted.score
    zipped = course["client_for"](course["teacher"]).post(f"/cohorts/{course['cohort'].id}/gradebook", data={
        "action": "download", "column": COLUMN, "scope": "shown"})
    assert zipped.status_code == 200 and zipped.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(zipped.get_data())).namelist()
    assert [n for n in names if n.endswith(".md")] == [f"{rows[0]['folder']}/answer-v1.md"]


# --------------------------------------------------------------------------- notifications


def notices(event: NotificationEvent) -> set[int]:
    db.session.expire_all()
    return set(db.session.scalars(select(Notification.user_id).where(Notification.event == event)))


def test_grade_released_and_returned_reach_every_member(course) -> None:
    a, b, c, d = course["learners"]
    grade(course, GradeAction.RETURN)
    assert notices(NotificationEvent.RETURNED_FOR_REVISION) == {a.id, b.id, c.id}
    team = services.get_team(db.session, course["team"].id)
    assert team is not None
    services.save_work(db.session, team, b.id, team.draft_revision, "Revised plan", None, True,
                       dates(course["assignment"], course["cohort"], b), "/tmp", utcnow())
    db.session.commit()
    released = grade(course)
    assert notices(NotificationEvent.GRADE_RELEASED) == {a.id, b.id, c.id}
    bodies = set(db.session.scalars(select(Notification.body).where(Notification.event == NotificationEvent.GRADE_RELEASED)))
    assert bodies == {f"{released.score:g} of {released.max_score:g} points."}


def test_every_member_reads_what_the_team_handed_in_and_what_to_revise(course) -> None:
    """On the team page and the feedback page a returned piece shows every member the
    grader's feedback (no score); the team page shows each version as handed in."""
    a, b, c, d = course["learners"]
    grade(course, GradeAction.RETURN)
    for member in (a, b):
        client = course["client_for"](member)
        team_page = client.get(f"/assignments/{KEY}/team").get_data(as_text=True)
        assert "What to revise" in team_page and "A credible plan." in team_page
        assert "Version 1 as handed in" in team_page and "<p>Our entry plan</p>" in team_page
        feedback = client.get(f"/assignments/{KEY}/feedback").get_data(as_text=True)
        assert "What to revise" in feedback and "A credible plan." in feedback and "points" not in feedback
    outsider = course["client_for"](d).get(f"/assignments/{KEY}/feedback").get_data(as_text=True)
    assert "A credible plan." not in outsider


def test_a_save_refused_after_the_team_handed_in_shows_what_was_sent(course) -> None:
    """The team's work is handed in (a teammate's tab was open): the save is refused and,
    the page being read-only, the text sent is shown to copy."""
    b = course["learners"][1]
    client = course["client_for"](b)
    team = db.session.get(Team, course["team"].id)
    refused = client.post(f"/assignments/{KEY}/team/work", data={"body": "B's late idea", "action": "save",
                                                                 "revision": str(team.draft_revision)})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "The team&#39;s work is submitted" in page
    assert '<textarea id="not-saved-body" rows="8" readonly>\nB&#39;s late idea</textarea>' in page
    assert "Save the team&#39;s draft" not in page
    db.session.expire_all()
    assert db.session.get(Submission, team.submission_id).draft_body == "Our entry plan"


def test_due_reminders_leave_members_whose_team_has_handed_in_alone(course) -> None:
    a, b, c, d = course["learners"]
    progress = cohort_progress(db.session, course["cohort"], [p.id for p in (a, b, c, d)], utcnow())
    due_on = next(i for i in progress[d.id].items if i.key == KEY).due_on
    for person in (a, b, c, d):  # two days before the end of the due day, each in their own zone
        now = due_moment(due_on, zone_of(person)) - timedelta(days=2)
        keys = [n.key for n in due_notices(due_items(db.session, course["cohort"], now), now) if n.user_id == person.id]
        assert any(KEY in k for k in keys) == (person is d), (person.name, keys)


# --------------------------------------------------------------------------- grading pages


def test_grading_pages_name_the_team_and_the_feedback_page_shows_each_members_grade(course) -> None:
    a, b, c, d = course["learners"]
    teacher = course["client_for"](course["teacher"])
    queue = teacher.get("/grading?status=all").get_data(as_text=True)
    assert "<strong>Northwind</strong>" in queue and "Founder A, Founder B, Founder C" in queue
    page = teacher.get(f"/cohorts/{course['cohort'].id}/submissions/{course['team'].submission_id}").get_data(as_text=True)
    assert "Team <strong>Northwind</strong>: Founder A, Founder B, Founder C" in page
    released = grade(course)
    adjust_c(course)
    plain = course["client_for"](b).get(f"/assignments/{KEY}/feedback").get_data(as_text=True)
    assert f"<strong>{released.score:g}</strong> of {released.max_score:g} points" in plain
    assert "Team work of <strong>Northwind</strong>" in plain and "A small share" not in plain
    mine = course["client_for"](c).get(f"/assignments/{KEY}/feedback").get_data(as_text=True)
    assert f"<strong>{max(0.0, (released.score or 0) - 3):g}</strong> of {released.max_score:g} points" in mine
    assert "yours is adjusted -3 points" in mine and "A small share of the work." in mine
    outsider = course["client_for"](d).get(f"/assignments/{KEY}/feedback").get_data(as_text=True)
    assert "No grade has been released" in outsider
    # the grades export has a row for each member, with their own score
    exported = list(csv.DictReader(io.StringIO(teacher.get(f"/cohorts/{course['cohort'].id}/grades.csv").get_data(as_text=True))))
    scores = {r["learner"]: float(r["score"]) for r in exported if r["assignment"] == KEY}
    assert scores == {"Founder A": released.score, "Founder B": released.score,
                      "Founder C": max(0.0, (released.score or 0) - 3)}



# --------------------------------------------------------------------------- a member moved


def test_members_moved_after_the_team_handed_in_have_done_it_in_their_new_cohort(course, make_cohort, make_user) -> None:
    """A moved learner's team work stays with the team in the cohort they left (its staff
    grade it), and it is theirs done wherever their own progress shows: their progress page,
    their to-do list, the new cohort's heat map and its gradebook (which said "not started")
    show the team's status, and its released grade with their score; the gradebook's cell
    names the team and the cohort whose staff grade it, and links to no grading page (the new
    cohort's staff have nothing of it to grade). A: the member who holds the submission; B
    another; C stays."""
    a, b, c, _d = course["learners"]
    old = course["cohort"]
    mentor = make_user(name="Nina New")
    new = make_cohort(old.organization, "Founders two", months_ago=9, instructors=[mentor])
    for person in (a, b):
        move_learner(db.session, person, old, new, utcnow())
    db.session.commit()
    submission_id = course["team"].submission_id
    assert db.session.get_one(Submission, submission_id).cohort_id == old.id  # graded with the team

    def cells() -> dict[int, Any]:
        book = gradebook(db.session, new, utcnow())
        index = next(i for i, col in enumerate(book.columns) if col.id == COLUMN)
        return {r.user.id: r.cells[index] for r in book.rows}

    def agreed(status: str, score: float | None) -> None:
        shown = cells()
        for person in (a, b):
            item = item_of({"cohort": new}, person)
            assert item.handed_in and item.done == (status == "released"), (person.name, item)
            plan = build_schedule(db.session, new, person.id, utcnow())
            assert KEY not in [t.key for t in todo_list(db.session, plan, person.id, kept_items(db.session, new.id, person.id))]
            cell = shown[person.id]
            assert (cell.status.value, cell.score, cell.team) == (status, score, "Northwind, Founders"), person.name
            assert cell.submission_id is None and cell.grade_id is None  # nothing to grade or release here
        rows = {r.user.id: r for r in heat_map(db.session, new, utcnow()).rows}
        assert not rows[a.id].reasons and not rows[b.id].reasons

    agreed("submitted", None)
    assert gradebook(db.session, new, utcnow(), RowFilter.UNGRADED).rows == []  # the old cohort's staff grade it
    page = course["client_for"](mentor).get(f"/cohorts/{new.id}/gradebook").get_data(as_text=True)
    assert page.count('class="gb-team">Northwind, Founders<') == 2 and f"/submissions/{submission_id}" not in page

    released = grade(course)
    agreed("released", released.score)
    levels = {r.user.id: r.levels for r in heat_map(db.session, new, utcnow()).rows}
    stayed = next(r.levels for r in heat_map(db.session, old, utcnow()).rows if r.user.id == c.id)
    assert levels[a.id] == levels[b.id] == stayed  # the team grade is their evidence, as it is C's
