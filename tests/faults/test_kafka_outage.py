"""Kafka outages: all brokers stopped during a burst of submits, and one broker of three
stopped while jobs come and go. Postgres holds the jobs; Kafka only carries notices."""

from __future__ import annotations

import time

import httpx
import pytest

from dccf.settings import Settings

from .jobs import assert_recorded_once, post_job, submit, wait_terminal
from .stack import LocalStack

pytestmark = pytest.mark.faults

BURST = 20
# A submit does not wait on Kafka (the notice is sent from a thread of its own); this bound
# is far below the producer's own timeouts (5 s to block, 10 s per request).
SUBMIT_SECONDS = 2.0


def test_burst_of_submits_while_kafka_is_down_all_complete(
    client: httpx.Client, local_stack: LocalStack, settings: Settings
) -> None:
    local_stack.stop_kafka()
    ids = []
    slowest = 0.0
    for i in range(BURST):
        started = time.monotonic()
        response = post_job(client, f"fault-kafka-down-{i}")
        slowest = max(slowest, time.monotonic() - started)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    assert slowest < SUBMIT_SECONDS, f"a submit took {slowest:.1f} s while Kafka was down"
    local_stack.start(*local_stack.brokers)

    budget = settings.master.republish_after_seconds + settings.master.sweep_seconds + 120
    for done in wait_terminal(client, ids, budget):
        assert_recorded_once(client, done, attempt=1)


def test_one_broker_of_three_stopped_jobs_still_flow(
    client: httpx.Client, local_stack: LocalStack, settings: Settings
) -> None:
    assert local_stack.kafka_nodes == 3, (
        "this test needs a three-broker Kafka: run it through `scripts/dev test`, or "
        "`scripts/dev down && scripts/dev up --kafka-nodes 3`"
    )
    leaders = local_stack.partition_leaders()
    coordinator = local_stack.group_coordinator()
    # The broker whose loss hurts most: the group's coordinator if it also leads partitions
    # of the jobs topic, else the broker leading the most of them.
    led = {node: sum(1 for leader in leaders.values() if leader == node) for node in (1, 2, 3)}
    victim = coordinator if led[coordinator] else max(led, key=lambda node: led[node])
    local_stack.stop(f"kafka-{victim}")
    try:
        moved = local_stack.partition_leaders()
        assert victim not in moved.values(), f"kafka-{victim} still leads: {moved}"
        jobs = [submit(client, f"fault-broker-down-{i}") for i in range(6)]
        budget = settings.master.republish_after_seconds + settings.master.sweep_seconds + 60
        for done in wait_terminal(client, [job["id"] for job in jobs], budget):
            assert_recorded_once(client, done, attempt=1)
    finally:
        local_stack.start(f"kafka-{victim}")
    local_stack.wait_healthy()
