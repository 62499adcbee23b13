"""A team's files: its members, and its cohort's staff once handed in (a draft's files are
the team's alone); for anybody else they do not exist."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from lms.accounts.models import User
from lms.cohorts.models import Cohort
from lms.cohorts.roles import roles_of
from lms.coursework.access import handed_in
from lms.coursework.models import Attachment
from lms.extensions import db
from lms.teams.models import Team, TeamMember
from lms.web.access import AccessRule, Decision


class TeamFileReader(AccessRule):
    label = "the team's members and its cohort's staff"

    def decide(self, user: User | None, view_args: Mapping[str, Any]) -> Decision:
        if user is None:
            return Decision.LOGIN
        team = db.session.get(Team, view_args["team_id"])
        attachment = db.session.get(Attachment, view_args["attachment_id"])
        if team is None or attachment is None or team.submission_id is None or attachment.submission_id != team.submission_id:
            return Decision.NOT_FOUND
        if user.is_admin or db.session.scalar(select(TeamMember.id).where(TeamMember.team_id == team.id,
                                                                           TeamMember.user_id == user.id)):
            return Decision.ALLOW
        cohort = db.session.get(Cohort, team.cohort_id)
        roles = roles_of(db.session, user)
        if (cohort is not None and (cohort.organization_id in roles.admin_of or cohort.id in roles.instructs)
                and handed_in(attachment)):
            return Decision.ALLOW
        return Decision.NOT_FOUND


TEAM_FILE = TeamFileReader()
