"""Shared geometry for the inline SVG charts pages draw server-side (no JavaScript): the
plot frame, axis ticks and polylines. Features build their own series on top."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Tick:
    at: float  # x or y in chart units
    label: str


@dataclass(frozen=True)
class Frame:
    """A chart ``width`` x ``height`` units whose plot area runs from ``left`` to ``right``
    and from ``top`` to ``bottom`` (SVG y grows downward)."""

    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float


class Point(Protocol):
    # Read-only, so frozen dataclasses (the charts' dots) are points too.
    @property
    def x(self) -> float: ...
    @property
    def y(self) -> float: ...


def polyline(points: Iterable[Point]) -> str:
    """The ``points`` attribute of an SVG polyline through ``points``."""
    return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in points)
