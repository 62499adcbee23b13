"""One rule for the deadline that applies (``lms.learning.services.deadline_that_applies``):
an extension that ends before its part of the program does (the gradebook extends one item a
few days) moved the learner's kept schedule but not their work page, which still showed the
regular due date and judged a hand-in by it. The work page, the learner's schedule, the
staff's schedule page of the learner, the kept state and the API now say the same day."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from lms.coursework.models import Submission, SubmissionVersion
from lms.coursework.services import dates_for, get_assignment
from lms.database import utcnow
from lms.extensions import db
from lms.learning.models import OverrideKind
from lms.learning.services import build_schedule, cohort_today, grant_override
from lms.progress.models import ItemKind, ProgressItem
from tests.test_api import bearer

CASE = "mlops-case-coldwatch"  # month 1, due 21 days after the month opens


def test_an_extension_ending_before_the_part_does_is_the_deadline_everywhere(
        app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user, login) -> None:
    teacher = make_user(name="Tess Teacher")
    today = utcnow().date()
    cohort = make_cohort(make_org(), "Main", start=today - timedelta(days=23), instructors=[teacher])
    learner = enrol_learner(cohort, name="Ada Extended")
    assignment = get_assignment(db.session, CASE)
    assert assignment is not None and assignment.phase_id is not None
    plan = build_schedule(db.session, cohort, learner.id, utcnow())
    slot = plan.slot_for(assignment.phase_id)
    regular = dates_for(assignment, plan)
    assert slot is not None and regular is not None
    today = cohort_today(cohort, utcnow())
    until = today + timedelta(days=2)
    assert regular.due_on < today < until < slot.due_on  # past the item's due date, before the part's end
    grant_override(db.session, cohort, learner, assignment.phase_id, OverrideKind.EXTENSION, until, "Flu.", teacher,
                   utcnow(), item_due=regular.due_on)
    db.session.commit()

    own, staff = app.test_client(), app.test_client()
    login(own, learner)
    login(staff, teacher)
    kept = db.session.scalars(select(ProgressItem.due_on).where(
        ProgressItem.user_id == learner.id, ProgressItem.kind == ItemKind.ASSIGNMENT, ProgressItem.key == CASE)).one()
    assert kept == until  # the kept schedule counted it before the fix too
    work_page = own.get(f"/assignments/{CASE}/work").get_data(as_text=True)
    assert f"Due {until:%d %B %Y} (extended)" in work_page
    assert f"{until:%d %B %Y}" in own.get(f"/assignments/{CASE}").get_data(as_text=True)
    shown = f"extension to {until:%d %b %Y}"
    assert shown in own.get("/schedule").get_data(as_text=True)
    assert shown in staff.get(f"/cohorts/{cohort.id}/learners/{learner.id}").get_data(as_text=True)

    # handed in today, before the extension's day: on time, judged by that day, as the API says
    assert own.post(f"/assignments/{CASE}/work", data={"body": "My analysis.", "action": "submit"}).status_code == 302
    db.session.expire_all()
    version = db.session.scalars(select(SubmissionVersion).join(Submission)
                                 .where(Submission.user_id == learner.id)).one()
    assert (version.due_on, version.late) == (until, False)
    api = staff.get(f"/api/v1/cohorts/{cohort.id}/submissions", headers=bearer(teacher, ["read:grades"]))
    assert api.status_code == 200, api.json
    [listed] = api.json["data"]
    assert (listed["due_on"], listed["late"]) == (until.isoformat(), False)
