"""A job's container: created with the job's limits, run under its timeout while its output
is streamed into the live logs, then its /output collected under the size cap."""

from __future__ import annotations

import io
import logging
import tarfile
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import docker
import docker.errors
import requests
import urllib3
from docker.models.containers import Container
from docker.types import Mount

from dccf.jobs import JobStatus, LogStream, Network, Reason
from services.worker.live_logs import LiveLogs
from services.worker.outputs import ARCHIVE_CHUNK, OutputFile, OutputTooLarge, collect_outputs
from services.worker.run_spec import ENGINE_ERRORS, RunSpec

_log = logging.getLogger(__name__)

OUTPUT_DIR = "/output"
# `wait` returns the moment the container exits; the slice only bounds how late a cancel is seen.
WAIT_SLICE_SECONDS = 1.0
# The followers of a container's logs normally end the moment it exits; past this they are
# left behind (their reading is replaced by a whole one anyway).
FOLLOW_GRACE_SECONDS = 5.0
# How long a SIGKILLed container's "oom" event is waited for (see `oom_killed`).
OOM_EVENT_GRACE_SECONDS = 1.0


class Ending(Enum):
    EXITED = "exited"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Finished:
    """How the run ended, and what the job left in /output (collected only on success)."""

    status: JobStatus
    reason: Reason | None
    exit_code: int | None
    note: bytes = b""
    outputs: list[OutputFile] = field(default_factory=list)


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


def create(client: docker.DockerClient, spec: RunSpec) -> Container:
    """A container with the job's limits and an empty /output (opened up in `run`).

    The anonymous volume with no_copy hides whatever the image has at /output.
    """
    limits = spec.limits
    memory = f"{limits.memory_mb}m"
    return client.containers.create(
        spec.tag,
        labels=spec.labels,
        mem_limit=memory,
        memswap_limit=memory,
        nano_cpus=_nano_cpus(client, limits.cpus),
        pids_limit=spec.pids_limit,
        network_mode="bridge" if limits.network == Network.BRIDGE else "none",
        mounts=[Mount(OUTPUT_DIR, None, type="volume", no_copy=True)],
    )


def run(
    client: docker.DockerClient,
    container: Container,
    spec: RunSpec,
    logs: LiveLogs,
    workdir: Path,
    cancelled: threading.Event,
) -> Finished:
    """Start the container, stream its output into `logs`, wait for its end, judge it."""
    could_not_start = b""
    readers: list[threading.Thread] = []
    started = time.time()
    try:
        # A 0777 directory entry put over the empty volume opens it to a non-root USER.
        container.put_archive("/", _OUTPUT_DIR_TAR)
        container.start()
    except docker.errors.APIError as exc:
        # The image's doing: a CMD whose executable does not exist (400; the daemon records
        # exit code 127), or a /output that is a file, which the daemon reports as a 500.
        if not (exc.is_client_error() or "not a directory" in str(exc.explanation)):
            raise
        could_not_start = f"[dccf: the container could not start: {exc.explanation}]\n".encode()
        ending = Ending.EXITED
    else:
        readers = [_read_logs(container, logs, stream) for stream in _RUN_STREAMS]
        ending = _wait(container, spec.limits.timeout_seconds, cancelled)
    _settle(container, logs, readers)
    container.reload()
    state = container.attrs["State"]
    exit_code = int(state["ExitCode"])
    if ending is Ending.CANCELLED:
        return Finished(JobStatus.CANCELLED, Reason.CANCELLED, None, could_not_start)
    if ending is Ending.TIMED_OUT:
        return Finished(JobStatus.FAILED, Reason.TIMEOUT, None, could_not_start)
    if oom_killed(client, container, started):
        return Finished(JobStatus.FAILED, Reason.OOM_KILLED, exit_code, could_not_start)
    if exit_code != 0 or could_not_start:
        return Finished(JobStatus.FAILED, Reason.NONZERO_EXIT, exit_code, could_not_start)
    chunks, _stat = container.get_archive(OUTPUT_DIR, chunk_size=ARCHIVE_CHUNK)
    try:
        outputs = collect_outputs(chunks, workdir / "outputs", spec.max_output_bytes)
    except OutputTooLarge:
        return Finished(JobStatus.FAILED, Reason.OUTPUT_TOO_LARGE, exit_code, could_not_start)
    finally:
        # The SDK's stream is a generator, typed as an iterator: closing it frees the connection.
        if isinstance(chunks, Generator):
            chunks.close()
    return Finished(JobStatus.SUCCEEDED, None, 0, outputs=outputs)


