"""Removing an extension: nothing in the app took one away (a newer, shorter grant replaced
it). Staff remove it from the learner's page (asked first), it is audited as a grant is, the
learner is told as of a grant, lateness is worked out again as after a grant, no earlier
extension it replaced comes back, and a grant made since the page was opened is never undone."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from lms.audit.models import AuditAction, AuditEntry
from lms.coursework.models import SubmissionVersion
from lms.coursework.services import get_assignment
from lms.database import utcnow
from lms.extensions import db
from lms.learning.models import OverrideKind, ScheduleOverride
from lms.learning.services import cohort_today, grant_override, remove_extension
from lms.notifications.models import Notification
from lms.progress.models import ItemKind, ProgressItem
from tests.test_late_extension import CASE, _regular_due, _shown_late, handed_in_late  # noqa: F401

EVERYWHERE = ("stored", "queue", "late only", "export", "grade page", "api")


def _grant(world: dict[str, Any], days: int) -> int:
    """An extension granted from the learner's page, as staff do: its id."""
    assignment = get_assignment(db.session, CASE)
    assert assignment is not None
    on = cohort_today(world["cohort"], utcnow()) + timedelta(days=days)
    page = world["staff"].get(f"/cohorts/{world['cohort'].id}/learners/{world['learner'].id}").get_data(as_text=True)
    seen = re.search(r'name="seen" type="hidden" value="(\d+)"', page) or re.search(r'id="seen" name="seen" type="hidden" value="(\d+)"', page)
    assert seen is not None, "the grant form carries what the page showed"
    answer = world["staff"].post(f"/cohorts/{world['cohort'].id}/learners/{world['learner'].id}/overrides",
                                 data={"phase": assignment.phase_id, "kind": "extension", "on_date": on.isoformat(),
                                       "note": "Was ill.", "seen": seen.group(1)})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    db.session.expire_all()
    return db.session.scalars(select(ScheduleOverride.id).order_by(ScheduleOverride.id.desc()).limit(1)).one()


def _remove(world: dict[str, Any], override_id: int) -> Any:
    return world["staff"].post(f"/cohorts/{world['cohort'].id}/learners/{world['learner'].id}/overrides/{override_id}/remove")


def _kept_due(world: dict[str, Any]) -> Any:
    db.session.expire_all()
    return db.session.scalars(select(ProgressItem.due_on).where(
        ProgressItem.user_id == world["learner"].id, ProgressItem.kind == ItemKind.ASSIGNMENT,
        ProgressItem.key == CASE)).one()


def test_removing_an_extension_restores_the_regular_dates_audited_told_and_late_again(
        handed_in_late: dict[str, Any], client: Any) -> None:  # noqa: F811
    world = handed_in_late
    regular = _regular_due(world)
    longer = _grant(world, 5)
    shorter = _grant(world, 3)  # replaces the longer one
    assert not any(_shown_late(world, client).values())
    page = world["staff"].get(f"/cohorts/{world['cohort'].id}/learners/{world['learner'].id}").get_data(as_text=True)
    assert page.count("Remove extension") == 1  # only the one that applies
    assert f"/overrides/{shorter}/remove" in page and f"/overrides/{longer}/remove" not in page
    granted_notices = db.session.scalars(select(Notification.key).where(Notification.user_id == world["learner"].id)).all()
    assert f"schedule:{shorter}:granted" in granted_notices  # a grant tells the learner too

    answer = _remove(world, shorter)
    assert answer.status_code == 302
    assert _kept_due(world) == regular  # the longer one it had replaced does not come back
    assert _shown_late(world, client) == dict.fromkeys(EVERYWHERE, True)
    assert db.session.scalars(select(SubmissionVersion.due_on)).one() == regular
    removed = db.session.get_one(ScheduleOverride, shorter)
    assert removed.removed_at is not None and removed.removed_by_id == world["teacher"].id
    [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.OVERRIDE_REVOKED)).all()
    assert entry.actor_id == world["teacher"].id and entry.target.startswith(f"user:{world['learner'].id} ")
    assert entry.before is not None and entry.before["kind"] == "extension"
    [notice] = db.session.scalars(select(Notification).where(Notification.user_id == world["learner"].id,
                                                             Notification.key == f"schedule:{shorter}:removed")).all()
    assert "is removed" in notice.title and notice.link == "/schedule"
    page = world["staff"].get(f"/cohorts/{world['cohort'].id}/learners/{world['learner'].id}").get_data(as_text=True)
    assert "Remove extension" not in page and "removed by Tess Teacher" in page

    again = _remove(world, shorter)  # a second click, or another tab
    assert again.status_code == 400 and "removed already" in again.get_data(as_text=True)


def test_a_removal_from_a_page_opened_before_a_newer_grant_does_not_undo_it(
        handed_in_late: dict[str, Any], client: Any) -> None:  # noqa: F811
    world = handed_in_late
    shown = _grant(world, 3)  # what the remover's page shows as applying
    newer = _grant(world, 6)  # another admin grants meanwhile
    answer = _remove(world, shown)
    assert answer.status_code == 409
    assert "Not removed: since this page was opened" in answer.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalars(select(ScheduleOverride.removed_at)).all() == [None, None]
    assert _kept_due(world) == cohort_today(world["cohort"], utcnow()) + timedelta(days=6)
    assert newer != shown


def test_the_removal_is_a_conditional_write_that_leaves_a_grant_made_after_its_check(
        handed_in_late: dict[str, Any]) -> None:  # noqa: F811
    """A grant committed between the removal's check and its write (a race): the write marks
    removed only the extensions up to the one the page showed, so the new grant still applies."""
    world = handed_in_late
    assignment = get_assignment(db.session, CASE)
    assert assignment is not None and assignment.phase_id is not None
    today = cohort_today(world["cohort"], utcnow())
    shown = grant_override(db.session, world["cohort"], world["learner"], assignment.phase_id, OverrideKind.EXTENSION,
                           today + timedelta(days=3), "", world["teacher"], utcnow(), item_due=_regular_due(world))
    db.session.commit()
    real_scalars = db.session.scalars
    raced: list[int] = []

    def scalars_then_race(statement: Any, *args: Any, **kwargs: Any) -> Any:
        text = str(statement)
        if raced or not text.startswith("SELECT") or "schedule_overrides.removed_at IS NULL" not in text:
            return real_scalars(statement, *args, **kwargs)
        found = real_scalars(statement, *args, **kwargs).all()  # the check for a newer grant: none yet
        late = ScheduleOverride(user_id=world["learner"].id, phase_id=assignment.phase_id, kind=OverrideKind.EXTENSION,
                                on_date=today + timedelta(days=8), note="", granted_by_id=world["teacher"].id,
                                created_at=utcnow())
        db.session.add(late)
        db.session.flush()
        raced.append(late.id)
        return iter(found)

    db.session.scalars = scalars_then_race  # type: ignore[method-assign]
    try:
        remove_extension(db.session, world["cohort"], world["learner"], shown.id, world["teacher"])
    finally:
        del db.session.scalars
    db.session.commit()
    assert raced
    assert db.session.get_one(ScheduleOverride, raced[0]).removed_at is None
    assert db.session.get_one(ScheduleOverride, shown.id).removed_at is not None
    assert _kept_due(world) == today + timedelta(days=8)
