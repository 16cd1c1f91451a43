"""Small verbs over the DCCF REST API used by every e2e module."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest

from .forms import Part, encode
from .target import JOB_DEADLINE_SECONDS

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
Job = dict[str, Any]


def post_form(
    client: httpx.Client,
    path: str,
    parts: Iterable[Part],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body, content_type = encode(parts)
    return client.post(
        path, content=body, headers={"Content-Type": content_type, **(headers or {})}
    )


def submit(client: httpx.Client, parts: Iterable[Part]) -> httpx.Response:
    return post_form(client, "/v1/jobs", parts)


def created(response: httpx.Response) -> Job:
    """The job of a `201 Created`, or a failure that shows what the server said instead."""
    assert response.status_code == 201, (
        f"expected 201 for a valid submission, got {response.status_code}: {response.text[:2000]}"
    )
    return response.json()


def get_job(client: httpx.Client, job_id: int, wait: int | None = None) -> Job:
    params = {} if wait is None else {"wait": wait}
    response = client.get(f"/v1/jobs/{job_id}", params=params)
    assert response.status_code == 200, f"GET job {job_id}: {response.status_code} {response.text}"
    return response.json()


def logs(client: httpx.Client, job_id: int, stream: str | None = None) -> str:
    params = {} if stream is None else {"stream": stream}
    response = client.get(f"/v1/jobs/{job_id}/logs", params=params)
    assert response.status_code == 200, (
        f"GET logs of job {job_id} (stream={stream}): {response.status_code} {response.text}"
    )
    return response.text


def describe(client: httpx.Client, job_id: int) -> str:
    """The job and the tail of its logs, for failure messages a reader can act on."""
    try:
        job = client.get(f"/v1/jobs/{job_id}").text
        text = client.get(f"/v1/jobs/{job_id}/logs").text
    except httpx.HTTPError as exc:
        return f"job {job_id}: could not fetch it ({exc!r})"
    return f"job {job_id}: {job}\n--- logs (last 4000 chars) ---\n{text[-4000:]}"


def wait_terminal(client: httpx.Client, job_id: int, deadline: float = JOB_DEADLINE_SECONDS) -> Job:
    end = time.monotonic() + deadline
    while True:
        remaining = end - time.monotonic()
        if remaining <= 0:
            pytest.fail(
                f"job {job_id} was not terminal after {deadline:.0f} s\n{describe(client, job_id)}"
            )
        started = time.monotonic()
        job = get_job(client, job_id, wait=max(1, min(30, int(remaining))))
        if job["status"] in TERMINAL:
            return job
        if time.monotonic() - started < 0.5:
            time.sleep(0.5)  # a server that ignores ?wait must not be hammered


def expect(client: httpx.Client, job: Job, status: str, reason: str | None = None) -> None:
    if (job["status"], job["reason"]) != (status, reason):
        pytest.fail(
            f"expected status={status} reason={reason}, got status={job['status']} "
            f"reason={job['reason']}\n{describe(client, job['id'])}"
        )


def newest_id(client: httpx.Client) -> int | None:
    response = client.get("/v1/jobs", params={"limit": 1})
    assert response.status_code == 200, f"GET /v1/jobs?limit=1: {response.text}"
    jobs = response.json()["jobs"]
    return jobs[0]["id"] if jobs else None


def iter_jobs(client: httpx.Client, **params: Any) -> Iterator[Job]:
    """Every job of the listing, newest first, following the `next` cursor."""
    params = {"limit": 200, **params}
    while True:
        response = client.get("/v1/jobs", params=params)
        assert response.status_code == 200, f"GET /v1/jobs {params}: {response.text}"
        page = response.json()
        yield from page["jobs"]
        if page["next"] is None:
            return
        params["before"] = page["next"]


def outputs(client: httpx.Client, job_id: int) -> dict[str, dict[str, Any]]:
    response = client.get(f"/v1/jobs/{job_id}/outputs")
    assert response.status_code == 200, f"outputs of job {job_id}: {response.text}"
    body = response.json()
    assert set(body) == {"files"}, body
    return {entry["path"]: entry for entry in body["files"]}


def output_bytes(client: httpx.Client, job_id: int, path: str) -> bytes:
    response = client.get(f"/v1/jobs/{job_id}/outputs/{path}")
    assert response.status_code == 200, f"output {path!r} of job {job_id}: {response.text}"
    assert int(response.headers["content-length"]) == len(response.content)
    return response.content


def pretty(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True)
