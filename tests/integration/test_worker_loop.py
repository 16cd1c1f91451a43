"""The worker loop against real Postgres, Kafka and Docker."""

from __future__ import annotations

import docker
import pytest
from starlette.testclient import TestClient

from dccf import db, filestore, job_records
from dccf.jobs import JobLimits, JobStatus
from dccf.settings import Settings
from services.worker import runner
from services.worker.results import store_outcome
from services.worker.worker import Worker

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
        job_id = job_records.insert(
            conn,
            principal="",
            name="fenced",
            limits=JobLimits(60, 64, 1.0),
            callback_url=None,
            build_args={},
        ).id
        first = job_records.claim(conn, job_id, "old-worker", 30)
        assert first is not None
        # The lease ran out and another worker took the job as attempt 2.
        conn.run("UPDATE jobs SET status = 'queued' WHERE id = :id", id=job_id)
        second = job_records.claim(conn, job_id, "new-worker", 30)
        assert second is not None and second.attempt == first.attempt + 1

    stale = runner.RunOutcome(
        status=JobStatus.SUCCEEDED,
        reason=None,
        exit_code=0,
        build_log=runner.CappedLog(b"stale build", 0),
        stdout=runner.CappedLog(b"stale", 0),
        stderr=runner.CappedLog(b"", 0),
        outputs=[],
    )
    assert store_outcome(pool, job_id, first.attempt, stale) is False
    with pool.connection() as conn:
        job = job_records.get(conn, job_id)
        assert job is not None and job.status is JobStatus.RUNNING
        assert job_records.logs(conn, job_id) == {}
        assert filestore.listing(conn, job_id, "output") == []
