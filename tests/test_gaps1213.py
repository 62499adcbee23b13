"""Issue 12 and 13 gaps: team work found for every member (the portfolio's eligible work,
expert invitations, the home page's to-do list and recent grades), the gradebook's team
label styled, no 403 lesson links for a signed-in person with no role, early access on
the progress page, the staff panel for organization admins, and paged learner results in
search. The team's submission is held by A; B and C are the other members, D is not in it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from markupsafe import escape
from sqlalchemy import select

from lms.accounts.services import create_user
from lms.catalog.models import Level, Phase
from lms.cohorts.enrolment import enrol
from lms.coursework.models import Assignment, Submission
from lms.coursework.services import dates_for, save_draft, start_submission, submit
from lms.database import utcnow
from lms.expert import services as expert
from lms.expert.models import ExpertInvite
from lms.extensions import db
from lms.grading.models import Grade, GradeAction
from lms.grading.services import save_grade
from lms.learning.models import OverrideKind
from lms.learning.services import build_schedule, cohort_today, grant_override
from lms.mail.models import OutboxMessage
from lms.notifications.models import Notification, NotificationEvent
from lms.progress.completion import learner_progress
from lms.progress.models import Evidence, ItemKind
from lms.search.services import LEARNER_LIMIT, search
from lms.teams import services as teams
from lms.teams.models import Team
from lms.today.services import learner_today
from tests.browser.test_browser_crawl import crawl
from tests.conftest import World, sent_body
from tests.test_access import route_extras

KEY = "intl-hands-on-entry-plan"  # a team assignment of month 10
ROOT = Path(__file__).resolve().parents[1]


def page(response: Any) -> str:
    return response.get_data(as_text=True)


# --------------------------------------------------------------------------- team work (issue 12)


@pytest.fixture()
def course(app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user, login) -> dict[str, Any]:
    """A cohort in its tenth month with an instructor and four learners; A, B and C form the
    team Northwind and A hands in its work."""
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(make_org(), "Founders", months_ago=9, instructors=[teacher])
    a, b, c, d = (enrol_learner(cohort, name=f"Founder {n}") for n in "ABCD")
    assignment = db.session.scalar(select(Assignment).where(Assignment.key == KEY))
    now = utcnow()
    team = teams.create_team(db.session, assignment, cohort.id, "Northwind", a, now, as_learner=True)
    for person in (b, c):
        teams.add_member(db.session, team, person, now)
    plan = build_schedule(db.session, cohort, a.id, now)
    teams.save_work(db.session, team, a.id, team.draft_revision, "Our entry plan", None, True,
                    dates_for(assignment, plan), app.instance_path, now)
    db.session.commit()

    def client_for(user: Any) -> Any:
        client = app.test_client()
        login(client, user)
        return client

    return {"cohort": cohort, "teacher": teacher, "learners": (a, b, c, d), "assignment": assignment,
            "client_for": client_for}


def team_work() -> Submission:
    team = db.session.scalars(select(Team)).one()
    work = db.session.get(Submission, team.submission_id)
    assert work is not None
    return work


def release(course: dict[str, Any], adjust_c: float = 0) -> Grade:
    """The teacher releases the team's grade (proficient everywhere); C's share moved by ``adjust_c``."""
    work = team_work()
    criteria = course["assignment"].rubric.current.criteria
    grade = save_grade(db.session, work, course["teacher"], {c.id: c.levels[1].id for c in criteria}, {},
                       "A credible plan.", None, GradeAction.RELEASE, utcnow())
    if adjust_c:
        team = teams.get_team(db.session, db.session.scalars(select(Team.id)).one())
        assert team is not None
        teams.adjust(db.session, team, course["learners"][2].id, adjust_c, "A smaller share.", None, course["teacher"], utcnow())
    db.session.commit()
    return grade


def today_of(course: dict[str, Any], user: Any) -> Any:
    now = utcnow()
    return learner_today(db.session, build_schedule(db.session, course["cohort"], user.id, now), user.id, now)


def test_members_home_shows_the_team_work_like_the_holders(course) -> None:
    a, b, c, d = course["learners"]
    # handed in by A: waiting for a grade, so on nobody's to-do list in the team, still on D's
    for person in (a, b, c):
        assert KEY not in {t.key for t in today_of(course, person).todo}, person.name
    assert KEY in {t.key for t in today_of(course, d).todo}
    grade = release(course, adjust_c=-3)
    assert grade.score is not None
    for person, score in ((a, grade.score), (b, grade.score), (c, grade.score - 3)):
        recent = [r for r in today_of(course, person).recent if r.what == "grade"]
        assert [(r.title, r.result) for r in recent] == [
            (f"{course['assignment'].title} (team Northwind)", f"{score:g} of {grade.max_score:g}")], person.name
    assert not [r for r in today_of(course, d).recent if r.what == "grade"]
    html = page(course["client_for"](b).get("/home"))
    recent_html = html[html.index('id="recent"'):]
    assert str(escape(course["assignment"].title)) in recent_html and f"/assignments/{KEY}/feedback" in recent_html


def test_members_portfolio_lists_the_team_work(course) -> None:
    a, b, c, d = course["learners"]
    release(course, adjust_c=-3)
    work, grade = team_work(), db.session.scalars(select(Grade)).one()
    assert grade.score is not None
    month = course["assignment"].phase.month
    level = db.session.scalar(select(Level).where(Level.first_month <= month, Level.last_month >= month))
    for person, score in ((b, grade.score), (c, grade.score - 3)):
        client = course["client_for"](person)
        html = page(client.get(f"/portfolio/{level.key}"))
        assert f'name="artifact" value="{work.id}"' in html and "team work (Northwind" in html
        assert f"{score:g}/{grade.max_score:g}" in html, person.name
        assert client.post(f"/portfolio/{level.key}", data={"artifact": str(work.id), "action": "save"}).status_code == 302
    html = page(course["client_for"](d).get(f"/portfolio/{level.key}"))
    assert f'value="{work.id}"' not in html
    refused = course["client_for"](d).post(f"/portfolio/{level.key}", data={"artifact": str(work.id), "action": "save"})
    assert refused.status_code == 400


def test_a_member_invites_an_expert_for_the_team_work(course) -> None:
    a, b, c, d = course["learners"]
    work = team_work()
    client = course["client_for"](b)
    team_page = page(client.get(f"/assignments/{KEY}/team"))
    assert f'href="/assignments/{KEY}/experts"' in team_page
    html = page(client.get(f"/assignments/{KEY}/experts"))
    assert 'id="invite"' in html and "Team work of Northwind" in html
    refused = client.post(f"/assignments/{KEY}/experts", data={"name": "Teammate", "email": c.email, "note": ""})
    assert refused.status_code == 400 and "nor a teammate" in page(refused)
    sent = client.post(f"/assignments/{KEY}/experts", data={"name": "Erin Expert", "email": "erin@expert.example",
                                                           "note": "Our team's plan."})
    assert sent.status_code == 302
    invite = db.session.scalars(select(ExpertInvite)).one()
    assert invite.submission_id == work.id and invite.invited_by_id == b.id
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "erin@expert.example")).one()
    assert "a member of the team Northwind" in mail.body and "instructor" not in mail.subject
    # every member sees it on their own page; D has no such work
    assert "erin@expert.example" in page(course["client_for"](c).get(f"/assignments/{KEY}/experts"))
    assert 'id="invite"' not in page(course["client_for"](d).get(f"/assignments/{KEY}/experts"))
    # the rating is evidence for every member, and each is told
    token = re.search(r"http://localhost/e/([A-Za-z0-9_-]+)", sent_body(mail))
    assert token
    form = {c_.id: c_.levels[0].id for c_ in work.assignment.rubric.current.criteria}
    expert.rate(db.session, token.group(1), {"role": "CFO", "organization": "Acme", "years": "9", "qualification": "Q."},
                form, {}, "Good.", utcnow())
    db.session.commit()
    rated = set(db.session.scalars(select(Evidence.user_id).where(Evidence.source == "expert")))
    assert rated == {a.id, b.id, c.id}
    told = {(n.user_id, n.event) for n in db.session.scalars(select(Notification))}
    assert {(p.id, NotificationEvent.FEEDBACK_RECEIVED) for p in (a, b, c)} <= told
    assert (b.id, NotificationEvent.FEEDBACK_LINK_ANSWERED) not in told  # the staff's notice, with its staff link


def test_the_gradebooks_team_label_has_a_style_rule() -> None:
    markup = (ROOT / "lms/gradebook/render.py").read_text()  # the gradebook's cells are made in Python
    css = (ROOT / "lms/web/static/style.css").read_text()
    assert 'class="gb-team"' in markup
    rule = re.search(r"\.gb-team(?![\w-])[^{]*\{([^}]*)\}", css)
    assert rule is not None and rule.group(1).strip()


# --------------------------------------------------------------------------- links that open (issue 13)


def test_no_role_crawl_finds_no_forbidden_links(app: Flask, loaded, world: World, login) -> None:
    route_extras(app, world)
    client = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    login(client, world.nobody)
    found = crawl(client)
    app.config["WTF_CSRF_ENABLED"] = True
    dead = [f"{status} {url} (linked from {found.found_on.get(url)})" for url, status in found.status.items()
            if status in (401, 403, 404, 405) or status >= 500]
    assert dead == [], "\n".join(dead)
    assert any(url.startswith("/levels/") for url in found.html)


def test_level_pages_link_lessons_for_those_who_may_open_them(app: Flask, loaded, world: World, login) -> None:
    for user, links in ((world.nobody, False), (world.learner_a, True), (world.instructor_a, True), (None, True)):
        client = app.test_client()
        if user is not None:
            login(client, user)
        html = page(client.get("/levels/foundation"))
        assert ('href="/lessons/' in html) is links, user
        assert ("for enrolled learners" in html) is not links, user
        assert ('href="/assignments/' in page(client.get("/coursework"))) is links or user is None


def test_progress_shows_early_access_items_open(app: Flask, loaded, make_cohort, enrol_learner, make_user, login) -> None:
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(months_ago=0, instructors=[teacher])
    learner = enrol_learner(cohort, name="Early Bird")
    phase = next(p for p in db.session.scalars(select(Phase).where(Phase.month == 3, Phase.retired_at.is_(None))
                                                 .order_by(Phase.id))
                 if p.lessons and db.session.scalar(select(Assignment.id).where(Assignment.phase_id == p.id,
                                                                               Assignment.retired_at.is_(None))))
    assignment = db.session.scalars(select(Assignment).where(Assignment.phase_id == phase.id, Assignment.retired_at.is_(None))
                                    .order_by(Assignment.position)).first()
    assert assignment is not None
    today = cohort_today(cohort, utcnow())
    client = app.test_client()
    login(client, learner)
    lesson = phase.lessons[0]
    before = page(client.get("/progress"))
    assert f'href="/lessons/{lesson.key}"' not in before and client.get(f"/lessons/{lesson.key}").status_code == 403
    grant_override(db.session, cohort, learner, phase.id, OverrideKind.EARLY_ACCESS, today, "Ahead of the group.", teacher)
    db.session.commit()
    items = {i.key: i for i in learner_progress(db.session, cohort, learner.id, utcnow()).items}
    assert items[lesson.key].opens_on == today
    assert items[assignment.key].opens_on == today
    plan = build_schedule(db.session, cohort, learner.id, utcnow())
    dates = dates_for(assignment, plan)
    assert dates is not None and items[assignment.key].due_on == dates.due_on  # the work page's dates
    after = page(client.get("/progress"))
    assert f'href="/lessons/{lesson.key}"' in after and f'href="/assignments/{assignment.key}"' in after
    assert client.get(f"/lessons/{lesson.key}").status_code == 200
    assert client.get(f"/assignments/{assignment.key}").status_code == 200
    assert items[lesson.key].kind == ItemKind.LESSON


# --------------------------------------------------------------------------- organization admins' home (issue 13)


def test_organization_admins_get_the_grading_panel(app: Flask, loaded, make_org, make_cohort, enrol_learner,
                                                    make_user, login) -> None:
    admin, other_admin = make_user(name="Olga Admin"), make_user(name="Oskar Admin")
    org = make_org("Alpha", admins=[admin])
    make_org("Beta", admins=[other_admin])
    cohort = make_cohort(org, "Alpha 1", months_ago=5)
    learner = enrol_learner(cohort, name="Pia Learner")
    assignment = db.session.scalar(select(Assignment).where(Assignment.key == "cs-hands-on-own-operation"))
    work = start_submission(db.session, assignment, learner.id, cohort.id, utcnow())
    dates = dates_for(assignment, build_schedule(db.session, cohort, learner.id, utcnow()))
    save_draft(db.session, work, "My plan.", dates, utcnow())
    submit(db.session, work, dates, utcnow())
    db.session.commit()
    client = app.test_client()
    login(client, admin)
    html = page(client.get("/home"))
    link = f"/cohorts/{cohort.id}/submissions/{work.id}"
    assert 'id="instructor-today"' in html and f'href="{link}"' in html and "Pia Learner" in html
    assert client.get(link).status_code == 200
    other = app.test_client()
    login(other, other_admin)
    assert 'id="instructor-today"' not in page(other.get("/home"))


# --------------------------------------------------------------------------- search: learners a page at a time (issue 13)


def enrol_quills(cohort: Any, numbers: range) -> None:
    """Learners "Quill NN" without a password (none of them signs in): quick to make."""
    for n in numbers:
        enrol(db.session, cohort, create_user(db.session, f"quill{n:02d}@example.com", f"Quill {n:02d}", None), utcnow())
    db.session.commit()


def test_search_pages_learners_with_a_fixed_number_of_statements(app: Flask, make_org, make_cohort, make_user, login,
                                                                   count_queries) -> None:
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(make_org(), "Quartz", instructors=[teacher])
    enrol_quills(cohort, range(LEARNER_LIMIT + 5))
    few = count_queries(lambda: search(db.session, teacher, "quill", learner_page=2))
    first = search(db.session, teacher, "quill")
    assert first.learner_total == LEARNER_LIMIT + 5 and len(first.learners) == LEARNER_LIMIT and first.more_learners
    second = search(db.session, teacher, "quill", learner_page=2)
    assert [h.user.name for h in second.learners] == [f"Quill {n:02d}" for n in range(LEARNER_LIMIT, LEARNER_LIMIT + 5)]
    assert not second.more_learners and second.learner_pages == 2
    enrol_quills(cohort, range(LEARNER_LIMIT + 5, 2 * LEARNER_LIMIT + 7))
    assert count_queries(lambda: search(db.session, teacher, "quill", learner_page=2)) == few
    client = app.test_client()
    login(client, teacher)
    html = page(client.get("/search?q=quill"))
    assert f"{2 * LEARNER_LIMIT + 7} learners · page 1 of 3" in html
    assert 'href="/search?q=quill&amp;page=1&amp;learners_page=2"' in html and "Next learners" in html
    html = page(client.get("/search?q=quill&learners_page=3"))
    assert "Quill 46" in html and "Quill 00" not in html and "Previous learners" in html and "Next learners" not in html
    past = page(client.get("/search?q=quill&learners_page=9"))  # past the end: the last page, as every pager here
    assert "page 3 of 3" in past and "Quill 46" in past and "Next learners" not in past
