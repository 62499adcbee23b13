"""Every page answers with the security headers (issue 17 point 1): a strict CSP without
inline script and without framing, nosniff, a referrer policy, a permissions policy, and
HSTS in production only."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

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
    if "'unsafe-eval'" in csp.get("style-src", []) or not set(csp.get("style-src", [])) <= {"'self'", "'unsafe-inline'"}:
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


def test_every_get_route_sends_the_security_headers(app: Flask, client, load_content, world: World, login) -> None:
    load_content()
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
