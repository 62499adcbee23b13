"""A prototype for ``heatmap.py``: the heat map page built on the view from what a design
that keeps every learner's line as events arrive would read (issue 14 point 2, the page
built rather than kept). Nothing here is in the site: the kept data live in two tables the
benchmark makes (``bench_heat_lines``, ``bench_heat_figures``), filled once, untimed, from
the site's own heat map service, and the page's view is swapped for ``view`` for the length
of the measure.

What the view reads, each in one statement whatever the cohort's size:

- the cohort's counts (learners, those at risk today) and whether every kept line and the
  kept figures still hold (each line carries the learner's mastery mark it was made from,
  ``mastery_marks``, and the day its count of weak objectives holds until; the figures the
  sum of the members' marks): a design that keeps lines must check them on every view, since
  mastery is also written by plain SQL and by triggers, and time alone moves an objective's
  closing day past;
- the page's 100 learners in the page's order (ids sorted, then their kept cells' HTML by key:
  sorting the lines with their HTML moved a hundred times more bytes and took 10x longer),
  the "at risk" cell worked out in SQL from the kept counts and the day the oldest owed item
  was due (what changes with the clock alone is worked out on the view);
- the at-risk list's 15 learners, each with the list item kept (name, links, reasons with
  their overdue items: what changes daily; a design would key it by the day), and their last
  reviews (rendered on the view: the reviewer's time, the viewer's time zone);
- the distributions, the share at the bar and the funnel, kept as HTML (keyed by the members'
  marks and the day).

The rest is the page's own template (``competency/heat_map.html``) with those three parts
swapped for the kept HTML. Every sort the page offers, both ways, any page; not its filters
(by name, at risk only), nor a cohort with reviews recorded (the benchmark's has none): it
stops rather than show them wrong, as it does when a kept line no longer holds."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app, request
from jinja2 import Template
from markupsafe import Markup, escape
from sqlalchemy import text

from lms.accounts.current import signed_in
from lms.cohorts.models import Cohort
from lms.competency import services
from lms.competency.exports import EXPORTERS
from lms.competency.render import cell_html, heat_rows, held_under, reason_items
from lms.database import utcnow
from lms.extensions import db
from lms.learning.services import current_month
from lms.progress.completion import BEHIND_AFTER_DAYS
from lms.web.page_cache import Viewer, cache_of, cached_page
from lms.web.paging import paging

TEMPLATE = Path(__file__).resolve().parent.parent / "lms" / "competency" / "templates" / "competency" / "heat_map.html"
TABLES = (
    "CREATE TABLE bench_heat_lines (user_id integer PRIMARY KEY, cohort_id integer NOT NULL, name varchar(200) NOT NULL, "
    "name_key integer NOT NULL, mean float, weak integer NOT NULL, weak_until date, oldest_due date, closed boolean NOT NULL, "
    "mark bigint NOT NULL, cells text NOT NULL, risk_item text)",
    "CREATE INDEX ix_bench_heat_lines_cohort ON bench_heat_lines (cohort_id)",
    "CREATE TABLE bench_heat_figures (cohort_id integer PRIMARY KEY, day date NOT NULL, marks bigint NOT NULL, html text NOT NULL)",
)
# A learner's reasons today: none for a closed account, else the weak objectives and one more when behind.
REASONS = "CASE WHEN l.closed THEN 0 ELSE l.weak + CASE WHEN l.oldest_due < :behind THEN 1 ELSE 0 END END"


def _templates() -> tuple[str, str]:
    """The page's template with its rows, at-risk items and figures swapped for kept HTML,
    and the figures' part alone (to keep it)."""
    source = TEMPLATE.read_text()
    risk_loop = re.search(r"\{% for row in heat\.at_risk_shown %\}.*?\{% endfor %\}", source, re.S)
    rows = "{{ heat_rows(heat.cohort.id, heat.map_lines, heat.columns) }}"
    if risk_loop is None or rows not in source or '<h2 id="distributions">' not in source:
        raise SystemExit(f"{TEMPLATE} changed: the kept lines' prototype no longer finds its parts.")
    start, end = source.index('<h2 id="distributions">'), source.rindex("{% endblock %}")
    figures = '{% from "competency/_heat.html" import legend %}' + source[start:end]
    page = (source[:start] + "{{ kept.figures }}\n" + source[end:])
    page = page.replace(risk_loop.group(0), "{% for item in kept.risk %}{{ item.head }}{{ last_review(item.since) }}</li>\n{% endfor %}")
    page = page.replace("{% if heat.map_lines %}", "{% if kept.rows %}").replace(rows, "{{ kept.rows }}")
    return page, figures


