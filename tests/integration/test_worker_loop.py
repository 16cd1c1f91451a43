"""The worker loop against real Postgres, Kafka and Docker."""

from __future__ import annotations

import dataclasses
import threading
import time

import docker
import pytest
from job_runs import claim, insert_job
from starlette.testclient import TestClient

from dccf import db, dispatch, filestore, job_records
from dccf.filestore import FileKind
from dccf.jobs import JobStatus
from dccf.settings import Settings
from services.worker import worker as worker_module
from services.worker.job_thread import JobThread
from services.worker.logs import CappedLog
from services.worker.results import store_outcome
from services.worker.run_spec import RunOutcome
from services.worker.worker import Slot, Worker

pytestmark = pytest.mark.integration


def run_worker(cfg: Settings, pool: db.Pool, client: docker.DockerClient, jobs: int) -> int:
    return Worker(cfg, pool, client).run(max_jobs=jobs, idle_timeout=60)


def test_demo_job_runs_to_success_with_logs_and_output(
    api: TestClient, cfg: Settings, pool: db.Pool, docker_client: docker.DockerClient
) -> None:
    job_id = api.post("/v1/demo").json()["id"]
    assert run_worker(cfg, pool, docker_client, 1) == 1

    job = api.get(f"/v1/jobs/{job_id}").json()
    assert (job["status"], job["reason"], job["exit_code"], job["attempt"]) == (
        "succeeded",
        None,
        0,
        1,
    )
    assert job["worker"] == cfg.worker.worker_id
    assert "DCCF demo job starting" in api.get(f"/v1/jobs/{job_id}/logs?stream=stdout").text
    assert "stderr" in api.get(f"/v1/jobs/{job_id}/logs?stream=stderr").text
    outputs = api.get(f"/v1/jobs/{job_id}/outputs").json()["files"]
    assert [f["path"] for f in outputs] == ["output.txt"]
    body = api.get(f"/v1/jobs/{job_id}/outputs/output.txt").content
    assert body.startswith(b"Hello from the DCCF demo job")


def test_duplicate_notice_runs_the_job_once(
    api: TestClient, cfg: Settings, pool: db.Pool, docker_client: docker.DockerClient
) -> None:
    job_id = api.post("/v1/demo").json()["id"]
    api.app.state.ctx.notifier.publish(job_id)  # a second "job N is ready"
    worker = Worker(cfg, pool, docker_client)
    assert worker.run(max_jobs=2, idle_timeout=8) == 1
    job = api.get(f"/v1/jobs/{job_id}").json()
    assert (job["status"], job["attempt"]) == ("succeeded", 1)


def test_stale_attempt_cannot_write_its_result(pool: db.Pool) -> None:
    with pool.connection() as conn:
        job_id = insert_job(conn, name="fenced").id
        first = claim(conn, job_id, "old-worker")
        # The lease ran out and another worker took the job as attempt 2.
        conn.run("UPDATE jobs SET status = 'queued' WHERE id = :id", id=job_id)
        second = claim(conn, job_id, "new-worker")
        assert second.attempt == first.attempt + 1

    stale = RunOutcome(
        status=JobStatus.SUCCEEDED,
        reason=None,
        exit_code=0,
        build_log=CappedLog(b"stale build", 0),
        stdout=CappedLog(b"stale", 0),
        stderr=CappedLog(b"", 0),
        outputs=[],
    )
    assert store_outcome(pool, job_id, first.attempt, stale) is False
    with pool.connection() as conn:
        job = job_records.get(conn, job_id)
        assert job is not None and job.status is JobStatus.RUNNING
        assert job_records.logs(conn, job_id) == {}
        assert filestore.listing(conn, job_id, FileKind.OUTPUT) == []


