"""A team's one submission is the work of every member (``lms.coursework.sharing``):
registered in ``wiring.init_app`` so progress, grading's feedback page, the gradebook,
notifications and the demo count it for each member, name the team and read each
member's adjusted score."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload, selectinload

from lms.coursework.sharing import Adjustment, Group
from lms.database import DbSession, among
from lms.teams.models import GradeAdjustment, Team, TeamMember


class TeamWork:
    def sharers(self, learner_ids: Collection[int] | None) -> Select[int | None, int, datetime, float]:
        """Each member of a team with a submission, when their adjustment last changed and its points."""
        stmt = (select(Team.submission_id.label("submission_id"), TeamMember.user_id.label("learner_id"),
                       GradeAdjustment.updated_at.label("changed_at"), GradeAdjustment.points.label("points"))
                .join(Team, Team.id == TeamMember.team_id)
                .outerjoin(GradeAdjustment, (GradeAdjustment.team_id == Team.id) & (GradeAdjustment.user_id == TeamMember.user_id))
                .where(Team.submission_id.is_not(None)))
        return stmt if learner_ids is None else stmt.where(among(TeamMember.user_id, learner_ids))

    def groups(self, session: DbSession, submission_ids: Collection[int]) -> dict[int, Group]:
        teams = list(session.scalars(select(Team).where(among(Team.submission_id, submission_ids))
                                     .options(selectinload(Team.members).selectinload(TeamMember.user),
                                              # the assignment (its team minimum, for _note) in the same statement
                                              joinedload(Team.assignment))))
        if not teams:
            return {}
        adjustments: dict[int, dict[int, Adjustment]] = defaultdict(dict)
        for a in session.scalars(select(GradeAdjustment).where(GradeAdjustment.team_id.in_([t.id for t in teams]))):
            adjustments[a.team_id][a.user_id] = Adjustment(a.points, a.note)
        return {t.submission_id: Group(t.name, [m.user for m in t.members], dict(adjustments[t.id]), _note(t))
                for t in teams if t.submission_id is not None}


def _note(team: Team) -> str:
    """Graders are told when a team handed in short of the assignment's minimum."""
    minimum = team.assignment.team_min or 1
    if len(team.members) >= minimum:
        return ""
    return (f"Handed in with {len(team.members)} of the {minimum} members the assignment asks for: nobody else "
            "in the cohort was left to join the team.")
