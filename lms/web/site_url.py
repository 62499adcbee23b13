"""The site's own address in every absolute URL it builds: mailed links (password reset,
unlock, invitations, feedback requests, notifications), the ids in certificates, badges,
xAPI statements and the framework, calendar feeds, share links, single sign-on and LTI.

A request's Host header is the client's to choose: a "forgot password" sent with
``Host: evil.example`` would have mailed the victim a valid reset link to evil.example. With
``BASE_URL`` set (``LMS_BASE_URL``, an origin such as https://lms.example.org) every
``url_for(..., _external=True)`` and ``site_root()`` uses its scheme and host, whatever the
request said, and ``TRUSTED_HOSTS`` (``LMS_TRUSTED_HOSTS``, else BASE_URL's host) answers 400
to a request naming another host before any view runs. Production refuses to start without
BASE_URL. Without it (development, tests) the request's own address is used."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Request, Response, current_app, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import SecurityError
from werkzeug.routing import MapAdapter


def origin_of(base_url: str) -> tuple[str, str]:
    """``(scheme, host[:port])`` of a BASE_URL, refused at start unless it is an origin."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") \
            or parts.query or parts.fragment or parts.username or parts.password:
        raise RuntimeError(f"LMS_BASE_URL={base_url!r}: give the site's origin, e.g. https://lms.example.org "
                           "(http or https, a host, an optional port, no path)")
    return parts.scheme, parts.netloc


def trusted_hosts(config: Mapping[str, Any]) -> list[str] | None:
    """The hosts requests may name: LMS_TRUSTED_HOSTS (a comma list; a leading dot takes
    every subdomain), else BASE_URL's host, else any (None)."""
    listed = [host.strip() for host in os.environ.get("LMS_TRUSTED_HOSTS", "").split(",") if host.strip()]
    if listed:
        return listed
    base = str(config.get("BASE_URL") or "")
    return [str(urlsplit(base).hostname)] if base else None


HEALTH_CHECK = "/healthz"  # answers "ok" and builds no link


class SiteFlask(Flask):
    """Flask whose URL adapter builds absolute URLs under BASE_URL when it is set."""

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:
        # Flask checks the request's Host against TRUSTED_HOSTS here (a 400 when it is not one),
        # except for the health check: a load balancer's names the node, or nothing.
        try:
            adapter = super().create_url_adapter(request)
        except SecurityError:
            if request is None or request.path != HEALTH_CHECK:
                raise
            adapter = self.url_map.bind_to_environ(request.environ, subdomain="")
        base = str(self.config.get("BASE_URL") or "")
        if not base:
            return adapter
        scheme, host = origin_of(base)
        if adapter is None:  # outside a request (commands, jobs): url_for works too
            return self.url_map.bind(host, script_name=self.config.get("APPLICATION_ROOT") or "/", url_scheme=scheme)
        adapter.url_scheme, adapter.server_name = scheme, host
        return adapter

    def preprocess_request(self) -> ResponseReturnValue | None:
        # A host not trusted left the request without a URL adapter: answer 400 before any
        # before_request hook (one that redirects would need it).
        if isinstance(request.routing_exception, SecurityError):
            raise request.routing_exception
        return super().preprocess_request()


def untrusted_host(error: SecurityError) -> Response:
    """A plain 400: the page template needs the URL adapter the request has none of."""
    return Response("Bad request: this site does not answer to that host name.\n", 400, mimetype="text/plain")


def site_root() -> str:
    """The site's root URL with a trailing slash: BASE_URL's, else the request's."""
    base = str(current_app.config.get("BASE_URL") or "").rstrip("/")
    return f"{base}{request.script_root}/" if base else request.url_root


def init_app(app: Flask) -> None:
    """Check BASE_URL and fill TRUSTED_HOSTS from it (after the app's overrides)."""
    base = str(app.config.get("BASE_URL") or "").rstrip("/")
    app.config["BASE_URL"] = base
    if base:
        origin_of(base)
    elif app.config.get("ENV_NAME") == "production":
        raise RuntimeError("No LMS_BASE_URL: set it to the site's address (e.g. https://lms.example.org). "
                           "Without it, mailed links (password resets, invitations) would name whatever "
                           "host a request's Host header gave.")
    app.register_error_handler(SecurityError, untrusted_host)
    if app.config.get("TRUSTED_HOSTS") is None:
        app.config["TRUSTED_HOSTS"] = trusted_hosts(app.config)