def wait_for_status(api: TestClient, job_id: int, status: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = api.get(f"/v1/jobs/{job_id}").json()
        if job["status"] == status:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {status}: {job}")


def test_cancel_stops_a_running_job_within_seconds(
    api: TestClient, cfg: Settings, pool: db.Pool, docker_client: docker.DockerClient
) -> None:
    dockerfile = b'FROM debian:bookworm-slim\nCMD ["sleep", "120"]\n'
    job_id = api.post("/v1/jobs", files=[("dockerfile", ("Dockerfile", dockerfile))]).json()["id"]
    worker = Worker(cfg, pool, docker_client)
    thread = threading.Thread(target=worker.run, kwargs={"max_jobs": 1, "idle_timeout": 60})
    thread.start()
    wait_for_status(api, job_id, "running")
    time.sleep(1)  # the container is up, not just claimed

    asked = time.monotonic()
    response = api.post(f"/v1/jobs/{job_id}/cancel")
    assert response.status_code == 202
    job = wait_for_status(api, job_id, "cancelled", seconds=20)
    took = time.monotonic() - asked
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert (job["reason"], job["attempt"]) == ("cancelled", 1)
    assert took < 10, f"cancel took {took:.1f} s"
    assert docker_client.containers.list(all=True, filters={"label": f"dccf.job={job_id}"}) == []


def test_cancel_queued_then_conflict_then_delete(api: TestClient, pool: db.Pool) -> None:
    job_id = api.post("/v1/demo").json()["id"]
    cancelled = api.post(f"/v1/jobs/{job_id}/cancel")
    assert cancelled.status_code == 202
    assert (cancelled.json()["status"], cancelled.json()["reason"]) == ("cancelled", "cancelled")
    again = api.post(f"/v1/jobs/{job_id}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    with pool.connection() as conn:
        assert dispatch.claim_next(conn, "late-worker", 30) is None

    assert api.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert api.get(f"/v1/jobs/{job_id}").status_code == 404
    assert int(pool.run("SELECT count(*) FROM files WHERE job_id = :id", id=job_id)[0][0]) == 0
    assert api.delete(f"/v1/jobs/{job_id}").status_code == 404


def test_delete_refuses_an_unfinished_job(api: TestClient, pool: db.Pool) -> None:
    job_id = api.post("/v1/demo").json()["id"]
    response = api.delete(f"/v1/jobs/{job_id}")
    assert response.status_code == 409
    assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
    api.post(f"/v1/jobs/{job_id}/cancel")


def test_idempotency_key_returns_the_first_job(api: TestClient, pool: db.Pool) -> None:
    dockerfile = ("dockerfile", ("Dockerfile", b"FROM debian:bookworm-slim\n"))
    key = {"Idempotency-Key": f"it-{time.time_ns()}"}
    first = api.post("/v1/jobs", files=[dockerfile], headers=key)
    before = int(pool.run("SELECT count(*) FROM jobs")[0][0])
    second = api.post("/v1/jobs", files=[dockerfile], headers=key)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert int(pool.run("SELECT count(*) FROM jobs")[0][0]) == before
    other = api.post("/v1/jobs", files=[dockerfile], headers={"Idempotency-Key": "x y"})
    assert other.status_code == 400
    for job_id in (first.json()["id"],):
        api.post(f"/v1/jobs/{job_id}/cancel")


def test_a_running_jobs_logs_are_stored_while_it_runs(
    api: TestClient, cfg: Settings, pool: db.Pool, docker_client: docker.DockerClient
) -> None:
    dockerfile = (
        b"FROM debian:bookworm-slim\n"
        b'CMD ["sh", "-c", "for i in $(seq 1 30); do echo tick $i; sleep 0.5; done"]\n'
    )
    job_id = api.post("/v1/jobs", files=[("dockerfile", ("Dockerfile", dockerfile))]).json()["id"]
    worker = Worker(cfg, pool, docker_client)
    thread = threading.Thread(target=worker.run, kwargs={"max_jobs": 1, "idle_timeout": 60})
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            seen = api.get(f"/v1/jobs/{job_id}/logs", params={"stream": "stdout"}).text
            if "tick 3\n" in seen:
                break
            assert time.monotonic() < deadline, f"no live stdout within 60 s: {seen!r}"
            time.sleep(0.2)
        assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "running"
        assert "tick 30" not in seen
    finally:
        thread.join(timeout=90)
    assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded"
    final = api.get(f"/v1/jobs/{job_id}/logs", params={"stream": "stdout"}).text
    assert final == "".join(f"tick {i}\n" for i in range(1, 31))


class NoWakeups:
    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


def _instant(_jobs: JobThread, _slot: Slot) -> str:
    """A job that ends at once and never wakes the loop itself: what wakes it is up to the
    loop."""
    return "done"


def test_a_finished_job_wakes_the_loop_to_claim_the_next(
    cfg: Settings,
    pool: db.Pool,
    docker_client: docker.DockerClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With one slot, no notices and no tick for an hour, the second job can only be claimed
    if the end of the first wakes the loop."""
    monkeypatch.setattr(worker_module, "TICK_SECONDS", 3600.0)
    monkeypatch.setattr(JobThread, "execute", _instant)
    with pool.connection() as conn:
        for name in ("first", "second"):
            insert_job(conn, name=name)
    one_slot = dataclasses.replace(cfg, worker=dataclasses.replace(cfg.worker, slots=1))
    worker = Worker(one_slot, pool, docker_client, wakeups=lambda wake: NoWakeups())
    started: list[int] = []
    loop = threading.Thread(target=lambda: started.append(worker.run(max_jobs=2)))
    loop.start()
    loop.join(timeout=120)
    if loop.is_alive():
        worker.request_stop()
        loop.join(timeout=30)
    assert started == [2], "the loop slept after the first job instead of claiming the second"