def keep(app: Flask, cohort_id: int) -> int:
    """Fill the kept tables for the cohort from the site's heat map (untimed); the lines kept."""
    page_source, figures_source = _templates()
    with app.test_request_context(f"/cohorts/{cohort_id}/competency"):
        session = db.session
        for statement in ("DROP TABLE IF EXISTS bench_heat_lines", "DROP TABLE IF EXISTS bench_heat_figures", *TABLES):
            session.execute(text(statement))
        cohort = session.get_one(Cohort, cohort_id)
        now = utcnow()
        heat = services.heat_map(session, cohort, now, "name", False, page=1, date_all=False)
        today, top, bar = heat.today, held_under(heat.policy), heat.policy.at_risk_below
        marks = dict(session.execute(text("SELECT user_id, revision FROM mastery_marks")).tuples().all())
        # the day each learner's count of weak objectives changes next: an objective below the
        # bar (or without evidence) closing after today
        until = dict(session.execute(text(
            "SELECT o.user_id, min(o.closes_on) FROM progress_objectives o LEFT JOIN mastery m "
            "ON m.user_id = o.user_id AND m.objective_id = o.objective_id WHERE o.cohort_id = :c AND o.closes_on > :today "
            "AND (m.level IS NULL OR m.level < :bar) GROUP BY o.user_id"), {"c": cohort_id, "today": today, "bar": bar}).tuples().all())
        lines: dict[int, dict[str, Any]] = {}
        # ties in the page's order go by name (``folded_name``, compared by bytes on every
        # database): here by each learner's place in that order, the site's own
        by_name = {s.user_id: n for n, s in enumerate(services.sort_learners(heat.learners_in_order, services.SORTS["name"], False))}
        for number in range(1, heat.paging.pages + 1):
            shown = services.heat_map(session, cohort, now, "name", False, page=number, date_all=False)
            for learner, line in zip(shown.on_page, shown.map_lines, strict=True):
                mean = "–" if line.mean is None else f"{line.mean:.2f}"
                lines[learner.user_id] = {
                    "user_id": learner.user_id, "cohort_id": cohort_id, "name": learner.name, "name_key": by_name[learner.user_id],
                    "mean": learner.mean, "weak": learner.weak, "weak_until": until.get(learner.user_id),
                    "oldest_due": today - timedelta(days=learner.days_behind) if learner.days_behind else None,
                    "closed": learner.closed, "mark": marks.get(learner.user_id, 0), "risk_item": None,
                    "cells": "".join(cell_html(cell, top) for cell in line.cells) + f'<td class="num">{mean}</td>'}
        for row in heat.at_risk:
            href = escape(f"/cohorts/{cohort_id}/learners/{row.user.id}")
            lines[row.user.id]["risk_item"] = (
                f'<li class="at-risk-learner" data-user="{row.user.id}">\n'
                f'<a href="{href}/progress"><strong>{escape(row.user.name)}</strong></a>'
                f' · <a href="{href}/at-risk">Record a review<span class="visually-hidden">: {escape(row.user.name)}</span></a>'
                f"<ul>{reason_items(row.reasons)}</ul>")
        session.execute(text("INSERT INTO bench_heat_lines VALUES (:user_id, :cohort_id, :name, :name_key, :mean, :weak, "
                             ":weak_until, :oldest_due, :closed, :mark, :cells, :risk_item)"), list(lines.values()))
        figures = app.jinja_env.from_string(figures_source).render(heat=heat)
        session.execute(text("INSERT INTO bench_heat_figures VALUES (:c, :day, :marks, :html)"),
                        {"c": cohort_id, "day": today, "marks": sum(line["mark"] for line in lines.values()), "html": figures})
        session.commit()
    app.extensions["bench_kept_lines"] = app.jinja_env.from_string(page_source)
    return len(lines)


