"""A refusal a service gives about one field of a form is shown by that field, through the
shared mechanism (``lms.web.forms.refuse_field`` and the ``field`` macro of _forms.html):
the field is marked ``aria-invalid``, described (``aria-describedby``) by the message shown
beside it, and listed in the error summary the page opens on (WCAG 1.3.1, 3.3.1). Before,
these pages said it once above the form, tied to no field, so a screen reader reaching the
field heard nothing wrong with it."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from lms.catalog.models import Module
from lms.database import utcnow
from lms.discussions import services as discussions
from lms.extensions import db
from lms.gradebook.models import ColumnKind
from lms.gradebook.services import gradebook
from lms.simulations.models import SimulationRun
from lms.teams.models import Team

CASE = "mlops-case-coldwatch"
Case = tuple[Any, str, dict[str, Any], str, str]  # client, url, form sent, the field refused, part of its message


class Page(HTMLParser):
    """Each form control's attributes by name, each element's text by id, and the error
    summary's links (target, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: dict[str, dict[str, str | None]] = {}
        self.texts: dict[str, str] = {}
        self.summary: list[tuple[str, str]] = []
        self._open: list[str] = []
        self._in_summary = False
        self._link = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("input", "textarea", "select") and found.get("name"):
            self.controls.setdefault(str(found["name"]), found)
        if found.get("id"):
            self._open.append(str(found["id"]))
            self.texts[str(found["id"])] = ""
        if "error-summary" in (found.get("class") or "").split():
            self._in_summary = True
        if self._in_summary and tag == "a":
            self.summary.append((str(found.get("href")), ""))
            self._link = True

    def handle_data(self, data: str) -> None:
        for opened in self._open:
            self.texts[opened] += data
        if self._link:
            self.summary[-1] = (self.summary[-1][0], self.summary[-1][1] + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._link = False
        if tag == "section":
            self._in_summary = False
        if tag in ("p", "small", "div", "span", "li", "label") and self._open:
            self._open.pop()


def _signed_in(app: Flask, login: Callable[..., Any], user: Any) -> Any:
    client = app.test_client()
    login(client, user)
    return client


def expert_invitation(app: Flask, make_cohort: Any, enrol_learner: Any, make_user: Any, login: Any) -> Case:
    cohort = make_cohort(months_ago=5, instructors=[make_user(name="Tess Teacher")])
    learner = enrol_learner(cohort, name="Pia Learner")
    client = _signed_in(app, login, learner)
    assert client.post(f"/assignments/{CASE}/work", data={"body": "My analysis.", "action": "submit"}).status_code == 302
    return (client, f"/assignments/{CASE}/experts", {"name": "Myself", "email": learner.email}, "email",
            "not the learner (nor a teammate)")


def stakeholder_feedback(app: Flask, make_cohort: Any, enrol_learner: Any, make_user: Any, login: Any) -> Case:
    learner = enrol_learner(make_cohort(months_ago=5), name="Pia Learner")
    mlops = db.session.scalar(select(Module).where(Module.key == "mlops"))
    return (_signed_in(app, login, learner), "/feedback",
            {"module": mlops.id, "name": "Me", "email": learner.email, "relation": "customer"}, "email",
            "You cannot rate your own work")


SIMULATION = "mlops-2am-outage"  # open in month six
TEAM_KEY = "intl-hands-on-entry-plan"  # a team assignment learners form teams for, open in month ten


def team_started(app: Flask, make_cohort: Any, enrol_learner: Any, make_user: Any, login: Any) -> Case:
    learner = enrol_learner(make_cohort(months_ago=9), name="Founder A")
    return (_signed_in(app, login, learner), f"/assignments/{TEAM_KEY}/team/new", {"name": "\u202e\u200b"}, "name",
            "A name needs at least one letter or digit")


def team_made_by_staff(app: Flask, make_cohort: Any, enrol_learner: Any, make_user: Any, login: Any) -> Case:
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(months_ago=9, instructors=[teacher])
    return (_signed_in(app, login, teacher), f"/cohorts/{cohort.id}/assignments/{TEAM_KEY}/teams", {"name": "   "},
            "name", "Give the team a name.")


def team_renamed_by_staff(app: Flask, make_cohort: Any, enrol_learner: Any, make_user: Any, login: Any) -> Case:
    """Each team on the page has its own rename field; the refused one is shown by it (it said
    so once above the page's forms)."""
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(months_ago=9, instructors=[teacher])
    client = _signed_in(app, login, teacher)
    for name in ("Blue", "Red"):
        assert client.post(f"/cohorts/{cohort.id}/assignments/{TEAM_KEY}/teams", data={"name": name}).status_code == 302
    red = db.session.scalar(select(Team).where(Team.name == "Red"))
    return (client, f"/cohorts/{cohort.id}/teams/{red.id}/rename", {f"team-{red.id}-name": "Blue"}, f"team-{red.id}-name",
            "There is already a team called 'Blue'")


def _gradebook(app: Flask, make_cohort: Any, enrol_learner: Any, make_user: Any,
               login: Any) -> tuple[Any, str, tuple[Any, Any]]:
    """An instructor's gradebook of a cohort in its sixth month, with one learner; its exam column."""
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(months_ago=5, instructors=[teacher])
    learner = enrol_learner(cohort, name="Ada Late")
    exam = next(c for c in gradebook(db.session, cohort, utcnow()).columns if c.kind == ColumnKind.EXAM)
    return _signed_in(app, login, teacher), f"/cohorts/{cohort.id}/gradebook", (learner, exam)


def gradebook_extension_date(app: Flask, make_cohort: Any, enrol_learner: Any, make_user: Any, login: Any) -> Case:
    client, url, (learner, _exam) = _gradebook(app, make_cohort, enrol_learner, make_user, login)
    return (client, url, {"action": "extend", "column": f"assignment:{CASE}", "learner": [learner.id], "until": "soon"},
            "until", "Give the new due date as a date.")


def gradebook_message_subject(app: Flask, make_cohort: Any, enrol_learner: Any, make_user: Any, login: Any) -> Case:
    client, url, (learner, _exam) = _gradebook(app, make_cohort, enrol_learner, make_user, login)
    return (client, url, {"action": "message", "learner": [learner.id], "subject": " ", "body": "Call me."}, "subject",
            "Write a subject and a message.")


def gradebook_item(app: Flask, make_cohort: Any, enrol_learner: Any, make_user: Any, login: Any) -> Case:
    """Release on an exam's column: the item is refused, by its field."""
    client, url, (learner, exam) = _gradebook(app, make_cohort, enrol_learner, make_user, login)
    return (client, url, {"action": "release", "column": exam.id, "learner": [learner.id]}, "column",
            "Only assignments and portfolio reviews have drafted grades to release.")


def simulation_decision(app: Flask, make_cohort: Any, enrol_learner: Any, make_user: Any, login: Any) -> Case:
    client = _signed_in(app, login, enrol_learner(make_cohort(months_ago=5), name="Pia Learner"))
    started = client.post(f"/simulations/{SIMULATION}/start")
    assert started.status_code == 302
    run = db.session.scalar(select(SimulationRun))
    return client, started.headers["Location"], {"node": run.node, "choice": "7"}, "choice", "Choose one of the options."


def thread_hidden_without_reason(app: Flask, make_cohort: Any, enrol_learner: Any, make_user: Any, login: Any) -> Case:
    teacher = make_user(name="Tess Teacher")
    cohort = make_cohort(months_ago=5, instructors=[teacher])
    mlops = db.session.scalar(select(Module).where(Module.key == "mlops"))
    thread = discussions.start_thread(db.session, cohort, mlops, enrol_learner(cohort, name="Pia Learner"),
                                      "How often to retrain?", "Our model drifts.", utcnow(), lambda post: "/")
    db.session.commit()
    return (_signed_in(app, login, teacher), f"/threads/{thread.id}/moderate", {"action": "hide_thread", "reason": " "},
            "reason", "Give a reason")


PAGES = [expert_invitation, stakeholder_feedback, team_started, team_made_by_staff, team_renamed_by_staff,
         simulation_decision, thread_hidden_without_reason, gradebook_extension_date, gradebook_message_subject,
         gradebook_item]


@pytest.mark.parametrize("setup", PAGES, ids=[p.__name__ for p in PAGES])
def test_a_refused_field_is_invalid_described_by_its_message_and_summarised(
        setup: Callable[..., Case], app: Flask, loaded: Any, make_cohort: Any, enrol_learner: Any, make_user: Any,
        login: Any) -> None:
    client, url, data, name, message = setup(app, make_cohort, enrol_learner, make_user, login)
    answer = client.post(url, data=data)
    assert answer.status_code in (400, 409), answer.status_code
    page = Page()
    page.feed(answer.get_data(as_text=True))
    control = page.controls[name]
    assert control.get("aria-invalid") == "true", control
    described = [page.texts[i].strip() for i in (control.get("aria-describedby") or "").split()]
    assert any(message in text for text in described), described
    assert any(target == f"#{control['id']}" and message in text for target, text in page.summary), page.summary
