"""The lms application package: ``create_app`` builds a configured Flask app."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from config import BASE_DIR, CONFIGS, DEFAULT_INSTANCE
from lms.accounts import cli as accounts_cli  # noqa: F401 - registers `flask lms create-admin`
from lms.accounts import views as accounts_views
from lms.assessment import cli as assessment_cli  # noqa: F401 - registers import-gift, export-gift
from lms.assessment import views as assessment_views
from lms.catalog import views as catalog_views
from lms.certificates import views as certificates_views
from lms.cli import lms_cli
from lms.cohorts import views as cohorts_views
from lms.competency import views as competency_views
from lms.coursework import views as coursework_views
from lms.content import cli as content_cli  # noqa: F401 - registers `flask lms load-content`
from lms.demo import cli as demo_cli  # noqa: F401 - registers `flask lms demo`
from lms.feedback import views as feedback_views
from lms.extensions import csrf, db, limiter, login_manager, migrate
from lms.grading import views as grading_views
from lms.kpi import views as kpi_views
from lms.learning import views as learning_views
from lms.mail import views as mail_views
from lms.policy import POLICY
from lms.portfolio import views as portfolio_views
from lms.progress import cli as progress_cli  # noqa: F401 - registers `flask lms rebuild-mastery`
from lms.progress import views as progress_views
from lms.web import filters
from lms.web import views as web_views
from lms.web.access import install_policy
from lms.web.errors import register_error_handlers
from lms.web.markdown import render_markdown

BLUEPRINTS = (web_views.bp, catalog_views.bp, accounts_views.bp, cohorts_views.bp, learning_views.bp, assessment_views.bp,
              coursework_views.bp, grading_views.bp, portfolio_views.bp, progress_views.bp, kpi_views.bp, feedback_views.bp,
              competency_views.bp, certificates_views.bp)


def create_app(
    env: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    instance_path: str | os.PathLike[str] | None = None,
) -> Flask:
    """Build the app for ``env`` (development, testing, production; default ``LMS_ENV``)."""
    env = env or os.environ.get("LMS_ENV", "development")
    if env not in CONFIGS:
        raise RuntimeError(f"Unknown LMS_ENV {env!r}: choose one of {', '.join(CONFIGS)}")
    instance = Path(instance_path or os.environ.get("LMS_INSTANCE_PATH") or DEFAULT_INSTANCE)
    app = Flask(__name__, instance_path=str(instance.resolve()))
    app.config.from_object(CONFIGS[env](Path(app.instance_path)))
    if overrides:
        app.config.update(overrides)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)

    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    install_policy(app, POLICY)
    mail_views.init_app(app)
    filters.init_app(app)
    register_error_handlers(app)
    app.add_template_filter(lambda text: render_markdown(text).html, "markdown")
    app.cli.add_command(lms_cli)
    return app
