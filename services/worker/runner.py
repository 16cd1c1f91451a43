"""One run of a job: build its image, run it under its limits, collect its logs and /output.

The parts: `build` (the image), `container` (limits, run, output), `live_logs` (what the worker
stores while the job runs). What escapes `run_job` is described in `run_spec`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import docker
import docker.errors
from docker.models.containers import Container

from dccf.jobs import JobStatus, LogStream, Reason
from services.worker import container as containers
from services.worker.build import build_image
from services.worker.engine_lock import EngineLock
from services.worker.live_logs import LiveLogs
from services.worker.outputs import OutputFile
from services.worker.run_spec import ENGINE_ERRORS, EngineError, RunOutcome, RunSpec


def run_job(
    client: docker.DockerClient,
    spec: RunSpec,
    context: IO[bytes],
    workdir: Path,
    cancelled: threading.Event,
    logs: LiveLogs,
    engine: EngineLock,
) -> RunOutcome:
    """Build `context` (an uncompressed tar, read once), run it, remove its container.

    The image tag `spec.tag` is left for the caller to discard once no build needs it. Outputs
    are written under `workdir`, which the caller owns. `cancelled` may be set from another
    thread at any time; `logs` is fed as the build and the run go.
    """
    try:
        return _run(client, spec, context, workdir, cancelled, logs, engine)
    except ENGINE_ERRORS as exc:
        raise EngineError(
            f"the Docker engine failed while running job {spec.job_id} "
            f"(attempt {spec.attempt}): {exc}"
        ) from exc


def _run(
    client: docker.DockerClient,
    spec: RunSpec,
    context: IO[bytes],
    workdir: Path,
    cancelled: threading.Event,
    logs: LiveLogs,
    engine: EngineLock,
) -> RunOutcome:
    container: Container | None = None
    try:
        # No image may be removed from the engine between the build's first step and the
        # container's creation, which pins the image (see engine_lock).
        with engine.building():
            built = build_image(client.api, spec, context, logs, cancelled)
            if built.status is not JobStatus.SUCCEEDED:
                return _outcome(built.status, built.reason, None, logs, build_note=built.note)
            try:
                container = containers.create(client, spec)
            except docker.errors.APIError as exc:
                # The daemon refuses images it cannot run (no CMD, say); the limits are
                # validated upstream, so a client error here is the job's doing.
                if not exc.is_client_error():
                    raise
                note = f"[dccf: the container could not be created: {exc.explanation}]\n"
                return _outcome(
                    JobStatus.FAILED, Reason.NONZERO_EXIT, None, logs, stderr_note=note.encode()
                )
        ended = containers.run(client, container, spec, logs, workdir, cancelled)
        return _outcome(
            ended.status, ended.reason, ended.exit_code, logs, ended.note, outputs=ended.outputs
        )
    finally:
        if container is not None:
            containers.remove(container)


def _outcome(
    status: JobStatus,
    reason: Reason | None,
    exit_code: int | None,
    logs: LiveLogs,
    stderr_note: bytes = b"",
    *,
    build_note: bytes = b"",
    outputs: Sequence[OutputFile] = (),
) -> RunOutcome:
    return RunOutcome(
        status,
        reason,
        exit_code,
        build_log=logs.result(LogStream.BUILD, build_note),
        stdout=logs.result(LogStream.STDOUT),
        stderr=logs.result(LogStream.STDERR, stderr_note),
        outputs=list(outputs),
    )
