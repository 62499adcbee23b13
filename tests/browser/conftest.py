"""Fixtures for the browser tests: the test app served on localhost, and Debian's
Chromium driven by Playwright. Only these tests import Playwright."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


class Serving:
    """The app as the test server runs it: each response body closed however its sending
    ends, and the requests in flight counted.

    Werkzeug's development server skips ``close()`` when the browser drops the connection
    mid-body (a navigation cancels a stylesheet download), leaving a static file open for
    the garbage collector; a generator's ``finally`` runs when the server lets go of it.
    The count lets the fixture wait for the last request before the test ends: a request
    thread still running when the ``app`` fixture disposes of the engine would give its
    connection back to the discarded pool, and PostgreSQL's driver then warns, whenever
    the collector gets to it, that an open connection was deleted (failing a later test)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.busy = 0
        self.changed = threading.Condition()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        with self.changed:
            self.busy += 1
        try:
            body = self.app(environ, start_response)
            try:
                yield from body
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()
        finally:
            with self.changed:
                self.busy -= 1
                self.changed.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.busy == 0, timeout)


@pytest.fixture()
def server_url(app: Flask) -> Iterator[str]:
    """Serve the test app on a free localhost port in a thread; yields its base URL.
    CSRF protection is on here, as in production: the browser submits real forms."""
    app.config["WTF_CSRF_ENABLED"] = True
    serving = Serving(app)
    server = make_server("127.0.0.1", 0, serving, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        serving.wait_idle(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright; never a downloaded browser."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
