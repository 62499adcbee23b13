"""Every page answers with the security headers (issue 17 point 1): a strict CSP without
inline script or style and without framing, nosniff, a referrer policy, a permissions
policy, and HSTS in production only. No template and no rendered page carries what that
CSP would block: style attributes, <style> elements, inline <script>, on* handlers."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

import lms
from lms.web.security import hsts_enabled
from tests.conftest import World
from tests.test_access import ROUTES, route_extras


def csp_directives(value: str) -> dict[str, list[str]]:
    parts = [part.split() for part in value.split(";") if part.strip()]
    return {part[0]: part[1:] for part in parts}


def check_headers(response: Any) -> list[str]:
    headers = response.headers
    wrong = []
    csp = csp_directives(headers.get("Content-Security-Policy", ""))
    if csp.get("default-src") != ["'self'"]:
        wrong.append(f"default-src {csp.get('default-src')}")
    if csp.get("script-src") != ["'self'"]:
        wrong.append(f"script-src {csp.get('script-src')}")
    if csp.get("style-src") != ["'self'"]:
        wrong.append(f"style-src {csp.get('style-src')}")
    if csp.get("frame-ancestors") != ["'none'"]:
        wrong.append(f"frame-ancestors {csp.get('frame-ancestors')}")
    if csp.get("object-src") != ["'none'"]:
        wrong.append(f"object-src {csp.get('object-src')}")
    expected = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
    wrong += [f"{name}: {headers.get(name)!r}" for name, value in expected.items() if headers.get(name) != value]
    permissions = headers.get("Permissions-Policy", "")
    wrong += [f"Permissions-Policy lacks {feature}=()" for feature in ("camera", "microphone", "geolocation")
              if f"{feature}=()" not in permissions]
    if "Strict-Transport-Security" in headers:
        wrong.append("HSTS outside production")
    return wrong


class _InlineFinder(HTMLParser):
    """What a strict CSP blocks in a page: style attributes, <style>, inline <script>, on* handlers."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name.lower() for name, _ in attrs}
        where = f"line {self.getpos()[0]}: <{tag}>"
        if "style" in names:
            self.found.append(f"{where} with a style attribute")
        self.found += [f"{where} with an {name} handler" for name in sorted(names) if name.startswith("on")]
        if tag == "style":
            self.found.append(f"{where} element")
        if tag == "script" and "src" not in names:
            self.found.append(f"{where} inline script")
        if any((value or "").strip().lower().startswith("javascript:") for _, value in attrs):
            self.found.append(f"{where} with a javascript: URL")


def inline_code(page: str) -> list[str]:
    finder = _InlineFinder()
    finder.feed(page)
    finder.close()
    return finder.found


# Jinja's own syntax removed first, so "{{ x }}" inside an attribute does not hide one.
_JINJA = re.compile(r"{#.*?#}|{%.*?%}|{{.*?}}", re.S)
_STYLE_ATTR = re.compile(r"""[\s"'](style\s*=)""", re.I)
_HANDLER = re.compile(r"""[\s"'](on[a-z]+\s*=)""", re.I)
_INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>", re.I)
_STYLE_ELEMENT = re.compile(r"<style\b", re.I)


def template_problems(source: str) -> list[str]:
    text = _JINJA.sub(" ", source)
    problems = []
    for name, pattern in (("style attribute", _STYLE_ATTR), ("on* handler", _HANDLER),
                          ("inline <script>", _INLINE_SCRIPT), ("<style> element", _STYLE_ELEMENT)):
        problems += [f"{name} at line {text.count(chr(10), 0, m.start()) + 1}" for m in pattern.finditer(text)]
    # Jinja expressions that write one (e.g. {{ 'style="..."' }}) are caught on the rendered pages.
    return problems


def test_no_template_holds_inline_style_script_or_handlers() -> None:
    templates = sorted(Path(lms.__file__).parent.rglob("*.html"))
    assert len(templates) > 50
    found = [f"{path.relative_to(Path(lms.__file__).parent)}: {problem}"
             for path in templates for problem in template_problems(path.read_text(encoding="utf-8"))]
    assert found == []


@pytest.mark.parametrize(("source", "problem"), [
    ('<p style="color:red">', "style attribute"), ("<p class=x STYLE = 'a'>", "style attribute"),
    ('<a href="#" onclick="go()">', "on* handler"), ("<body onload=x>", "on* handler"),
    ("<script>alert(1)</script>", "inline <script>"), ("<style>p{}</style>", "<style> element"),
    ('<div class="{{ c }}" style="width: {{ w }}%">', "style attribute"),
])
def test_the_template_check_finds_each_kind(source: str, problem: str) -> None:
    assert [p for p in template_problems(source) if p.startswith(problem)]
    assert template_problems('<script src="/static/x.js"></script><p class="onion-style">{{ "x" }}</p>') == []
    assert inline_code(source.replace("{{ c }}", "c").replace("{{ w }}", "5")) != [] or problem == "inline <script>"


def test_every_get_route_sends_the_security_headers(app: Flask, client, loaded, world: World, login) -> None:
    extra = route_extras(app, world)
    login(client, world.admin)
    wrong = []
    seen = 0
    for endpoint, route in sorted(ROUTES.items()):
        if route.method != "GET" or endpoint == "accounts.logout":
            continue
        url = route.url(world, extra)
        response = client.get(url)
        seen += 1
        wrong += [f"GET {url} ({endpoint}) [{response.status_code}]: {problem}" for problem in check_headers(response)]
        if response.mimetype == "text/html":
            wrong += [f"GET {url} ({endpoint}): {problem}" for problem in inline_code(response.get_data(as_text=True))]
    assert seen > 50
    assert wrong == []


def test_error_pages_posts_and_static_files_send_them_too(app: Flask, client, world: World, login) -> None:
    assert check_headers(client.get("/no-such-page")) == []
    static = client.get("/static/web/style.css")
    assert check_headers(static) == []
    static.close()
    assert check_headers(client.post("/login", data={})) == []
    login(client, world.learner_a)
    assert client.get("/admin/organizations").status_code in (403, 404)
    assert check_headers(client.get("/admin/organizations")) == []


@pytest.mark.parametrize(("env_name", "setting", "sent"), [
    ("production", None, True), ("testing", None, False), ("development", None, False), ("testing", True, True),
    ("production", False, False),
])
def test_hsts_only_in_production(app: Flask, client, env_name: str, setting: bool | None, sent: bool) -> None:
    app.config["ENV_NAME"] = env_name
    if setting is None:
        app.config.pop("HSTS", None)
    else:
        app.config["HSTS"] = setting
    assert hsts_enabled(app) is sent
    response = client.get("/healthz")
    assert ("Strict-Transport-Security" in response.headers) is sent
    if sent:
        assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_a_signed_in_persons_pages_are_not_kept_by_any_cache(app: Flask, client, world: World, login) -> None:
    """A signed-in person's pages say ``private, no-store`` (they said nothing: after signing
    out, or handing in, the back button could show a grade page or a quiz's "Submit attempt"
    page from the browser's cache); pages for everyone and answers that say how they may be
    kept are left as they are."""
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")
    login(client, world.learner_a)
    for url in ("/home", "/account", "/notifications", "/"):
        assert client.get(url).headers.get("Cache-Control") == "private, no-store", url
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers.get("Cache-Control") == "public, max-age=86400"  # its own
    static = client.get("/static/web/style.css")
    assert static.headers.get("Cache-Control") != "private, no-store"
    static.close()
