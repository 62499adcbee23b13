"""Security headers on every response, set in one ``after_request`` hook.

The Content-Security-Policy allows scripts from the platform only (no inline script,
no ``on*`` handlers), no framing (``frame-ancestors 'none'`` and ``X-Frame-Options``),
and images, fonts, forms and connections to the platform's own origin. Styles come
from the stylesheet only: no ``style=""`` attributes and no ``<style>`` elements
(tests/test_security_headers.py checks every template and every rendered page). HSTS is
sent only in production, or when ``HSTS`` is set.

A response to a signed-in person that says nothing of caching is ``Cache-Control:
private, no-store``: their pages (grades, feedback, a quiz's "Submit attempt" page) are
neither kept by a shared cache nor shown again from the browser's after they sign out or
hand in (the back button fetches afresh, and the server says where things stand). Pages for
everyone are left as they are."""

from __future__ import annotations

from flask import Flask, Response, current_app

from lms.web.access import requesting_user

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
HSTS = "max-age=31536000; includeSubDomains"
PRIVATE = "private, no-store"  # a signed-in person's response that sets no Cache-Control of its own

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
}


def hsts_enabled(app: Flask) -> bool:
    """``HSTS`` in the config decides; by default only the production config sends it."""
    return bool(app.config.get("HSTS", app.config.get("ENV_NAME") == "production"))


_HEADERS = tuple((name, name.lower(), value) for name, value in HEADERS.items())


def add_security_headers(response: Response) -> Response:
    """Each header the view did not set itself (as ``setdefault`` would, with one pass over
    the response's headers instead of a failed lookup per missing one)."""
    headers = response.headers
    present = {name.lower() for name, _value in headers.items()}
    for name, lower, value in _HEADERS:
        if lower not in present:
            headers.add(name, value)
    if "strict-transport-security" not in present and hsts_enabled(current_app):
        headers.add("Strict-Transport-Security", HSTS)
    if "cache-control" not in present and getattr(requesting_user(), "is_authenticated", False):
        headers.add("Cache-Control", PRIVATE)
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
