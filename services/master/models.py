"""The API's JSON bodies as typed models: the handlers encode their answers through them, and
the OpenAPI document's schemas are generated from them (openapi.py), so the two cannot drift.

msgspec Structs: a `Struct` encodes straight to JSON bytes in C, and `schema_components`
turns the same classes (their docstrings, field types and `Meta` constraints) into JSON Schema.
A field without a default is required; `None` is sent as an explicit null. A class's docstring
is its schema's description, so it is written for the API's users.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from dccf.jobs import MAX_PRIORITY, MIN_PRIORITY, JobStatus, Network, Reason
from dccf.workers import WorkerState
from services.master import job_form

# Job ids are Postgres bigints.
MAX_JOB_ID = 2**63 - 1

JobId = Annotated[int, Meta(ge=1, le=MAX_JOB_ID)]
PRIORITY_RULE = (
    "Which queued job a free worker takes first: the highest priority; within a priority the "
    "principal whose job was started longest ago (round-robin between principals with queued "
    "jobs, so one principal's many jobs cannot hold back another's); within a principal the "
    "oldest job."
)
Priority = Annotated[int, Meta(ge=MIN_PRIORITY, le=MAX_PRIORITY, description=PRIORITY_RULE)]
Timestamp = Annotated[datetime, Meta(tz=True)]
UriReference = Annotated[str, Meta(extra_json_schema={"format": "uri-reference"})]
Sha256 = Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]
LegacyStatus = Literal["SUBMITTED", "PROCESSING", "COMPLETE", "ERROR"]


def utc_seconds(value: datetime) -> datetime:
    """Times go out in UTC to the second: `2026-11-27T19:10:27Z`."""
    return value.astimezone(UTC).replace(microsecond=0)


class Limits(Struct):
    """The limits the job runs under, as granted when it was accepted."""

    timeout_seconds: Annotated[int, Meta(ge=1)]
    memory_mb: Annotated[int, Meta(ge=job_form.MIN_MEMORY_MB)]
    cpus: Annotated[float, Meta(ge=job_form.MIN_CPUS)]
    network: Network


class Links(Struct):
    """Where to read the job, its logs and its outputs."""

    self_: UriReference = msgspec.field(name="self")
    logs: UriReference
    outputs: UriReference
    archive: UriReference


class Job(Struct):
    """A job as the API reports it. Clients should ignore keys they do not know, so that later
    versions can add some."""

    id: JobId
    name: Annotated[str, Meta(max_length=job_form.MAX_NAME_CHARS)] | None
    status: Annotated[
        JobStatus,
        Meta(
            description="`queued` → `running` → `succeeded` | `failed` | `cancelled`. A job "
            "whose build or run fails is never `succeeded`."
        ),
    ]
    priority: Priority
    reason: Annotated[
        Reason | None,
        Meta(
            description="Null unless the job is `failed` or `cancelled`. `worker_lost`: the "
            "attempts ran out after worker crashes."
        ),
    ]
    exit_code: Annotated[
        int | None, Meta(description="The container's exit code, once it has run.")
    ]
    attempt: Annotated[
        int,
        Meta(
            ge=0,
            description="How many times a worker has started the job (0 while it waits for its "
            "first start).",
        ),
    ]
    worker: Annotated[
        str | None, Meta(description="The worker that ran (or runs) the latest attempt.")
    ]
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    limits: Limits
    callback_url: Annotated[str, Meta(extra_json_schema={"format": "uri"})] | None
    links: Links


class JobPage(Struct):
    """One page of the caller's jobs."""

    jobs: Annotated[list[Job], Meta(description="Newest first, or by priority with `order`.")]
    next: Annotated[
        str | None,
        Meta(
            description="An opaque cursor: pass it as `before` to get the next page. Null when "
            "no more jobs can follow; a cursor may still lead to an empty page."
        ),
    ]


class OutputFile(Struct):
    """A file the job wrote under `/output`."""

    path: Annotated[
        str, Meta(description="Relative to the job's `/output` directory, e.g. `a/b.txt`.")
    ]
    size: Annotated[int, Meta(ge=0, description="Bytes.")]
    sha256: Sha256


class OutputList(Struct):
    """The job's output files."""

    files: list[OutputFile]


class ErrorDetail(Struct):
    """What went wrong: `code` is stable and machine-readable (e.g. `invalid_field`,
    `invalid_parameter`, `unknown_field`, `unauthorized`, `not_found`, `conflict`,
    `method_not_allowed`, `payload_too_large`, `unsupported_media_type`, `unavailable`);
    `message` says what to do."""

    code: Annotated[str, Meta(pattern="^[a-z][a-z0-9_]*$")]
    message: str


class Error(Struct):
    """Every error answer."""

    error: ErrorDetail


class WebhookEvent(Struct):
    """The body POSTed to a job's `callback_url`."""

    event: Literal["job.status"]
    job: Job


class LegacyFile(Struct):
    """A file of the original DCCF's result list."""

    fileId: int  # the original DCCF's keys
    fileType: Annotated[
        Literal["LOG", "RETURN"],
        Meta(
            description="`LOG`: a log stream (`build.log`, `stdout.log`, `stderr.log`); "
            "`RETURN`: a file the job wrote under `/output`."
        ),
    ]
    name: str
    fileData: bytes


class Health(Struct):
    """The process lives."""

    status: Literal["ok"]


class Checks(Struct):
    """Whether each dependency answered."""

    postgres: Literal["up", "down"]
    kafka: Literal["up", "down"]


class Readiness(Struct):
    """`status` when every dependency is up; `error` naming what is down otherwise."""

    checks: Checks
    seconds: Annotated[float, Meta(description="How long the checks took.")]
    status: Literal["ready"] | UnsetType = UNSET
    error: ErrorDetail | UnsetType = UNSET


class Worker(Struct):
    """A worker as its heartbeats describe it."""

    id: Annotated[str, Meta(description="`DCCF_WORKER_ID` (the pod name).")]
    state: WorkerState
    host: str
    version: Annotated[str, Meta(description="The worker's DCCF version.")]
    slots: Annotated[int, Meta(ge=1, description="Jobs at once.")]
    jobs: Annotated[list[int], Meta(description="The caller's running jobs on this worker.")]
    started_at: Timestamp
    last_seen_at: Timestamp
    stopped_at: Timestamp | None


class WorkerList(Struct):
    """Every recently seen worker."""

    workers: list[Worker]
    lost_after_seconds: Annotated[int, Meta(ge=1)]
