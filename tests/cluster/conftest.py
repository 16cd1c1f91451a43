"""The cluster tier: DCCF deployed by the real Pulumi engine on the local Kubernetes
(`scripts/dev cluster test` sets it up, runs these, and tears it down).

The tests talk to the master through its Service (DCCF_URL, DCCF_TOKEN) and to the cluster
with kubectl as its admin. They fail, never skip, when the cluster or the stack is missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from localcluster import cluster, config
from localcluster import tools as cluster_tools
from localcluster.kube import Kubectl
from localcluster.layout import ClusterLayout
from localstack.report import StackError


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`pulumi destroy` takes the stack away from every other test: it runs last."""
    items.sort(
        key=lambda item: item.module.__name__.endswith("test_destroy") if item.module else False
    )


@pytest.fixture(scope="session")
def layout() -> ClusterLayout:
    return ClusterLayout.discover()


@pytest.fixture(scope="session")
def kube(layout: ClusterLayout) -> Kubectl:
    try:
        found = cluster.kubectl(layout, cluster_tools.ensure(layout))
    except StackError as error:
        pytest.fail(f"the cluster's tools are not there: {error.message}", pytrace=False)
    if not found.ready():
        pytest.fail(
            "no local cluster answers: start it with `scripts/dev cluster up`", pytrace=False
        )
    if found.attempt("get", "namespace", config.NAMESPACE).returncode != 0:
        pytest.fail(
            f"namespace {config.NAMESPACE} is missing: deploy with `scripts/dev cluster deploy`",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def client(kube: Kubectl) -> Iterator[httpx.Client]:
    url = os.environ.get("DCCF_URL")
    if not url:
        pytest.fail('DCCF_URL is not set: `eval "$(scripts/dev cluster env)"`', pytrace=False)
    token = os.environ.get("DCCF_TOKEN", "")
    with httpx.Client(
        base_url=url,
        headers={"Authorization": f"Bearer {token}"} if token else {},
        timeout=httpx.Timeout(30.0, connect=5.0),
    ) as http:
        yield http
