"""Progress's wiring: its pages, quiz, grade and peer-review results turned into evidence,
and ``flask lms rebuild-mastery``."""

from __future__ import annotations

from flask import Flask

from lms.assessment.services import attempt_scored
from lms.cli import add_commands
from lms.grading.services import grade_saved, peer_review_completed
from lms.progress import evidence
from lms.progress.cli import rebuild_mastery_command
from lms.progress.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    attempt_scored.connect(evidence.on_attempt_scored)
    grade_saved.connect(evidence.on_grade_saved)
    peer_review_completed.connect(evidence.on_peer_review_completed)
    add_commands(app, rebuild_mastery_command)
