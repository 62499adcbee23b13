"""Links whose URL is the same on every request, such as the layout's navigation (about
twenty a page) or a cohort's heat map's sorts and pages: ``fixed_url(endpoint, **values)``
(values that are strings, integers or None) answers what ``url_for`` answers, built once
per app for each script root and subdomain the requests come with. Links a page repeats
with values of its own (a learner's page linked once per reason, with a different anchor
each time): ``request_url``, built once a request for each endpoint and values.

A URL is remembered only when it came out without scheme and host (the route is on the
request's subdomain, no host matching) and the app has no URL defaults functions, so the
answer depends on nothing but the endpoint, its values, the script root and the subdomain;
anything else is left to ``url_for`` on every call."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Flask, current_app, g, has_request_context, url_for
from flask.globals import request_ctx

FIXED_URLS = "lms.fixed_urls"
REQUEST_URLS = "lms_request_urls"  # g: this request's URLs by (endpoint, values)
ANCHOR_SAFE = "%!#$&'()*+,/:;=?@"  # what ``url_for`` leaves as it is in an anchor
KEPT = 1024  # URLs remembered per app at most (a few dozen in use); past that the memory starts again


def fixed_url(endpoint: str, **values: Any) -> str:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # Flask types the proxy as the app itself
    adapter = request_ctx.url_adapter if has_request_context() else None
    if (adapter is None or app.url_map.host_matching or endpoint.startswith(".") or any(app.url_default_functions.values())
            or not all(value is None or type(value) in (str, int) for value in values.values())):
        return url_for(endpoint, **values)
    kept: dict[tuple[object, ...], str] = app.extensions.setdefault(FIXED_URLS, {})
    key = (adapter.script_name, adapter.subdomain, endpoint, *sorted(values.items()))
    found = kept.get(key)
    if found is None:
        found = url_for(endpoint, **values)
        if found.startswith("/") and not found.startswith("//"):
            if len(kept) >= KEPT:
                kept.clear()
            kept[key] = found
    return found


def request_url(endpoint: str, values: tuple[tuple[str, Any], ...], anchor: str | None = None) -> str:
    """What ``url_for(endpoint, _anchor=anchor, **dict(values))`` answers, the URL without
    its anchor built once a request for each endpoint and values."""
    built: dict[tuple[str, tuple[tuple[str, Any], ...]], str] = g.setdefault(REQUEST_URLS, {})
    key = (endpoint, values)
    url = built.get(key)
    if url is None:
        url = built[key] = url_for(endpoint, **dict(values))
    return f"{url}#{quote(anchor, safe=ANCHOR_SAFE)}" if anchor else url


def init_app(app: Flask) -> None:
    app.add_template_global(fixed_url, "fixed_url")
