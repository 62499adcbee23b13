"""No dead links (issue 13 point 3): from every role's home, follow every same-site link
(up to ``MAX_PAGES`` pages, no POST forms, never the sign-out) and fail on any 403, 404 or
500; then, in Chromium, one page of each kind the crawl reached at 1280 px and at 320 px:
the page itself never scrolls sideways (wide tables scroll in their own box), and axe-core
(``axe-playwright-python``) finds nothing against WCAG 2.2 level A and AA, or its best
practices, on it (the rules it can check by itself: names, labels, contrast, keyboard access
to what scrolls, target sizes, landmarks, ...; not a full audit, which also takes people),
nor on what the page's first form to fill in answers when sent as shown (mostly empty: its errors).

The world is the access test's: organization A's cohort five months in, with a quiz
attempt, handed-in work with a file, a peer review, feedback and expert invitations."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from flask import Flask
from werkzeug.exceptions import HTTPException

from tests.browser.test_browser import sign_in
from tests.conftest import World
from tests.test_access import route_extras

pytestmark = pytest.mark.browser

MAX_PAGES = 250
VARIANTS_PER_PATH = 1  # the same path with another query string (a sort order, a filter): one suffices
WIDTHS = (1280, 320)  # a laptop, and the 320 CSS px WCAG 1.4.10 (reflow) asks every page to fit
# axe-core's rules for WCAG 2.0, 2.1 and 2.2 at levels A and AA, and its best practices
# (landmarks, headings, a name for every table header, ...); violations only. Colour
# contrast, three quarters of axe's time on a page, is checked at the first width only: the
# pages' colours are the same at both.
AXE_RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]},
        "resultTypes": ["violations"]}
AXE_RULES_BUT_CONTRAST = {**AXE_RULES, "rules": {"color-contrast": {"enabled": False}}}
ROLES = {"learner": "learner_a", "learner_other_cohort": "learner_a2", "instructor": "instructor_a",
         "org_admin": "org_admin_a", "admin": "admin"}


class Links(HTMLParser):
    """Every href of a page's links and its <link> elements (the stylesheet, the icon)."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag in ("a", "link") and href:
            self.hrefs.append(href)


