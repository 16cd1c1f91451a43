"""A worker killed with SIGKILL in the middle of a job: its lease runs out, the sweeper
queues the job again, the other worker runs it, and only that run's result is recorded."""

from __future__ import annotations

import contextlib
import time

import docker
import httpx
import pytest
from docker.models.containers import Container

from dccf.settings import Settings
from services.worker.run_spec import LABEL_ATTEMPT, LABEL_JOB, image_tag

from .jobs import NAMED, assert_recorded_once, submit, wait_terminal, wait_until
from .stack import LocalStack, wait_for

pytestmark = pytest.mark.faults


def containers_of(engine: docker.DockerClient, job_id: int, attempt: int) -> list[Container]:
    return engine.containers.list(
        all=True, filters={"label": [f"{LABEL_JOB}={job_id}", f"{LABEL_ATTEMPT}={attempt}"]}
    )


def test_worker_killed_mid_job_reruns_it_elsewhere_and_records_it_once(
    client: httpx.Client, local_stack: LocalStack, settings: Settings
) -> None:
    engine = docker.DockerClient(base_url=settings.worker.docker_host or None)
    job = submit(client, "fault-worker-kill", script=f"sleep 5; {NAMED}")
    running = wait_until(client, job["id"], {"running"}, time.monotonic() + 60)
    victim = local_stack.worker_name(running["worker"])
    assert victim in local_stack.worker_names, running
    # Mid-job: the job's container is running, not just its image being built.
    orphans = wait_for(
        lambda: [c for c in containers_of(engine, job["id"], 1) if c.status == "running"],
        60,
        f"the container of job {job['id']} to run",
        interval=0.2,
    )
    local_stack.kill9(victim)
    try:
        # The lease runs out, a sweep re-queues the job, the other worker takes it.
        budget = settings.worker.lease_seconds + settings.master.sweep_seconds + 60
        [done] = wait_terminal(client, [job["id"]], budget)
        assert_recorded_once(client, done, attempt=2)
        assert done["worker"] != running["worker"], done
        assert done["worker"] in {local_stack.worker_id(name) for name in local_stack.worker_names}
    finally:
        # The dead worker could not remove its container and image; the daemon keeps them.
        for container in orphans:
            container.remove(v=True, force=True)
        with contextlib.suppress(docker.errors.APIError):
            engine.images.remove(image_tag(job["id"], 1), noprune=True)
        local_stack.start(victim)
        engine.close()
    assert local_stack.pid(victim) is not None
