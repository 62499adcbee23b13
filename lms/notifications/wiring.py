"""Notifications' wiring: the centre's pages and the unread count in every template, the
receivers of the other features' signals, ``flask lms send-reminders``, and the site's root
URL for links in emails queued during a request."""

from __future__ import annotations

from flask import Flask, request

from lms.accounts.current import load_with_signed_in_user
from lms.assessment.services import attempt_handed_in, attempt_scored, essays_graded
from lms.certificates.services import certificate_issued
from lms.cli import add_commands
from lms.competency.services import review_recorded
from lms.coursework.services import work_submitted
from lms.expert.services import expert_rated
from lms.extensions import db
from lms.feedback.services import feedback_answered
from lms.grading.services import grade_saved, peer_review_completed
from lms.learning.services import extensions_removed, schedule_changed
from lms.notifications import receivers, reminders, services
from lms.notifications.cli import send_reminders_command
from lms.notifications.services import BASE_URL, unread_count_of_users_row
from lms.notifications.views import UNREAD, bp, unread_context, unread_notifications
from lms.teams.services import adjustment_saved
from lms.web.page_cache import PageInput, add_page_input, add_viewer_input
from lms.web.site_url import site_root
from lms.web.unit_of_work import SAFE_METHODS


def remember_base_url() -> None:
    """For the links in emails a request's notifications queue: only a request that may
    write (not GET, HEAD or OPTIONS, which never do) can queue one."""
    if request.method not in SAFE_METHODS:
        db.session.info[BASE_URL] = site_root()


def init_app(app: Flask) -> None:
    add_page_input(app, PageInput("notifications", services.page_stamp))
    add_viewer_input(app, unread_notifications)  # the count in every page's navigation
    app.register_blueprint(bp)
    app.context_processor(unread_context)
    load_with_signed_in_user(app, UNREAD, unread_count_of_users_row())
    app.before_request(remember_base_url)
    grade_saved.connect(receivers.on_grade_saved)
    grade_saved.connect(reminders.on_grade_saved_recount)  # the day's count of work awaiting grading
    work_submitted.connect(reminders.on_work_submitted)
    attempt_handed_in.connect(reminders.on_attempt_handed_in)  # a quiz's essays count as work awaiting grading
    essays_graded.connect(reminders.on_essays_graded)  # ... until they are graded
    peer_review_completed.connect(receivers.on_peer_review_completed)
    adjustment_saved.connect(receivers.on_adjustment_saved)
    attempt_scored.connect(receivers.on_attempt_scored)
    feedback_answered.connect(receivers.on_feedback_answered)
    expert_rated.connect(receivers.on_expert_rated)
    certificate_issued.connect(receivers.on_certificate_issued)
    schedule_changed.connect(receivers.on_schedule_changed)
    extensions_removed.connect(receivers.on_extensions_removed)
    review_recorded.connect(receivers.on_review_recorded)
    add_commands(app, send_reminders_command)
