from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# Pulumi runs infra/__main__.py with infra/ first on sys.path; its modules import each other so.
INFRA = Path(__file__).resolve().parents[2] / "infra"
if str(INFRA) not in sys.path:
    sys.path.insert(0, str(INFRA))

from infra_render import Rendered, render  # noqa: E402
from infra_variants import VARIANTS  # noqa: E402


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
