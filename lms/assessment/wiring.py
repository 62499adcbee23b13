"""Assessment's wiring: quiz pages, the GIFT commands, and a moved learner's open attempts carried to their new cohort."""

from __future__ import annotations

from flask import Flask

from lms.assessment import services
from lms.assessment.cli import close_expired_attempts_command, export_gift_command, import_gift_command
from lms.assessment.views import bp
from lms.cli import add_commands
from lms.cohorts.enrolment import learner_moved
from lms.web.page_cache import PageInput, add_page_input


def init_app(app: Flask) -> None:
    add_page_input(app, PageInput("assessment", services.page_stamp))
    app.register_blueprint(bp)
    add_commands(app, import_gift_command, export_gift_command, close_expired_attempts_command)
    learner_moved.connect(services.on_learner_moved)
