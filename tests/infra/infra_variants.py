"""The stack configs the infra tests render, and what each rendering must satisfy.

Kept out of conftest.py: `from conftest import ...` resolves to whichever test tier's
conftest pytest loaded first when several tiers run together.
"""

from __future__ import annotations

from typing import Any

from infra_invariants import Expect
from infra_render import SECRET_CONFIG, Rendered

# Stack configs that must each render a consistent cluster.
VARIANTS: dict[str, dict[str, Any]] = {
    "minikube-defaults": {},
    "five-brokers": {"kafkaReplicas": 5, "kafkaPartitions": 12},
    "two-brokers": {"kafkaReplicas": 2},
    "other-namespace": {"namespace": "dccf-staging"},
    "cloud-no-node-labels": {
        "nodeLabels": {},
        "masterNodeSelector": {},
        "workerNodeSelector": {},
        "storageClass": "premium-rwo",
        "imageRegistry": "registry.example.com/team",
    },
    "prebuilt-image": {"image": "registry.example.com/dccf-services:1.2.3"},
    "three-slots-per-worker": {"workerSlots": 3},
    # What `scripts/dev cluster deploy` sets (scripts/localcluster/deploy.py).
    "local-cluster": {
        "nodeLabels": {"dccf-node-1": {"role": "master-node"}, "dccf-node-2": {"role": "worker"}},
        "serviceType": "ClusterIP",
        "kafkaImage": "dccf-local/kafka:4.4.0",
        "postgresImage": "dccf-local/postgres:15-bookworm",
        "dindImage": "dccf-local/dind:20.10-bookworm",
        "dindSecurity": "capabilities",
        "imageLoadCommand": ["scripts/dev", "cluster", "load-image"],
        "readyTimeoutSeconds": 420,
    },
}


def expect_for(rendered: Rendered) -> Expect:
    return Expect(
        namespace=rendered.outputs["namespace"],
        built_image=rendered.outputs["image"],
        secret_values=tuple(SECRET_CONFIG.values()),
    )
