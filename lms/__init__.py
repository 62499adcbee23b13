"""The lms application package: ``create_app`` builds a configured Flask app.

Importing a module of this package attaches nothing: every feature wires itself (its
blueprint, signal receivers, commands, hooks) in its ``wiring.init_app(app)``, and
``create_app`` calls them from the one list below, in dependency order."""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import BASE_DIR, CONFIGS, DEFAULT_INSTANCE, engine_options
from lms.accounts import wiring as accounts
from lms.admin import wiring as admin
from lms.announcements import wiring as announcements
from lms.api import wiring as api
from lms.assessment import wiring as assessment
from lms.audit import wiring as audit
from lms.backup import wiring as backup
from lms.catalog import wiring as catalog
from lms.certificates import wiring as certificates
from lms.cli import lms_group
from lms.cohorts import wiring as cohorts
from lms.competency import wiring as competency
from lms.content import wiring as content
from lms.coursework import wiring as coursework
from lms.database import install_functions, watch_idle_connections
from lms.demo import wiring as demo
from lms.discussions import wiring as discussions
from lms.expert import wiring as expert
from lms.extensions import compress, csrf, db, limiter, login_manager, migrate
from lms.feedback import wiring as feedback
from lms.framework import wiring as framework
from lms.gradebook import wiring as gradebook
from lms.grading import wiring as grading
from lms.inbox import wiring as inbox
from lms.job_kinds import JOB_KINDS
from lms.jobs import wiring as jobs
from lms.jobs.runner import install_kinds
from lms.kpi import wiring as kpi
from lms.learning import wiring as learning
from lms.lti import wiring as lti
from lms.mail import wiring as mail
from lms.notifications import wiring as notifications
from lms.openbadges import wiring as openbadges
from lms.policy import POLICY
from lms.portfolio import wiring as portfolio
from lms.privacy import wiring as privacy
from lms.progress import wiring as progress
from lms.resources import wiring as resources
from lms.search import wiring as search
from lms.sections import CONTENT_SECTIONS
from lms.simulations import wiring as simulations
from lms.sso import wiring as sso
from lms.storage import wiring as storage
from lms.teams import wiring as teams
from lms.today import wiring as today
from lms.twofactor import wiring as twofactor
from lms.web import wiring as web
from lms.web.access import install_policy
from lms.web.site_url import SiteFlask
from lms.webhooks import wiring as webhooks
from lms.xapi import wiring as xapi

# Dependency order: a feature comes after every feature it builds on.
FEATURES = (web, storage, audit, accounts, mail, catalog, cohorts, jobs, twofactor, learning, assessment, coursework, resources, grading,
            portfolio, progress, simulations, teams, kpi, feedback, expert, competency, certificates, search, today,
            notifications, gradebook, admin, announcements, discussions, inbox, demo,
            backup,
            sso,
            lti,
            privacy,
            framework,
            webhooks,
            api,
            xapi,
            openbadges)


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
    app = SiteFlask(__name__, instance_path=str(instance.resolve()))
    app.config.from_object(CONFIGS[env](Path(app.instance_path)))
    if overrides:
        app.config.update(overrides)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)
    _tune_collector(int(app.config.get("GC_FIRST_GENERATION") or 0))
    if proxies := int(app.config.get("TRUSTED_PROXIES") or 0):  # behind a load balancer (Running on several machines)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]

    # First of the after_request hooks, so the last to run: it compresses the body as every
    # other hook (the unit of work's commit, the security headers) left it.
    compress.init_app(app)
    db.init_app(app)
    with app.app_context():
        watch_idle_connections(db.engine)
        install_functions(db.engine)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)

    lms_group(app)
    for feature in FEATURES:
        feature.init_app(app)
    content.init_app(app, CONTENT_SECTIONS)
    install_kinds(app, JOB_KINDS)
    install_policy(app, POLICY)
    return app


def _tune_collector(first_generation: int) -> None:
    """Run the process's cyclic garbage collector less often (``GC_FIRST_GENERATION``): a
    page that reads thousands of rows makes tens of thousands of objects that live for the
    request, and with Python's default threshold (700) the collector went over them again
    and again. The older generations keep their ratios. 0 leaves Python's thresholds."""
    if first_generation > 0:
        gc.set_threshold(first_generation, *gc.get_threshold()[1:])
