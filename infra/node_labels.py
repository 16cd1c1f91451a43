"""Labels on existing nodes, so node selectors have something to match.

`NodePatch` changes only the labels it names (server-side apply) and gives them back on
`pulumi destroy`; the nodes themselves stay unmanaged.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s


class NodeLabels(pulumi.ComponentResource):
    patches: list[k8s.core.v1.NodePatch]

    def __init__(
        self,
        name: str,
        labels_by_node: Mapping[str, Mapping[str, str]],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("dccf:k8s:NodeLabels", name, {}, opts)
        self.patches = [
            k8s.core.v1.NodePatch(
                f"{name}-{node}",
                metadata={"name": node, "labels": dict(labels)},
                opts=pulumi.ResourceOptions(parent=self),
            )
            for node, labels in sorted(labels_by_node.items())
        ]
        self.register_outputs({})
