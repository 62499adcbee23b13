"""The heat map's learner rows as HTML, made in Python: a page of a hundred learners has
over a thousand cells, and a template macro per cell cost more than the query behind them.
The markup is the one ``competency/_heat.html`` describes (class ``heat heat-<rank>``, the
level in ``data-level``, the number printed and the named level for screen readers; a cell
held under a level for want of evidence (the top one, or "proficient" with no staff-checked
evidence at all) also has class ``held``, ``data-held``, a
mark, and in its title and for screen readers what it needs, as the learner's page says it:
"needs one more piece of staff-checked evidence to count as mastered"), with every value
escaped."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from functools import lru_cache

from flask import current_app, get_template_attribute, request, url_for
from markupsafe import Markup, escape

from lms.competency.lines import lines_of
from lms.competency.services import (
    Cell,
    HeatMap,
    Link,
    Mastered,
    Reason,
    Row,
    SinceReview,
    bands,
    cells_under,
    held_under,
)
from lms.web.filters import zone_name
from lms.web.links import request_url

_PLACEHOLDER = 987654321  # stands for the learner's id in a link built once per page


def link_url(link: Link) -> str:
    """``link``'s URL (``request_url``): a page of the at-risk list links each learner's page
    once for every reason (with the reason's anchor) and the same overdue items for many
    learners."""
    return request_url(link.endpoint, link.values, link.anchor)


def reason_items(reasons: Sequence[Reason]) -> Markup:
    """Each reason a learner is at risk for as a list item: the reason linked to where it
    shows on the learner's page, since when, and for being behind the first overdue items
    (each linked, with its kind and due date) and how many more. Made once a process for
    the same reasons under the same script root (a kept at-risk learner's, view after view)."""
    return Markup(_reason_items(request.script_root, tuple(reasons)))  # noqa: S704 - escaped in _reason_items


@lru_cache(maxsize=4096)
def _reason_items(_script_root: str, reasons: tuple[Reason, ...]) -> str:
    parts = []
    for reason in reasons:
        href = escape(link_url(reason.link))
        objective = f' data-objective="{escape(reason.objective)}"' if reason.objective else ""
        parts.append(f'<li class="reason" data-kind="{reason.kind.value}"{objective}>\n'
                     f'  <a href="{href}">{escape(reason.text)}</a>\n'
                     f'  <span class="muted small">since <time datetime="{reason.since.isoformat()}">'
                     f'{reason.since:%d %b %Y}</time></span>\n')
        if reason.items:
            parts.append('  <ul class="overdue-items small">\n')
            for item in reason.shown_items:
                parts.append(f'    <li><a href="{escape(link_url(item.link))}">{escape(item.title)}</a> '
                             f'<span class="muted">({item.kind.value}, due {item.due_on:%d %b %Y})</span></li>\n')
            if reason.more_items:
                parts.append(f'    <li><a href="{href}">and {reason.more_items} more overdue</a></li>\n')
            parts.append("  </ul>\n")
        parts.append("</li>")
    return "".join(parts)  # every value in it is escaped above (kinds are enum constants)


def cell_html(cell: Cell, top: str | None = None) -> str:
    """One cell; ``top``: the name of the level a held cell is held under ("mastered", "proficient")."""
    level = "" if cell.level is None else repr(cell.level)
    if cell.held and top:
        needs = cell.needs
        return (f'<td class="heat heat-{cell.rank} held" data-level="{level}" data-held="1"{_held_title(top, needs)}>'
                f'{cell.label}{HELD_MARK}{_named_span(cell.name)}{_held_span(top, needs)}</td>')
    return f'<td class="heat heat-{cell.rank}" data-level="{level}">{cell.label}{_named_span(cell.name)}</td>'


HELD_MARK = '<span class="held-mark" aria-hidden="true">*</span>'


def held_text(top: str, needs: str = "needs more evidence") -> str:
    """What a held cell waits for (``Cell.needs``: "needs one more piece of staff-checked
    evidence"), under the top level ``top``; the key's line says it at more length."""
    return f"{needs} to count as {top}"


@lru_cache(maxsize=32)
def _held_title(top: str, needs: str) -> str:
    return f' title="{escape(held_text(top, needs))}"'


@lru_cache(maxsize=32)
def _held_span(top: str, needs: str) -> str:
    return f'<span class="visually-hidden">, {escape(held_text(top, needs))}</span>'


@lru_cache(maxsize=64)
def _named_span(name: str) -> str:
    """The named level for screen readers, escaped once per name rather than once per cell."""
    return f'<span class="visually-hidden"> {escape(name)}</span>'


def heat_rows(heat: HeatMap) -> Markup:
    """Each of this page's map lines (``HeatMap.map_lines``) as a table row: the learner's
    name (a link to their progress), a cell per column, the mean and whether they are at risk
    (for how many reasons). With the cohort's lines kept, a learner's row is kept made with
    them while their line's key holds (it says all the row shows, under the cohort's key)."""
    rows = heat.map_lines
    link = url_for("progress.learner", cohort_id=heat.cohort.id, user_id=_PLACEHOLDER)
    # A held cell is held under the named level above its own ("mastered", "proficient").
    above = tuple([b.name for b in bands(heat.policy)][1:] + [None]) if held_under(heat.policy) else ()
    thresholds = tuple(heat.policy.thresholds.items())
    kept = heat.kept
    made: dict[int, tuple[object, str]] = kept.memo.setdefault(f"rows {link}", {}) if kept is not None else {}
    parts = []
    for row in rows:
        mine = kept.learners[row.user_id][0] if kept is not None and row.user_id in kept.learners else None
        found = made.get(row.user_id)
        if mine is not None and found is not None and found[0] is mine:
            parts.append(found[1])
            continue
        html = _row_html(link, above, thresholds, row.user_id, row.name, row.levels, row.mean, row.reasons, row.closed)
        if mine is not None:
            made[row.user_id] = (mine, html)
        parts.append(html)
    return Markup("".join(parts))  # noqa: S704 - every value escaped in _row_html


@lru_cache(maxsize=8192)
def _row_html(link: str, above: tuple[str | None, ...], thresholds: tuple[tuple[str, float], ...], user_id: int, name: str,
              levels: tuple[Mastered, ...], mean: float | None, reasons: int, closed: bool) -> str:
    """One learner's table row, made once a process for what it shows (a learner whose line
    is unchanged is not made again on the next page built)."""
    href = escape(link.replace(str(_PLACEHOLDER), str(user_id)))
    cells = "".join(cell_html(cell, above[cell.rank] if cell.held and above else None)
                    for cell in cells_under(levels, thresholds))
    shown_mean = "–" if mean is None else f"{mean:.2f}"
    if reasons:  # the reasons are listed under "At risk" and on the learner's pages
        risk = f'<span class="risk" title="{reasons} reason{"s" * (reasons != 1)}">at risk</span>'
    elif closed:  # on no list that asks someone to act
        risk = '<span class="muted account-closed">account closed</span>'
    else:
        risk = '<span class="muted">no</span>'
    return (f'<tr class="{"row-bad" if reasons else ""}" data-user="{user_id}">'
            f'<th scope="row" class="name"><a href="{href}">{escape(name)}</a></th>'
            f'{cells}<td class="num">{shown_mean}</td><td>{risk}</td></tr>\n')


def _item_key(heat: HeatMap, row: Row, since: SinceReview) -> Hashable:
    """All an at-risk item shows (``_risk.html``'s ``at_risk_item``): the learner, their
    reasons, their last review and what changed since, the viewer's time zone (the review's
    time is shown in it) and the script root its links start with."""
    review = since.review
    shown = None if review is None else (review.id, review.reviewer.name, review.created_at, review.follow_up_on,
                                         review.days_behind)
    return (request.script_root, zone_name(), heat.cohort.id, row.user.id, row.user.name, tuple(row.reasons), shown,
            tuple(since.new), tuple(since.gone), since.days_change, since.follow_up_due)


def _kept_item_key(heat: HeatMap, user_id: int) -> Hashable | None:
    """What an at-risk item shows, for a learner whose line the process keeps: their line's
    key (their account, records and last review with its reviewer's name, from which their
    reasons and what changed since the review follow) under the cohort's (the day: whether a
    follow-up is due), with the viewer's time zone and the script root; None without kept lines."""
    if heat.kept is None or user_id not in heat.kept.learners:
        return None
    return (request.script_root, zone_name(), heat.cohort.id, heat.kept.key, tuple(heat.kept.learners[user_id][0]))


def risk_items(heat: HeatMap) -> Markup:
    """This page of the heat map's at-risk list, each learner's item made once a process for
    what it shows: with kept lines, a learner whose line and last review are unchanged is
    served their item made before, without reading their account, row or review again."""
    item = get_template_attribute("competency/_risk.html", "at_risk_item")
    kept = lines_of(current_app)
    made: dict[int, str] = {}
    missing = []
    for learner in heat.risk_on_page:
        key = _kept_item_key(heat, learner.user_id)
        found = kept.item(key) if key is not None else None
        if found is None:
            missing.append(learner)
        else:
            made[learner.user_id] = found
    for row, since in heat.at_risk_of(missing):
        key = _kept_item_key(heat, row.user.id) or _item_key(heat, row, since)
        found = kept.item(key)
        if found is None:
            found = str(item(heat.cohort.id, row, since))
            kept.keep_item(key, found)
        made[row.user.id] = found
    return Markup("\n".join(made[learner.user_id] for learner in heat.risk_on_page))  # noqa: S704 - made by the template, escaped there


def _view_key(heat: HeatMap) -> Hashable:
    """What the map's heading and column headings show beyond the cohort's key (its columns,
    levels and rules: ``KeptCohort.key``): the sort, the filters and the links' script root."""
    return (request.script_root, heat.sort, heat.descending, heat.query, heat.risk_only)


# What each part ``kept_table`` keeps shows: all it prints, as plain values (a kept cohort's
# memo holds under its key, the day, its columns and the content revision among it).
TABLE_KEYS: dict[str, Callable[[HeatMap], Hashable]] = {
    "map head": _view_key,     # the legend, the codes, what a held cell means, the filter form
    "map columns": _view_key,  # the column headings, each a link to sort by it
    "distribution": lambda heat: (tuple((band.rank, band.name) for band in heat.legend),
                                  tuple((d.column.code, d.column.objective.title, tuple((s.count, s.share) for s in d.shares))
                                        for d in heat.distributions)),
    "funnel": lambda heat: (heat.stages, tuple((step.level.key, step.level.title, step.opened, step.total, tuple(step.stages))
                                               for step in heat.funnel)),
}


KEPT_VIEWS = 16  # the sorts and filters whose parts a kept cohort holds, per part


def kept_table(heat: HeatMap, name: str, table: Callable[[], Markup]) -> Markup:
    """The heat map's part ``name`` (``TABLE_KEYS``), made by the template's macro ``table``:
    with the cohort's lines kept, made again only when what it shows changed (a change to one
    learner seldom moves the cohort's distributions or funnel, never its headings). Each part
    is kept for the last ``KEPT_VIEWS`` different keys it was made for."""
    if heat.kept is None:
        return table()
    key = TABLE_KEYS[name](heat)
    kept: dict[Hashable, str] = heat.kept.memo.setdefault(f"table {name}", {})
    found = kept.get(key)
    if found is not None:
        return Markup(found)  # noqa: S704 - made by the template, escaped there
    made = table()
    if len(kept) >= KEPT_VIEWS:
        kept.clear()
    kept[key] = str(made)
    return made
