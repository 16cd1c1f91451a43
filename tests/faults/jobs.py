"""Jobs for the fault tests, and the checks that a job's result was recorded exactly once.

Every job gets its name as a build argument and writes it to `/output/name.txt` and to stdout,
so a result stored under the wrong job, or stored twice, shows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import httpx
import pytest
from e2e.api import describe

Job = dict[str, Any]
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})

NAMED = 'printf "%s\\n" "$NAME"; printf %s "$NAME" > /output/name.txt'


def dockerfile(script: str) -> bytes:
    return (
        "FROM debian:bookworm-slim\n"
        "ARG NAME\n"
        "ENV NAME=$NAME\n"
        f"CMD {json.dumps(['sh', '-c', script])}\n"
    ).encode()


def post_job(client: httpx.Client, name: str, script: str = NAMED) -> httpx.Response:
    return client.post(
        "/v1/jobs",
        files={"dockerfile": ("Dockerfile", dockerfile(script), "application/octet-stream")},
        data={"name": name, "build_args": json.dumps({"NAME": name}), "timeout_seconds": "600"},
    )


def submit(client: httpx.Client, name: str, script: str = NAMED) -> Job:
    response = post_job(client, name, script)
    assert response.status_code == 201, (
        f"submitting {name!r}: expected 201, got {response.status_code}: {response.text[:2000]}"
    )
    job: Job = response.json()
    return job


def get(client: httpx.Client, job_id: int, wait: int = 0) -> Job:
    response = client.get(f"/v1/jobs/{job_id}", params={"wait": wait} if wait else None)
    assert response.status_code == 200, f"GET job {job_id}: {response.status_code} {response.text}"
    job: Job = response.json()
    return job


def wait_until(client: httpx.Client, job_id: int, statuses: Iterable[str], deadline: float) -> Job:
    """The job once its status is one of `statuses`; fails at the monotonic `deadline`, or
    as soon as the job ends in another status."""
    wanted = frozenset(statuses)
    long_poll = wanted <= TERMINAL  # ?wait= answers early only for a terminal job
    while True:
        remaining = deadline - time.monotonic()
        job = get(client, job_id, wait=int(min(10, max(0, remaining))) if long_poll else 0)
        if job["status"] in wanted:
            return job
        if remaining <= 0 or job["status"] in TERMINAL:
            pytest.fail(
                f"job {job_id} is {job['status']}, not {'/'.join(sorted(wanted))}\n"
                + describe(client, job_id)
            )
        if not long_poll:
            time.sleep(0.2)


def wait_terminal(client: httpx.Client, job_ids: Iterable[int], seconds: float) -> list[Job]:
    """Every job once terminal, all within `seconds` from now."""
    deadline = time.monotonic() + seconds
    return [wait_until(client, job_id, TERMINAL, deadline) for job_id in job_ids]


def assert_recorded_once(client: httpx.Client, job: Job, attempt: int | None = None) -> None:
    """Succeeded, and its result is one run's: one output file holding its own name, one
    line of stdout."""
    job_id = job["id"]
    assert job["status"] == "succeeded", describe(client, job_id)
    if attempt is not None:
        assert job["attempt"] == attempt, describe(client, job_id)
    files = client.get(f"/v1/jobs/{job_id}/outputs").json()["files"]
    assert [f["path"] for f in files] == ["name.txt"], (files, describe(client, job_id))
    written = client.get(f"/v1/jobs/{job_id}/outputs/name.txt").text
    assert written == job["name"], f"job {job_id} ({job['name']}) holds the output {written!r}"
    stdout = client.get(f"/v1/jobs/{job_id}/logs", params={"stream": "stdout"}).text
    assert stdout == f"{job['name']}\n", f"job {job_id} stdout {stdout!r}"
