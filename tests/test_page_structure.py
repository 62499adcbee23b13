"""The structure a screen reader reads, checked on the HTML of every page each role reaches
from its home (the test client follows the same-site links, as the browser crawl does, but
without a browser: cheap enough to run in both databases' runs):

- one h1, and no heading level skipped below it (WCAG 1.3.1, 2.4.6): a screen reader's
  list of headings is the page's outline;
- every data table named, by a caption, an aria label or the named box that scrolls it
  (``.table-wrap``), and every header cell outside the head row saying that it heads its
  row (1.3.1): a table's name is what a screen reader's list of tables offers, and
  ``scope`` says which cells a header reads with;
- every control a person fills in or chooses with a label (1.3.1, 3.3.2, 4.1.2), and every
  set of radios inside a named group (a fieldset with a legend, or named by aria), so the
  question is read with its answers.

The axe-core audit of the browser crawl (tests/browser/test_browser_crawl.py) checks other
rules, in one page of each kind; this checks these on every page reached."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from flask import Flask
from werkzeug.exceptions import HTTPException

from lms.assessment.models import Attempt
from lms.extensions import db
from tests.conftest import World
from tests.test_access import route_extras

MAX_PAGES = 150  # per role
PER_KIND = 2     # pages of one kind (endpoint): two tell a page's own structure from what its content adds
ROLES = ("learner_a", "instructor_a", "org_admin_a")
NOT_FILLED_IN = {"hidden", "submit", "button", "reset", "image"}


@dataclass
class Table:
    named: bool
    unscoped: int = 0  # header cells without a scope, outside the table's head row


@dataclass
class Structure(HTMLParser):
    """What one page's HTML says of its outline, its tables and its controls."""

    headings: list[int] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    controls: list[dict[str, str | None]] = field(default_factory=list)  # each control's attributes
    label_for: set[str] = field(default_factory=set)
    radio_groups: dict[str, bool] = field(default_factory=dict)  # radio name -> inside a named group
    _labels: int = 0        # <label> elements open around the current point
    _wrapped: list[bool] = field(default_factory=list)  # per control: inside a <label>
    _groups: list[bool] = field(default_factory=list)   # open fieldsets / groups: named?
    _fieldset_legend: list[int] = field(default_factory=list)  # index into _groups of fieldsets awaiting a legend
    _thead: int = 0
    _region: bool = False   # just inside a named scrolling box (.table-wrap), which names the table it holds

    def __post_init__(self) -> None:
        super().__init__()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            self.headings.append(int(tag[1]))
        elif tag == "table" and found.get("role") not in ("presentation", "none"):
            self.tables.append(Table(named=bool(found.get("aria-label") or found.get("aria-labelledby") or self._region)))
        elif tag == "caption" and self.tables:
            self.tables[-1].named = True
        elif tag == "thead":
            self._thead += 1
        elif tag == "th" and self.tables and not self._thead and not found.get("scope") and not found.get("id"):
            self.tables[-1].unscoped += 1
        elif tag == "label":
            self._labels += 1
            if found.get("for"):
                self.label_for.add(str(found["for"]))
        elif tag == "fieldset":
            self._groups.append(bool(found.get("aria-label") or found.get("aria-labelledby")))
            self._fieldset_legend.append(len(self._groups) - 1)
        elif tag == "legend" and self._fieldset_legend:
            self._groups[self._fieldset_legend[-1]] = True
        elif found.get("role") == "region" and "table-wrap" in (found.get("class") or ""):
            self._region = bool(found.get("aria-label") or found.get("aria-labelledby"))
        elif found.get("role") in ("radiogroup", "group"):
            self._groups.append(bool(found.get("aria-label") or found.get("aria-labelledby")))
        if tag != "div" or found.get("role") != "region":
            self._region = self._region and tag == "table"
        if tag in ("input", "select", "textarea") and (found.get("type") or "text") not in NOT_FILLED_IN:
            if found.get("id") == "nav-toggle":  # the menu's box without a script: its label follows it
                self.label_for.add("nav-toggle")
            self.controls.append(found)
            self._wrapped.append(self._labels > 0)
            if found.get("type") == "radio":
                name = str(found.get("name"))
                self.radio_groups[name] = self.radio_groups.get(name, True) and any(self._groups)

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._labels = max(0, self._labels - 1)
        elif tag == "thead":
            self._thead -= 1
        elif tag == "fieldset" and self._fieldset_legend:
            self._fieldset_legend.pop()
            self._groups.pop()

    def unlabelled(self) -> list[str]:
        return [f"{c.get('name') or c.get('id')}" for c, wrapped in zip(self.controls, self._wrapped, strict=True)
                if not (wrapped or c.get("aria-label") or c.get("aria-labelledby") or c.get("title")
                        or (c.get("id") and c.get("id") in self.label_for))]


