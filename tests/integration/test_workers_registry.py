"""The workers registry on the real Postgres: heartbeats, states, pruning, GET /v1/workers
scoped to the caller, and real `dccf-worker` processes that stop cleanly or are killed."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from dccf import db, workers
from dccf.settings import Settings
from services.master.app import create_app

pytestmark = pytest.mark.integration

WORKER = Path(sys.executable).with_name("dccf-worker")


def info(worker_id: str, slots: int = 1) -> workers.WorkerInfo:
    return workers.WorkerInfo(worker_id, "node-1", "0.1.0", slots, datetime.now(UTC))


def run_job(pool: db.Pool, principal: str, worker_id: str) -> int:
    """A job of `principal`, running on `worker_id`."""
    with pool.connection() as conn:
        return int(
            conn.run(
                "INSERT INTO jobs (principal, status, worker, attempt, timeout_seconds, memory_mb,"
                " cpus, network, started_at) VALUES (:p, 'running', :w, 1, 60, 64, 1, 'none',"
                " now()) RETURNING id",
                p=principal,
                w=worker_id,
            )[0][0]
        )


@pytest.fixture
def clean(pool: db.Pool) -> Iterator[None]:
    with pool.connection() as conn:
        conn.run("DELETE FROM workers")
    yield
    with pool.connection() as conn:
        conn.run("UPDATE jobs SET status = 'failed' WHERE status = 'running'")


def listed(pool: db.Pool, lost_after: int = 30, principal: str | None = None) -> dict:
    with pool.connection() as conn:
        return {w.id: w for w in workers.listing(conn, lost_after, principal)}


def test_a_heartbeat_registers_and_refreshes_a_worker(pool: db.Pool, clean: None) -> None:
    with pool.connection() as conn:
        workers.heartbeat(conn, info("w-1", slots=3))
    first = listed(pool)["w-1"]
    assert (first.state, first.host, first.version, first.slots) == ("alive", "node-1", "0.1.0", 3)
    time.sleep(0.05)
    with pool.connection() as conn:
        workers.heartbeat(conn, info("w-1", slots=3))
    assert listed(pool)["w-1"].last_seen > first.last_seen


def test_silence_past_the_threshold_is_lost_and_a_clean_stop_is_stopped(
    pool: db.Pool, clean: None
) -> None:
    with pool.connection() as conn:
        workers.heartbeat(conn, info("quiet"))
        workers.heartbeat(conn, info("leaving"))
        conn.run("UPDATE workers SET last_seen = now() - interval '40 seconds' WHERE id = 'quiet'")
        workers.leave(conn, "leaving")
    found = listed(pool, lost_after=30)
    assert (found["quiet"].state, found["leaving"].state) == ("lost", "stopped")
    assert found["leaving"].stopped_at is not None
    assert listed(pool, lost_after=60)["quiet"].state == "alive"
    with pool.connection() as conn:
        workers.heartbeat(conn, info("leaving"))  # started again under the same id
    assert listed(pool)["leaving"].state == "alive"


def test_prune_forgets_only_workers_unseen_for_long(pool: db.Pool, clean: None) -> None:
    with pool.connection() as conn:
        workers.heartbeat(conn, info("old"))
        workers.heartbeat(conn, info("recent"))
        conn.run("UPDATE workers SET last_seen = now() - interval '25 hours' WHERE id = 'old'")
        assert workers.prune(conn, 24) == 1
    assert set(listed(pool)) == {"recent"}


def test_current_jobs_come_from_the_jobs_table_scoped_to_the_principal(
    pool: db.Pool, clean: None
) -> None:
    with pool.connection() as conn:
        workers.heartbeat(conn, info("w-1"))
    alice = run_job(pool, "alice", "w-1")
    bob = run_job(pool, "bob", "w-1")
    assert listed(pool, principal="alice")["w-1"].jobs == [alice]
    assert listed(pool, principal="bob")["w-1"].jobs == [bob]
    assert listed(pool)["w-1"].jobs == [alice, bob]


def test_get_workers_shows_each_principal_its_own_job_ids(
    cfg: Settings, pool: db.Pool, clean: None
) -> None:
    master = dataclasses.replace(cfg.master, api_tokens={"ta": "alice", "tb": "bob"})
    with pool.connection() as conn:
        workers.heartbeat(conn, info("w-1"))
    alice = run_job(pool, "alice", "w-1")
    run_job(pool, "bob", "w-1")
    with TestClient(create_app(dataclasses.replace(cfg, master=master))) as api:
        assert api.get("/v1/workers").status_code == 401
        body = api.get("/v1/workers", headers={"Authorization": "Bearer ta"}).json()
    assert body["lost_after_seconds"] == cfg.master.worker_lost_seconds
    (shown,) = body["workers"]
    assert (shown["id"], shown["state"], shown["jobs"]) == ("w-1", "alive", [alice])


def _worker_process(cfg: Settings, worker_id: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DCCF_PG_HOST": cfg.postgres.host,
        "DCCF_PG_PORT": str(cfg.postgres.port),
        "DCCF_PG_DATABASE": cfg.postgres.database,
        "DCCF_KAFKA_BOOTSTRAP": cfg.kafka.bootstrap,
        "DCCF_KAFKA_TOPIC": cfg.kafka.topic,
        "DCCF_WORKER_ID": worker_id,
        "DCCF_HEARTBEAT_SECONDS": "0.5",
    }
    return subprocess.Popen(
        [str(WORKER)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait_state(pool: db.Pool, worker_id: str, state: str, lost_after: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = listed(pool, lost_after).get(worker_id)
        if found is not None and found.state == state:
            return
        time.sleep(0.2)
    raise AssertionError(f"{worker_id} never {state}: {listed(pool, lost_after)}")


def test_a_real_worker_killed_with_sigkill_turns_lost(
    cfg: Settings, pool: db.Pool, clean: None
) -> None:
    worker = _worker_process(cfg, "killed-worker")
    try:
        _wait_state(pool, "killed-worker", "alive", lost_after=3)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        _wait_state(pool, "killed-worker", "lost", lost_after=3)
    finally:
        if worker.poll() is None:
            worker.kill()


def test_a_real_worker_stopped_with_sigterm_shows_stopped(
    cfg: Settings, pool: db.Pool, clean: None
) -> None:
    worker = _worker_process(cfg, "stopped-worker")
    try:
        _wait_state(pool, "stopped-worker", "alive", lost_after=3)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
        _wait_state(pool, "stopped-worker", "stopped", lost_after=3)
    finally:
        if worker.poll() is None:
            worker.kill()
