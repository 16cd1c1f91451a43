"""SIGTERM to a real `dccf-worker` process: the running job finishes, then the worker leaves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from dccf.settings import Settings

pytestmark = pytest.mark.integration

WORKER = Path(sys.executable).with_name("dccf-worker")


def worker_env(cfg: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DCCF_PG_HOST": cfg.postgres.host,
        "DCCF_PG_PORT": str(cfg.postgres.port),
        "DCCF_PG_DATABASE": cfg.postgres.database,
        "DCCF_KAFKA_BOOTSTRAP": cfg.kafka.bootstrap,
        "DCCF_KAFKA_TOPIC": cfg.kafka.topic,
        "DCCF_WORKER_ID": "shutdown-test-worker",
    }


def wait_status(api: TestClient, job_id: int, wanted: set[str], seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    job: dict = {}
    while time.monotonic() < deadline:
        job = api.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in wanted:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {wanted}: {job}")


def test_sigterm_finishes_the_running_job_then_exits(api: TestClient, cfg: Settings) -> None:
    dockerfile = (
        b'FROM debian:bookworm-slim\nCMD ["sh", "-c", "sleep 4; echo done > /output/done"]\n'
    )
    job_id = api.post("/v1/jobs", files=[("dockerfile", ("Dockerfile", dockerfile))]).json()["id"]
    worker = subprocess.Popen(
        [str(WORKER)], env=worker_env(cfg), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        wait_status(api, job_id, {"running"}, 90)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    job = api.get(f"/v1/jobs/{job_id}").json()
    assert worker.returncode == 0, output.decode(errors="replace")[-3000:]
    assert (job["status"], job["attempt"]) == ("succeeded", 1)
    assert api.get(f"/v1/jobs/{job_id}/outputs/done").content == b"done\n"
    assert b"finishing the running jobs" in output
