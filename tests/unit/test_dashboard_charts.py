from __future__ import annotations

import pytest

from services.master.dashboard.charts import nice_ceiling, stacked


@pytest.mark.parametrize(
    ("value", "ceiling"),
    [(0, 1), (0.3, 1), (1, 1), (1.5, 2), (3, 5), (7, 10), (11, 20), (420, 500)],
)
def test_nice_ceiling(value: float, ceiling: float) -> None:
    assert nice_ceiling(value) == ceiling


def test_stacked_columns_share_one_scale_and_stack_from_the_bottom() -> None:
    chart = stacked([[(2, "a", "x"), (1, "b", "y")], [(0, "c", "x")], [(4, "d", "x")]], 300, 100)
    assert chart.top == 5
    assert [(b.label, b.css) for b in chart.bars] == [("a", "x"), ("b", "y"), ("d", "x")]
    a, b, d = chart.bars
    assert (a.x, a.y, a.height) == (1, 60, 40)
    assert (b.y, b.height) == (40, 20)
    assert (d.x, d.y, d.height) == (201, 20, 80)
    assert all(bar.width == 98 for bar in chart.bars)


def test_an_empty_chart_has_no_bars() -> None:
    chart = stacked([[(0, "a", "x")]] * 60)
    assert chart.bars == [] and chart.top == 1
