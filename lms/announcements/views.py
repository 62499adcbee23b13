"""Announcements: the cohort staff's page (post, schedule, edit, delete, how many
dismissed), the learner's list, dismissing one from the home, and the home's include."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from lms.accounts.current import signed_in
from lms.accounts.models import User
from lms.announcements import services
from lms.announcements.forms import AnnouncementForm, CsrfForm, EditAnnouncementForm
from lms.announcements.models import Announcement
from lms.cohorts.models import Cohort
from lms.cohorts.roles import Roles
from lms.database import DbSession, utcnow
from lms.extensions import db
from lms.learning.services import Schedule
from lms.web.forms import add_error

bp = Blueprint("announcements", __name__, template_folder="templates")


def link_for(announcement: Announcement) -> str:
    return url_for("announcements.mine", _anchor=f"announcement-{announcement.id}")


def home_panel(session: DbSession, user: User, roles: Roles, now: datetime,
               plan: Schedule | None) -> dict[str, Any] | None:
    """The learner's home panel: their cohort's visible announcements they have not dismissed."""
    if roles.enrolment is None:
        return None
    rows = services.learner_announcements(session, roles.enrolment.cohort_id, user.id, now, include_dismissed=False)
    return {"rows": rows} if rows else None


def cohort_announcement_rows(cohort: Cohort) -> list[services.StaffRow]:
    """For the cohort page (a template global): the cohort's announcements, newest first."""
    return services.cohort_announcements(db.session, cohort.id)


def _cohort(cohort_id: int) -> Cohort:
    return db.session.get(Cohort, cohort_id) or abort(404)


def _announcement(cohort: Cohort, announcement_id: int) -> Announcement:
    announcement = db.session.get(Announcement, announcement_id)
    if announcement is None or announcement.cohort_id != cohort.id:
        abort(404)
    return announcement


def _manage_page(cohort: Cohort, form: AnnouncementForm | None = None, status: int = 200,
                 gone: str | None = None) -> tuple[str, int]:
    return render_template("announcements/manage.html", cohort=cohort, form=form or AnnouncementForm(),
                           rows=services.cohort_announcements(db.session, cohort.id),
                           learners=services.learners_count(db.session, cohort.id), now=utcnow(),
                           button=CsrfForm(), gone=gone), status


def _deleted_meanwhile(announcement_id: int) -> bool:
    """Whether there is no announcement ``announcement_id`` (any more: someone deleted it
    while an edit form or the list was open). One of another cohort is still not found."""
    return db.session.get(Announcement, announcement_id) is None


@bp.get("/cohorts/<int:cohort_id>/announcements")
def manage(cohort_id: int) -> tuple[str, int]:
    return _manage_page(_cohort(cohort_id))


@bp.post("/cohorts/<int:cohort_id>/announcements")
def create(cohort_id: int) -> Any:
    cohort = _cohort(cohort_id)
    form = AnnouncementForm()
    if form.validate_on_submit():
        user, now = signed_in(), utcnow()
        publish_at = services.to_utc(form.publish_at.data, user.timezone) if form.publish_at.data else None
        try:
            announcement = services.post(db.session, cohort, user, form.title.data or "", form.body.data or "",
                                         publish_at, now, link_for)
        except services.AnnouncementError as exc:
            db.session.rollback()
            add_error(form.body, str(exc))
        else:
            when = "now" if announcement.visible(now) else "at the time you chose"
            flash(f"Announcement posted: the cohort's learners see it {when}.", "success")
            return redirect(url_for("announcements.manage", cohort_id=cohort.id))
    return _manage_page(cohort, form, 400)


def _edit_page(cohort: Cohort, announcement: Announcement, form: EditAnnouncementForm,
               status: int = 200, stale: str | None = None) -> tuple[str, int]:
    return render_template("announcements/edit.html", cohort=cohort, announcement=announcement, form=form,
                           scheduled=announcement.notified_at is None and not announcement.visible(utcnow()),
                           stale=stale), status