def same_site(base: str, href: str) -> str | None:
    url = urldefrag(urljoin(base, href))[0]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "") or parts.netloc not in ("", "localhost"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass
class Crawl:
    status: dict[str, int] = field(default_factory=dict)      # URL -> status
    html: list[str] = field(default_factory=list)             # the URLs that answered 200 with an HTML page
    found_on: dict[str, str] = field(default_factory=dict)    # URL -> the page that linked it first


def crawl(client: Any, start: str = "/home") -> Crawl:
    """Breadth first from ``start``: each URL's status and, for each dead one, the page linking it."""
    result = Crawl()
    seen = result.status
    found_on = result.found_on
    found_on[start] = "(start)"
    per_path: dict[str, int] = {}
    queue = deque([start])
    while queue and len(seen) < MAX_PAGES:
        url = queue.popleft()
        if url in seen:
            continue
        response = client.get(url)
        response.close()  # a file's response holds the file open until closed
        seen[url] = response.status_code
        if response.status_code in (301, 302, 303, 307, 308):
            target = same_site("http://localhost" + url, response.headers["Location"])
            if target and target not in seen:
                found_on.setdefault(target, url)
                queue.append(target)
            continue
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        result.html.append(url)
        parser = Links()
        parser.feed(response.get_data(as_text=True))
        for href in parser.hrefs:
            target = same_site("http://localhost" + url, href)
            if target is None or target in seen or target in found_on or target.startswith("/logout"):
                continue
            path = target.split("?")[0]
            if "?" in target and per_path.get(path, 0) >= VARIANTS_PER_PATH:
                continue
            per_path[path] = per_path.get(path, 0) + 1
            found_on[target] = url
            queue.append(target)
    return result


# The elements that stick out of the page's width, outermost first (for the failure message).
WIDEST = """() => {
  const limit = document.scrollingElement.clientWidth, out = [];
  const clipped = (el) => { for (let p = el.parentElement; p; p = p.parentElement) {
    if (getComputedStyle(p).overflowX !== "visible") return true; } return false; };
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.right > limit + 1 && !clipped(el)) {
      out.push(`${el.tagName.toLowerCase()}.${[...el.classList].join(".")}#${el.id} (${Math.round(box.left)}-${Math.round(box.right)})`);
    }
  }
  return out.slice(0, 8).join(", ");
}"""


def endpoint_of(app: Flask, url: str) -> str:
    adapter = app.url_map.bind("localhost")
    try:
        return str(adapter.match(url.split("?")[0])[0])
    except HTTPException:
        return url


def test_no_dead_links_no_sideways_scrolling_and_no_wcag_violations(app: Flask, server_url: str, load_content,
                                                                    world: World, login, browser) -> None:
    load_content()
    route_extras(app, world)
    # What axe checks is the pages' HTML and CSS, the same whichever database made them: the
    # audit runs in the SQLite run of the suite, not again in the PostgreSQL one (half a
    # minute of CI); the links and the widths are checked in both.
    on_postgresql = not str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite")
    checked: set[str] = set()  # endpoints already seen in the browser (by an earlier role)
    problems = []
    for role, name in ROLES.items():
        user = getattr(world, name)
        client = app.test_client()
        app.config["WTF_CSRF_ENABLED"] = False  # the test client signs in without a token; the browser below with one
        login(client, user)
        started = time.perf_counter()
        found = crawl(client)
        crawled = time.perf_counter() - started
        app.config["WTF_CSRF_ENABLED"] = True
        problems += [f"{role}: {status} {url} (linked from {found.found_on.get(url)})" for url, status in found.status.items()
                     if status in (401, 403, 404, 405) or status >= 500]
        assert len(found.html) > 20, f"{role}: the crawl reached only {found.html}"
        # One page of each kind (endpoint) no earlier role showed, in the browser at both widths.
        kinds: dict[str, str] = {}
        for url in found.html:
            kind = endpoint_of(app, url)
            if kind not in checked:
                kinds.setdefault(kind, url)
        checked |= set(kinds)
        started = time.perf_counter()
        problems += [f"{role}: {line}" for line in in_the_browser(browser, server_url, user.email, list(kinds.values()),
                                                                  audit=not on_postgresql)]
        print(f"{role}: {len(found.status)} URLs crawled in {crawled:.1f} s, {len(kinds)} pages in the browser in "
              f"{time.perf_counter() - started:.1f} s")
    assert problems == [], "\n".join(problems)


# The fields to type in or choose from whose edge stands out from what is behind them by less
# than 3:1 (WCAG 1.4.11, non-text contrast; axe does not check it): neither their border nor
# their own background. Colours as the browser computed them (rgb or rgba, opaque here).
FAINT_FIELDS = """() => {
  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = c => { const [r, g, b] = rgb(c).slice(0, 3).map(v => { v /= 255;
    return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const opaque = c => c && rgb(c).length >= 3 && (rgb(c).length < 4 || rgb(c)[3] > 0);
  const behind = el => { for (let p = el.parentElement; p; p = p.parentElement) {
    const c = getComputedStyle(p).backgroundColor; if (opaque(c)) return c; } return "rgb(255, 255, 255)"; };
  const out = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (["hidden", "submit", "button", "checkbox", "radio", "file"].includes(el.type) || !el.offsetParent) continue;
    const style = getComputedStyle(el), back = behind(el);
    const edge = parseFloat(style.borderTopWidth) > 0 ? ratio(style.borderTopColor, back) : 0;
    const fill = opaque(style.backgroundColor) ? ratio(style.backgroundColor, back) : 0;
    if (Math.max(edge, fill) < 3) out.push(`${el.tagName.toLowerCase()}[name=${el.name}] ${Math.max(edge, fill).toFixed(2)}:1`);
  }
  return out.slice(0, 5);
}"""


def wcag_violations(page: Any, options: dict[str, Any]) -> list[str]:
    """What axe-core (the copy ``axe-playwright-python`` bundles, put in the page once) finds
    on ``page`` with ``options``: each rule broken, its impact, and the first elements breaking it."""
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.evaluate(AXE_SCRIPT)
    found = []
    for rule in page.evaluate("options => axe.run(document, options).then(results => results.violations)", options):
        nodes = rule["nodes"]
        where = "; ".join(" ".join(node["target"]) for node in nodes[:3]) + (f" and {len(nodes) - 3} more" if len(nodes) > 3 else "")
        found.append(f"{rule['id']} ({rule['impact']}: {rule['help']}) at {where}")
    return found


def in_the_browser(browser: Any, server_url: str, email: str, urls: list[str], audit: bool = True) -> list[str]:
    """The pages among ``urls`` that scroll sideways at one of the ``WIDTHS`` (and what sticks
    out), or (with ``audit``) break a WCAG rule axe-core checks at that width."""
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, server_url, email)
    found = []
    for url in urls:
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})
        response = page.goto(server_url + url)
        if response is None or response.status != 200:
            found.append(f"{url} answered {response and response.status} in the browser")
            continue
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            scroll, client_width = page.evaluate(
                "() => [document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]")
            if scroll > client_width:
                found.append(f"{url} at {width} px: {scroll} > {client_width}: {page.evaluate(WIDEST)}")
            if audit:
                rules = AXE_RULES if width == WIDTHS[0] else AXE_RULES_BUT_CONTRAST
                found += [f"{url} at {width} px: {violation}" for violation in wcag_violations(page, rules)]
                if width == WIDTHS[0]:
                    found += [f"{url}: a field's edge is faint (WCAG 1.4.11): {field}" for field in page.evaluate(FAINT_FIELDS)]
        if audit:
            found += refused_form(page, url)
    context.close()
    return found


# The page's first form a person fills in (a field to type in or choose from, not only
# buttons and boxes), by the position of its form among the page's POST forms; none whose
# action would end the session, reach another server, or send or run something at once.
FILLED_IN = """skip => {
  const forms = [...document.querySelectorAll("form")].filter(f => f.method === "post");
  const typed = f => [...f.elements].some(e => ["INPUT", "SELECT", "TEXTAREA"].includes(e.tagName)
    && !["hidden", "submit", "button", "checkbox", "radio", "search"].includes(e.type));
  return forms.findIndex(f => typed(f) && !new RegExp(skip).test(f.getAttribute("action") || ""));
}"""
NOT_SENT = r"logout|sessions|erase|deactivat|delete|revoke|roster|/run|retry|send|archive|two-factor"


def refused_form(page: Any, url: str) -> list[str]:
    """The page's first form a person fills in, sent as the page shows it (mostly empty; the
    browser's own checks off, as an old browser or a script would send it), and what axe
    finds on the answer: the form shown again with its errors, or wherever it leads."""
    index = page.evaluate(FILLED_IN, NOT_SENT)
    if index < 0:
        return []
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    with page.expect_navigation():
        page.evaluate("""index => { const form = [...document.querySelectorAll("form")].filter(f => f.method === "post")[index];
                                    form.noValidate = true; form.requestSubmit(); }""", index)
    if page.evaluate("() => document.contentType") != "text/html":
        return []
    return [f"{url}, its form sent as shown: {violation}" for violation in wcag_violations(page, AXE_RULES)]
