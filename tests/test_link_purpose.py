"""Each link says where it leads from its own words (WCAG 2.4.4, link purpose in context):
a screen reader's list of a page's links, read out of context, never offers two links with
the same words that lead to different places ("Open", "Open", ...), nor a bare "here". The
words a link adds for that are visually hidden where the table row or card shows them."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

from flask import Flask

from tests.conftest import World
from tests.test_access import route_extras

VAGUE = {"here", "click here", "open", "view", "edit", "grade", "more", "read more", "record one", "details", "link"}


class LinkNames(HTMLParser):
    """Each link's words as a screen reader reads them (visually hidden ones included), and its path."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("href"):
            self.links.append((found.get("aria-label") or "", urlsplit(str(found["href"])).path))
            self._depth = 1 if not found.get("aria-label") else -1
        elif tag == "a":
            self._depth = 0

    def handle_data(self, data: str) -> None:
        if self._depth == 1:
            self.links[-1] = (self.links[-1][0] + data, self.links[-1][1])

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._depth = 0


def unclear_links(html: str) -> list[str]:
    parser = LinkNames()
    parser.feed(html)
    places: dict[str, set[str]] = {}
    for name, path in parser.links:
        places.setdefault(" ".join(name.split()), set()).add(path)
    return [f"{name!r} leads to {sorted(paths)}" for name, paths in places.items()
            if name and (name.lower() in VAGUE or len(paths) > 1)]


def test_links_in_tables_and_cards_say_where_they_lead(app: Flask, load_content, world: World, login) -> None:
    """Before: the grading queue had an "Open" link per piece of work, the cohort page a
    "Schedule and access" link per learner, the KPI page a "Record one" link per metric."""
    load_content()
    route_extras(app, world)  # two pieces of work handed in (learner A and a classmate), a written answer to grade
    staff = app.test_client()
    login(staff, world.instructor_a)
    learner = app.test_client()
    login(learner, world.learner_a)
    pages = [(staff, "/grading"), (staff, "/grading/essays"), (staff, f"/cohorts/{world.cohort_a.id}"),
             (staff, f"/cohorts/{world.cohort_a.id}/competency"), (learner, "/kpis")]
    problems = []
    for client, url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        problems += [f"{url}: {line}" for line in unclear_links(response.get_data(as_text=True))]
    assert problems == []


def test_the_check_finds_links_that_say_the_same_and_lead_elsewhere() -> None:
    assert unclear_links('<a href="/a/1">Open</a><a href="/a/2">Open</a>') == ["'Open' leads to ['/a/1', '/a/2']"]
    assert unclear_links('<a href="/a/1">Edit<span class="visually-hidden"> the first</span></a>') == []
    assert unclear_links('<a href="/p">Program</a> <a href="/p?x=1">Program</a>') == []


def test_breadcrumb_separators_written_in_templates_are_not_read_out(app: Flask, world: World, login) -> None:
    """A "›" between two links was read out ("right-pointing angle bracket") before the
    next link's words; it is hidden from screen readers (the CSS separators of the
    breadcrumb lists are too: tests/browser/test_browser_reading.py)."""
    staff = app.test_client()
    login(staff, world.instructor_a)
    page = staff.get(f"/cohorts/{world.cohort_a.id}/competency/trend").get_data(as_text=True)
    crumbs = page.split('class="breadcrumbs"', 1)[1].split("</p>", 1)[0]
    assert "›" in crumbs and crumbs.count("›") == crumbs.count('<span aria-hidden="true">›</span>')
