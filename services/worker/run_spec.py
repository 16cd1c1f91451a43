"""What a run needs and what it yields, shared by the runner's parts and the worker loop.

What escapes a run: everything the job itself causes (a failed build, a crash, a timeout,
OOM, too much output, a cancel) comes back as a `RunOutcome`. A failure of the Docker engine or
of the connection to it raises `EngineError` (the docker/requests/urllib3 error is its
`__cause__`); a failure writing under the work directory raises `OSError`. Neither says
anything about the job, so the caller decides: retry it, or fail it with `internal_error`.
"""

from __future__ import annotations

from dataclasses import dataclass

import docker.errors
import requests
import urllib3

from dccf.jobs import JobLimits, JobStatus, Reason
from services.worker.logs import CappedLog
from services.worker.outputs import OutputFile

LABEL_JOB = "dccf.job"
LABEL_ATTEMPT = "dccf.attempt"
LABEL_WORKER = "dccf.worker"
# Images are found by tag, not label: a build label costs an extra build step (~100 ms).
TAG_PREFIX = "dccf-job-"

ENGINE_ERRORS = (
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
)


class EngineError(RuntimeError):
    """The Docker engine failed or went away; the job's own result is unknown."""


@dataclass(frozen=True)
class RunSpec:
    job_id: int
    attempt: int
    limits: JobLimits
    build_args: dict[str, str]
    pids_limit: int
    log_cap_bytes: int
    max_output_bytes: int
    # Labels the container, so a restarted worker can find what its crashed run left.
    worker: str = ""

    @property
    def tag(self) -> str:
        return image_tag(self.job_id, self.attempt)

    @property
    def labels(self) -> dict[str, str]:
        return {
            LABEL_JOB: str(self.job_id),
            LABEL_ATTEMPT: str(self.attempt),
            LABEL_WORKER: self.worker,
        }


@dataclass(frozen=True)
class RunOutcome:
    status: JobStatus
    reason: Reason | None
    exit_code: int | None
    build_log: CappedLog
    stdout: CappedLog
    stderr: CappedLog
    outputs: list[OutputFile]


def image_tag(job_id: int, attempt: int) -> str:
    return f"{TAG_PREFIX}{job_id}-{attempt}"
