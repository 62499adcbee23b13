from __future__ import annotations

from flask_wtf.file import FileField
from wtforms import HiddenField, StringField, TextAreaField

from lms.teams.services import MAX_NAME
from lms.web.forms import Form


class TeamWorkForm(Form):
    body = TextAreaField("The team's answer (Markdown)")
    file = FileField("Attach a file")
    revision = HiddenField()


class CsrfForm(Form):
    """POST buttons and small hand-written forms: the CSRF token only."""


class TeamNameForm(Form):
    """A new team's name, on the learner's team page (the service checks it, and a refusal
    about it is shown by the field: ``refuse_field``). CSRF as the page's buttons."""

    name = StringField("Team name", id="team-name", render_kw={"maxlength": MAX_NAME, "required": True})


class NewTeamForm(Form):
    """A new team's name, on the staff's page of an assignment's teams."""

    name = StringField("New team's name", id="new-team", render_kw={"maxlength": MAX_NAME, "required": True})


class RenameTeamForm(Form):
    """A team's new name, on the staff's page of an assignment's teams: one form a team,
    prefixed ``team-<id>`` so each field has its own name and id, and a refusal is shown by
    the team's field (``refuse_field``). CSRF as the page's buttons."""

    name = StringField("New name", render_kw={"maxlength": MAX_NAME, "required": True})


def rename_form(team_id: int, name: str | None = None) -> RenameTeamForm:
    """Team ``team_id``'s rename form: as posted, or (``name``) showing the current name."""
    if name is None:
        return RenameTeamForm(prefix=f"team-{team_id}")
    return RenameTeamForm(formdata=None, prefix=f"team-{team_id}", data={"name": name})
