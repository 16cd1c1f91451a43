"""The master dies after committing a job and before producing its notice.

Kafka is stopped before the submit, so no notice can leave the master; the master then gets
SIGKILL, which loses the notices it was still holding in memory. The jobs are in Postgres and
nowhere in Kafka; idle workers find them by themselves (and the restarted master's sweeper
publishes those still queued again).
"""

from __future__ import annotations

import time

import httpx
import pytest

from dccf import db, job_records
from dccf.settings import Settings

from .jobs import assert_recorded_once, submit, wait_terminal
from .stack import LocalStack

pytestmark = pytest.mark.faults


def test_jobs_committed_but_never_produced_complete_after_a_master_crash(
    client: httpx.Client, local_stack: LocalStack, settings: Settings
) -> None:
    since_ms = int(time.time() * 1000)
    local_stack.stop_kafka()
    jobs = [submit(client, f"fault-master-crash-{i}") for i in range(3)]
    local_stack.kill9("master")
    ids = [job["id"] for job in jobs]

    # Committed: the rows are there with the master gone (idle workers may have taken them).
    conn = db.connect(settings.postgres, "dccf-fault-tests")
    try:
        stored = {job_id: job_records.get(conn, job_id) for job_id in ids}
    finally:
        conn.close()
    assert all(job is not None and job.attempt <= 1 for job in stored.values()), stored

    # Never produced: with Kafka back (and the master still dead) the topic has no notice.
    local_stack.start(*local_stack.brokers)
    sent = local_stack.notices(since_ms)
    assert not set(ids) & set(sent), f"notices were produced for {sorted(set(ids) & set(sent))}"

    local_stack.start("master")
    budget = settings.master.republish_after_seconds + settings.master.sweep_seconds + 60
    for done in wait_terminal(client, ids, budget):
        assert_recorded_once(client, done, attempt=1)
