"""What a staff member is told when a page they kept open names a learner who is no longer
in that cohort (another admin moved them, or ended their enrolment): instead of a bare 404,
a page saying so, naming the learner's cohort now and linking there when the staff member
has a role on it, and naming nothing of a cohort they have no role on (the access rules stay
as they are: only the staff of the cohort the page was about are told, and only of a
learner who was enrolled in it). Used by the access rule of the cohort's learner pages
(``access.CohortRole``) and by grading, whose submissions move with their learner."""

from __future__ import annotations

from collections.abc import Callable

from flask import render_template, request
from sqlalchemy import select

from lms.accounts.models import User
from lms.cohorts.enrolment import active_enrolment
from lms.cohorts.models import Cohort, Enrolment
from lms.cohorts.roles import ties_of
from lms.database import DbSession

# What the page links to in the learner's cohort now: a link builder given that cohort.
Link = Callable[[Cohort], str]


def was_learner_of(session: DbSession, cohort_id: int, user_id: int) -> bool:
    """``user_id`` was enrolled in the cohort once (an ended enrolment: moved away, or left)."""
    return session.scalar(select(Enrolment.id).where(Enrolment.cohort_id == cohort_id, Enrolment.user_id == user_id,
                                                     ~Enrolment.active).limit(1)) is not None


def sees_cohort(session: DbSession, viewer: User, cohort: Cohort) -> bool:
    """The viewer has a role on ``cohort``: a site admin, its organization's admin, its instructor."""
    if viewer.is_admin:
        return True
    ties = ties_of(session, viewer)
    return cohort.organization_id in ties.admin_of or cohort.id in ties.instructs


def moved_page(session: DbSession, viewer: User, cohort: Cohort, learner_id: int, link: Link | None = None,
               what: str = "This page") -> tuple[str, int]:
    """The answer for a learner of ``cohort`` no longer in it (the caller checked they were:
    ``was_learner_of``; the viewer has a role on ``cohort``): 404 to a page read (a bookmark),
    409 to a form sent from a page opened before the change, nothing done."""
    learner = session.get(User, learner_id)
    enrolment = active_enrolment(session, learner_id)
    now_in = enrolment.cohort if enrolment is not None and enrolment.cohort_id != cohort.id else None
    shown = now_in if now_in is not None and sees_cohort(session, viewer, now_in) else None
    sent = request.method not in ("GET", "HEAD")
    return render_template("cohorts/learner_moved.html", cohort=cohort, learner=learner, now_in=now_in, shown=shown,
                           link=link(shown) if shown is not None and link is not None else None, what=what,
                           sent=sent), 409 if sent else 404
