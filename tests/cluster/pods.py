"""The deployed stack's pods as kubectl sees them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from localcluster import config
from localcluster.kube import Kubectl

T = TypeVar("T")
NAMESPACE = config.NAMESPACE
DIND_SOCKET = "unix:///var/run/dind/docker.sock"


def pods(kube: Kubectl, component: str) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/component={component}"
    items: list[dict[str, Any]] = kube.get("pods", "-n", NAMESPACE, "-l", selector)["items"]
    return items


def ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    alive = pod["metadata"].get("deletionTimestamp") is None
    return alive and any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def wait_for(check: Callable[[], T | None], seconds: float, what: str, interval: float = 1) -> T:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:.0f} s for {what}")
        time.sleep(interval)


def all_ready(kube: Kubectl, component: str, count: int) -> bool:
    found = pods(kube, component)
    return len(found) == count and all(ready(p) for p in found)


def job_containers(kube: Kubectl, pod: str, job_id: int) -> list[str]:
    """States of the containers a worker pod's daemon runs for the job."""
    done = kube.attempt(
        "exec",
        "-n",
        NAMESPACE,
        pod,
        "-c",
        "dind",
        "--",
        "docker",
        f"--host={DIND_SOCKET}",
        "ps",
        "--all",
        "--filter",
        f"label=dccf.job={job_id}",
        "--format",
        "{{.State}}",
    )
    return done.stdout.split() if done.returncode == 0 else []
