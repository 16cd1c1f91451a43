from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# Pulumi runs infra/__main__.py with infra/ first on sys.path; its modules import each other so.
INFRA = Path(__file__).resolve().parents[2] / "infra"
if str(INFRA) not in sys.path:
    sys.path.insert(0, str(INFRA))

from infra_invariants import Expect  # noqa: E402
from infra_render import SECRET_CONFIG, Rendered, render  # noqa: E402

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
}


def expect_for(rendered: Rendered) -> Expect:
    return Expect(
        namespace=rendered.outputs["namespace"],
        built_image=rendered.outputs["image"],
        secret_values=tuple(SECRET_CONFIG.values()),
    )


@pytest.fixture(scope="session")
def rendered_variants() -> dict[str, Rendered]:
    return {name: render(config) for name, config in VARIANTS.items()}


@pytest.fixture(scope="session")
def default_stack(rendered_variants: dict[str, Rendered]) -> Rendered:
    """The stack with no config but the secrets: what `minikube start --nodes 3` gets."""
    return rendered_variants["minikube-defaults"]


@pytest.fixture
def render_stack() -> Callable[..., Rendered]:
    return render
