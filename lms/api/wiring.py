"""The API's wiring: the /api/v1 blueprint (problem+json errors, exempt from CSRF since a
session cookie is never an API credential there), the token pages, bearer authentication
with the per-token rate limit before the access policy, and the last-used time after;
its requests leave a browser session's idle time alone; the removals a sync learns of
(``lms.api.removals``) and ``flask lms prune-removals``; personal tokens revoked with a new
password when the person asks."""

from __future__ import annotations

from flask import Flask

from lms.accounts.idle import not_session_paths
from lms.accounts.services import password_replaced
from lms.api import auth, removals, tokens
from lms.api.cli import prune_removals_command
from lms.api.problems import PREFIX, as_problem
from lms.api.resources import bp as api_v1
from lms.api.views import bp as pages
from lms.assessment.services import attempts_carried
from lms.cli import add_commands
from lms.cohorts.enrolment import enrolment_ended
from lms.coursework.services import work_carried
from lms.coursework.sharing import work_unshared
from lms.extensions import csrf
from lms.progress.services import rows_deleting


def init_app(app: Flask) -> None:
    app.register_blueprint(pages)
    app.register_blueprint(api_v1)
    csrf.exempt(api_v1)
    auth.install(app)
    not_session_paths(app, PREFIX + "/")  # a token's request neither ends nor extends a browser's idle session
    app.after_request(as_problem)
    removals.listen()  # what a flush takes out of a list (a grade taken back, evidence replaced)
    enrolment_ended.connect(removals.on_enrolment_ended)
    work_carried.connect(removals.on_work_carried)
    work_unshared.connect(removals.on_work_unshared)  # a team's draft discarded, a member taken out
    password_replaced.connect(tokens.on_password_replaced)  # "Also revoke my personal API tokens"
    attempts_carried.connect(removals.on_attempts_carried)
    rows_deleting.connect(removals.on_rows_deleting)  # a bulk DELETE that skips the ORM, recorded set-based
    add_commands(app, prune_removals_command)
