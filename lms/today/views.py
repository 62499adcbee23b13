"""The home page's "what's due" panels: built from the services, included by the home page."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from lms.accounts.current import signed_in
from lms.accounts.models import User
from lms.cohorts.roles import Roles, roles_of
from lms.database import DbSession, utcnow
from lms.extensions import db
from lms.learning.forms import FeedForm, RevokeFeedForm
from lms.learning.home import HomePanel, Place
from lms.learning.models import FeedKind
from lms.learning.services import Schedule, active_feed, add_events, feed_owner, new_calendar, new_feed, revoke_feed
from lms.today import services
from lms.today.waiting import waiting_lines
from lms.web.downloads import content_disposition

# The panels' templates, and the teaching calendar: an instructor's private feed of their
# cohorts' deadlines, made and turned off as a learner's schedule feed is (lms.learning).
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


def _teaching_page(user: User, feed_url: str | None = None) -> str:
    cohorts = services.taught_cohorts(db.session, user.id, roles_of(db.session, user).admin_of)
    return render_template("today/teaching_calendar.html", cohorts=cohorts, feed=active_feed(db.session, user, FeedKind.TEACHING),
                           feed_form=FeedForm(), revoke_form=RevokeFeedForm(), feed_url=feed_url)


@bp.get("/teaching/calendar")
def teaching_calendar() -> str:
    return _teaching_page(signed_in())


@bp.post("/teaching/calendar")
def teaching_calendar_link() -> str:
    user = signed_in()
    token = new_feed(db.session, user, kind=FeedKind.TEACHING)
    flash("Your private teaching calendar link is ready. Anyone with it can see your cohorts' deadlines; "
          "turn it off here at any time.", "success")
    return _teaching_page(user, url_for("today.teaching_calendar_feed", token=token, _external=True))


@bp.post("/teaching/calendar/revoke")
def revoke_teaching_calendar_link() -> WerkzeugResponse:
    revoke_feed(db.session, signed_in(), kind=FeedKind.TEACHING)
    flash("The teaching calendar link is turned off.", "success")
    return redirect(url_for("today.teaching_calendar"))


@bp.get("/teaching-calendar/<token>.ics")
def teaching_calendar_feed(token: str) -> Response:
    """The instructor's feed (``services.teaching_events``); a link of someone who no longer
    staffs anything (nor is a site admin) answers nothing, as a learner's does once they leave."""
    owner = feed_owner(db.session, token, FeedKind.TEACHING) or abort(404)
    roles = roles_of(db.session, owner)
    if not roles.is_staff:
        abort(404)
    cohorts = services.taught_cohorts(db.session, owner.id, roles.admin_of)

    def link(endpoint: str, args: Mapping[str, str]) -> str:
        return url_for(endpoint, _external=True, **args)

    calendar = new_calendar("AI Operations · teaching")
    add_events(calendar, f"teaching-{owner.id}", utcnow(), services.teaching_events(db.session, cohorts), link)
    return Response(calendar.to_ical(), mimetype="text/calendar",
                    headers={"Content-Disposition": content_disposition("ai-operations-teaching.ics", inline=True),
                             "Cache-Control": "private, max-age=300"})