PARTS: dict[str, list[float]] = {}


def view(cohort_id: int) -> str:
    """The heat map page from the kept lines (stands in for ``competency.views.heat_map``)."""
    user = signed_in()

    def render() -> str:
        started = time.perf_counter()
        session = db.session
        cohort = session.get(Cohort, cohort_id)
        if cohort is None:
            raise SystemExit(f"No cohort {cohort_id}.")
        now = utcnow()
        context = services._context(session, cohort, now)
        today = context.today
        given = {"c": cohort_id, "behind": today - timedelta(days=BEHIND_AFTER_DAYS), "today": today}
        total, risky, stale, marks = session.execute(text(
            f"SELECT count(*), sum(CASE WHEN ({REASONS}) > 0 THEN 1 ELSE 0 END), "
            "sum(CASE WHEN coalesce(m.revision, 0) = l.mark AND (l.weak_until IS NULL OR l.weak_until > :today) THEN 0 ELSE 1 END), "
            "sum(coalesce(m.revision, 0)) FROM bench_heat_lines l LEFT JOIN mastery_marks m ON m.user_id = l.user_id "
            "WHERE l.cohort_id = :c"), given).one()
        if stale:
            raise SystemExit(f"{stale} kept lines no longer hold (the prototype does not make them again).")
        pages = paging(request.args.get("page", 1, type=int), services.PER_PAGE, total)
        risk_pages = paging(request.args.get("risk_page", 1, type=int), services.AT_RISK_PER_PAGE, int(risky or 0))
        # the page's ids in order first, then their kept HTML by key: sorting the cohort's lines
        # with their HTML carried along moved every line's cells through the sort
        chosen, order = services.sort_order(request.args.get("sort"), context.columns)
        descending = request.args.get("dir") == "desc"
        keys, joined = _order(order, descending)
        inner = ", ".join(f"{expression} AS k{n}" for n, (expression, _way) in enumerate(keys))
        ordered = session.execute(text(
            f"SELECT l.user_id, l.name, l.cells, {REASONS}, l.closed FROM (SELECT l.user_id, {inner} "
            f"FROM bench_heat_lines l {joined} WHERE l.cohort_id = :c "
            f"ORDER BY {', '.join(f'{e} {way}' for e, way in keys)} LIMIT :n OFFSET :first) AS o "
            f"JOIN bench_heat_lines l ON l.user_id = o.user_id ORDER BY {', '.join(f'o.k{n} {way}' for n, (_e, way) in enumerate(keys))}"),
            {**given, "n": services.PER_PAGE, "first": pages.first, "objective": order.objective_id}).all()
        at_risk = session.execute(text(
            f"SELECT l.user_id, l.risk_item FROM bench_heat_lines l WHERE l.cohort_id = :c AND ({REASONS}) > 0 "
            f"ORDER BY {REASONS} DESC, CASE WHEN l.oldest_due < :today THEN l.oldest_due ELSE :today END, l.name_key, l.user_id "
            "LIMIT :n OFFSET :first"), {**given, "n": services.AT_RISK_PER_PAGE, "first": risk_pages.first}).all()
        reviews = services.latest_reviews(session, cohort_id, sorted(uid for uid, _item in at_risk))
        kept_figures = session.execute(text("SELECT html, marks, day FROM bench_heat_figures WHERE cohort_id = :c"), given).one()
        if kept_figures[1] != marks or str(kept_figures[2]) != today.isoformat():  # (SQLite reads a date as text)
            raise SystemExit("The kept figures no longer hold (the prototype does not make them again).")
        link = f"/cohorts/{cohort_id}/learners/"
        rows = []
        for uid, name, cells, reasons, closed in ordered:
            if reasons:
                risk = f'<span class="risk" title="{reasons} reason{"s" * (reasons != 1)}">at risk</span>'
            elif closed:
                risk = '<span class="muted account-closed">account closed</span>'
            else:
                risk = '<span class="muted">no</span>'
            rows.append(f'<tr class="{"row-bad" if reasons else ""}" data-user="{uid}"><th scope="row" class="name">'
                        f'<a href="{link}{uid}/progress">{escape(name)}</a></th>{cells}<td>{risk}</td></tr>\n')
        unreviewed = services.SinceReview(review=None, new=[], gone=[], days_change=0, follow_up_due=False)
        if reviews:
            raise SystemExit("The prototype renders no review; the benchmark's cohort has none.")
        kept = {"rows": Markup("".join(rows)), "figures": Markup(kept_figures[0]),  # noqa: S704 - kept escaped
                "risk": [{"head": Markup(item), "since": unreviewed} for _uid, item in at_risk]}  # noqa: S704
        heat = services.HeatMap(cohort=cohort, today=today, month=current_month(cohort.start_date, today), policy=context.rules,
                                legend=services.bands(context.rules), columns=context.columns, count=total, learners_in_order=[],
                                risky=[], sort=chosen, descending=descending, reviews={}, paging=pages, risk_paging=risk_pages,
                                worked_out_at=now)
        read = time.perf_counter()
        values = {"heat": heat, "kept": kept, "exporters": EXPORTERS.values(), "heat_rows": heat_rows}
        current_app.update_template_context(values)
        template: Template = current_app.extensions["bench_kept_lines"]
        html = template.render(values)
        PARTS.setdefault("reads", []).append((read - started) * 1000)
        PARTS.setdefault("rendering", []).append((time.perf_counter() - read) * 1000)
        return html

    return cached_page(db.session, "heat_map", Viewer(user.id, user.name, user.timezone, user.is_admin), utcnow(), render,
                       cohort_id=cohort_id, variant=request.query_string.decode("latin-1"))


