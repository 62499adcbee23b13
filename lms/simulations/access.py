"""A simulation run is its learner's alone: anyone else gets a 404 for its id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lms.accounts.models import User
from lms.extensions import db
from lms.simulations.models import SimulationRun
from lms.web.access import AccessRule, Decision


class OwnRun(AccessRule):
    label = "the learner who made the run"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        run = db.session.get(SimulationRun, view_args["run_id"])
        return Decision.ALLOW if run is not None and run.user_id == user.id else Decision.NOT_FOUND


OWN_RUN = OwnRun()
