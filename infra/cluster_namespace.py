"""The namespace everything else lives in."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
from k8s_objects import created_name


class ClusterNamespace(pulumi.ComponentResource):
    name: pulumi.Output[str]

    def __init__(self, name: str, namespace: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("dccf:k8s:ClusterNamespace", name, {}, opts)
        ns = k8s.core.v1.Namespace(
            name,
            metadata={
                "name": namespace,
                "labels": {
                    "app.kubernetes.io/part-of": "dccf",
                    # The workers' Docker daemons run privileged; say so to Pod Security
                    # Admission rather than fail on clusters that enforce a stricter level.
                    "pod-security.kubernetes.io/enforce": "privileged",
                },
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = ns.metadata.apply(created_name)
        self.register_outputs({"name": self.name})
