"""The home page's sections that other features contribute: a registry of small panels.

A feature above learning (which knows quizzes, work, grades, at-risk learners) adds a
``HomePanel`` in its ``init_app``; the home page asks each panel for its context and
includes its template in the learner's part or the staff's part of the page. A panel
returning None is left out. Each panel is given the learner's schedule the home page built
(None when not enrolled): built once a view, not once a panel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from flask import Flask

from lms.accounts.models import User
from lms.cohorts.roles import Roles
from lms.database import DbSession
from lms.learning.services import Schedule

HOME_PANELS_KEY = "lms.home_panels"


class Place(StrEnum):
    LEARNER = "learner"  # inside the learner's "your program" part
    STAFF = "staff"      # before the cohorts a staff member teaches or manages


@dataclass(frozen=True)
class HomePanel:
    place: Place
    template: str
    build: Callable[[DbSession, User, Roles, datetime, Schedule | None], dict[str, Any] | None]


@dataclass(frozen=True)
class Shown:
    template: str
    context: dict[str, Any]


def add_home_panel(app: Flask, panel: HomePanel) -> None:
    app.extensions.setdefault(HOME_PANELS_KEY, []).append(panel)


def panels_of(app: Flask, session: DbSession, user: User, roles: Roles, now: datetime,
              plan: Schedule | None) -> dict[Place, list[Shown]]:
    """Each place's panels with their context, in the order the features added them."""
    shown: dict[Place, list[Shown]] = {place: [] for place in Place}
    for panel in app.extensions.get(HOME_PANELS_KEY, []):
        context = panel.build(session, user, roles, now, plan)
        if context is not None:
            shown[panel.place].append(Shown(panel.template, context))
    return shown
