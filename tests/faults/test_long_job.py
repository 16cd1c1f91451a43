"""No job waits beside an idle worker: while one worker runs a long job, the jobs submitted
after it run on the other worker at once, whatever Kafka partition their notices land in.

With a consumer group, a notice in the busy worker's (paused) partition waited for it: 91 s
beside an idle worker was measured, and this test was probabilistic. Every worker now hears
every notice and claims from Postgres, so it is deterministic.
"""

from __future__ import annotations

import time
from datetime import datetime

import httpx
import pytest

from .jobs import NAMED, assert_recorded_once, get, submit, wait_terminal, wait_until
from .stack import LocalStack

pytestmark = pytest.mark.faults

LONG_SECONDS = 120
BEHIND = 6


def started_after_created(job: dict) -> float:
    created = datetime.fromisoformat(job["created_at"])
    return (datetime.fromisoformat(job["started_at"]) - created).total_seconds()


def test_jobs_behind_a_long_job_run_at_once_on_the_idle_worker(
    client: httpx.Client, local_stack: LocalStack
) -> None:
    assert local_stack.workers == 2, "this test is written for the stack's two workers"
    long = submit(client, "fault-long", script=f"sleep {LONG_SECONDS}; {NAMED}")
    try:
        running = wait_until(client, long["id"], {"running"}, time.monotonic() + 60)
        behind = [submit(client, f"fault-behind-long-{i}") for i in range(BEHIND)]
        done = wait_terminal(client, [job["id"] for job in behind], LONG_SECONDS / 2)
        assert get(client, long["id"])["status"] == "running", "the long job ended early"
        for job in done:
            assert_recorded_once(client, job, attempt=1)
            assert job["worker"] != running["worker"], job
        # The first of them started on a free slot right away: no notice had to find it.
        first = min(done, key=lambda job: job["id"])
        assert started_after_created(first) < LONG_SECONDS / 4, first
    finally:
        client.post(f"/v1/jobs/{long['id']}/cancel")
        wait_terminal(client, [long["id"]], 60)
