"""Work handed in late stops being late once an extension past its hand-in is granted, and
is late again when the extension is taken away or shortened: lateness follows the learner's
deadline as it stands (Canvas and Moodle judge it so), everywhere it is shown."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select

from lms.coursework.models import Submission, SubmissionVersion
from lms.coursework.services import get_assignment, revision_days
from lms.database import utcnow
from lms.extensions import db
from lms.grading.models import GradeAction
from lms.grading.services import rubric_for, save_grade
from lms.learning.models import OverrideKind, ScheduleOverride
from lms.learning.services import cohort_today, grant_override
from lms.notifications.models import Notification, NotificationEvent
from lms.progress.models import ProgressItem
from tests.test_api import bearer

CASE = "mlops-case-coldwatch"
LATE_TAG = '<span class="tag">late</span>'


@pytest.fixture()
def handed_in_late(app: Flask, loaded, make_org, make_cohort, enrol_learner, make_user, login) -> dict[str, Any]:
    """A learner of a cohort five months in hands in a month-1 case study: long past due."""
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(make_org(), "Main", months_ago=5, instructors=[teacher])
    learner = enrol_learner(cohort, name="Ada Late")
    own = app.test_client()
    login(own, learner)
    assert own.post(f"/assignments/{CASE}/work", data={"body": "My analysis.", "action": "submit"}).status_code == 302
    staff = app.test_client()
    login(staff, teacher)
    db.session.expire_all()
    work = db.session.scalars(select(Submission).where(Submission.user_id == learner.id)).one()
    return {"cohort": cohort, "learner": learner, "teacher": teacher, "staff": staff, "work": work,
            "api": bearer(teacher, ["read:grades"])}


def _regular_due(world: dict[str, Any]) -> Any:
    assignment = get_assignment(db.session, CASE)
    assert assignment is not None
    return db.session.scalars(select(ProgressItem.due_on).where(
        ProgressItem.user_id == world["learner"].id, ProgressItem.key == assignment.key)).one()


def _extend(world: dict[str, Any], on_date: Any, item_due: Any) -> ScheduleOverride:
    assignment = get_assignment(db.session, CASE)
    assert assignment is not None and assignment.phase_id is not None
    override = grant_override(db.session, world["cohort"], world["learner"], assignment.phase_id, OverrideKind.EXTENSION,
                              on_date, "Was ill; explained by mail.", world["teacher"], utcnow(), item_due=item_due)
    db.session.commit()
    return override


def _shown_late(world: dict[str, Any], client: Any) -> dict[str, bool]:
    """What every place that says "late" says of the learner's work."""
    cohort, staff = world["cohort"], world["staff"]
    db.session.expire_all()
    queue = staff.get(f"/grading?cohort={cohort.id}").get_data(as_text=True)
    assert "Ada Late" in queue
    only_late = staff.get(f"/grading?cohort={cohort.id}&late=1").get_data(as_text=True)
    grades = list(csv.DictReader(io.StringIO(staff.get(f"/cohorts/{cohort.id}/grades.csv").get_data(as_text=True))))
    page = staff.get(f"/cohorts/{cohort.id}/submissions/{world['work'].id}").get_data(as_text=True)
    api = client.get(f"/api/v1/cohorts/{cohort.id}/submissions", headers=world["api"])
    assert api.status_code == 200, api.json
    [listed] = api.json["data"]
    return {"stored": db.session.scalars(select(SubmissionVersion.late)).one(), "queue": LATE_TAG in queue,
            "late only": "Ada Late" in only_late, "export": [r["late"] for r in grades] == ["yes"],
            "grade page": LATE_TAG in page, "api": listed["late"]}


def test_an_extension_past_the_hand_in_excuses_it_and_taking_it_away_makes_it_late_again(
        handed_in_late: dict[str, Any], client: Any) -> None:
    world = handed_in_late
    everywhere_late = dict.fromkeys(("stored", "queue", "late only", "export", "grade page", "api"), True)
    nowhere_late = dict.fromkeys(everywhere_late, False)
    assert _shown_late(world, client) == everywhere_late
    due = _regular_due(world)
    today = cohort_today(world["cohort"], utcnow())

    granted = _extend(world, today + timedelta(days=3), due)  # the instructor grants it after the hand-in
    assert _shown_late(world, client) == nowhere_late
    version = db.session.scalars(select(SubmissionVersion)).one()
    assert version.due_on == today + timedelta(days=3)  # the deadline it is judged by now

    db.session.delete(db.session.get_one(ScheduleOverride, granted.id))  # taken away
    db.session.commit()
    assert _shown_late(world, client) == everywhere_late
    assert db.session.scalars(select(SubmissionVersion.due_on)).one() == due

    _extend(world, today + timedelta(days=3), due)
    _extend(world, due + timedelta(days=1), due)  # changed: a newer grant ends before the hand-in
    assert _shown_late(world, client) == everywhere_late


