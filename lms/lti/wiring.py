"""LTI's wiring: its pages (the platform's endpoints exempt from CSRF: the launch is
protected by its signed id_token, state and nonce), the grade passback receivers, the
after-commit sender, ``flask lms lti-sync`` and ``flask lms check-lti-links``."""

from __future__ import annotations

from flask import Flask

from lms.assessment.services import attempt_scored
from lms.cli import add_commands
from lms.extensions import csrf
from lms.grading.services import grade_saved
from lms.lti import grades
from lms.lti.cli import check_lti_links_command, lti_sync_command
from lms.lti.jobs import send_after_commit
from lms.lti.views import bp, launch, login
from lms.teams.services import adjustment_saved
from lms.web.unit_of_work import after_commit


def init_app(app: Flask) -> None:
    csrf.exempt(login)
    csrf.exempt(launch)
    app.register_blueprint(bp)
    attempt_scored.connect(grades.on_attempt_scored)
    grade_saved.connect(grades.on_grade_saved)
    adjustment_saved.connect(grades.on_adjustment_saved)
    after_commit(app, send_after_commit)
    add_commands(app, lti_sync_command, check_lti_links_command)
