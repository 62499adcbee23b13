"""The heat map at scale (issue 14 point 2): the whole cohort is read as one line per learner
and SQL aggregates, only the shown page's rows are built. These tests fail if sorting,
filtering, the at-risk count or the distributions stop covering the whole cohort, if the
one-line summaries disagree with the rows built in Python (late joiners' own dates
included), if the organization comparison's figures drift from the heat maps', or if a
page's statement count grows with the cohort. Pages are made small (``PER_PAGE``) so a few
learners span several pages."""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from lms.accounts.models import User
from lms.cohorts.enrolment import cohort_learners, learners_page
from lms.cohorts.models import Enrolment, Pace
from lms.competency import services
from lms.competency.exports import heat_map_rows
from lms.competency.lines import HeatLines, lines_of
from lms.competency.models import ReasonKind
from lms.competency.services import Row, compare, heat_map, learners_of
from lms.database import READING, utcnow
from lms.extensions import db
from lms.gradebook.services import export_rows, gradebook
from lms.learning.services import cohort_today, joined_timeline
from lms.web.page_cache import cache_of
from tests.test_competency import course, evidence, taught_by_month  # noqa: F401  (the fixture, and its helpers)
from tests.test_heatmap_cache import statements_of
from tests.test_page_cache import body

SORTS = ("name", "mean", "risk", "KO1", "KO2", "SO2")


@pytest.fixture()
def bigger(course, enrol_learner) -> dict[str, Any]:  # noqa: F811
    """``course``'s four learners, five more with spread levels, and one who joined two
    months ago on their own dates (KO1 has not closed for them)."""
    cohort = course["cohort"]
    late = enrol_learner(cohort, name="Ed Late", joined=datetime.now(UTC) - relativedelta(months=2), pace=Pace.OWN_START)
    evidence(late, {"KO1": 1.0}, ref="late")
    for n, level in enumerate((0.5, 1.5, 2.5, 3.5, 2.0)):
        extra = enrol_learner(cohort, name=f"Extra {n}", email=f"extra{n}@example.com")
        evidence(extra, {"KO1": level, "KO2": 4 - level, "SO1": 3.0}, ref=f"x{n}")
    return {**course, "late": late}


@pytest.fixture()
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "PER_PAGE", 3)
    monkeypatch.setattr(services, "AT_RISK_PER_PAGE", 2)


def names(rows: list[Row]) -> list[str]:
    return [r.user.name for r in rows]


def key(heat: Any, sort: str, row: Row) -> Any:
    if sort == "name":
        return (row.user.name.lower(), row.user.id)
    if sort == "mean":
        return -1.0 if row.mean is None else row.mean
    if sort == "risk":
        return (row.at_risk, len(row.reasons), row.days_behind)
    index = [c.code for c in heat.columns].index(sort)
    level = row.levels[index][0]
    return -1.0 if level is None else level


