"""Assertions on the shapes API.md fixes: the job object and the error object."""

from __future__ import annotations

import re
from datetime import datetime

import httpx

from .api import Job, pretty

JOB_KEYS = {
    "id", "name", "status", "priority", "reason", "exit_code", "attempt", "worker",
    "created_at", "started_at", "finished_at", "limits", "callback_url", "links",
}  # fmt: skip
LIMIT_KEYS = {"timeout_seconds", "memory_mb", "cpus", "network"}
STATUSES = {"queued", "running", "succeeded", "failed", "cancelled"}
REASONS = {
    "build_failed", "nonzero_exit", "timeout", "oom_killed", "output_too_large",
    "worker_lost", "cancelled", "internal_error",
}  # fmt: skip
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def timestamp(value: str) -> datetime:
    assert isinstance(value, str) and RFC3339_UTC.match(value), (
        f"{value!r} is not an RFC 3339 UTC time ending in Z"
    )
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def assert_job(job: Job) -> None:
    """Every key, type and cross-field rule of API.md's job object."""
    assert set(job) == JOB_KEYS, f"job keys differ from API.md: {sorted(set(job) ^ JOB_KEYS)}"
    job_id = job["id"]
    assert _is_int(job_id) and job_id > 0, pretty(job)
    assert job["name"] is None or isinstance(job["name"], str), pretty(job)
    assert job["status"] in STATUSES, pretty(job)
    assert _is_int(job["priority"]) and -100 <= job["priority"] <= 100, pretty(job)
    if job["status"] in {"failed", "cancelled"}:
        assert job["reason"] in REASONS, pretty(job)
    else:
        assert job["reason"] is None, pretty(job)
    assert job["exit_code"] is None or _is_int(job["exit_code"]), pretty(job)
    assert _is_int(job["attempt"]) and job["attempt"] >= 0, pretty(job)
    assert job["worker"] is None or isinstance(job["worker"], str), pretty(job)
    assert job["callback_url"] is None or isinstance(job["callback_url"], str), pretty(job)

    created = timestamp(job["created_at"])
    started = None if job["started_at"] is None else timestamp(job["started_at"])
    finished = None if job["finished_at"] is None else timestamp(job["finished_at"])
    if started is not None:
        assert created <= started, pretty(job)
    if finished is not None:
        assert (started or created) <= finished, pretty(job)
    assert (finished is not None) == (job["status"] in {"succeeded", "failed", "cancelled"}), (
        f"finished_at must be set exactly when the job is terminal: {pretty(job)}"
    )
    if job["status"] in {"running", "succeeded"}:
        assert started is not None and job["worker"] and job["attempt"] >= 1, pretty(job)

    limits = job["limits"]
    assert set(limits) == LIMIT_KEYS, pretty(job)
    assert _is_int(limits["timeout_seconds"]) and limits["timeout_seconds"] >= 1, pretty(job)
    assert _is_int(limits["memory_mb"]) and limits["memory_mb"] >= 16, pretty(job)
    assert isinstance(limits["cpus"], int | float) and not isinstance(limits["cpus"], bool)
    assert limits["cpus"] >= 0.1, pretty(job)
    assert limits["network"] in {"none", "bridge"}, pretty(job)

    base = f"/v1/jobs/{job_id}"
    assert job["links"] == {
        "self": base,
        "logs": f"{base}/logs",
        "outputs": f"{base}/outputs",
        "archive": f"{base}/outputs.tar.gz",
    }, pretty(job)


def assert_error(response: httpx.Response, status: int) -> dict[str, str]:
    """`{"error": {"code": snake_case, "message": sentence}}` with exactly this status."""
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path}: expected {status}, "
        f"got {response.status_code}: {response.text[:1000]}"
    )
    assert response.headers.get("content-type", "").startswith("application/json"), (
        f"error bodies are JSON, got {response.headers.get('content-type')!r}: "
        f"{response.text[:300]}"
    )
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}, body
    assert isinstance(error["code"], str) and SNAKE_CASE.match(error["code"]), body
    assert isinstance(error["message"], str) and error["message"].strip(), body
    return error
