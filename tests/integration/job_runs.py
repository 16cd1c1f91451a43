"""Jobs as the worker sees them: Dockerfiles run through the worker's runner with the engine
tidied afterwards (the runner and housekeeping tests), and claims made as a worker makes them."""

from __future__ import annotations

import io
import itertools
import random
import tarfile
import time
from collections.abc import Callable

import docker

from dccf import dispatch, job_records
from dccf.db import Connection
from dccf.job_records import JobRecord, NewJob
from dccf.jobs import JobLimits, Network
from services.worker.housekeeping import Housekeeping
from services.worker.run_spec import LABEL_JOB, RunOutcome, RunSpec

BASE = "FROM debian:bookworm-slim\n"
# Far above the ids a local stack hands out, so a running worker never shares our tags.
_ids = itertools.count(random.randrange(10**9, 2 * 10**9, 1000))
# Quiet-engine waits: other workers on the engine build now and then.
TIDY_TIMEOUT = 120
LIMITS = JobLimits(60, 64, 1.0)


def next_id() -> int:
    return next(_ids)


def make_context(dockerfile: str, files: dict[str, bytes] | None = None) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in {"Dockerfile": dockerfile.encode(), **(files or {})}.items():
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            archive.addfile(entry, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def make_spec(
    *,
    timeout: int = 20,
    memory_mb: int = 128,
    network: Network = Network.NONE,
    pids: int = 64,
    log_cap: int = 64 * 1024,
    max_output: int = 10 * 1024 * 1024,
    build_args: dict[str, str] | None = None,
) -> RunSpec:
    return RunSpec(
        job_id=next_id(),
        attempt=1,
        limits=JobLimits(timeout, memory_mb, 1.0, network),
        build_args=build_args or {},
        pids_limit=pids,
        log_cap_bytes=log_cap,
        max_output_bytes=max_output,
    )


Run = Callable[..., RunOutcome]


def tidy(housekeeping: Housekeeping) -> None:
    """Tidy until nothing waits (the engine must be quiet for a moment)."""
    deadline = time.monotonic() + TIDY_TIMEOUT
    housekeeping.tidy()
    while housekeeping.waiting:
        assert time.monotonic() < deadline, "the engine was never quiet long enough to tidy"
        time.sleep(0.1)
        housekeeping.tidy()


def assert_cleaned_up(client: docker.DockerClient, spec: RunSpec) -> None:
    label = f"{LABEL_JOB}={spec.job_id}"
    assert client.containers.list(all=True, filters={"label": label}) == []
    assert client.images.list(name=spec.tag) == []


def insert_job(
    conn: Connection,
    *,
    principal: str = "",
    name: str | None = None,
    callback_url: str | None = None,
    priority: int = 0,
) -> JobRecord:
    """A queued job with small limits, stored as the master stores one (with no context)."""
    return job_records.insert(
        conn,
        NewJob(
            principal=principal,
            name=name,
            limits=LIMITS,
            callback_url=callback_url,
            build_args={},
            priority=priority,
        ),
    )


def claim(conn: Connection, job_id: int, worker: str, lease_seconds: int = 30) -> JobRecord:
    """Claim the job as a worker does, after making it the best one queued (other tests of
    the module may have left jobs queued in its database)."""
    conn.run("UPDATE jobs SET priority = 100 WHERE id = :id", id=job_id)
    job = dispatch.claim_next(conn, worker, lease_seconds)
    assert job is not None and job.id == job_id, f"expected to claim job {job_id}, got {job}"
    return job