def test_a_cohort_start_moved_later_makes_work_handed_in_before_its_new_due_date_on_time(
        handed_in_late: dict[str, Any], client: Any) -> None:
    world = handed_in_late
    cohort = world["cohort"]
    cohort.start_date = cohort_today(cohort, utcnow())  # the cohort starts today: month 1 is due weeks from now
    db.session.commit()
    assert not any(_shown_late(world, client).values())


def test_the_api_marks_the_submission_changed_when_its_lateness_changes(handed_in_late: dict[str, Any], client: Any) -> None:
    world = handed_in_late
    before = utcnow()
    assert client.get(f"/api/v1/cohorts/{world['cohort'].id}/submissions", headers=world["api"],
                      query_string={"updated_since": before.isoformat()}).json["data"] == []
    _extend(world, cohort_today(world["cohort"], utcnow()) + timedelta(days=3), _regular_due(world))
    [changed] = client.get(f"/api/v1/cohorts/{world['cohort'].id}/submissions", headers=world["api"],
                           query_string={"updated_since": before.isoformat()}).json["data"]
    assert changed["late"] is False


@pytest.mark.parametrize(("zone", "with_hour"), [("Asia/Kolkata", True), ("UTC", False)])
def test_work_returned_for_revision_tells_the_learner_until_when_on_their_clock(
        handed_in_late: dict[str, Any], zone: str, with_hour: bool) -> None:
    """The notice of a return says the revision's due date; a learner whose clock does not
    read midnight when the cohort's day ends is also told the hour there."""
    world = handed_in_late
    world["learner"].timezone = zone
    db.session.commit()
    work = db.session.get_one(Submission, world["work"].id)
    now = utcnow()
    save_grade(db.session, work, world["teacher"], {c.id: c.levels[0].id for c in rubric_for(db.session, work, None).criteria},
               {}, "Say which alert fired first.", None, GradeAction.RETURN, now)
    db.session.commit()
    [notice] = db.session.scalars(select(Notification).where(Notification.user_id == world["learner"].id,
                                                             Notification.event == NotificationEvent.RETURNED_FOR_REVISION))
    again = now.astimezone(ZoneInfo(world["cohort"].timezone)).date() + timedelta(days=revision_days())
    local = datetime.combine(again + timedelta(days=1), time(0), tzinfo=ZoneInfo(world["cohort"].timezone)).astimezone(
        ZoneInfo(zone))
    hour = f" ({local:%H:%M} {local.tzname()} on {local:%a %d %b}, your time)" if with_hour else ""
    assert notice.body == f"Read the feedback, revise your work and hand it in again by {again:%d %B %Y}{hour}."


def test_the_queue_tabs_count_what_late_only_lists(handed_in_late: dict[str, Any]) -> None:
    """With "Late only" ticked, each tab counts the late work it lists: work an extension
    excused is neither listed nor counted (a tab said "To grade (1)" over "Nothing here.")."""
    world = handed_in_late
    only_late = f"/grading?cohort={world['cohort'].id}&late=1"
    page = world["staff"].get(only_late).get_data(as_text=True)
    assert "Ada Late" in page and "To grade (1)" in page and "All (1)" in page
    _extend(world, cohort_today(world["cohort"], utcnow()) + timedelta(days=3), _regular_due(world))
    page = world["staff"].get(only_late).get_data(as_text=True)
    assert "Ada Late" not in page and "Nothing here." in page
    assert "To grade (0)" in page and "All (0)" in page
    every = world["staff"].get(f"/grading?cohort={world['cohort'].id}").get_data(as_text=True)
    assert "Ada Late" in every and "To grade (1)" in every  # without the filter, counted as before
