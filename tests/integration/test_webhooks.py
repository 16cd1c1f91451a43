"""Webhook delivery against real Postgres and a real HTTP receiver on 127.0.0.1.

Statuses change through dccf/job_records.py as a worker and the sweeper change them, so no
worker or Docker is needed; the outbox trigger and the dispatchers do the rest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import job_runs
import pytest
from job_runs import insert_job
from webhook_receiver import Hit, Receiver

from dccf import db, dispatch, job_records, job_results
from dccf.job_records import JobRecord
from dccf.jobs import JobStatus, Reason
from dccf.settings import Settings
from services.master.job_json import job_json
from services.master.webhooks import WebhookDispatcher

pytestmark = pytest.mark.integration

SECRET = "hook-secret-for-tests"
BACKOFF = 0.05
MAX_ATTEMPTS = 3


@pytest.fixture(scope="module")
def hook_cfg(cfg: Settings) -> Settings:
    return dataclasses.replace(
        cfg,
        limits=dataclasses.replace(cfg.limits, allow_private_callbacks=True),
        master=dataclasses.replace(
            cfg.master,
            webhook_secret=SECRET,
            webhook_max_attempts=MAX_ATTEMPTS,
            webhook_timeout_seconds=2.0,
            webhook_backoff_seconds=BACKOFF,
            webhook_backoff_cap_seconds=1.0,
        ),
    )


@contextmanager
def dispatching(pool: db.Pool, cfg: Settings) -> Iterator[WebhookDispatcher]:
    dispatcher = WebhookDispatcher(pool, cfg)
    dispatcher.start()
    try:
        yield dispatcher
    finally:
        dispatcher.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def new_job(pool: db.Pool, callback_url: str | None) -> JobRecord:
    with pool.connection() as conn:
        return insert_job(conn, name="hooked", callback_url=callback_url)


def start(pool: db.Pool, job_id: int, worker: str = "w-1") -> JobRecord:
    with pool.connection() as conn:
        return job_runs.claim(conn, job_id, worker)


def finish(pool: db.Pool, job: JobRecord, status: JobStatus, reason: Reason | None = None) -> None:
    with pool.connection() as conn:
        assert job_results.finish(conn, job.id, job.attempt, status, reason, 0 if not reason else 1)


def current(pool: db.Pool, job_id: int) -> JobRecord:
    with pool.connection() as conn:
        job = job_records.get(conn, job_id)
    assert job is not None
    return job


def outbox(pool: db.Pool, job_id: int) -> list[tuple[str, str, int, int | None, str | None]]:
    """(new status, state, attempts, last HTTP status, last error) of the job's events, in order."""
    rows = pool.run(
        "SELECT job->>'status', state, attempts, last_status, last_error"
        " FROM webhook_deliveries WHERE job_id = :id ORDER BY id",
        id=job_id,
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def wait_until(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def statuses(hits: list[Hit]) -> list[str]:
    return [hit.job["status"] for hit in hits]


def assert_signed(hit: Hit) -> None:
    expected = hmac.new(SECRET.encode(), hit.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(hit.headers["x-dccf-signature"], f"sha256={expected}")


def test_each_change_arrives_in_order_signed_as_the_job_was_then(
    pool: db.Pool, hook_cfg: Settings, receiver: Receiver
) -> None:
    job = new_job(pool, receiver.url("/dccf?token=t"))
    running = start(pool, job.id)
    finish(pool, running, JobStatus.SUCCEEDED)
    # Both changes happened before any dispatcher ran: the first event still shows `running`.
    with dispatching(pool, hook_cfg):
        hits = receiver.wait_for(2, job.id)
        wait_until(lambda: [row[1] for row in outbox(pool, job.id)] == ["delivered"] * 2)
    assert statuses(hits) == ["running", "succeeded"]
    assert hits[0].event == {"event": "job.status", "job": job_json(running)}
    assert hits[1].event == {"event": "job.status", "job": job_json(current(pool, job.id))}
    for hit in hits:
        assert hit.path == "/dccf?token=t"
        assert hit.headers["content-type"] == "application/json"
        assert hit.headers["x-dccf-event"] == "job.status"
        assert_signed(hit)
    assert hits[0].delivery != hits[1].delivery
    assert outbox(pool, job.id) == [
        ("running", "delivered", 1, 204, None),
        ("succeeded", "delivered", 1, 204, None),
    ]


def test_a_failing_receiver_gets_every_event_later_still_in_order(
    pool: db.Pool, hook_cfg: Settings, receiver: Receiver
) -> None:
    def fail_twice(hit: Hit) -> int:
        tries = [h for h in receiver.hits() if h.delivery == hit.delivery]
        return 503 if len(tries) <= 2 else 200

    receiver.answer = fail_twice
    job = new_job(pool, receiver.url())
    with dispatching(pool, hook_cfg):
        running = start(pool, job.id)
        finish(pool, running, JobStatus.SUCCEEDED)
        hits = receiver.wait_for(6, job.id)
        wait_until(lambda: [row[1] for row in outbox(pool, job.id)] == ["delivered"] * 2)
    assert statuses(hits) == ["running"] * 3 + ["succeeded"] * 3
    # Every attempt of one event carries the same delivery id and the same signed body.
    assert len({hit.delivery for hit in hits[:3]}) == 1
    assert len({hit.delivery for hit in hits[3:]}) == 1
    assert len({hit.body for hit in hits[:3]}) == 1
    for hit in hits:
        assert_signed(hit)
    # Back-off: retry n waits at least half of BACKOFF * 2**(n-1).
    for first in (0, 3):
        assert hits[first + 1].at - hits[first].at >= BACKOFF / 2
        assert hits[first + 2].at - hits[first + 1].at >= BACKOFF
    assert outbox(pool, job.id) == [
        ("running", "delivered", 3, 200, None),
        ("succeeded", "delivered", 3, 200, None),
    ]


def test_an_event_that_always_fails_is_given_up_and_later_ones_follow(
    pool: db.Pool, hook_cfg: Settings, receiver: Receiver
) -> None:
    receiver.answer = lambda hit: 500 if hit.job["status"] == "running" else 204
    job = new_job(pool, receiver.url())
    with dispatching(pool, hook_cfg):
        running = start(pool, job.id)
        finish(pool, running, JobStatus.FAILED, Reason.NONZERO_EXIT)
        hits = receiver.wait_for(MAX_ATTEMPTS + 1, job.id)
        wait_until(lambda: outbox(pool, job.id)[-1][1] == "delivered")
    assert statuses(hits) == ["running"] * MAX_ATTEMPTS + ["failed"]
    assert outbox(pool, job.id) == [
        ("running", "given_up", MAX_ATTEMPTS, 500, "answered HTTP 500"),
        ("failed", "delivered", 1, 204, None),
    ]


def test_requeue_after_a_lost_worker_and_cancel_are_events(
    pool: db.Pool, hook_cfg: Settings, receiver: Receiver
) -> None:
    job = new_job(pool, receiver.url())
    with dispatching(pool, hook_cfg):
        start(pool, job.id, "dead-worker")
        pool.run(
            "UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = :id", id=job.id
        )
        with pool.transaction() as conn:
            swept = dispatch.sweep(conn, max_attempts=3, republish_after_seconds=3600)
        assert job.id in swept.requeued
        with pool.connection() as conn:
            assert job_records.request_cancel(conn, job.id, "") is not None
        hits = receiver.wait_for(3, job.id)
    assert statuses(hits) == ["running", "queued", "cancelled"]
    assert (hits[1].job["attempt"], hits[1].job["worker"]) == (1, None)
    assert hits[2].job["reason"] == "cancelled"


def test_a_job_without_callback_url_writes_no_events(pool: db.Pool, receiver: Receiver) -> None:
    silent, hooked = new_job(pool, None), new_job(pool, receiver.url())
    for job in (silent, hooked):
        finish(pool, start(pool, job.id), JobStatus.SUCCEEDED)
    assert outbox(pool, silent.id) == []
    assert [row[:2] for row in outbox(pool, hooked.id)] == [
        ("running", "pending"),
        ("succeeded", "pending"),
    ]
    pool.run("DELETE FROM jobs WHERE id = :id", id=hooked.id)
    assert outbox(pool, hooked.id) == []  # a deleted job's events go with it


def test_two_dispatchers_deliver_each_event_once_in_order(
    pool: db.Pool, hook_cfg: Settings, receiver: Receiver
) -> None:
    jobs = [new_job(pool, receiver.url()) for _ in range(20)]
    with dispatching(pool, hook_cfg), dispatching(pool, hook_cfg):
        running = [start(pool, job.id) for job in jobs]
        for index, job in enumerate(running):
            if index % 2:
                finish(pool, job, JobStatus.SUCCEEDED)
            else:
                with pool.connection() as conn:
                    job_records.request_cancel(conn, job.id, "")
                finish(pool, job, JobStatus.CANCELLED, Reason.CANCELLED)
        receiver.wait_for(2 * len(jobs))
        wait_until(
            lambda: (
                pool.run("SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'") == [[0]]
            )
        )
    hits = receiver.hits()
    assert len(hits) == 2 * len(jobs)
    assert len({hit.delivery for hit in hits}) == len(hits)
    for index, job in enumerate(jobs):
        final = "succeeded" if index % 2 else "cancelled"
        assert statuses(receiver.hits(job.id)) == ["running", final]
        assert [row[1:3] for row in outbox(pool, job.id)] == [("delivered", 1)] * 2


def test_delivery_follows_a_status_change_within_milliseconds(
    pool: db.Pool, hook_cfg: Settings, receiver: Receiver
) -> None:
    latencies = []
    with dispatching(pool, hook_cfg):
        for _ in range(10):
            job = new_job(pool, receiver.url())
            before = time.time()
            running = start(pool, job.id)
            latencies.append(receiver.wait_for(1, job.id)[0].at - before)
            before = time.time()
            finish(pool, running, JobStatus.SUCCEEDED)
            latencies.append(receiver.wait_for(2, job.id)[1].at - before)
    median = statistics.median(latencies)
    print(f"webhook latency over {len(latencies)} events: median {median * 1000:.1f} ms")
    # Well under the idle poll (2 s): the NOTIFY from the outbox trigger wakes the dispatcher.
    assert median < 0.5


def test_delivery_refuses_a_name_that_resolves_to_a_private_address(
    pool: db.Pool, hook_cfg: Settings, receiver: Receiver
) -> None:
    strict = dataclasses.replace(
        hook_cfg, limits=dataclasses.replace(hook_cfg.limits, allow_private_callbacks=False)
    )
    # Stored as it would be had the name resolved to a public address at submit.
    name = socket.gethostname()
    job = new_job(pool, f"http://{name}:{receiver.port}/hook")
    with dispatching(pool, strict):
        start(pool, job.id)
        wait_until(lambda: outbox(pool, job.id)[0][1] == "given_up")
    assert receiver.hits() == []
    _, _, attempts, status, error = outbox(pool, job.id)[0]
    assert (attempts, status) == (MAX_ATTEMPTS, None)
    assert error is not None and f"the callback host {name} resolves to " in error
