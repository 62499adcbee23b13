"""The home page's "what's due" panels: built from the services, included by the home page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, current_app

from lms.accounts.models import User
from lms.cohorts.roles import Roles
from lms.database import DbSession
from lms.learning.home import HomePanel, Place
from lms.learning.services import Schedule
from lms.today import services
from lms.today.waiting import waiting_lines

# No routes: the blueprint only carries the panels' templates.
bp = Blueprint("today", __name__, template_folder="templates")


def learner_panel(session: DbSession, user: User, roles: Roles, now: datetime,
                  plan: Schedule | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    return {"today": services.learner_today(session, plan, user.id, now)}


def instructor_panel(session: DbSession, user: User, roles: Roles, now: datetime,
                     plan: Schedule | None) -> dict[str, Any] | None:
    if not roles.instructs and not roles.admin_of:
        return None
    cohorts = services.instructor_today(session, user.id, now, roles.admin_of)  # organization admins grade too
    if not cohorts:
        return None
    return {"cohorts": cohorts, "lines": waiting_lines(current_app, session, user.id, [c.cohort.id for c in cohorts])}


PANELS = (HomePanel(Place.LEARNER, "today/_learner.html", learner_panel),
          HomePanel(Place.STAFF, "today/_instructor.html", instructor_panel))