def test_the_exports_rows_say_the_complete_rows_reasons_without_reading_their_dates(bigger, monkeypatch) -> None:
    """A row of the CSV (and JSON) export shows the learner's reasons as texts: it is built
    as the map's rows are (no overdue item read, no date from the evidence) and says what the
    complete row says, streamed or not."""
    cohort = bigger["cohort"]
    complete = {r.user.email: "; ".join(reason.text for reason in r.reasons) for r in heat_map(db.session, cohort, utcnow()).rows}
    kinds = {reason.kind for r in heat_map(db.session, cohort, utcnow()).rows for reason in r.reasons}
    assert {ReasonKind.BEHIND, ReasonKind.BELOW_BAR} <= kinds, kinds

    def unread(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an export's rows read no overdue item and no date from the evidence")

    monkeypatch.setattr(services.state, "overdue_items", unread)
    monkeypatch.setattr(services, "fell_below", unread)
    for streamed in (False, True):
        exported = {row[1]: row[-1] for row in heat_map_rows(heat_map(db.session, cohort, utcnow(), streamed=streamed))}
        assert exported == complete, streamed


def test_the_summaries_agree_with_the_rows_built_in_python(bigger) -> None:
    heat = heat_map(db.session, bigger["cohort"], utcnow())
    rows = {r.user.id: r for r in heat.rows}
    assert len(rows) == heat.learners == 10
    for line in heat.learners_in_order:
        row = rows[line.user_id]
        assert (line.at_risk, line.reasons, line.days_behind, line.mean) == (
            row.at_risk, len(row.reasons), row.days_behind, row.mean), row.user.name
    # KO1 has closed for the cohort but not on the late joiner's own dates: 1.0 on it is no reason yet.
    late = rows[bigger["late"].id]
    assert not any(r.objective == "KO1" for r in late.reasons)
    low = next(r for r in rows.values() if r.user.name == "Extra 0")
    assert any(r.kind == ReasonKind.BELOW_BAR and r.objective == "KO1" for r in low.reasons)
    idle = next(r for r in rows.values() if r.user.name == "Cy Idle")
    assert any(r.kind == ReasonKind.NO_EVIDENCE for r in idle.reasons)


@pytest.mark.parametrize("sort", ["name", "risk", "KO1"])
def test_the_page_map_lines_show_what_the_rows_built_in_python_show(bigger, small_pages, sort) -> None:
    """The page renders its map from the learners' summaries and mastery rows (``map_lines``),
    building complete rows only for its at-risk list: each line shows what the learner's row
    shows (name, levels and their cells, mean, how many reasons), page by page."""
    cohort = bigger["cohort"]
    rows = {r.user.id: r for r in heat_map(db.session, cohort, utcnow()).rows}
    seen = []
    first = heat_map(db.session, cohort, utcnow(), sort, date_all=False)
    for page in range(1, first.paging.pages + 1):
        heat = heat_map(db.session, cohort, utcnow(), sort, page=page, date_all=False)
        assert [line.user_id for line in heat.map_lines] == [s.user_id for s in heat.on_page]
        for line in heat.map_lines:
            row = rows[line.user_id]
            assert (line.name, line.levels, line.mean, line.reasons, line.at_risk, line.cells) == (
                row.user.name, row.levels, row.mean, len(row.reasons), row.at_risk, row.cells), row.user.name
            seen.append(line.user_id)
    assert sorted(seen) == sorted(rows)
    assert any(line_at_risk for line_at_risk in (rows[uid].at_risk for uid in seen))


def test_the_page_shows_each_learners_line(bigger, client, login) -> None:
    cohort = bigger["cohort"]
    rows = {r.user.id: r for r in heat_map(db.session, cohort, utcnow()).rows}
    login(client, bigger["admin"])
    page = client.get(f"/cohorts/{cohort.id}/competency?sort=name").get_data(as_text=True)
    table = page[page.index('id="heat-map"'):]
    for row in rows.values():
        start = table.index(f'data-user="{row.user.id}"')
        line = table[start:table.index("</tr>", start)]
        assert row.user.name in line
        assert [c.label for c in row.cells] == [cell.split(">", 1)[1].split("<", 1)[0]
                                               for cell in line.split('<td class="heat ')[1:]]
        risk = f"{len(row.reasons)} reason{'s' * (len(row.reasons) != 1)}"
        assert (f'title="{risk}">at risk' in line) == row.at_risk, row.user.name
        assert ("–" if row.mean is None else f"{row.mean:.2f}") in line


@pytest.mark.parametrize("descending", [False, True])
def test_every_sort_runs_over_the_whole_cohort_page_by_page(bigger, small_pages, descending) -> None:
    cohort = bigger["cohort"]
    for sort in SORTS:
        whole = heat_map(db.session, cohort, utcnow(), sort, descending)
        everyone = list(whole.rows)
        keys = [key(whole, sort, r) for r in everyone]
        assert keys == sorted(keys, reverse=descending), sort
        ties = [(keys[i], everyone[i].user.name.lower()) for i in range(len(everyone))]
        for before, after in zip(ties, ties[1:], strict=False):  # ties stay in name order, both ways
            assert before[0] != after[0] or before[1] <= after[1], sort
        assert whole.paging.pages == math.ceil(10 / 3)
        paged = []
        for page in range(1, whole.paging.pages + 1):
            shown = heat_map(db.session, cohort, utcnow(), sort, descending, page=page).shown
            assert len(shown) <= 3
            paged += names(shown)
        assert paged == names(everyone), sort


def test_filters_run_over_the_whole_cohort(bigger, small_pages) -> None:
    cohort = bigger["cohort"]
    everyone = list(heat_map(db.session, cohort, utcnow()).rows)
    extras = heat_map(db.session, cohort, utcnow(), "KO1", True, query="EXTRA")
    assert extras.paging.total == 5 and extras.paging.pages == 2 and extras.learners == 10
    found = names(extras.shown) + names(heat_map(db.session, cohort, utcnow(), "KO1", True, page=2, query="extra").shown)
    assert found == ["Extra 3", "Extra 2", "Extra 4", "Extra 1", "Extra 0"]
    by_email = heat_map(db.session, cohort, utcnow(), query="extra4@example")
    assert names(by_email.shown) == ["Extra 4"]
    at_risk = [r for r in everyone if r.at_risk]
    risky = heat_map(db.session, cohort, utcnow(), risk_only=True)
    assert risky.paging.total == len(at_risk) >= 4
    shown = []
    for page in range(1, risky.paging.pages + 1):
        rows = heat_map(db.session, cohort, utcnow(), risk_only=True, page=page).shown
        assert all(r.at_risk for r in rows)
        shown += names(rows)
    assert shown == names(at_risk)


def test_at_risk_count_and_list_cover_the_whole_cohort(bigger, small_pages) -> None:
    cohort = bigger["cohort"]
    everyone = list(heat_map(db.session, cohort, utcnow()).rows)
    expected = sorted((r for r in everyone if r.at_risk), key=lambda r: (r.user.name.lower(), r.user.id))
    expected.sort(key=lambda r: (r.at_risk, len(r.reasons), r.days_behind), reverse=True)
    heat = heat_map(db.session, cohort, utcnow(), page=4)  # the last page of the map shows one learner
    assert heat.risk_paging.total == len(expected) and len(heat.shown) == 1
    listed: list[Row] = []
    for page in range(1, heat.risk_paging.pages + 1):
        listed += heat_map(db.session, cohort, utcnow(), risk_page=page).at_risk_shown
    assert names(listed) == names(expected) == names(list(heat.at_risk))
    # The list's rows are complete: the same reasons, dated from the evidence, as the exports'.
    complete = {r.user.id: r for r in everyone}
    for row in listed:
        assert row.reasons == complete[row.user.id].reasons


def test_distributions_count_the_whole_cohort(bigger, small_pages) -> None:
    heat = heat_map(db.session, bigger["cohort"], utcnow(), page=2)
    everyone = list(heat.rows)
    for index, d in enumerate(heat.distributions):
        counts = {b.rank: 0 for b in heat.legend}
        for row in everyone:
            counts[heat.policy.rank_of(row.levels[index][0])] += 1
        assert {s.band.rank: s.count for s in d.shares} == counts
        assert d.total == 10


def test_the_comparison_agrees_with_each_cohorts_heat_map(bigger, make_cohort, enrol_learner) -> None:
    org = bigger["org"]
    other = make_cohort(org, "Acme 2", months_ago=9)
    for n, level in enumerate((1.0, 3.0, 3.9)):
        evidence(enrol_learner(other, name=f"Other {n}"), {"KO1": level, "AO1": level / 2}, ref=f"o{n}")
    comparison = compare(db.session, org, utcnow())
    assert [c.cohort.name for c in comparison.cohorts] == ["Acme 1", "Acme 2"]  # newest first, as the organization page
    for figures in comparison.cohorts:
        heat = heat_map(db.session, figures.cohort, utcnow())
        rows = list(heat.rows)
        assert figures.learners == len(rows) and figures.at_risk == heat.risk_paging.total == sum(r.at_risk for r in rows)
        for index, cell in enumerate(figures.means):
            levels = [r.levels[index][0] for r in rows if r.levels[index][0] is not None]
            assert cell.evidence == len(levels)
            assert cell.level == (pytest.approx(sum(levels) / len(levels), abs=1e-4) if levels else None)
        # only the objectives whose teaching has started for each learner, on their own dates
        # (Ed Late joined at his own pace: in an earlier month than his cohort; the map shows them all)
        today = cohort_today(figures.cohort, utcnow())
        months = {e.user_id: joined_timeline(figures.cohort, e.started_at, e.pace).month(today)
                  for e in db.session.scalars(select(Enrolment).where(Enrolment.cohort_id == figures.cohort.id, Enrolment.active))}
        assert len(set(months.values())) == (2 if figures.cohort == bigger["cohort"] else 1)
        cells = [level for r in rows for column, (level, *_rest) in zip(heat.columns, r.levels, strict=True)
                 if column.code in taught_by_month(months[r.user.id])]
        bar = heat.policy.at_risk_below
        assert figures.proficient == pytest.approx(sum(1 for v in cells if v is not None and v >= bar) / len(cells))
        assert heat.at_bar is not None and heat.at_bar.share == pytest.approx(figures.proficient)


def test_exports_build_their_rows_a_chunk_at_a_time(bigger, client, login, monkeypatch) -> None:
    monkeypatch.setattr(services, "ROWS_CHUNK", 3)
    built: list[int] = []
    make_rows = services._make_rows

    def counting(ctx: Any, users: Any, *args: Any, **kwargs: Any) -> Any:
        built.append(len(users))
        return make_rows(ctx, users, *args, **kwargs)

    monkeypatch.setattr(services, "_make_rows", counting)
    cohort = bigger["cohort"]
    login(client, bigger["admin"])
    table = list(csv.reader(io.StringIO(client.get(f"/cohorts/{cohort.id}/competency.csv?sort=mean&dir=desc")
                                        .get_data(as_text=True))))
    expected = names(list(heat_map(db.session, cohort, utcnow(), "mean", True).rows))
    assert [line[0] for line in table[1:]] == expected
    assert built and max(built) <= 3  # never more than a chunk of rows at once
    document = client.get(f"/cohorts/{cohort.id}/competency.json").get_json(force=True)
    assert len(document["rows"]) == 10 and len(document["at_risk"]) == heat_map(db.session, cohort, utcnow()).risk_paging.total


def test_statements_stay_fixed_as_the_cohort_and_organization_grow(course, small_pages, client, login,  # noqa: F811
                                                                    enrol_learner, make_cohort, page_statements) -> None:
    cohort, org = course["cohort"], course["org"]
    login(client, course["admin"])
    urls = [f"/cohorts/{cohort.id}/competency", f"/cohorts/{cohort.id}/competency?sort=KO1&dir=desc&page=2",
            f"/cohorts/{cohort.id}/competency?q=e&risk=1&risk_page=2", f"/cohorts/{cohort.id}/competency?sort=risk&page=9",
            f"/organizations/{org.id}/competency", f"/cohorts/{cohort.id}", f"/cohorts/{cohort.id}?page=2"]

    def counts() -> list[int]:
        """Each page built with nothing of the cohort's heat map lines kept (``lms.competency.lines``)."""
        found = []
        for address in urls:
            lines_of(client.application).clear()
            found.extend(page_statements(client, [address]))
        return found

    counts()  # the process's caches of the curriculum (policy, levels, columns) filled, as a server's are
    few = counts()
    for n in range(8):
        learner = enrol_learner(cohort, name=f"More {n}", joined=datetime.now(UTC) - relativedelta(months=n % 3),
                                pace=Pace.OWN_START if n % 2 else Pace.CATCH_UP)
        evidence(learner, {"KO1": 0.5 + n / 3, "KO2": 3.0}, ref=f"m{n}")
    for n in range(3):
        other = make_cohort(org, f"Acme extra {n}", months_ago=n + 2)
        evidence(enrol_learner(other, name=f"Other {n}"), {"KO1": 2.0}, ref=f"o{n}")
    assert heat_map(db.session, cohort, utcnow()).paging.pages == 4
    assert counts() == few
    # the lines kept, one learner's records changed: their line is made again, in no more
    # statements than the whole cohort's; nothing changed since, none is made
    client.get(urls[0])
    evidence(learner, {"KO1": 3.5}, ref="one more")
    made = lines_of(client.application).built
    assert kept_statements(client, urls[0]) <= few[0]
    assert lines_of(client.application).built == made + 1
    assert kept_statements(client, urls[1]) < few[1]
    assert lines_of(client.application).built == made + 1


def kept_statements(client: Any, url: str) -> int:
    """The statements of GET ``url`` built with the heat map's learners' lines as the
    process keeps them (``page_statements`` forgets them first), its kept pages forgotten."""
    cache_of(client.application).clear()
    statements = statements_of(client, url)
    db.session.expire_all()
    return len(statements)


@pytest.fixture()
def awkward(bigger, enrol_learner) -> dict[str, Any]:
    """``bigger``, with names a database's collation or a Unicode ``lower()`` would order
    otherwise than byte order (a space against a letter, accented capitals, a name twice)
    and levels that tie."""
    cohort = bigger["cohort"]
    for n, name in enumerate(("Ann Lee", "Anne", "anna", "Émile", "émile", "Zed", "Ann Lee", "ann lee", "Ölga")):
        learner = enrol_learner(cohort, name=name, email=f"awkward{n}@example.com")
        evidence(learner, {"KO1": (1.5, 2.5)[n % 2], "KO2": 2.0}, ref=f"a{n}")
    return bigger


@pytest.mark.parametrize("descending", [False, True])
def test_sql_orders_the_cohort_as_each_sorts_python_key_does(awkward, descending) -> None:
    """The page reads the cohort in SQL's order (``SortOrder.order_by``); its Python twin
    (``SortOrder.key``, which orders the at-risk list) must agree on every database, names
    and ties included; and an export, which reads the order as ids and the rows a chunk at
    a time, gives the page's order."""
    cohort = awkward["cohort"]
    for sort in SORTS:
        heat = heat_map(db.session, cohort, utcnow(), sort, descending)
        order = services.sort_order(sort, heat.columns)[1]
        in_sql = [s.user_id for s in heat.learners_in_order]
        assert in_sql == [s.user_id for s in services.sort_learners(heat.learners_in_order, order, descending)], sort
        streamed = heat_map(db.session, cohort, utcnow(), sort, descending, streamed=True)
        assert streamed.learners_in_order == [] and streamed.learners == heat.learners == 19
        assert [r.user.id for r in streamed.rows] == in_sql, sort
        assert [r.user.id for r in streamed.at_risk] == [s.user_id for s in heat.risky] == [r.user.id for r in heat.at_risk]
    by_name = [s.name for s in heat_map(db.session, cohort, utcnow(), "name").learners_in_order]
    assert by_name.index("Ann Lee") < by_name.index("anna") < by_name.index("Anne") < by_name.index("Zed")
    assert by_name.index("Zed") < by_name.index("Émile") < by_name.index("Ölga") < by_name.index("émile")  # code points


def test_every_list_of_a_cohorts_learners_orders_names_as_the_heat_map(awkward, client, login) -> None:
    """The cohort page, its gradebook (page and export, read a chunk at a time) and the
    other lists of a cohort's learners order names as the heat map does (``folded_name``):
    by SQLite's byte order a name typed in lower case came after every capital ("anna"
    after "Zed") on the cohort page and the gradebook, not on the heat map."""
    cohort = awkward["cohort"]
    expected = [s.user_id for s in heat_map(db.session, cohort, utcnow(), "name").learners_in_order]
    assert len(expected) == 19
    assert learners_ids(learners_of(db.session, [cohort.id])[cohort.id]) == expected
    assert [e.user_id for e in cohort_learners(db.session, cohort)] == expected
    paged = [e.user_id for page in (1, 2, 3, 4) for e in learners_page(db.session, cohort, page, 5)[0]]
    assert paged == expected
    assert learners_ids([r.user for r in gradebook(db.session, cohort, utcnow()).rows]) == expected
    emails = {u.id: u.email for u in learners_of(db.session, [cohort.id])[cohort.id]}
    exported = export_rows(db.session, cohort, utcnow(), chunk=3)
    assert [row[1] for row in exported.rows] == [emails[i] for i in expected]
    login(client, awkward["admin"])
    page = client.get(f"/cohorts/{cohort.id}").get_data(as_text=True)
    shown = [page.index(f">{emails[i]}<") if f">{emails[i]}<" in page else page.index(emails[i]) for i in expected[:5]]
    assert shown == sorted(shown)


def learners_ids(users: Any) -> list[int]:
    return [u.id for u in users]


def test_a_streamed_export_never_reads_the_whole_cohorts_lines(awkward, client, login, monkeypatch) -> None:
    """Exports hold 8 bytes a learner (the order's ids), not each learner's line: every line
    they read is one of a chunk's."""
    monkeypatch.setattr(services, "ROWS_CHUNK", 4)
    asked: list[int | None] = []
    summaries = services.learner_summaries

    def counting(*args: Any, **kwargs: Any) -> Any:
        ids = kwargs.get("user_ids")
        asked.append(None if ids is None else len(ids))
        return summaries(*args, **kwargs)

    monkeypatch.setattr(services, "learner_summaries", counting)
    cohort, org = awkward["cohort"], awkward["org"]
    login(client, awkward["admin"])
    table = list(csv.reader(io.StringIO(client.get(f"/cohorts/{cohort.id}/competency.csv?sort=risk&dir=desc")
                                        .get_data(as_text=True))))
    document = client.get(f"/cohorts/{cohort.id}/competency.json?sort=KO1").get_json(force=True)
    organization = client.get(f"/organizations/{org.id}/competency.csv").get_data(as_text=True)
    assert len(table) == 20 and len(document["rows"]) == 19 and organization.count("\n") == 20
    assert asked and None not in asked and max(n for n in asked if n is not None) <= 4
    asked.clear()
    page = heat_map(db.session, cohort, utcnow(), "risk", True)  # the page reads every line, in one statement
    assert asked == [None]
    assert [line[0] for line in table[1:]] == [s.name for s in page.learners_in_order]
    assert [r["name"] for r in document["at_risk"]] == [s.name for s in page.risky]


def test_an_export_reads_its_order_where_a_safe_request_reads(awkward) -> None:
    """A safe request on PostgreSQL reads in autocommit (``lms.database.READING``), where no
    server-side cursor can be opened: the order's ids come off a plain cursor, so the rows
    stream there too (and read the same as in a transaction)."""
    cohort = awkward["cohort"]
    expected = [r.user.id for r in heat_map(db.session, cohort, utcnow(), "risk", True, streamed=True).rows]
    db.session.close()
    db.session.info[READING] = True
    try:
        cohort = db.session.get(type(cohort), cohort.id)
        heat = heat_map(db.session, cohort, utcnow(), "risk", True, streamed=True)
        assert [r.user.id for r in heat.rows] == expected and len(expected) == 19
        assert [r.user.id for r in heat.at_risk]
    finally:
        db.session.info.pop(READING, None)
        db.session.close()


LINE_URLS = ("", "?sort=mean&dir=desc", "?sort=risk&dir=desc", "?sort=KO1", "?sort=KO2&dir=desc&page=2",
             "?sort=name&dir=desc&page=3", "?q=ann", "?risk=1&sort=SO2", "?risk_page=2&sort=mean", "?page=99")


def pages_with_and_without_lines(app: Any, client: Any, cohort_id: int) -> tuple[list[str], list[str]]:
    """Each of ``LINE_URLS``' heat maps built with the learners' lines the process keeps
    (``lms.competency.lines``: as they stand after what happened before), then with none
    kept (the whole cohort read in SQL, as before lines were kept): nothing of the page kept."""
    store, pages = lines_of(app), cache_of(app)
    url = f"/cohorts/{cohort_id}/competency"
    kept = []
    for query in LINE_URLS:
        pages.clear()
        kept.append(body(client.get(url + query)))
    store.enabled = False
    try:
        fresh = []
        for query in LINE_URLS:
            pages.clear()
            fresh.append(body(client.get(url + query)))
    finally:
        store.enabled = True
    return kept, fresh


def test_a_heat_map_built_from_kept_lines_shows_what_sql_over_the_cohort_shows(awkward, small_pages, client, login,
                                                                                enrol_learner, app) -> None:
    """Every sort, filter and page, the distributions, the share at the bar (a late joiner
    at their own pace counts fewer objectives taught), the funnel and the at-risk list with
    its reasons, made from the lines kept (each learner's line made again only when their
    records changed, the figures brought up to date learner by learner) equal the page read
    from SQL over the whole cohort: first built, then after one learner's evidence, a new
    learner, an account closed and a learner leaving."""
    cohort = awkward["cohort"]
    login(client, awkward["admin"])
    lines_of(app).clear()
    kept, fresh = pages_with_and_without_lines(app, client, cohort.id)
    assert kept == fresh
    assert len(set(kept)) == len(LINE_URLS) and 'id="at-bar"' in kept[0] and 'class="risk-list"' in kept[0]
    made = lines_of(app).built
    evidence(awkward["late"], {"KO2": 3.5, "SO2": 0.5}, ref="late more")
    newcomer = enrol_learner(cohort, name="Nia Newcomer")
    evidence(newcomer, {"KO1": 2.0}, ref="nia")
    closed = db.session.get_one(User, awkward["strong"].id)
    closed.deactivated_at = utcnow()
    leaving = db.session.scalar(select(Enrolment).where(Enrolment.cohort_id == cohort.id,
                                                        Enrolment.user_id == awkward["idle"].id))
    assert leaving is not None
    leaving.ended_at = utcnow()
    db.session.commit()
    kept_after, fresh_after = pages_with_and_without_lines(app, client, cohort.id)
    assert kept_after == fresh_after
    assert kept_after != kept  # the changes show
    assert lines_of(app).built - made == 3  # the late joiner, the newcomer, the closed account: no one else made again
    made = lines_of(app).built
    evidence(awkward["late"], {"KO1": 3.9}, ref="late again")  # their line made again where their name holds it
    kept_again, fresh_again = pages_with_and_without_lines(app, client, cohort.id)
    assert kept_again == fresh_again and kept_again != kept_after
    assert lines_of(app).built - made == 1
    renamed = db.session.get_one(User, awkward["late"].id)
    renamed.name = "Aaron Renamed"  # to the first by name
    db.session.commit()
    kept_renamed, fresh_renamed = pages_with_and_without_lines(app, client, cohort.id)
    assert kept_renamed == fresh_renamed and "Aaron Renamed" in kept_renamed[0]


def test_kept_lines_count_the_figures_as_the_aggregate_statements_do(awkward) -> None:
    """The figures over the kept lines (``LineTotals``), from scratch and brought up to date
    after a change, equal ``objective_figures`` and ``headcounts`` read in SQL."""
    cohort = awkward["cohort"]
    store = HeatLines(1000)

    def both() -> tuple[Any, Any]:
        ctx = services._context(db.session, cohort, utcnow())
        kept = services.kept_lines(db.session, ctx, store)
        assert kept is not None
        figures, heads = services.line_figures(cohort, ctx.columns, kept)
        months = set(services.teaching_months([c.objective for c in ctx.columns]).values())
        read = services.objective_figures(db.session, [cohort], {cohort.id: ctx.today}, ctx.columns, ctx.rules)
        counted = services.headcounts(db.session, [cohort], {cohort.id: ctx.today}, months)[cohort.id]
        return (figures, heads), (read, counted)

    lines, sql = both()
    assert lines == sql
    assert any(f.taught_proficient for f in lines[0].values()) and lines[1].open > 5
    evidence(awkward["late"], {"KO1": 3.9}, ref="late again")
    evidence(awkward["weak"], {"KO2": 0.25}, ref="lower")
    lines_after, sql_after = both()
    assert lines_after == sql_after != sql