def oom_killed(client: docker.DockerClient, container: Container, since: float) -> bool:
    """Whether the kernel killed anything in the container for memory.

    Docker 20.10 on cgroup v2 can handle a container's exit before the kernel's OOM kill
    reaches it and then inspects as OOMKilled false (moby#41929: about 2 of 90 memory hogs on
    a loaded machine here). The "oom" event it logs for the late notice is a second witness;
    a SIGKILLed container (exit 137) waits a moment for it.
    """
    if container.attrs["State"]["OOMKilled"]:
        return True
    deadline = time.monotonic() + OOM_EVENT_GRACE_SECONDS
    while True:
        # Timestamps as the API takes them, to the microsecond: a whole-second `until` would
        # miss this second's events or block until the next (the stubs know only those).
        events = client.api.events(  # type: ignore[call-overload]
            since=f"{since - 1:.6f}",
            until=f"{time.time():.6f}",
            filters={"container": container.id, "event": "oom"},
            decode=True,
        )
        try:
            if any(True for _ in events):
                return True
        finally:
            events.close()  # frees its connection, also when the first event was enough
        if container.attrs["State"]["ExitCode"] != 137 or time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def _settle(container: Container, logs: LiveLogs, followers: list[threading.Thread]) -> None:
    """Read each stream of the exited container whole, in place of what was followed (all of
    it: a capped log still counts what it drops)."""
    given_up = time.monotonic() + FOLLOW_GRACE_SECONDS
    for follower in followers:
        follower.join(max(0.0, given_up - time.monotonic()))
    for stream in _RUN_STREAMS:
        stdout = stream is LogStream.STDOUT
        logs.settle(stream, container.logs(stdout=stdout, stderr=not stdout, stream=True))


_RUN_STREAMS = (LogStream.STDOUT, LogStream.STDERR)


def _read_logs(container: Container, logs: LiveLogs, stream: LogStream) -> threading.Thread:
    """Follow one of the container's streams until it exits (all of it: a capped log still
    counts what it drops)."""

    def follow() -> None:
        stdout = stream is LogStream.STDOUT
        try:
            for chunk in container.logs(stdout=stdout, stderr=not stdout, stream=True, follow=True):
                logs.feed(stream, chunk)
        except ENGINE_ERRORS as exc:
            _log.warning("reading the %s of container %s stopped: %s", stream, container.id, exc)

    reader = threading.Thread(target=follow, name=f"the {stream} log", daemon=True)
    reader.start()
    return reader


def _wait(container: Container, timeout_seconds: float, cancelled: threading.Event) -> Ending:
    deadline = time.monotonic() + timeout_seconds
    while True:
        if cancelled.is_set():
            _kill(container)
            return Ending.CANCELLED
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            # Already exited when the deadline came: its own result stands.
            return Ending.TIMED_OUT if _kill(container) else Ending.EXITED
        try:
            container.wait(timeout=min(WAIT_SLICE_SECONDS, remaining))
            return Ending.EXITED
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


def remove(container: Container) -> None:
    """Remove the container with its /output volume. Failures are logged, not raised: the
    job's result is already known, and a restarted worker removes what is left."""
    try:
        container.remove(v=True, force=True)
    except docker.errors.NotFound:
        pass
    except ENGINE_ERRORS as exc:
        _log.warning("could not remove container %s: %s", container.id, exc)
