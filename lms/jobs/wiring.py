"""Jobs' wiring: the site admin's jobs page and a job's own page; the jobs a request
queued go to the workers (or run inline) once its unit of work has committed; the
commands. The kinds themselves come from ``lms/job_kinds.py`` (``install_kinds``)."""

from __future__ import annotations

from flask import Flask

from lms.cli import add_commands
from lms.jobs.cli import queue_job_command, run_jobs_command, worker_command
from lms.jobs.runner import dispatch_after_commit
from lms.jobs.views import bp
from lms.web.unit_of_work import after_commit


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    after_commit(app, dispatch_after_commit)
    add_commands(app, worker_command, queue_job_command, run_jobs_command)
