"""The job object of API.md, built from a stored record."""

from __future__ import annotations

from typing import Any

import msgspec

from dccf.job_records import JobRecord
from services.master import models


def job_model(job: JobRecord) -> models.Job:
    base = f"/v1/jobs/{job.id}"
    limits = job.limits
    return models.Job(
        id=job.id,
        name=job.name,
        status=job.status,
        priority=job.priority,
        reason=job.reason or None,
        exit_code=job.exit_code,
        attempt=job.attempt,
        worker=job.worker,
        created_at=models.utc_seconds(job.created_at),
        started_at=None if job.started_at is None else models.utc_seconds(job.started_at),
        finished_at=None if job.finished_at is None else models.utc_seconds(job.finished_at),
        limits=models.Limits(
            timeout_seconds=limits.timeout_seconds,
            memory_mb=limits.memory_mb,
            cpus=limits.cpus,
            network=limits.network,
        ),
        callback_url=job.callback_url,
        links=models.Links(
            self_=base,
            logs=f"{base}/logs",
            outputs=f"{base}/outputs",
            archive=f"{base}/outputs.tar.gz",
        ),
    )


def job_json(job: JobRecord) -> dict[str, Any]:
    """The job as plain dicts and strings, for the dashboard's templates and event stream."""
    body: dict[str, Any] = msgspec.to_builtins(job_model(job))
    return body
