"""Each way a job can fail ends `failed` with its own reason, never `succeeded`."""

from __future__ import annotations

import httpx
import pytest

from .api import expect, logs, submit
from .batch import Batch, Submitter
from .forms import job_parts
from .shapes import assert_job, timestamp

pytestmark = pytest.mark.e2e

BASE = "FROM debian:bookworm-slim\n"


def _job(dockerfile: str, **fields: str) -> Submitter:
    return lambda client: submit(client, job_parts(dockerfile, **fields))


JOBS = {
    "build_exit_3": _job(BASE + "RUN echo building-step && exit 3\n"),
    "build_unknown_instruction": _job(BASE + "FROBNICATE the widgets\n"),
    "exit_7": _job(BASE + 'CMD ["/bin/sh", "-c", "echo about to fail; echo oops >&2; exit 7"]\n'),
    "timeout": _job(BASE + 'CMD ["sleep", "60"]\n', timeout_seconds="2"),
    # Each hog waits a second first: the engine starts watching for OOM kills after the process
    # (README, "oom_killed"); 1-2 of 90 immediate kills went unseen on a loaded machine.
    "oom": _job(BASE + 'CMD ["/bin/sh", "-c", "sleep 1; exec tail /dev/zero"]\n', memory_mb="32"),
    # The kernel kills the child, the shell carries on and exits 0: still an OOM failure.
    "oom_child": _job(
        BASE + 'CMD ["/bin/sh", "-c", "sleep 1; tail /dev/zero; echo survived"]\n', memory_mb="32"
    ),
    "output_too_large": _job(
        BASE + 'CMD ["/bin/sh", "-c", "head -c 157286400 /dev/zero > /output/big"]\n'
    ),
}


@pytest.mark.parametrize("name", ["build_exit_3", "build_unknown_instruction"])
def test_failing_build_is_build_failed(client: httpx.Client, batch: Batch, name: str) -> None:
    job = batch.result(name)
    expect(client, job, "failed", "build_failed")
    assert_job(job)
    assert logs(client, job["id"], "build").strip(), "a failed build keeps its build log"


def test_build_log_shows_the_failing_step(client: httpx.Client, batch: Batch) -> None:
    job = batch.result("build_exit_3")
    assert "building-step" in logs(client, job["id"], "build")


def test_nonzero_exit_keeps_exit_code_and_logs(client: httpx.Client, batch: Batch) -> None:
    job = batch.result("exit_7")
    expect(client, job, "failed", "nonzero_exit")
    assert job["exit_code"] == 7
    assert_job(job)
    assert "about to fail" in logs(client, job["id"], "stdout")
    assert "oops" in logs(client, job["id"], "stderr")


def test_timeout_stops_the_job(client: httpx.Client, batch: Batch) -> None:
    job = batch.result("timeout")
    expect(client, job, "failed", "timeout")
    assert_job(job)
    assert job["limits"]["timeout_seconds"] == 2
    ran = timestamp(job["finished_at"]) - timestamp(job["started_at"])
    assert ran.total_seconds() < 45, f"a 2 s timeout let the job run {ran}"


@pytest.mark.parametrize("name", ["oom", "oom_child"])
def test_memory_limit_kills_with_oom_killed(client: httpx.Client, batch: Batch, name: str) -> None:
    job = batch.result(name)
    expect(client, job, "failed", "oom_killed")
    assert_job(job)
    assert job["limits"]["memory_mb"] == 32


def test_output_over_the_cap_is_output_too_large(client: httpx.Client, batch: Batch) -> None:
    job = batch.result("output_too_large")
    expect(client, job, "failed", "output_too_large")
    assert_job(job)
