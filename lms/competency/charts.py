"""The geometry of the mastery trend chart, drawn as inline SVG by the template (no
JavaScript): one line per kind of objective across the program months so far. Pure
functions of the trend's figures."""

from __future__ import annotations

from dataclasses import dataclass

from lms.catalog.models import KINDS, ObjectiveKind
from lms.competency.services import TrendPage
from lms.progress.methods import SCALE
from lms.web.charts import Frame, Tick, polyline

KIND_LABELS = {ObjectiveKind.KNOWLEDGE: "Knowledge objectives", ObjectiveKind.SKILL: "Skill objectives",
               ObjectiveKind.APPLICATION: "Application objectives"}


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    label: str  # "Month 3: 2.4"


@dataclass(frozen=True)
class Series:
    kind: ObjectiveKind
    label: str
    dots: list[Dot]

    @property
    def line(self) -> str:
        return polyline(self.dots)


@dataclass(frozen=True)
class TrendChart(Frame):
    series: list[Series]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    bar_y: float
    bar_label: str
    summary: str


def trend_chart(page: TrendPage, width: int = 720, height: int = 300) -> TrendChart:
    left, right, top, bottom = 44.0, width - 16.0, 12.0, height - 34.0
    months = [p.month for p in page.points] or [1]
    first, last = months[0], max(months[-1], months[0] + 1)

    def x_of(month: int) -> float:
        return left + (month - first) / (last - first) * (right - left)

    def y_of(level: float) -> float:
        return bottom - level / SCALE * (bottom - top)

    series = []
    for kind in KINDS:
        dots = [Dot(x_of(p.month), y_of(value), f"Month {p.month}: {value:.2f}")
                for p in page.points if (value := p.kinds.get(kind)) is not None]
        series.append(Series(kind=kind, label=KIND_LABELS[kind], dots=dots))
    bar = page.policy.at_risk_below
    latest = page.points[-1] if page.points else None
    if latest is None:
        summary = "No program month has begun yet, so there is no trend to show."
    else:
        figures = "; ".join(f"{KIND_LABELS[k].lower()} {v:.2f}" if (v := latest.kinds.get(k)) is not None
                            else f"{KIND_LABELS[k].lower()} no evidence" for k in KINDS)
        summary = f"Mean mastery by month from month {page.points[0].month} to month {latest.month}; latest: {figures}."
    return TrendChart(
        width=width, height=height, left=left, right=right, top=top, bottom=bottom, series=series,
        x_ticks=[Tick(x_of(m), f"M{m}") for m in range(first, last + 1)],
        y_ticks=[Tick(y_of(float(v)), str(v)) for v in range(int(SCALE) + 1)],
        bar_y=y_of(bar), bar_label=f"{page.policy.name_of(bar)} ({bar:g})", summary=summary)
