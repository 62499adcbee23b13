"""Webhooks' wiring: the organization admin's pages; the receivers that turn other features'
events into deliveries; what a request queued goes out once its unit of work has
committed (to the RQ queue, or after the response); the commands."""

from __future__ import annotations

from flask import Flask

from lms.certificates.services import certificate_issued
from lms.cli import add_commands
from lms.cohorts.invitations import invitation_accepted
from lms.grading.services import grade_saved
from lms.notifications.services import reminders_due
from lms.progress.services import mastery_changed
from lms.teams.services import adjustment_saved
from lms.web.unit_of_work import after_commit
from lms.webhooks import receivers
from lms.webhooks.cli import deliver_webhooks_command, webhook_worker_command
from lms.webhooks.jobs import arm_after_response, deliver_after_commit
from lms.webhooks.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    grade_saved.connect(receivers.on_grade_saved)
    adjustment_saved.connect(receivers.on_adjustment_saved)
    mastery_changed.connect(receivers.on_mastery_changed)
    certificate_issued.connect(receivers.on_certificate_issued)
    invitation_accepted.connect(receivers.on_invitation_accepted)
    reminders_due.connect(receivers.on_reminders_due)
    # After the unit of work's own after_request (web comes first): runs before the commit
    # and its hook, which fill in what the response's close sends.
    app.after_request(arm_after_response)
    after_commit(app, deliver_after_commit)
    add_commands(app, deliver_webhooks_command, webhook_worker_command)
