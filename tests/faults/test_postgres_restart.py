"""Postgres restarted in the middle of a run of jobs: the API answers 503 while it is away and
recovers by itself; the workers wait it out; no job is lost and none is recorded twice."""

from __future__ import annotations

import time

import httpx
import pytest

from dccf.settings import Settings

from .jobs import assert_recorded_once, post_job, submit, wait_terminal
from .stack import LocalStack, wait_for

pytestmark = pytest.mark.faults

RUN_LENGTH = 50
OUTAGE_SECONDS = 5.0


def finished(client: httpx.Client, ids: list[int]) -> int:
    listing = client.get("/v1/jobs", params={"status": "succeeded", "limit": 200}).json()
    return len({job["id"] for job in listing["jobs"]} & set(ids))


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, f"{response.status_code}: {response.text}"
    assert response.json()["error"]["code"] == "unavailable", response.text


def test_postgres_restart_mid_run_loses_and_duplicates_nothing(
    client: httpx.Client, local_stack: LocalStack, settings: Settings
) -> None:
    names = [f"fault-pg-{i:02d}" for i in range(RUN_LENGTH)]
    ids = [submit(client, name)["id"] for name in names]
    services = {name: local_stack.pid(name) for name in ["master", *local_stack.worker_names]}
    # Mid-run: some jobs are done, the workers are busy with others.
    wait_for(lambda: finished(client, ids) >= 8, 120, "8 of the jobs to succeed", interval=0.3)

    local_stack.stop("postgres")
    outage_started = time.monotonic()
    assert_unavailable(client.get(f"/v1/jobs/{ids[-1]}"))
    assert_unavailable(client.get("/v1/jobs"))
    assert_unavailable(post_job(client, "fault-pg-during-outage"))
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_started)))
    local_stack.start("postgres")

    # The master recovers by itself, at once: its pool skips the connections Postgres closed.
    assert client.get(f"/v1/jobs/{ids[0]}").status_code == 200
    assert client.get("/v1/jobs").status_code == 200
    done = wait_terminal(client, ids, 240)
    for job, name in zip(done, names, strict=True):
        assert job["name"] == name
        # Run once, too: no lease taken away for the outage (the sweeper's grace after it).
        assert_recorded_once(client, job, attempt=1)
    # Nothing restarted: master and workers rode the outage out.
    assert {name: local_stack.pid(name) for name in services} == services
    # The submit refused during the outage stored nothing.
    listing = client.get("/v1/jobs", params={"limit": 200}).json()["jobs"]
    assert not [job for job in listing if job["name"] == "fault-pg-during-outage"]
