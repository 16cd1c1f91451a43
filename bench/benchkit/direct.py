"""The baseline: one job done by hand with the docker SDK, step for step what the runner does.

Build from the stored context tar with the runner's options, create the container with the
same limits and an anonymous /output volume, open /output with put_archive, start, wait, read
both log streams, copy /output out as a stream into files with their sha256, remove the
container (with its volume) and the image tag. Without these steps the comparison would
charge the stack for work any correct runner has to do.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import tempfile
import threading
import time
import uuid
from pathlib import Path

import docker
import docker.errors
from docker.types import Mount

from benchkit.jobs import JobSpec
from dccf import settings
from dccf.jobs import JobLimits, JobStatus, Network
from services.worker import runner
from services.worker.engine_lock import EngineLock
from services.worker.housekeeping import Housekeeping
from services.worker.live_logs import LiveLogs
from services.worker.run_spec import EngineError, RunSpec

OUTPUT_DIR = "/output"
CHUNK = 64 * 1024


def limits_of(job: dict[str, object]) -> JobLimits:
    """The limits the stack gave a job, so the baseline runs under the same ones."""
    given = job["limits"]
    assert isinstance(given, dict)
    return JobLimits(
        timeout_seconds=int(given["timeout_seconds"]),
        memory_mb=int(given["memory_mb"]),
        cpus=float(given["cpus"]),
        network=Network(given["network"]),
    )


class StepFailed(RuntimeError):
    """The direct run did not end like a succeeded job would."""


# A shared engine under other people's load fails now and then; a run is counted as failed.
DIRECT_ERRORS = (StepFailed, docker.errors.DockerException, EngineError)


def _output_dir_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        entry = tarfile.TarInfo("output")
        entry.type = tarfile.DIRTYPE
        entry.mode = 0o777
        archive.addfile(entry)
    return buffer.getvalue()


class _Chunks:
    """A file-like `read` over the archive's chunk iterator, for tarfile's stream mode."""

    def __init__(self, chunks: object) -> None:
        self._chunks = iter(chunks)  # type: ignore[call-overload]
        self._rest = b""

    def read(self, size: int = -1) -> bytes:
        while not self._rest:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._rest = chunk
        if size < 0 or size >= len(self._rest):
            data, self._rest = self._rest, b""
            return data
        data, self._rest = self._rest[:size], self._rest[size:]
        return data


class DirectRunner:
    """Runs jobs on an engine with the SDK alone; one instance per thread (own connection)."""

    def __init__(self, engine: docker.DockerClient, limits: JobLimits, pids_limit: int) -> None:
        self.engine = engine
        self.limits = limits
        self.pids_limit = pids_limit
        cores = int(engine.info()["NCPU"])
        self.nano_cpus = int(min(limits.cpus, cores) * 1_000_000_000)
        self._open_output = _output_dir_tar()

    def run(self, context: bytes, spec: JobSpec) -> float:
        """Seconds for one job, from the build request to the tag's removal."""
        tag = f"dccf-bench-direct-{uuid.uuid4().hex[:12]}"
        api = self.engine.api
        memory = f"{self.limits.memory_mb}m"
        started = time.perf_counter()
        container = None
        try:
            for item in api.build(
                fileobj=io.BytesIO(context),
                custom_context=True,
                rm=True,
                forcerm=True,
                tag=tag,
                buildargs={},
                decode=True,
            ):
                if "error" in item:
                    raise StepFailed(f"build failed: {item['error']}")
            container = self.engine.containers.create(
                tag,
                labels={"dccf.bench": "direct"},
                mem_limit=memory,
                memswap_limit=memory,
                nano_cpus=self.nano_cpus,
                pids_limit=self.pids_limit,
                network_mode="none",
                mounts=[Mount(OUTPUT_DIR, None, type="volume", no_copy=True)],
            )
            container.put_archive("/", self._open_output)
            container.start()
            container.wait(timeout=self.limits.timeout_seconds)
            container.reload()
            state = container.attrs["State"]
            for stdout in (True, False):
                b"".join(container.logs(stdout=stdout, stderr=not stdout, stream=True))
            if state["ExitCode"] != 0 or state["OOMKilled"]:
                raise StepFailed(f"the container exited {state['ExitCode']}")
            chunks, _stat = container.get_archive(OUTPUT_DIR, chunk_size=CHUNK)
            try:
                outputs = _collect(chunks)
            finally:
                chunks.close()
            if set(outputs) != set(spec.expected):
                raise StepFailed(f"outputs {sorted(outputs)}, expected {sorted(spec.expected)}")
        finally:
            if container is not None:
                container.remove(v=True, force=True)
            api.remove_image(tag, noprune=True)
        return time.perf_counter() - started


def _collect(chunks: object) -> dict[str, str]:
    """Write every regular file of the /output archive to disk; path -> sha256."""
    found: dict[str, str] = {}
    stream = _Chunks(chunks)
    with (
        tempfile.TemporaryDirectory(prefix="dccf-bench-direct-") as tmp,
        tarfile.open(fileobj=stream, mode="r|") as archive,  # type: ignore[call-overload]
    ):
        for member in archive:
            if not member.isfile():
                continue
            relative = member.name.split("/", 1)[1]
            target = Path(tmp) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            source = archive.extractfile(member)
            assert source is not None
            with target.open("wb") as out:
                while block := source.read(1024 * 1024):
                    digest.update(block)
                    out.write(block)
            found[relative] = digest.hexdigest()
    return found


class InProcessRunner:
    """The worker's own `runner.run_job`, called directly: the runner's cost without dispatch."""

    def __init__(self, engine: docker.DockerClient, limits: JobLimits, pids_limit: int) -> None:
        self.engine = engine
        self.limits = limits
        self.pids_limit = pids_limit
        self._job_id = 10**9 + int(time.time()) % 10**6
        # As a worker does: tags removed only while no build runs on the engine.
        self._engine_lock = EngineLock(settings.Worker().docker_host)
        self._housekeeping = Housekeeping(
            engine, self._engine_lock, "bench-in-process", prune_threshold_bytes=10**15
        )

    def run(self, context: bytes, spec: JobSpec) -> float:
        self._job_id += 1
        run_spec = RunSpec(
            job_id=self._job_id,
            attempt=1,
            limits=self.limits,
            build_args={},
            pids_limit=self.pids_limit,
            log_cap_bytes=1024 * 1024,
            max_output_bytes=100 * 1024 * 1024,
        )
        with tempfile.TemporaryDirectory(prefix="dccf-bench-runner-") as tmp:
            started = time.perf_counter()
            outcome = runner.run_job(
                self.engine,
                run_spec,
                io.BytesIO(context),
                Path(tmp),
                threading.Event(),
                LiveLogs(run_spec.log_cap_bytes),
                self._engine_lock,
            )
            elapsed = time.perf_counter() - started
        self._housekeeping.discard(run_spec.tag)
        self._housekeeping.tidy()
        if outcome.status is not JobStatus.SUCCEEDED:
            raise StepFailed(
                f"the runner ended {outcome.status} ({outcome.reason}): "
                f"{outcome.build_log.data[-400:].decode(errors='replace')}"
            )
        return elapsed
