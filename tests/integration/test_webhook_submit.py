"""Webhooks through the master app: the submit-time address check, and the dispatcher the
app's lifespan runs delivering what POST /v1/jobs asked for."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Iterator

import pytest
from job_runs import claim
from starlette.testclient import TestClient
from webhook_receiver import Receiver

from dccf import db, job_results
from dccf.jobs import JobStatus
from dccf.settings import Settings
from services.master.app import create_app

pytestmark = pytest.mark.integration

DOCKERFILE = b"FROM debian:bookworm-slim\nCMD true\n"
SECRET = "submit-hook-secret"


@pytest.fixture(scope="module")
def cfg(cfg: Settings) -> Settings:
    """The module's settings as a default server has them, whatever the environment says."""
    return dataclasses.replace(
        cfg,
        limits=dataclasses.replace(cfg.limits, allow_private_callbacks=False),
        master=dataclasses.replace(cfg.master, webhook_secret=SECRET),
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def submit(client: TestClient, callback_url: str) -> dict[str, object]:
    response = client.post(
        "/v1/jobs",
        files=[("dockerfile", ("Dockerfile", DOCKERFILE))],
        data={"name": "hooked", "callback_url": callback_url},
    )
    body: dict[str, object] = response.json()
    body["status_code"] = response.status_code
    return body


def test_a_private_callback_is_refused_and_nothing_stored(
    cfg: Settings, pool: db.Pool, receiver: Receiver
) -> None:
    with TestClient(create_app(cfg)) as client:
        for url in (
            receiver.url(),
            f"http://localhost:{receiver.port}/",
            "http://169.254.169.254/",
        ):
            answer = submit(client, url)
            assert answer["status_code"] == 400
            error = answer["error"]
            assert isinstance(error, dict) and error["code"] == "invalid_field"
            assert "DCCF_ALLOW_PRIVATE_CALLBACKS=true" in error["message"]
    assert pool.run("SELECT count(*) FROM jobs") == [[0]]


def test_the_app_delivers_a_submitted_jobs_changes(
    cfg: Settings, pool: db.Pool, receiver: Receiver
) -> None:
    allowed = dataclasses.replace(
        cfg, limits=dataclasses.replace(cfg.limits, allow_private_callbacks=True)
    )
    with TestClient(create_app(allowed)) as client:
        answer = submit(client, receiver.url("/hooks/dccf"))
        assert answer["status_code"] == 201, answer
        job_id = int(str(answer["id"]))
        with pool.connection() as conn:
            running = claim(conn, job_id, "w-1")
            assert job_results.finish(conn, job_id, running.attempt, JobStatus.SUCCEEDED, None, 0)
        hits = receiver.wait_for(2, job_id)
        final = client.get(f"/v1/jobs/{job_id}").json()
    assert [hit.job["status"] for hit in hits] == ["running", "succeeded"]
    assert hits[1].event == {"event": "job.status", "job": final}
    for hit in hits:
        digest = hmac.new(SECRET.encode(), hit.body, hashlib.sha256).hexdigest()
        assert hit.headers["x-dccf-signature"] == f"sha256={digest}"
