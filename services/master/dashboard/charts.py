"""Bar charts as SVG geometry, drawn by the templates: no chart library, no script, and the
charts render in any browser, with the numbers also given as text for screen readers."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    css: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    top: float  # the value of the chart's top edge
    bars: list[Bar]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    raise AssertionError("unreachable")


def stacked(
    columns: list[list[tuple[float, str, str]]], width: int = 600, height: int = 120
) -> Chart:
    """One column per entry, each a stack of (value, label, css class) from the bottom."""
    top = nice_ceiling(max((sum(v for v, _, _ in column) for column in columns), default=0))
    slot = width / max(1, len(columns))
    bars = []
    for index, column in enumerate(columns):
        base = float(height)
        for value, label, css in column:
            if value <= 0:
                continue
            size = value / top * height
            base -= size
            bars.append(Bar(index * slot + 1, base, max(1.0, slot - 2), size, label, css))
    return Chart(width, height, top, bars)
