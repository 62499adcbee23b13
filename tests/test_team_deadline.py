"""A team's work is one hand-in for the whole team, judged against the team's deadline: the
latest of its current members' due dates. It was judged by the deadline of the member who
held the draft, so an extension granted to another member did not cover the team's work."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from lms.coursework.models import Assignment, SubmissionVersion
from lms.database import utcnow
from lms.extensions import db
from lms.learning.models import OverrideKind
from lms.learning.services import cohort_today, grant_override, remove_extension
from lms.progress.models import ItemKind, ProgressItem
from lms.teams import services

KEY = "intl-hands-on-entry-plan"


def _setup(app: Flask, make_org: Any, make_cohort: Any, enrol_learner: Any, make_user: Any) -> dict[str, Any]:
    """A cohort in its eleventh month: the month-10 team assignment is past due. A, B and C
    form a team; A holds its draft."""
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(make_org(), "Founders", months_ago=10, instructors=[teacher])
    a, b, c = (enrol_learner(cohort, name=f"Founder {n}") for n in "ABC")
    assignment = db.session.scalars(select(Assignment).where(Assignment.key == KEY)).one()
    now = utcnow()
    team = services.create_team(db.session, assignment, cohort.id, "Northwind", a, now, as_learner=True)
    for person in (b, c):
        services.add_member(db.session, team, person, now)
    db.session.commit()
    regular = db.session.scalars(select(ProgressItem.due_on).where(
        ProgressItem.user_id == a.id, ProgressItem.kind == ItemKind.ASSIGNMENT, ProgressItem.key == KEY)).one()
    today = cohort_today(cohort, now)
    assert regular < today
    return {"cohort": cohort, "teacher": teacher, "a": a, "b": b, "c": c, "assignment": assignment, "team": team,
            "regular": regular, "today": today}


def _extend_b(world: dict[str, Any], days: int) -> Any:
    override = grant_override(db.session, world["cohort"], world["b"], world["assignment"].phase_id, OverrideKind.EXTENSION,
                              world["today"] + timedelta(days=days), "", world["teacher"], utcnow(), item_due=world["regular"])
    db.session.commit()
    return override


def _hand_in(app: Flask, login: Any, world: dict[str, Any]) -> Any:
    client = app.test_client()
    login(client, world["a"])  # A holds the draft and hands it in
    page = client.get(f"/assignments/{KEY}/team").get_data(as_text=True)
    team = services.get_team(db.session, world["team"].id)
    assert team is not None
    answer = client.post(f"/assignments/{KEY}/team/work", data={"body": "Our entry plan", "action": "submit",
                                                                 "revision": str(team.draft_revision)})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    db.session.expire_all()
    return page


def _version() -> SubmissionVersion:
    db.session.expire_all()
    return db.session.scalars(select(SubmissionVersion)).one()


def test_an_extension_to_one_member_covers_the_teams_work_handed_in_by_another(
        app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user, login) -> None:
    world = _setup(app, make_org, make_cohort, enrol_learner, make_user)
    until = world["today"] + timedelta(days=4)
    _extend_b(world, 4)
    page = _hand_in(app, login, world)
    assert f"due {until:%d %B %Y} (extended)" in page  # A's team page shows the team's deadline
    version = _version()
    assert (version.late, version.due_on) == (False, until)


def test_the_teams_lateness_follows_a_members_extension_granted_or_removed_after_the_hand_in(
        app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user, login) -> None:
    world = _setup(app, make_org, make_cohort, enrol_learner, make_user)
    _hand_in(app, login, world)
    assert (_version().late, _version().due_on) == (True, world["regular"])
    granted = _extend_b(world, 4)  # B does not hold the draft: the team's work is on time now
    assert (_version().late, _version().due_on) == (False, world["today"] + timedelta(days=4))
    remove_extension(db.session, world["cohort"], world["b"], granted.id, world["teacher"])
    db.session.commit()
    assert (_version().late, _version().due_on) == (True, world["regular"])
