"""Jobs the browser tests submit through the API (the form has tests of its own)."""

from __future__ import annotations

from typing import Any

import httpx

DOCKERFILE_SLEEP = 'FROM debian:bookworm-slim\nCMD ["sh", "-c", "echo started; exec sleep 300"]\n'
DOCKERFILE_QUICK = 'FROM debian:bookworm-slim\nCMD ["sh", "-c", "echo quick job says hello"]\n'


def submit(api: httpx.Client, dockerfile: str, name: str, **headers: str) -> dict[str, Any]:
    response = api.post(
        "/v1/jobs",
        files={"dockerfile": ("Dockerfile", dockerfile.encode())},
        data={"name": name, "timeout_seconds": "600"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


def wait_terminal(api: httpx.Client, job_id: int, **headers: str) -> dict[str, Any]:
    for _ in range(10):
        job: dict[str, Any] = api.get(
            f"/v1/jobs/{job_id}", params={"wait": 30}, headers=headers
        ).json()
        if job["status"] in {"succeeded", "failed", "cancelled"}:
            return job
    raise AssertionError(f"job {job_id} did not end within 300 s")
