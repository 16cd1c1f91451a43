"""Build one job's image, run it under its limits, and collect its logs and /output.

What escapes `run_job`: everything the job itself causes (a failed build, a crash, a timeout,
OOM, too much output, a cancel) comes back as a `RunOutcome`. A failure of the Docker engine or
of the connection to it raises `EngineError` (the docker/requests/urllib3 error is its
`__cause__`); a failure writing under `workdir` raises `OSError`. Neither says anything about the
job, so the caller decides: retry it, or fail it with `internal_error`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import tarfile
import threading
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import docker
import docker.errors
import requests
import urllib3
from docker.models.containers import Container
from docker.types import Mount

from dccf.jobs import JobLimits, JobStatus, Network, Reason
from services.worker.logs import CappedLog, LogCapture, capture
from services.worker.outputs import ARCHIVE_CHUNK, OutputFile, OutputTooLarge, collect_outputs

_log = logging.getLogger(__name__)

LABEL_JOB = "dccf.job"
LABEL_ATTEMPT = "dccf.attempt"
LABEL_WORKER = "dccf.worker"
OUTPUT_DIR = "/output"
# Images are found by tag, not label: a build label costs an extra build step (~100 ms).
TAG_PREFIX = "dccf-job-"
# `wait` returns the moment the container exits; the slice only bounds how late a cancel is seen.
WAIT_SLICE_SECONDS = 1.0
CANCEL_POLL_SECONDS = 0.2

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


@dataclass(frozen=True)
class RunOutcome:
    status: JobStatus
    reason: Reason | None
    exit_code: int | None
    build_log: CappedLog
    stdout: CappedLog
    stderr: CappedLog
    outputs: list[OutputFile]


EMPTY_LOG = CappedLog(b"", 0)


def image_tag(job_id: int, attempt: int) -> str:
    return f"{TAG_PREFIX}{job_id}-{attempt}"


def run_job(
    docker_client: docker.DockerClient,
    spec: RunSpec,
    context: BinaryIO,
    workdir: Path,
    cancelled: threading.Event,
) -> RunOutcome:
    """Build `context` (an uncompressed tar, read once), run it, and clean up after it.

    The container and the job's image tag are always removed; outputs are written under
    `workdir`, which the caller owns. `cancelled` may be set from another thread at any time.
    """
    try:
        return _run(docker_client, spec, context, workdir, cancelled)
    except ENGINE_ERRORS as exc:
        raise EngineError(
            f"the Docker engine failed while running job {spec.job_id} "
            f"(attempt {spec.attempt}): {exc}"
        ) from exc


def _run(
    client: docker.DockerClient,
    spec: RunSpec,
    context: BinaryIO,
    workdir: Path,
    cancelled: threading.Event,
) -> RunOutcome:
    tag = image_tag(spec.job_id, spec.attempt)
    container: Container | None = None
    try:
        build = _build(client.api, spec, tag, context, cancelled)
        if build.status is not JobStatus.SUCCEEDED:
            return RunOutcome(build.status, build.reason, None, build.log, EMPTY_LOG, EMPTY_LOG, [])
        try:
            container = _create(client, spec, tag)
        except docker.errors.APIError as exc:
            # The daemon refuses images it cannot run (no CMD, say); the limits are validated
            # upstream, so a client error here is the job's doing.
            if not exc.is_client_error():
                raise
            note = f"[dccf: the container could not be created: {exc.explanation}]\n"
            stderr = capture([], spec.log_cap_bytes, footer=note.encode())
            return RunOutcome(
                JobStatus.FAILED, Reason.NONZERO_EXIT, None, build.log, EMPTY_LOG, stderr, []
            )
        return _execute(container, spec, build.log, workdir, cancelled)
    finally:
        _remove(client, container, tag)


@dataclass(frozen=True)
class _Built:
    status: JobStatus
    reason: Reason | None
    log: CappedLog


def _labels(spec: RunSpec) -> dict[str, str]:
    return {
        LABEL_JOB: str(spec.job_id),
        LABEL_ATTEMPT: str(spec.attempt),
        LABEL_WORKER: spec.worker,
    }


def _build(
    api: docker.APIClient,
    spec: RunSpec,
    tag: str,
    context: BinaryIO,
    cancelled: threading.Event,
) -> _Built:
    log = LogCapture(spec.log_cap_bytes)
    error: str | None = None
    with _AbortOnCancel(api, cancelled):
        try:
            stream = api.build(
                fileobj=context,
                custom_context=True,
                rm=True,
                forcerm=True,
                tag=tag,
                buildargs=dict(spec.build_args),
                decode=True,
            )
            for item in stream:
                error = _record(item, log) or error
        except docker.errors.APIError as exc:
            # A Dockerfile the daemon cannot parse is answered with 400 before any step runs.
            if not (exc.is_client_error() or cancelled.is_set()):
                raise
            error = str(exc.explanation)
        except ENGINE_ERRORS:
            if not cancelled.is_set():
                raise
    if cancelled.is_set():
        return _Built(JobStatus.CANCELLED, Reason.CANCELLED, log.result())
    if error is not None:
        # The reason goes after the "dropped" line: a long build log must still say why it failed.
        return _Built(
            JobStatus.FAILED, Reason.BUILD_FAILED, log.result(footer=f"{error}\n".encode())
        )
    return _Built(JobStatus.SUCCEEDED, None, log.result())


def _record(item: dict[str, Any], log: LogCapture) -> str | None:
    """Append one decoded build message to the log; return its error text if it is one."""
    if "error" in item:
        return str(item["error"])
    if "stream" in item:
        log.feed(str(item["stream"]).encode())
    elif "status" in item and "progress" not in item:
        log.feed(f"{item['status']}\n".encode())
    return None


class _AbortOnCancel:
    """Cuts this thread's /build connection when `cancelled` is set.

    The daemon's builder kills the running step when its client goes away, which is the only way
    to stop a build; the SDK hides the response, so a session response hook, limited to this
    thread's /build request, keeps it.
    """

    def __init__(self, api: docker.APIClient, cancelled: threading.Event) -> None:
        self._api = api
        self._cancelled = cancelled
        self._thread_id = threading.get_ident()
        self._response: requests.Response | None = None
        self._done = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="dccf-build-cancel", daemon=True)

    def __enter__(self) -> _AbortOnCancel:
        self._api.hooks["response"].append(self._remember)
        self._watcher.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        self._watcher.join()
        self._api.hooks["response"].remove(self._remember)

    def _remember(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        if threading.get_ident() == self._thread_id and "/build" in response.url:
            self._response = response

    def _watch(self) -> None:
        while not self._done.wait(CANCEL_POLL_SECONDS):
            if self._cancelled.is_set() and self._response is not None:
                connection = getattr(self._response.raw, "connection", None)
                sock = getattr(connection, "sock", None)
                if sock is not None:
                    # shutdown, not close: it wakes the thread blocked reading the stream.
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                return


# The daemon refuses a CPU limit above its core count; a job cannot use more cores than exist,
# so the limit is clamped. Core counts are asked once per daemon.
_daemon_cpus: dict[str, int] = {}


def _nano_cpus(client: docker.DockerClient, cpus: float) -> int:
    base_url = client.api.base_url
    if base_url not in _daemon_cpus:
        _daemon_cpus[base_url] = int(client.info()["NCPU"])
    return int(min(cpus, _daemon_cpus[base_url]) * 1_000_000_000)


def _output_dir_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        entry = tarfile.TarInfo(OUTPUT_DIR.lstrip("/"))
        entry.type = tarfile.DIRTYPE
        entry.mode = 0o777
        entry.mtime = int(time.time())
        archive.addfile(entry)
    return buffer.getvalue()


_OUTPUT_DIR_TAR = _output_dir_tar()


def _create(client: docker.DockerClient, spec: RunSpec, tag: str) -> Container:
    """A container with the job's limits and an empty /output (opened up in `_execute`).

    The anonymous volume with no_copy hides whatever the image has at /output.
    """
    limits = spec.limits
    memory = f"{limits.memory_mb}m"
    return client.containers.create(
        tag,
        labels=_labels(spec),
        mem_limit=memory,
        memswap_limit=memory,
        nano_cpus=_nano_cpus(client, limits.cpus),
        pids_limit=spec.pids_limit,
        network_mode="bridge" if limits.network == Network.BRIDGE else "none",
        mounts=[Mount(OUTPUT_DIR, None, type="volume", no_copy=True)],
    )


class _Ending(Enum):
    EXITED = "exited"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


def _execute(
    container: Container,
    spec: RunSpec,
    build_log: CappedLog,
    workdir: Path,
    cancelled: threading.Event,
) -> RunOutcome:
    note = b""
    try:
        # A 0777 directory entry put over the empty volume opens it to a non-root USER.
        container.put_archive("/", _OUTPUT_DIR_TAR)
        container.start()
    except docker.errors.APIError as exc:
        # The image's doing: a CMD whose executable does not exist (400; the daemon records
        # exit code 127), or a /output that is a file, which the daemon reports as a 500.
        if not (exc.is_client_error() or "not a directory" in str(exc.explanation)):
            raise
        note = f"[dccf: the container could not start: {exc.explanation}]\n".encode()
        ending = _Ending.EXITED
    else:
        ending = _wait(container, spec.limits.timeout_seconds, cancelled)
    container.reload()
    state = container.attrs["State"]
    exit_code = int(state["ExitCode"])
    stdout = capture(_logs(container, stdout=True), spec.log_cap_bytes)
    stderr = capture(_logs(container, stdout=False), spec.log_cap_bytes, footer=note)

    def ended(status: JobStatus, reason: Reason | None, code: int | None) -> RunOutcome:
        return RunOutcome(status, reason, code, build_log, stdout, stderr, [])

    if ending is _Ending.CANCELLED:
        return ended(JobStatus.CANCELLED, Reason.CANCELLED, None)
    if ending is _Ending.TIMED_OUT:
        return ended(JobStatus.FAILED, Reason.TIMEOUT, None)
    if state["OOMKilled"]:
        return ended(JobStatus.FAILED, Reason.OOM_KILLED, exit_code)
    if exit_code != 0 or note:
        return ended(JobStatus.FAILED, Reason.NONZERO_EXIT, exit_code)
    chunks, _stat = container.get_archive(OUTPUT_DIR, chunk_size=ARCHIVE_CHUNK)
    try:
        outputs = collect_outputs(chunks, workdir / "outputs", spec.max_output_bytes)
    except OutputTooLarge:
        return ended(JobStatus.FAILED, Reason.OUTPUT_TOO_LARGE, exit_code)
    finally:
        chunks.close()
    return RunOutcome(JobStatus.SUCCEEDED, None, 0, build_log, stdout, stderr, outputs)


def _logs(container: Container, *, stdout: bool) -> Any:
    return container.logs(stdout=stdout, stderr=not stdout, stream=True, follow=False)


def _wait(container: Container, timeout_seconds: float, cancelled: threading.Event) -> _Ending:
    deadline = time.monotonic() + timeout_seconds
    while True:
        if cancelled.is_set():
            _kill(container)
            return _Ending.CANCELLED
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            # Already exited when the deadline came: its own result stands.
            return _Ending.TIMED_OUT if _kill(container) else _Ending.EXITED
        try:
            container.wait(timeout=min(WAIT_SLICE_SECONDS, remaining))
            return _Ending.EXITED
        except (requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout) as exc:
            # A slow daemon raises ReadTimeout, which is no ConnectionError subclass.
            if not _is_read_timeout(exc):
                raise


def _is_read_timeout(exc: requests.exceptions.RequestException) -> bool:
    """True for the SDK's "wait timed out", which requests reports as a ConnectionError."""
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return True
    return any(isinstance(arg, urllib3.exceptions.ReadTimeoutError) for arg in exc.args)


