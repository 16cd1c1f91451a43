"""Pod-level faults of the deployed stack: the cluster kills what a node failure would."""

from __future__ import annotations

import time

import httpx
import pytest
from faults.jobs import NAMED, assert_recorded_once, submit, wait_terminal, wait_until
from localcluster.kube import Kubectl

from .pods import NAMESPACE, all_ready, job_containers, pods, wait_for

pytestmark = pytest.mark.cluster

# The deployed settings: DCCF_LEASE_SECONDS and DCCF_SWEEP_SECONDS keep their defaults (30, 5).
RECOVERY_SECONDS = 30 + 5 + 180


def test_a_worker_pod_force_deleted_mid_job_reruns_it_on_attempt_2(
    client: httpx.Client, kube: Kubectl
) -> None:
    job = submit(client, "cluster-worker-pod-deleted", script=f"sleep 15; {NAMED}")
    running = wait_until(client, job["id"], {"running"}, time.monotonic() + 180)
    victim = running["worker"]
    assert victim in {p["metadata"]["name"] for p in pods(kube, "worker")}, running
    # Mid-job: the job's own container runs in the victim's Docker daemon.
    wait_for(
        lambda: "running" in job_containers(kube, victim, job["id"]),
        120,
        f"job {job['id']}'s container to run in {victim}",
    )
    kube.run("delete", "pod", victim, "-n", NAMESPACE, "--grace-period=0", "--force")
    [done] = wait_terminal(client, [job["id"]], RECOVERY_SECONDS)
    assert_recorded_once(client, done, attempt=2)
    assert done["worker"] != victim, done
    wait_for(lambda: all_ready(kube, "worker", 2), 180, "two ready worker pods again")


def test_jobs_keep_flowing_while_one_of_three_brokers_is_deleted(
    client: httpx.Client, kube: Kubectl
) -> None:
    before = [submit(client, f"cluster-broker-down-before-{i}") for i in range(8)]
    kube.run("delete", "pod", "kafka-1", "-n", NAMESPACE, "--wait=false")
    during = [submit(client, f"cluster-broker-down-during-{i}") for i in range(8)]
    wait_for(lambda: all_ready(kube, "kafka", 3), 300, "three ready brokers again")
    after = [submit(client, f"cluster-broker-down-after-{i}") for i in range(4)]
    jobs = [*before, *during, *after]
    for done in wait_terminal(client, [job["id"] for job in jobs], 600):
        assert_recorded_once(client, done)
