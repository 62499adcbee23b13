"""Receivers that write other features' actions to the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from lms.audit.models import AuditAction
from lms.audit.services import record_from
from lms.cohorts.models import Cohort
from lms.coursework.models import Submission
from lms.database import DbSession
from lms.grading.models import Grade, GradeAction, GradeEvent, GradeStatus


def grade_audit_action(event: GradeEvent) -> AuditAction:
    if event.action == GradeAction.RETURN:
        return AuditAction.GRADE_RETURNED
    if event.action == GradeAction.RELEASE:
        was_released = (event.before or {}).get("status") == GradeStatus.RELEASED.value
        return AuditAction.REGRADED if was_released else AuditAction.GRADE_RELEASED
    return AuditAction.GRADE_SAVED


def on_grade_saved(grade: Grade, session: DbSession, now: datetime) -> None:
    """Every save of a grade (draft, release, return, a changed release): the grader, the
    grade's state before and after (its own history's event), in the cohort's organization."""
    organization = (select(Cohort.organization_id).join(Submission, Submission.cohort_id == Cohort.id)
                    .where(Submission.id == grade.submission_id).scalar_subquery())
    found = session.execute(select(GradeEvent, organization).where(GradeEvent.grade_id == grade.id)
                            .order_by(GradeEvent.id.desc()).limit(1)).first()
    if found is None:
        return
    event, organization_id = found
    record_from(session, action=grade_audit_action(event), organization_id=organization_id,
                target=f"grade:{grade.id} submission:{grade.submission_id}", before=event.before, after=event.after,
                actor_id=event.actor_id)