@bp.get("/cohorts/<int:cohort_id>/announcements/<int:announcement_id>/edit")
def edit(cohort_id: int, announcement_id: int) -> tuple[str, int]:
    cohort = _cohort(cohort_id)
    announcement = _announcement(cohort, announcement_id)
    form = EditAnnouncementForm(data={
        "title": announcement.title, "body": announcement.body, "revision": announcement.revision,
        "publish_at": services.to_local(announcement.publish_at, signed_in().timezone)})
    return _edit_page(cohort, announcement, form)


@bp.post("/cohorts/<int:cohort_id>/announcements/<int:announcement_id>/edit")
def save(cohort_id: int, announcement_id: int) -> Any:
    cohort = _cohort(cohort_id)
    if _deleted_meanwhile(announcement_id):
        # Deleted while this form was open: the text written is not lost, it waits in the
        # new-announcement form, to post again if it should still go out.
        posted = EditAnnouncementForm()
        form = AnnouncementForm(formdata=None, data={"title": posted.title.data, "body": posted.body.data,
                                                     "publish_at": posted.publish_at.data})
        return _manage_page(cohort, form, 409, gone="The announcement you were editing was deleted meanwhile, so your "
                            "changes were not saved. Your text is in the form below: post it as a new announcement "
                            "if it should still go out.")
    announcement = _announcement(cohort, announcement_id)
    form = EditAnnouncementForm()
    if form.validate_on_submit():
        user = signed_in()
        publish_at = services.to_utc(form.publish_at.data, user.timezone) if form.publish_at.data else None
        try:
            services.edit(db.session, announcement, user, form.title.data or "", form.body.data or "", publish_at,
                          form.revision.data or 0, utcnow(), link_for)
        except services.StaleAnnouncement as exc:
            db.session.rollback()
            current = _announcement(cohort, announcement_id)
            form.revision.data = current.revision  # a save from here applies to what is there now
            return _edit_page(cohort, current, form, 409, stale=str(exc))
        except services.AnnouncementError as exc:
            db.session.rollback()
            add_error(form.body, str(exc))
        else:
            flash("Announcement saved.", "success")
            return redirect(url_for("announcements.manage", cohort_id=cohort.id))
    return _edit_page(cohort, announcement, form, 400)


@bp.post("/cohorts/<int:cohort_id>/announcements/<int:announcement_id>/delete")
def delete(cohort_id: int, announcement_id: int) -> Response:
    cohort = _cohort(cohort_id)
    if not CsrfForm().validate_on_submit():
        abort(400)
    if _deleted_meanwhile(announcement_id):  # a second press, or another admin's delete first
        flash("That announcement was deleted already.", "info")
        return redirect(url_for("announcements.manage", cohort_id=cohort.id))
    announcement = _announcement(cohort, announcement_id)
    title = announcement.title
    services.remove(db.session, announcement)
    flash(f"Announcement “{title}” deleted.", "success")
    return redirect(url_for("announcements.manage", cohort_id=cohort.id))


@bp.get("/announcements")
def mine() -> str:
    user = signed_in()
    cohort_id = services.learner_cohort_id(db.session, user.id) or abort(403)
    return render_template("announcements/mine.html", cohort=db.session.get(Cohort, cohort_id),
                           rows=services.learner_announcements(db.session, cohort_id, user.id, utcnow()),
                           button=CsrfForm())


@bp.post("/announcements/<int:announcement_id>/dismiss")
def dismiss(announcement_id: int) -> Response:
    # The access rule has checked it is visible to this learner.
    announcement = db.session.get(Announcement, announcement_id) or abort(404)
    if not CsrfForm().validate_on_submit():
        abort(400)
    services.dismiss(db.session, announcement, signed_in().id, utcnow())
    flash(f"“{announcement.title}” dismissed: it stays under Announcements.", "success")
    return redirect(url_for("learning.home"))
