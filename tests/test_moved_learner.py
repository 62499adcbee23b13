"""A page kept open after another admin moved its learner to another cohort answered a bare
404 when sent. The cohort's staff are now told where the learner is (naming and linking the
cohort only to someone with a role on it), nothing saved; anyone else learns nothing more
than before (the access rules are unchanged)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from lms.cohorts.enrolment import move_learner
from lms.coursework.models import Submission
from lms.database import utcnow
from lms.extensions import db
from lms.learning.models import ScheduleOverride

CASE = "mlops-case-coldwatch"


@pytest.fixture()
def moved(app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user, login) -> dict[str, Any]:
    """Lucia, of Alpha (taught by Tess), hands in her month-1 case study; the organization's
    admin then moves her to Beta (taught by Bea), while Tess and the admin have her pages open."""
    tess, bea, admin, stranger = (make_user(name=n) for n in ("Tess Teacher", "Bea Teacher", "Olga Admin", "Sam Other"))
    org = make_org(admins=[admin])
    alpha = make_cohort(org, "Alpha", months_ago=2, instructors=[tess])
    beta = make_cohort(org, "Beta Secret Name", months_ago=2, instructors=[bea])
    make_cohort(make_org(admins=[stranger]), "Elsewhere", months_ago=2)
    lucia = enrol_learner(alpha, name="Lucia Moved")
    stays = enrol_learner(alpha, name="Sid Stays")

    def client_for(user: Any) -> Any:
        client = app.test_client()
        login(client, user)
        return client

    assert client_for(lucia).post(f"/assignments/{CASE}/work", data={"body": "Mine.", "action": "submit"}).status_code == 302
    db.session.expire_all()
    work = db.session.scalars(select(Submission).where(Submission.user_id == lucia.id)).one()
    move_learner(db.session, lucia, alpha, beta, utcnow())
    db.session.commit()
    return {"alpha": alpha, "beta": beta, "lucia": lucia, "stays": stays, "work": work, "tess": client_for(tess),
            "admin": client_for(admin), "stranger": client_for(stranger)}


def _grant(world: dict[str, Any], client: Any) -> Any:
    return client.post(f"/cohorts/{world['alpha'].id}/learners/{world['lucia'].id}/overrides",
                       data={"phase": 1, "kind": "extension", "on_date": "2030-01-01", "seen": "0"})


def test_a_form_sent_for_a_moved_learner_says_where_they_are_to_whoever_may_know(moved: dict[str, Any]) -> None:
    world = moved
    alpha, beta, lucia = world["alpha"], world["beta"], world["lucia"]
    # the admin sees both cohorts: Beta named, linked to her schedule and access page there
    answer = _grant(world, world["admin"])
    html = answer.get_data(as_text=True)
    assert answer.status_code == 409
    assert "Lucia Moved is no longer a learner of Alpha" in html and "Nothing was saved" in html
    assert "Beta Secret Name" in html and f'href="/cohorts/{beta.id}/learners/{lucia.id}"' in html
    # Tess teaches Alpha only: told she moved, Beta not named
    answer = _grant(world, world["tess"])
    html = answer.get_data(as_text=True)
    assert answer.status_code == 409 and "was moved to another cohort, which you do not teach" in html
    assert "Beta Secret Name" not in html and f"/cohorts/{beta.id}" not in html
    assert db.session.scalar(select(ScheduleOverride.id)) is None  # nothing saved
    # a page read (a bookmark): the same page there, with a 404
    answer = world["admin"].get(f"/cohorts/{alpha.id}/learners/{lucia.id}/progress")
    assert answer.status_code == 404
    assert f'href="/cohorts/{beta.id}/learners/{lucia.id}/progress"' in answer.get_data(as_text=True)


def test_grading_a_moved_learners_work_from_a_page_opened_before_says_where_it_is(moved: dict[str, Any]) -> None:
    world = moved
    alpha, beta, work = world["alpha"], world["beta"], world["work"]
    answer = world["admin"].post(f"/cohorts/{alpha.id}/submissions/{work.id}", data={"feedback": "Good.", "action": "draft"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 409 and "Lucia Moved is no longer a learner of Alpha" in html
    assert f'href="/cohorts/{beta.id}/submissions/{work.id}"' in html
    answer = world["tess"].get(f"/cohorts/{alpha.id}/submissions/{work.id}")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 404 and "which you do not teach" in html and "Beta Secret Name" not in html


def test_nobody_else_learns_anything_more(moved: dict[str, Any]) -> None:
    world = moved
    alpha, lucia, work = world["alpha"], world["lucia"], world["work"]
    bare = "There is nothing at this address"
    for answer in (_grant(world, world["stranger"]), world["stranger"].get(f"/cohorts/{alpha.id}/learners/{lucia.id}"),
                   world["stranger"].get(f"/cohorts/{alpha.id}/submissions/{work.id}")):
        assert answer.status_code == 404 and bare in answer.get_data(as_text=True)
        assert "Lucia" not in answer.get_data(as_text=True)
    # someone never enrolled in Alpha (a learner of another cohort): the plain 404, for staff too
    never = world["tess"].get(f"/cohorts/{alpha.id}/learners/{world['stays'].id + 1000}")
    assert never.status_code == 404 and bare in never.get_data(as_text=True)