def problems_of(html: str) -> list[str]:
    page = Structure()
    page.feed(html)
    found = []
    if page.headings.count(1) != 1:
        found.append(f"{page.headings.count(1)} h1 elements")
    skips = [f"h{a} then h{b}" for a, b in zip(page.headings, page.headings[1:], strict=False) if b - a > 1]
    if skips:
        found.append(f"heading levels skipped: {', '.join(skips[:3])}")
    unnamed = sum(1 for table in page.tables if not table.named)
    if unnamed:
        found.append(f"{unnamed} of {len(page.tables)} tables without a caption or aria label")
    unscoped = sum(table.unscoped for table in page.tables)
    if unscoped:
        found.append(f"{unscoped} header cells without scope")
    if page.unlabelled():
        found.append(f"controls without a label: {', '.join(page.unlabelled()[:4])}")
    loose = [name for name, grouped in page.radio_groups.items() if not grouped]
    if loose:
        found.append(f"radios outside a named group: {', '.join(loose[:4])}")
    return found


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def same_site(base: str, href: str) -> str | None:
    url = urldefrag(urljoin(base, href))[0]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.netloc != "localhost":
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def endpoint_of(app: Flask, url: str) -> str:
    try:
        return str(app.url_map.bind("localhost").match(url.split("?")[0])[0])
    except HTTPException:
        return url


def pages_reached(app: Flask, client: Any, starts: list[str]) -> dict[str, str]:
    """Breadth first from ``starts``: each HTML page's URL and text, ``PER_KIND`` pages of
    each kind (endpoint) at most, and ``MAX_PAGES`` in all."""
    pages: dict[str, str] = {}
    seen = set(starts)
    per_kind: dict[str, int] = {}
    queue = deque(starts)
    while queue and len(pages) < MAX_PAGES:
        url = queue.popleft()
        kind = endpoint_of(app, url)
        if per_kind.get(kind, 0) >= PER_KIND and url not in starts:
            continue
        per_kind[kind] = per_kind.get(kind, 0) + 1
        response = client.get(url, follow_redirects=True)
        response.close()
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        pages[url] = html = response.get_data(as_text=True)
        links = Links()
        links.feed(html)
        for href in links.hrefs:
            target = same_site("http://localhost" + url, href)
            if target is None or target in seen or target.startswith(("/logout", "/static")):
                continue
            seen.add(target)
            queue.append(target)
    return pages


def test_every_page_reached_has_an_outline_named_tables_and_labelled_controls(app: Flask, loaded, world: World,
                                                                               login) -> None:
    extra = route_extras(app, world)
    cohort = world.cohort_a.id
    attempt = db.session.get_one(Attempt, extra["attempt_id"])
    # Pages the links from home do not reach (an attempt is started by a form), or not soon.
    starts = {
        # every page of a quiz attempt: its questions are drawn in a random order, of every kind
        "learner_a": [*(f"/attempts/{attempt.id}/pages/{n}" for n in range(len(attempt.layout))), f"/attempts/{attempt.id}",
                      "/assignments/cs-hands-on-own-operation/work", "/progress", "/kpis"],
        "instructor_a": [f"/cohorts/{cohort}/gradebook", f"/cohorts/{cohort}/submissions/{extra['submission_id']}",
                         f"/cohorts/{cohort}/competency"],
        "org_admin_a": [f"/cohorts/{cohort}", f"/cohorts/{cohort}/competency"],
    }
    found = []
    for role in ROLES:
        client = app.test_client()
        login(client, getattr(world, role))
        pages = pages_reached(app, client, ["/home", *starts[role]])
        assert len(pages) > 40 and set(starts[role]) <= set(pages), f"{role} reached only {list(pages)}"
        found += [f"{role} {url}: {problem}" for url, html in pages.items() for problem in problems_of(html)]
    assert found == [], "\n".join(found)


def test_the_checks_find_what_they_look_for() -> None:
    assert problems_of("<h1>A</h1><h3>B</h3>") == ["heading levels skipped: h1 then h3"]
    assert problems_of("<h2>A</h2>") == ["0 h1 elements"]
    page = "<h1>A</h1><table><thead><tr><th>X</th></tr></thead><tbody><tr><th>Y</th><td>1</td></tr></tbody></table>"
    assert problems_of(page) == ["1 of 1 tables without a caption or aria label", "1 header cells without scope"]
    assert problems_of("<h1>A</h1><table><caption>T</caption><tr><th scope='row'>Y</th></tr></table>") == []
    assert problems_of("<h1>A</h1><input name='q'><label>B <select name='s'></select></label>") == [
        "controls without a label: q"]
    assert problems_of("<h1>A</h1><label><input type='radio' name='r'> Yes</label>") == ["radios outside a named group: r"]
    assert problems_of("<h1>A</h1><fieldset><legend>Q</legend><label><input type='radio' name='r'> Y</label></fieldset>") == []
