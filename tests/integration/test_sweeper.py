"""Recovery by the master's sweeper, against real Postgres, Kafka and Docker."""

from __future__ import annotations

import dataclasses
import time

import docker
import pytest
from job_runs import claim, insert_job
from starlette.testclient import TestClient

from dccf import db, job_records
from dccf.jobs import JobStatus, Reason
from dccf.queue import Notifier
from dccf.settings import Settings
from services.master.sweeper import _SWEEP_LOCK, Sweeper
from services.worker.worker import Worker

pytestmark = pytest.mark.integration


@pytest.fixture
def sweeper(cfg: Settings, pool: db.Pool) -> Sweeper:
    master = dataclasses.replace(cfg.master, republish_after_seconds=1, max_attempts=2)
    return Sweeper(pool, Notifier(cfg.kafka), master)


def expire_lease(pool: db.Pool, job_id: int) -> None:
    pool.run("UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = :id", id=job_id)


def test_job_of_a_dead_worker_is_run_again_and_recorded_once(
    api: TestClient,
    cfg: Settings,
    pool: db.Pool,
    docker_client: docker.DockerClient,
    sweeper: Sweeper,
) -> None:
    job_id = api.post("/v1/demo").json()["id"]
    # The worker that took it died: its claim stands, its offset is committed, its lease runs out.
    with pool.connection() as conn:
        assert claim(conn, job_id, "dead-worker").attempt
    worker = Worker(cfg, pool, docker_client)
    assert worker.run(max_jobs=1, idle_timeout=5) == 0  # the first notice finds it running
    expire_lease(pool, job_id)

    result = sweeper.sweep_once()
    assert result is not None and job_id in result.requeued
    assert worker.run(max_jobs=1, idle_timeout=30) == 1
    job = api.get(f"/v1/jobs/{job_id}").json()
    assert (job["status"], job["attempt"], job["worker"]) == (
        "succeeded",
        2,
        cfg.worker.worker_id,
    )


def test_attempts_run_out_as_worker_lost(pool: db.Pool, sweeper: Sweeper) -> None:
    with pool.connection() as conn:
        job_id = insert_job(conn, name="doomed").id
        for attempt in (1, 2):
            claimed = claim(conn, job_id, f"crashing-{attempt}")
            assert claimed.attempt == attempt
            expire_lease(pool, job_id)
            result = sweeper.sweep_once()
            assert result is not None
            assert job_id in (result.requeued if attempt == 1 else result.lost)
        job = job_records.get(conn, job_id)
    assert job is not None
    assert (job.status, job.reason) == (JobStatus.FAILED, Reason.WORKER_LOST)


def unannounced_job(api: TestClient, pool: db.Pool) -> int:
    """A job stored with the demo's context, whose notice was never produced (a master crash
    between commit and produce)."""
    with pool.connection() as conn:
        job_id = insert_job(conn, name="never-announced").id
    source = api.post("/v1/demo").json()["id"]
    pool.run(
        "UPDATE files SET job_id = :target WHERE job_id = :source AND kind = 'context'",
        target=job_id,
        source=source,
    )
    pool.run("UPDATE jobs SET status = 'cancelled' WHERE id = :id", id=source)
    return job_id


def test_lost_notice_is_sent_again(api: TestClient, pool: db.Pool, sweeper: Sweeper) -> None:
    job_id = unannounced_job(api, pool)
    time.sleep(1.2)
    result = sweeper.sweep_once()
    assert result is not None and job_id in result.republish
    pool.run("UPDATE jobs SET status = 'cancelled' WHERE id = :id", id=job_id)


def test_an_idle_worker_finds_a_job_whose_notice_was_lost(
    api: TestClient, cfg: Settings, pool: db.Pool, docker_client: docker.DockerClient
) -> None:
    job_id = unannounced_job(api, pool)
    assert Worker(cfg, pool, docker_client).run(max_jobs=1, idle_timeout=30) == 1
    assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded"


def test_one_sweeper_at_a_time(pool: db.Pool, sweeper: Sweeper) -> None:
    with pool.transaction() as conn:
        assert conn.run("SELECT pg_try_advisory_xact_lock(:k)", k=_SWEEP_LOCK)[0][0] is True
        # Another replica holds the lock: this one skips its pass.
        assert sweeper.sweep_once() is None
    assert sweeper.sweep_once() is not None


def test_a_job_whose_engine_fails_is_left_to_its_lease_and_run_again(
    api: TestClient, cfg: Settings, pool: db.Pool, sweeper: Sweeper
) -> None:
    """A dead Docker daemon (a DinD sidecar deleted with its pod) is no failure of the job's."""
    job_id = api.post("/v1/demo").json()["id"]
    gone = docker.DockerClient(base_url="unix:///nonexistent/docker.sock", version="1.41")
    assert Worker(cfg, pool, gone).run(max_jobs=1, idle_timeout=5) == 1
    job = api.get(f"/v1/jobs/{job_id}").json()
    assert (job["status"], job["reason"], job["attempt"]) == ("running", None, 1), job
    expire_lease(pool, job_id)
    result = sweeper.sweep_once()
    assert result is not None and job_id in result.requeued
    assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
    pool.run("UPDATE jobs SET status = 'cancelled' WHERE id = :id", id=job_id)
