"""The learner's KPI tracker: every metric against its target with a trend chart, a form
to record a month's figure, and one metric's full history."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from lms.accounts.current import signed_in
from lms.accounts.models import User
from lms.database import utcnow
from lms.extensions import db
from lms.kpi import services
from lms.kpi.charts import large_chart, narrow_chart, sparkline
from lms.kpi.forms import FigureForm
from lms.web.forms import add_error

bp = Blueprint("kpi", __name__, template_folder="templates")


def _local_now(user: User) -> datetime:
    """Now in the learner's time zone: "this month" is theirs."""
    return utcnow().astimezone(ZoneInfo(user.timezone))


def _page(user: User, form: FigureForm, status: int = 200) -> tuple[str, int]:
    """The tracker; once the learner's program has closed (``services.closed_to``) the form's
    place says so, and a figure just refused for it is shown back as typed, not recorded."""
    trends = services.tracker(db.session, user.id)
    groups = services.by_module(trends)
    form.metric.choices = {module.title: {t.metric.key: t.metric.name for t in items} for module, items in groups}
    names = {t.metric.key: t.metric.name for t in trends}
    return render_template("kpi/tracker.html", groups=groups, form=form, closed=services.closed_to(db.session, user.id, utcnow()),
                           refused=status != 200, metric_name=names.get(form.metric.data or ""),
                           charts={t.metric.key: sparkline(t) for t in trends}), status


@bp.get("/kpis")
def tracker() -> tuple[str, int]:
    user = signed_in()
    form = FigureForm(metric=request.args.get("metric", ""), period=_local_now(user).date().replace(day=1))
    return _page(user, form)


@bp.post("/kpis")
def record() -> Any:
    user = signed_in()
    form = FigureForm()
    if form.validate_on_submit():
        # InputRequired: a validated form has the parsed month and figure.
        assert form.period.data is not None and form.value.data is not None
        try:
            metric = services.active_metric(db.session, form.metric.data or "")
            entry = services.record_figure(db.session, user.id, metric, form.period.data, form.value.data,
                                           _local_now(user), form.note.data or "")
        except services.ProgramClosed:
            db.session.rollback()  # the page says the program has closed, with the figure as typed
        except services.KpiError as exc:
            db.session.rollback()
            add_error(getattr(form, exc.field), str(exc))
        else:
            figure = services.format_value(metric, entry.value)
            joined = services.joined_month(db.session, user.id)
            if joined is not None and entry.period < joined:
                flash(f"Recorded {figure} for {metric.name} in {entry.period:%B %Y}, before you joined the program "
                      f"({joined:%B %Y}): it is kept and shown, and your next month is compared with it, but figures "
                      "from before you joined do not count as evidence of your progress.", "warning")
            else:
                flash(f"Recorded {figure} for {metric.name} in {entry.period:%B %Y}.", "success")
            return redirect(url_for("kpi.tracker", _anchor=f"metric-{metric.key}"))
    return _page(user, form, status=400)


@bp.get("/kpis/<metric_key>")
def metric(metric_key: str) -> str:
    user = signed_in()
    trend = services.metric_trend(db.session, user.id, metric_key) or abort(404)
    return render_template("kpi/metric.html", trend=trend, chart=large_chart(trend), narrow=narrow_chart(trend),
                           closed=services.closed_to(db.session, user.id, utcnow()))
