"""Progress's wiring: its pages, quiz, grade and peer-review results turned into evidence,
``flask lms rebuild-mastery``; each learner's schedule state kept as their records change
(session events, ``lms.progress.state``) and ``flask lms rebuild-progress``."""

from __future__ import annotations

from flask import Flask

from lms.accounts.current import load_stamp_with_user
from lms.assessment.services import attempt_scored
from lms.cli import add_commands
from lms.grading.services import grade_saved, peer_review_completed
from lms.progress import evidence, services, state
from lms.progress.cli import rebuild_mastery_command, rebuild_progress_command
from lms.progress.methods import shown_level
from lms.progress.views import bp
from lms.web.page_cache import PageInput, add_page_input


def init_app(app: Flask) -> None:
    add_page_input(app, PageInput("progress", services.page_stamp))
    load_stamp_with_user(app, "progress.overview")  # a kept page: one statement
    app.register_blueprint(bp)
    app.add_template_filter(shown_level, "level")  # a level as every page shows it
    attempt_scored.connect(evidence.on_attempt_scored)
    grade_saved.connect(evidence.on_grade_saved)
    peer_review_completed.connect(evidence.on_peer_review_completed)
    state.listen()
    add_commands(app, rebuild_mastery_command, rebuild_progress_command)
