"""A form that edits something at the revision its page showed must not have the browser put
back, on going back to the page, what was typed before: the page is rendered afresh with the
record as it now stands and its current revision, and restored fields over it would send a
stale edit that the revision check then lets through (the grading page's back-button defect,
tests/browser/test_browser_grading.py). Every such form takes ``autocomplete="off"`` from one
macro, ``as_it_stands`` in lms/web/templates/_forms.html.

Every page of the access table a learner and a site admin can open is read, and each POST
form carrying a conditional write's token (a hidden ``revision``, ``seen``, ``base``,
``version`` or ``shown``) beside a field the browser restores must carry the attribute."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from flask import Flask

from lms.coursework.models import Submission
from lms.database import utcnow
from lms.extensions import db
from lms.grading.services import save_grade
from lms.teams.models import Team
from tests.conftest import World
from tests.test_access import ROUTES, USER_OF_ROLE, route_extras

TOKENS = {"revision", "seen", "base", "version", "shown"}  # the hidden values a conditional write compares


class Forms(HTMLParser):
    """Each POST form of a page: its attributes, its hidden inputs' names, whether it has a restorable field."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.open = {"attrs": a, "hidden": set(), "fields": 0}
            if (a.get("method") or "get").lower() == "post":
                self.forms.append(self.open)
        elif self.open is not None and tag in ("input", "textarea", "select"):
            kind = (a.get("type") or "text").lower() if tag == "input" else tag
            if kind == "hidden":
                self.open["hidden"].add(a.get("name") or "")
            elif kind not in ("submit", "button", "reset", "image", "file"):
                self.open["fields"] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.open = None


def test_every_form_editing_at_a_revision_asks_the_browser_not_to_restore_it(app: Flask, loaded, world: World, login) -> None:
    extra = route_extras(app, world)
    # states the access table's rows lack: a draft grade on learner A's work (the gradebook's
    # conditional release), the team's work returned (its draft editable again, the staff's
    # adjustment forms open), and an assignment learner A has not started (its work form)
    for submission_id, action in ((extra["submission_id"], "draft"),
                                  (db.session.get(Team, extra["team_id"]).submission_id, "return")):
        work = db.session.get(Submission, submission_id)
        save_grade(db.session, work, world.admin, {}, {}, "Noted.", None, action, utcnow())
    db.session.commit()
    more = {"coursework.work": "/assignments/mlops-case-coldwatch/work",
            "gradebook.page": f"/cohorts/{world.cohort_a.id}/gradebook"}
    guarded, unguarded = set(), []
    for role in ("learner", "admin"):
        client = app.test_client()
        login(client, getattr(world, USER_OF_ROLE[role]))
        pages = [(e, r.url(world, extra)) for e, r in sorted(ROUTES.items()) if r.method == "GET"] + list(more.items())
        for endpoint, url in pages:
            response = client.get(url)
            if response.status_code != 200 or response.mimetype != "text/html":
                continue
            page = Forms()
            page.feed(response.get_data(as_text=True))
            for form in page.forms:
                if form["hidden"] & TOKENS and form["fields"]:
                    if form["attrs"].get("autocomplete") == "off":
                        guarded.add(endpoint)
                    else:
                        unguarded.append(f"{role} {endpoint}: form {form['attrs'].get('action') or '(this page)'}")
    assert unguarded == [], "\n".join(unguarded)
    # the pages known to carry such a form were read (the check did not pass for want of them)
    assert {"grading.grade", "teams.team", "teams.detail", "announcements.edit", "discussions.edit_post",
            "cohorts.edit_cohort", "portfolio.portfolio", "coursework.work", "gradebook.page"} <= guarded, guarded
