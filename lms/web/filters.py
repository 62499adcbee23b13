"""Template filters: times are stored in UTC and shown in the signed-in person's zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask

from lms.database import zone_named
from lms.web.access import requesting_user


def _zone() -> ZoneInfo:
    return zone_named(getattr(requesting_user(), "timezone", None))


def localtime(value: datetime | None) -> str:
    if value is None:
        return ""
    local = value.astimezone(_zone())
    return local.strftime("%d %b %Y, %H:%M ") + (local.tzname() or "")


def localdate(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(_zone()).strftime("%d %b %Y")


def init_app(app: Flask) -> None:
    app.add_template_filter(localtime, "localtime")
    app.add_template_filter(localdate, "localdate")
