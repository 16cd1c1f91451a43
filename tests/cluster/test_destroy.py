"""`pulumi destroy` leaves no object of the stack behind (runs last: see conftest.py)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from localcluster import config
from localcluster.kube import Kubectl

from .pods import wait_for

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]


def leftovers(kube: Kubectl) -> list[str]:
    found = []
    if kube.attempt("get", "namespace", config.NAMESPACE).returncode == 0:
        found.append(f"namespace {config.NAMESPACE}")
    for node in kube.get("nodes")["items"]:
        labels = node["metadata"].get("labels") or {}
        for key in {k for labels_ in config.NODE_LABELS.values() for k in labels_}:
            if key in labels:
                found.append(f"label {key} on node {node['metadata']['name']}")
    for volume in kube.get("persistentvolumes")["items"]:
        claim = volume["spec"].get("claimRef") or {}
        if claim.get("namespace") == config.NAMESPACE:
            found.append(f"volume {volume['metadata']['name']} of {claim.get('name')}")
    return found


def test_destroy_leaves_no_object_of_the_stack(kube: Kubectl) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [str(REPO / "scripts" / "dev"), "cluster", "destroy"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-3000:]
    print(f"pulumi destroy took {time.monotonic() - started:.1f} s")
    # Released volumes are deleted by the provisioner within its next rounds.
    wait_for(lambda: not leftovers(kube), 120, "the stack's objects to be gone")
    assert leftovers(kube) == []
