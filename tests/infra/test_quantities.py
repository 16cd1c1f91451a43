"""Kubernetes quantities scaled by worker slots."""

from __future__ import annotations

import pytest
from k8s_objects import scale_quantity


@pytest.mark.parametrize(
    ("quantity", "times", "scaled"),
    [
        ("250m", 3, "750m"),
        ("2", 3, "6"),
        ("1.5Gi", 2, "3Gi"),
        ("256Mi", 1, "256Mi"),
        ("0.5", 3, "1.5"),
    ],
)
def test_scale_quantity(quantity: str, times: int, scaled: str) -> None:
    assert scale_quantity(quantity, times) == scaled


def test_a_malformed_quantity_is_refused_with_an_example() -> None:
    with pytest.raises(ValueError, match="such as 250m or 2Gi"):
        scale_quantity("two gigs", 2)
