"""A long job does not hold up the jobs queued behind it in its partition.

The worker running the long job keeps its partitions paused, so notices that land there
wait. The sweeper re-publishes jobs queued too long to a random partition, where the idle
worker takes them: they must finish long before the long job would.
"""

from __future__ import annotations

import time

import httpx
import pytest

from dccf.settings import Settings

from .jobs import NAMED, Job, assert_recorded_once, get, submit, wait_terminal, wait_until
from .stack import LocalStack

pytestmark = pytest.mark.faults

LONG_SECONDS = 120
BEHIND = 2
# Each re-publish round (republish threshold + a sweep) lands on the idle worker's half of the
# partitions with probability 1/2: with the test stack's 5 s + 1 s, 60 s is ~10 rounds, so a
# job still waiting by then has a chance of about 1 in 1000.
BEHIND_DEADLINE = 60


def owner_of(local_stack: LocalStack, partition: int) -> str:
    topic, group = local_stack.settings.kafka.topic, local_stack.settings.kafka.group
    with local_stack.admin() as admin:
        members = admin.describe_groups([group])[group]["members"]
    for member in members:
        for assigned in member["member_assignment"]["assigned_partitions"]:
            if assigned["topic"] == topic and partition in assigned["partitions"]:
                return str(member["client_id"])
    raise AssertionError(f"no worker is assigned partition {partition}: {members}")


def test_jobs_behind_a_long_job_in_its_partition_finish_long_before_it(
    client: httpx.Client, local_stack: LocalStack, settings: Settings
) -> None:
    assert local_stack.workers == 2, "this test is written for the stack's two workers"
    partitions = len(local_stack.partition_leaders())
    since_ms = int(time.time() * 1000)
    long = submit(client, "fault-long", script=f"sleep {LONG_SECONDS}; {NAMED}")
    try:
        running = wait_until(client, long["id"], {"running"}, time.monotonic() + 60)
        partition = long["id"] % partitions
        assert owner_of(local_stack, partition) == running["worker"], (
            "the long job must run on the worker that owns its partition, or nothing waits "
            "behind it"
        )
        # Ids are sequential: keep the jobs that land in the long job's partition and cancel
        # the others before a worker takes them.
        behind: list[Job] = []
        while len(behind) < BEHIND:
            job = submit(client, f"fault-behind-long-{len(behind)}-{time.monotonic_ns()}")
            if job["id"] % partitions == partition:
                behind.append(job)
            else:
                client.post(f"/v1/jobs/{job['id']}/cancel")
        submitted = time.monotonic()
        done = wait_terminal(client, [job["id"] for job in behind], BEHIND_DEADLINE)
        took = time.monotonic() - submitted

        assert get(client, long["id"])["status"] == "running", "the long job ended early"
        for job in done:
            assert_recorded_once(client, job, attempt=1)
            assert job["worker"] != running["worker"], job
        assert took < LONG_SECONDS / 2, f"the jobs behind the long one took {took:.0f} s"
        notices = local_stack.notices(since_ms)
        for job in behind:
            # The first notice went to the long job's partition; a re-sent one got it out.
            assert notices[job["id"]][0] == partition, notices[job["id"]]
            assert len(notices[job["id"]]) >= 2, notices[job["id"]]
    finally:
        client.post(f"/v1/jobs/{long['id']}/cancel")
        wait_terminal(client, [long["id"]], 60)
