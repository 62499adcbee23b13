"""Mail's wiring: the site admin's outbox page; what a request queued goes out once its
unit of work has committed (to the RQ queue, or after the response); the commands."""

from __future__ import annotations

from flask import Flask

from lms.cli import add_commands
from lms.mail.cli import deliver_mail_command, mail_worker_command
from lms.mail.jobs import arm_after_response, deliver_after_commit
from lms.mail.views import bp
from lms.web.unit_of_work import after_commit


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    # Registered after the unit of work's own after_request (web comes first), so it runs
    # before the commit and its hook, which fill in what the response's close sends.
    app.after_request(arm_after_response)
    after_commit(app, deliver_after_commit)
    add_commands(app, deliver_mail_command, mail_worker_command)
