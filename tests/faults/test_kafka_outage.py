"""Kafka outages: all brokers stopped during a burst of submits, and one broker of three
stopped while jobs come and go. Postgres holds the jobs; Kafka only carries wake-ups."""

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


def test_jobs_submitted_while_kafka_is_down_all_run_while_it_is_down(
    client: httpx.Client, local_stack: LocalStack, settings: Settings
) -> None:
    """Notices only wake workers up: idle workers also look for queued jobs by themselves, so
    a Kafka outage slows nothing down but the wake-up."""
    local_stack.stop_kafka()
    try:
        ids = []
        slowest = 0.0
        for i in range(BURST):
            started = time.monotonic()
            response = post_job(client, f"fault-kafka-down-{i}")
            slowest = max(slowest, time.monotonic() - started)
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        assert slowest < SUBMIT_SECONDS, f"a submit took {slowest:.1f} s while Kafka was down"
        for done in wait_terminal(client, ids, 180):
            assert_recorded_once(client, done, attempt=1)
        assert local_stack.missing() == local_stack.brokers, "Kafka came back during the test"
    finally:
        local_stack.start(*local_stack.brokers)


def test_one_broker_of_three_stopped_jobs_still_flow(
    client: httpx.Client, local_stack: LocalStack, settings: Settings
) -> None:
    assert local_stack.kafka_nodes == 3, (
        "this test needs a three-broker Kafka: run it through `scripts/dev test`, or "
        "`scripts/dev down && scripts/dev up --kafka-nodes 3`"
    )
    leaders = local_stack.partition_leaders()
    # The broker whose loss hurts most: the one leading the most partitions of the jobs topic.
    led = {node: sum(1 for leader in leaders.values() if leader == node) for node in (1, 2, 3)}
    victim = max(led, key=lambda node: led[node])
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
