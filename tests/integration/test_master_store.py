"""The master against real Postgres and Kafka: what a submission stores and announces."""

from __future__ import annotations

import io
import tarfile
import threading
import time

import pytest
from job_runs import claim
from kafka import KafkaConsumer
from starlette.testclient import TestClient

from dccf import db, filestore, job_results, queue
from dccf.filestore import CONTEXT_PATH, FileKind
from dccf.jobs import JobStatus
from dccf.settings import Settings

pytestmark = pytest.mark.integration

DOCKERFILE = b'FROM debian:bookworm-slim\nCOPY run.sh /run.sh\nCMD ["sh", "/run.sh"]\n'


def job_count(pool: db.Pool) -> int:
    return int(pool.run("SELECT count(*) FROM jobs")[0][0])


def stored_context(pool: db.Pool, job_id: int) -> dict[str, bytes]:
    with pool.connection() as conn:
        stored = filestore.find(conn, job_id, FileKind.CONTEXT, CONTEXT_PATH)
    assert stored is not None
    data = b"".join(filestore.chunks(pool, stored.id))
    assert len(data) == stored.size
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return {
            m.name: archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.isfile()
        }


def test_submission_stores_job_and_context_and_announces_it(
    api: TestClient, pool: db.Pool, cfg: Settings
) -> None:
    listener = KafkaConsumer(
        cfg.kafka.topic,
        bootstrap_servers=cfg.kafka.servers,
        group_id=f"{cfg.kafka.topic}-listener",
        auto_offset_reset="earliest",
        consumer_timeout_ms=15000,
    )
    response = api.post(
        "/v1/jobs",
        files=[
            ("dockerfile", ("Dockerfile", DOCKERFILE)),
            ("files", ("run.sh", b"echo hi > /output/a.txt\n")),
            ("files", ("data/nested/input.bin", bytes(range(256)))),
        ],
        data={"name": "stored", "memory_mb": "64", "timeout_seconds": "30"},
    )
    assert response.status_code == 201, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert (job["status"], job["name"], job["limits"]["memory_mb"]) == ("queued", "stored", 64)

    assert stored_context(pool, job["id"]) == {
        "Dockerfile": DOCKERFILE,
        "run.sh": b"echo hi > /output/a.txt\n",
        "data/nested/input.bin": bytes(range(256)),
    }
    announced = [queue.decode(record.value) for record in listener]
    listener.close()
    assert job["id"] in announced


def test_rejected_submission_stores_nothing(api: TestClient, pool: db.Pool) -> None:
    before = job_count(pool)
    cases = [
        {"files": [("files", ("../escape", b"x"))], "data": {}},
        {"files": [("dockerfile", ("Dockerfile", DOCKERFILE))], "data": {"memory_mb": "15"}},
        {"files": [("dockerfile", ("Dockerfile", DOCKERFILE))], "data": {"network": "host"}},
        {"files": [("files", ("run.sh", b"x"))], "data": {}},
    ]
    for case in cases:
        response = api.post("/v1/jobs", files=case["files"], data=case["data"])
        assert response.status_code == 400, response.text
        assert set(response.json()["error"]) == {"code", "message"}
    assert job_count(pool) == before


def test_upload_over_the_cap_is_413_and_stores_nothing(
    api: TestClient, pool: db.Pool, cfg: Settings
) -> None:
    before = job_count(pool)
    big = b"\0" * (cfg.limits.max_upload_bytes + 1)
    response = api.post(
        "/v1/jobs",
        files=[("dockerfile", ("Dockerfile", DOCKERFILE)), ("files", ("big.bin", big))],
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert job_count(pool) == before


def test_long_poll_wakes_on_the_status_change(api: TestClient, pool: db.Pool) -> None:
    job_id = api.post("/v1/demo").json()["id"]

    def finish_soon() -> None:
        time.sleep(0.5)
        with pool.connection() as conn:
            claimed = claim(conn, job_id, "it-worker")
            job_results.finish(conn, job_id, claimed.attempt, JobStatus.SUCCEEDED, None, 0)

    finisher = threading.Thread(target=finish_soon)
    started = time.monotonic()
    finisher.start()
    job = api.get(f"/v1/jobs/{job_id}", params={"wait": 20}).json()
    waited = time.monotonic() - started
    finisher.join()
    assert job["status"] == "succeeded"
    # Woken by NOTIFY, not by the 20 s deadline.
    assert waited < 10


def test_legacy_submit_keeps_task_file_names(api: TestClient, pool: db.Pool) -> None:
    response = api.post(
        "/submit",
        files=[
            ("dockerFile", ("Dockerfile", DOCKERFILE)),
            ("taskFiles", ("run.sh", b"echo legacy\n")),
            ("taskFiles", ("extra.txt", b"more")),
        ],
    )
    assert response.status_code == 200
    job_id = response.json()
    assert isinstance(job_id, int)
    assert set(stored_context(pool, job_id)) == {"Dockerfile", "run.sh", "extra.txt"}
    assert api.get("/getJobStatus", params={"jobId": job_id}).json() == "SUBMITTED"
