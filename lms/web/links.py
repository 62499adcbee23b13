"""Links whose URL is the same on every request, such as the layout's navigation (about
twenty a page): ``fixed_url(endpoint, **values)`` answers what ``url_for`` answers, built
once per app for each script root and subdomain the requests come with.

A URL is remembered only when it came out without scheme and host (the route is on the
request's subdomain, no host matching) and the app has no URL defaults functions, so the
answer depends on nothing but the endpoint, its values, the script root and the subdomain;
anything else is left to ``url_for`` on every call."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, has_request_context, url_for
from flask.globals import request_ctx

FIXED_URLS = "lms.fixed_urls"
KEPT = 1024  # URLs remembered per app at most (a few dozen in use); past that the memory starts again


def fixed_url(endpoint: str, **values: Any) -> str:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # Flask types the proxy as the app itself
    adapter = request_ctx.url_adapter if has_request_context() else None
    if (adapter is None or app.url_map.host_matching or endpoint.startswith(".") or any(app.url_default_functions.values())
            or not all(type(value) is str for value in values.values())):
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


def init_app(app: Flask) -> None:
    app.add_template_global(fixed_url, "fixed_url")