def _kill(container: Container) -> bool:
    """Kill the container; False if it had already stopped."""
    try:
        container.kill()
    except docker.errors.APIError as exc:
        if exc.status_code == 409:
            return False
        raise
    return True


def _remove(client: docker.DockerClient, container: Container | None, tag: str) -> None:
    """Remove the container, its /output volume and the job's tag, keeping the build cache.

    `noprune` keeps the untagged parent layers, so an identical Dockerfile builds from cache
    next time; `prune_if_needed` reclaims them when the disk fills. Failures are logged, not
    raised: the job's result is already known, and `remove_leftovers` finds what is left.
    """
    if container is not None:
        try:
            container.remove(v=True, force=True)
        except docker.errors.NotFound:
            pass
        except ENGINE_ERRORS as exc:
            _log.warning("could not remove container %s: %s", container.id, exc)
    try:
        client.api.remove_image(tag, noprune=True)
    except docker.errors.NotFound:
        pass
    except ENGINE_ERRORS as exc:
        _log.warning("could not remove image %s: %s", tag, exc)


def remove_leftovers(docker_client: docker.DockerClient, worker: str) -> int:
    """Remove the job containers `worker` labelled, and their images; return how many.

    For a worker's start, before it takes a job: a crashed run of it may have left some. On a
    daemon shared by several workers (the local stack) the others' running jobs are spared.
    """
    removed = 0
    try:
        containers = docker_client.containers.list(
            all=True, filters={"label": f"{LABEL_WORKER}={worker}"}
        )
        tags = [
            image_tag(int(c.labels[LABEL_JOB]), int(c.labels.get(LABEL_ATTEMPT, "1")))
            for c in containers
            if c.labels.get(LABEL_JOB, "").isdigit()
        ]
        for container in containers:
            container.remove(v=True, force=True)
            removed += 1
        for tag in tags:
            with contextlib.suppress(docker.errors.ImageNotFound):
                docker_client.api.remove_image(tag, noprune=True)
                removed += 1
    except ENGINE_ERRORS as exc:
        raise EngineError(f"could not remove leftover job containers or images: {exc}") from exc
    return removed


def prune_if_needed(docker_client: docker.DockerClient, threshold_bytes: int) -> int:
    """Drop the build cache (dangling images, builder cache) once it passes the threshold.

    Meant for between jobs, not the hot path: `df` walks every layer. Returns bytes reclaimed.
    """
    try:
        usage = docker_client.df()
        used = int(usage.get("LayersSize") or 0) + sum(
            int(entry.get("Size") or 0) for entry in usage.get("BuildCache") or []
        )
        if used <= threshold_bytes:
            return 0
        reclaimed = docker_client.images.prune(filters={"dangling": True})
        builder = docker_client.api.prune_builds()
    except ENGINE_ERRORS as exc:
        raise EngineError(f"could not prune the Docker build cache: {exc}") from exc
    total = int(reclaimed.get("SpaceReclaimed") or 0) + int(builder.get("SpaceReclaimed") or 0)
    _log.info(
        "pruned the build cache (%d bytes in use, threshold %d): %d bytes reclaimed",
        used,
        threshold_bytes,
        total,
    )
    return total