def _order(order: services.SortOrder, descending: bool) -> tuple[list[tuple[str, str]], str]:
    """The SQL order of the kept lines as ``order`` sorts the site's (``SortOrder.order_by``):
    (expression, direction) pairs, and the join an objective's sort needs."""
    way, ties = ("DESC" if descending else "ASC"), [("l.name_key", "ASC"), ("l.user_id", "ASC")]
    if isinstance(order, services.ByMean):
        return [("coalesce(l.mean, -1.0)", way), *ties], ""
    if isinstance(order, services.ByObjective):
        return ([("coalesce(m.level, -1.0)", way), *ties],
                "LEFT JOIN mastery m ON m.user_id = l.user_id AND m.objective_id = :objective")
    if isinstance(order, services.ByRisk):
        back = "ASC" if descending else "DESC"
        return [(f"CASE WHEN ({REASONS}) > 0 THEN 1 ELSE 0 END", way), (f"({REASONS})", way),
                ("CASE WHEN l.oldest_due < :today THEN l.oldest_due ELSE :today END", back), *ties], ""
    return [("l.name_key", way), ("l.user_id", way)], ""


def page(app: Flask, client: Any, url: str, runs: int,
         timed_get: Callable[..., tuple[float, int, int]]) -> tuple[float, int, int, float, float, bool]:
    """The page built from the kept lines (the kept pages emptied before each view): its
    median time, statements, size, the medians of its reads and its rendering, and whether
    it shows what the site's page shows (the same learners, cells, at-risk list and figures)."""
    kept = cache_of(app)
    kept.clear()
    theirs = client.get(url).get_data(as_text=True)
    original = app.view_functions["competency.heat_map"]
    app.view_functions["competency.heat_map"] = view
    PARTS.clear()
    try:
        ms, statements, size = timed_get(client, url, runs, kept.clear)
        kept.clear()
        mine = client.get(url).get_data(as_text=True)
    finally:
        app.view_functions["competency.heat_map"] = original
        kept.clear()
    return (ms, statements, size, statistics.median(PARTS["reads"][1:]), statistics.median(PARTS["rendering"][1:]),
            _shown(theirs) == _shown(mine))


def _shown(html: str) -> list[str]:
    """The page's text and the values it carries, without its whitespace, the CSRF token and
    the minute the figures were worked out: what the two pages must agree on."""
    flat = re.sub(r"\s+", " ", re.sub(r">\s+<", "><", html))
    flat = re.sub(r'name="csrf_token" value="[^"]*"', "", flat)
    flat = re.sub(r'<p class="muted small" id="worked-out">.*?</p>', "", flat)  # the minute it was built
    return re.findall(r"<[^>]+>|[^<]+", flat.replace("> ", ">").replace(" <", "<"))
