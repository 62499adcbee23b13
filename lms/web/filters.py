"""Template filters: times are stored in UTC and shown in the signed-in person's zone."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from flask import Flask
from markupsafe import Markup, escape

from lms.database import zone_named
from lms.web.access import requesting_user


def _zone() -> ZoneInfo:
    return zone_named(getattr(requesting_user(), "timezone", None))


def localtime(value: datetime | None) -> str:
    if value is None:
        return ""
    local = value.astimezone(_zone())
    return local.strftime("%d %b %Y, %H:%M ") + (local.tzname() or "")


def zone_name() -> str:
    """The signed-in person's time zone, as pages name it beside dates shown in it ("Europe/Paris")."""
    return str(_zone())


def localdate(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(_zone()).strftime("%d %b %Y")


def localdeadline(value: datetime | None, zone: ZoneInfo | None = None) -> str:
    """A cohort's midnight (a due day's end, an opening day's start) as the signed-in
    person's clock reads it (or the clock of ``zone``, for a notice to someone else), when
    that is not their own midnight: "16:00 PST on Sun 03 Jan"; empty at their midnight (the
    date shown says it all), so only people in another zone see an hour."""
    if value is None:
        return ""
    local = value.astimezone(zone or _zone())
    if local.time() == time(0):
        return ""
    return local.strftime("%H:%M ") + (local.tzname() or "") + local.strftime(" on %a %d %b")


def due_day(day: date, moment: datetime | None, closes: bool) -> str:
    """The date a page shows after "due" or "closes": ``day``, or for a quiz or exam that
    closes as its day begins (work is due by the end of its day) the hour too at the viewer's
    own midnight: "07 Mar 2027, 00:00 GMT", as the quiz page says it. A viewer in another zone
    reads the date and the hour on their clock beside it (``localdeadline``, ``your_time``)."""
    if closes and moment is not None and not localdeadline(moment):
        return localtime(moment)
    return day.strftime("%d %b %Y")


def your_time(moment: datetime | None, word: str) -> Markup:
    """What a page adds to a cohort's date for a viewer in another zone: " (by 16:00 PST on
    Sun 03 Jan, your time)" (``localdeadline``), or nothing at their own midnight. ``word``
    says how the moment relates to the date: "by", "at", "from"."""
    until = localdeadline(moment)
    if not until:
        return Markup("")
    return Markup(f' <span class="deadline">({escape(word)} {escape(until)}, your time)</span>')  # noqa: S704 - escaped


def init_app(app: Flask) -> None:
    app.add_template_global(your_time, "your_time")
    app.add_template_global(due_day, "due_day")
    app.add_template_global(zone_name, "zone_name")
    app.add_template_filter(localtime, "localtime")
    app.add_template_filter(localdate, "localdate")
    app.add_template_filter(localdeadline, "localdeadline")
