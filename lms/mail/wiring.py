"""Mail's wiring: deliver what a request queued once its unit of work has committed."""

from __future__ import annotations

from flask import Flask

from lms.mail.views import deliver_after_commit
from lms.web.unit_of_work import after_commit


def init_app(app: Flask) -> None:
    after_commit(app, deliver_after_commit)
