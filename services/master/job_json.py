"""The job object of API.md, built from a stored record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dccf.job_records import JobRecord


def timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def job_json(job: JobRecord) -> dict[str, Any]:
    base = f"/v1/jobs/{job.id}"
    return {
        "id": job.id,
        "name": job.name,
        "status": str(job.status),
        "priority": job.priority,
        "reason": str(job.reason) if job.reason else None,
        "exit_code": job.exit_code,
        "attempt": job.attempt,
        "worker": job.worker,
        "created_at": timestamp(job.created_at),
        "started_at": timestamp(job.started_at),
        "finished_at": timestamp(job.finished_at),
        "limits": job.limits.to_json(),
        "callback_url": job.callback_url,
        "links": {
            "self": base,
            "logs": f"{base}/logs",
            "outputs": f"{base}/outputs",
            "archive": f"{base}/outputs.tar.gz",
        },
    }
