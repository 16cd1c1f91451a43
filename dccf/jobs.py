"""The job model every component shares: statuses, failure reasons and limits."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

# Higher runs first; see `dispatch` for how a queued job is chosen.
MIN_PRIORITY, MAX_PRIORITY = -100, 100


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def legacy(self) -> str:
        """The status word the original DCCF's clients expect from /getJobStatus."""
        return _LEGACY[self]


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

_LEGACY = {
    JobStatus.QUEUED: "SUBMITTED",
    JobStatus.RUNNING: "PROCESSING",
    JobStatus.SUCCEEDED: "COMPLETE",
    JobStatus.FAILED: "ERROR",
    JobStatus.CANCELLED: "ERROR",
}


class Reason(StrEnum):
    """Why a job ended `failed` or `cancelled`."""

    BUILD_FAILED = "build_failed"
    NONZERO_EXIT = "nonzero_exit"
    TIMEOUT = "timeout"
    OOM_KILLED = "oom_killed"
    OUTPUT_TOO_LARGE = "output_too_large"
    WORKER_LOST = "worker_lost"
    CANCELLED = "cancelled"
    INTERNAL_ERROR = "internal_error"


class Network(StrEnum):
    NONE = "none"
    BRIDGE = "bridge"


class LogStream(StrEnum):
    BUILD = "build"
    STDOUT = "stdout"
    STDERR = "stderr"


@dataclass(frozen=True)
class JobLimits:
    timeout_seconds: int
    memory_mb: int
    cpus: float
    network: Network = Network.NONE

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["network"] = str(self.network)
        return data
