"""The geometry of the trend charts the pages draw as inline SVG (no JavaScript): where
each figure and the target line sit. Pure functions of a metric's figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lms.kpi.services import MetricTrend
from lms.web.charts import Frame, Tick, polyline


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    label: str        # "March 2025: 97%"
    meets: bool


@dataclass(frozen=True)
class Chart(Frame):
    dots: list[Dot]
    target_y: float
    target_label: str
    summary: str      # what the chart shows, for screen readers
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    font_size: int = 12  # of the labels, in chart units (the page scales the chart to its width)

    @property
    def line(self) -> str:
        """The ``points`` of the polyline joining the figures."""
        return polyline(self.dots)


# A month label's width ("Aug 26") in its font size, with room either side.
LABEL_WIDTH = 3.6


def _month_number(day: date) -> int:
    return day.year * 12 + day.month - 1


def _value_range(trend: MetricTrend) -> tuple[float, float]:
    """The figures and the target with some room around them, inside the metric's range."""
    metric = trend.metric
    values = [e.value for e in trend.entries] + [metric.target]
    low, high = min(values), max(values)
    span = high - low or max(abs(high) * 0.1, 1.0)
    low, high = max(metric.min_value, low - span * 0.15), min(metric.max_value, high + span * 0.15)
    return (low, high) if high > low else (metric.min_value, metric.max_value)


def _summary(trend: MetricTrend) -> str:
    metric, entries = trend.metric, trend.entries
    target = f"target {metric.target_label}"
    if not entries:
        return f"{metric.name}: no figures yet; {target}."
    first, last = entries[0], entries[-1]
    if len(entries) == 1:
        return f"{metric.name}: {trend.format(first.value)} in {first.period:%B %Y}; {target}."
    return (f"{metric.name}: {len(entries)} figures, from {trend.format(first.value)} in {first.period:%B %Y} "
            f"to {trend.format(last.value)} in {last.period:%B %Y}; {target}.")


def build_chart(trend: MetricTrend, width: int, height: int, axes: bool = False, month_labels: int = 8,
                font_size: int = 12) -> Chart:
    """A chart ``width`` x ``height`` units; with ``axes`` it keeps room for month and
    value labels (the detail page: at most about ``month_labels`` month labels, ``font_size``
    units high), without it is a bare sparkline (the tracker)."""
    left, right = (4.4 * font_size, width - 28.0) if axes else (6.0, width - 6.0)  # room for "52.8%"
    top, bottom = (10.0, height - 12.0 - font_size) if axes else (6.0, height - 6.0)
    low, high = _value_range(trend)

    def y_of(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - top)

    months = [_month_number(e.period) for e in trend.entries]
    first, last = (months[0], months[-1]) if months else (0, 0)

    def x_of(month: int) -> float:
        return (left + right) / 2 if last == first else left + (month - first) / (last - first) * (right - left)

    dots = [Dot(x=x_of(m), y=y_of(e.value), label=f"{e.period:%B %Y}: {trend.format(e.value)}",
                meets=trend.metric.meets(e.value)) for m, e in zip(months, trend.entries, strict=True)]
    step = max(1, -(-len(dots) // month_labels))
    x_ticks = [Tick(at=dots[i].x, label=f"{trend.entries[i].period:%b %y}") for i in range(0, len(dots), step)] if axes else []
    if axes and dots and (len(dots) - 1) % step:
        if dots[-1].x - x_ticks[-1].at < LABEL_WIDTH * font_size:  # the last month's label takes the place of one it would overlap
            x_ticks.pop()
        x_ticks.append(Tick(at=dots[-1].x, label=f"{trend.entries[-1].period:%b %y}"))
    y_ticks = [Tick(at=y_of(v), label=trend.format(round(v, 1) + 0.0)) for v in (low, high)] if axes else []
    return Chart(width=width, height=height, left=left, right=right, top=top, bottom=bottom, dots=dots,
                 target_y=y_of(trend.metric.target), target_label=f"Target {trend.metric.target_label}",
                 summary=_summary(trend), x_ticks=x_ticks, y_ticks=y_ticks, font_size=font_size)


def sparkline(trend: MetricTrend) -> Chart:
    return build_chart(trend, 240, 64)


def large_chart(trend: MetricTrend) -> Chart:
    return build_chart(trend, 640, 260, axes=True)


def narrow_chart(trend: MetricTrend) -> Chart:
    """The detail page's chart for a phone: drawn about as wide as the screen shows it (the
    wide chart, scaled down to a 390 px screen, drew its labels 6 px high), with at most four
    month labels so they stay apart at 13 units (at least 12 px as shown there)."""
    return build_chart(trend, 320, 240, axes=True, month_labels=4, font_size=13)
