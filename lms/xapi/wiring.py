"""xAPI's wiring: receivers turning other features' events into statements in the outbox,
their sending after each request's commit, and ``flask lms send-xapi``."""

from __future__ import annotations

from flask import Flask

from lms.assessment.services import attempt_scored
from lms.certificates.services import certificate_issued
from lms.cli import add_commands
from lms.coursework.services import work_submitted
from lms.grading.services import grade_saved
from lms.progress.lateness import lateness_changed
from lms.progress.services import lesson_read, mastery_changed
from lms.teams.services import adjustment_saved
from lms.web.unit_of_work import after_commit
from lms.xapi import receivers
from lms.xapi.cli import send_xapi_command
from lms.xapi.jobs import arm_after_response, send_after_commit


def init_app(app: Flask) -> None:
    lesson_read.connect(receivers.on_lesson_read)
    attempt_scored.connect(receivers.on_attempt_scored)
    work_submitted.connect(receivers.on_work_submitted)
    lateness_changed.connect(receivers.on_lateness_changed)
    grade_saved.connect(receivers.on_grade_saved)
    adjustment_saved.connect(receivers.on_adjustment_saved)
    mastery_changed.connect(receivers.on_mastery_changed)
    certificate_issued.connect(receivers.on_certificate_issued)
    app.after_request(arm_after_response)
    after_commit(app, send_after_commit)
    add_commands(app, send_xapi_command)
