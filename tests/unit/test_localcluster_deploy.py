"""`scripts/dev cluster`'s reading of the Pulumi engine's change summary."""

from __future__ import annotations

from localcluster import deploy
from pulumi import automation as auto


def test_change_counts_are_keyed_by_the_plain_operation_names() -> None:
    # The engine's JSON gives plain strings; the SDK's type says OpType: both read the same.
    summary = {"same": 12, auto.OpType.CREATE: 2}
    assert deploy._counts(summary) == {"same": 12, "create": 2}
    assert deploy._counts(None) == {}
