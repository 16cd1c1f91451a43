"""The worker's Docker part against the real engine: build, limits, logs, /output, cleanup.

Every Dockerfile starts from the one local base image and needs no network.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from pathlib import Path

import docker
import pytest
from job_runs import BASE, Run, make_spec

from dccf.jobs import JobStatus, Network, Reason
from services.worker.logs import dropped_line
from services.worker.run_spec import LABEL_JOB

pytestmark = pytest.mark.integration


def test_success_keeps_streams_apart_and_copies_output_exactly(run: Run, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 4000
    outcome = run(
        BASE + "COPY data.bin /data.bin\n"
        "CMD echo to-stdout; echo to-stderr >&2; mkdir -p /output/a/b; "
        "cp /data.bin /output/a/b/data.bin; printf x > /output/top.txt\n",
        files={"data.bin": payload},
    )
    assert (outcome.status, outcome.reason, outcome.exit_code) == (JobStatus.SUCCEEDED, None, 0)
    assert outcome.stdout.data == b"to-stdout\n"
    assert outcome.stderr.data == b"to-stderr\n"
    assert b"Successfully built" in outcome.build_log.data
    by_path = {f.path: f for f in outcome.outputs}
    assert sorted(by_path) == ["a/b/data.bin", "top.txt"]
    data = by_path["a/b/data.bin"]
    assert data.local_path.read_bytes() == payload
    assert data.size == len(payload)
    assert data.sha256 == hashlib.sha256(payload).hexdigest()
    assert data.local_path.is_relative_to(tmp_path)


def test_build_args_reach_the_build(run: Run) -> None:
    outcome = run(
        BASE + 'ARG GREETING\nRUN echo "$GREETING" > /greeting\nCMD cat /greeting\n',
        make_spec(build_args={"GREETING": "hello from a build arg"}),
    )
    assert outcome.status is JobStatus.SUCCEEDED
    assert outcome.stdout.data == b"hello from a build arg\n"


def test_failing_build_step_is_build_failed_with_the_reason(run: Run) -> None:
    outcome = run(BASE + "RUN echo compiling && exit 3\nCMD true\n")
    assert (outcome.status, outcome.reason) == (JobStatus.FAILED, Reason.BUILD_FAILED)
    assert outcome.exit_code is None
    assert b"compiling" in outcome.build_log.data
    assert outcome.build_log.data.endswith(b"returned a non-zero code: 3\n")


def test_unparsable_dockerfile_is_build_failed(run: Run) -> None:
    outcome = run("FROBNICATE everything\n")
    assert (outcome.status, outcome.reason) == (JobStatus.FAILED, Reason.BUILD_FAILED)
    assert b"unknown instruction" in outcome.build_log.data.lower()


def test_nonzero_exit_keeps_its_code_and_logs(run: Run) -> None:
    outcome = run(BASE + "CMD echo bad input >&2; exit 7\n")
    assert (outcome.status, outcome.reason, outcome.exit_code) == (
        JobStatus.FAILED,
        Reason.NONZERO_EXIT,
        7,
    )
    assert outcome.stderr.data == b"bad input\n"
    assert outcome.outputs == []


def test_missing_executable_is_nonzero_exit_127(run: Run) -> None:
    outcome = run(BASE + 'CMD ["/no/such/program"]\n')
    assert (outcome.status, outcome.reason, outcome.exit_code) == (
        JobStatus.FAILED,
        Reason.NONZERO_EXIT,
        127,
    )
    assert b"/no/such/program" in outcome.stderr.data


def test_an_image_whose_output_is_a_file_fails_as_the_job(run: Run) -> None:
    outcome = run(BASE + "RUN echo x > /output\nCMD true\n")
    assert (outcome.status, outcome.reason) == (JobStatus.FAILED, Reason.NONZERO_EXIT)
    assert b"not a directory" in outcome.stderr.data


def test_an_image_without_a_command_fails_as_the_job(run: Run) -> None:
    outcome = run(BASE)
    assert (outcome.status, outcome.reason, outcome.exit_code) == (
        JobStatus.FAILED,
        Reason.NONZERO_EXIT,
        None,
    )
    assert b"No command specified" in outcome.stderr.data


def test_timeout_kills_the_job(run: Run) -> None:
    started = time.monotonic()
    outcome = run(BASE + "CMD echo started; sleep 30\n", make_spec(timeout=2))
    elapsed = time.monotonic() - started
    assert (outcome.status, outcome.reason, outcome.exit_code) == (
        JobStatus.FAILED,
        Reason.TIMEOUT,
        None,
    )
    assert outcome.stdout.data == b"started\n"
    assert elapsed < 10


def test_memory_hog_is_oom_killed(run: Run) -> None:
    # A second's pause first: the engine watches for OOM kills only once the process runs.
    outcome = run(BASE + "CMD sleep 1; x=a; while true; do x=$x$x; done\n", make_spec(memory_mb=32))
    assert (outcome.status, outcome.reason, outcome.exit_code) == (
        JobStatus.FAILED,
        Reason.OOM_KILLED,
        137,
    )


def test_oom_of_a_child_fails_the_job_even_when_it_exits_0(run: Run) -> None:
    # `tail` buffers its whole input: the kernel kills it, the shell carries on and exits 0.
    # Now and then the kernel kills the shell as well (a second OOM kill while the first
    # victim's memory is being freed: 137, no "survived"; once in this session's CI runs), and
    # the case under test did not happen: it is set up again, at most three times in all.
    dockerfile = BASE + "CMD sleep 1; head -c 200m /dev/zero | tail; echo survived; exit 0\n"
    for _ in range(3):
        outcome = run(dockerfile, make_spec(memory_mb=32))
        if (outcome.exit_code, outcome.stdout.data) != (137, b""):
            break
    assert (outcome.status, outcome.reason, outcome.exit_code) == (
        JobStatus.FAILED,
        Reason.OOM_KILLED,
        0,
    )
    assert outcome.stdout.data == b"survived\n"


def test_too_much_output_fails_and_keeps_nothing(run: Run, tmp_path: Path) -> None:
    outcome = run(
        BASE + "CMD head -c 600 /dev/zero > /output/small; head -c 5000 /dev/zero > /output/big\n",
        make_spec(max_output=4096),
    )
    assert (outcome.status, outcome.reason) == (JobStatus.FAILED, Reason.OUTPUT_TOO_LARGE)
    assert outcome.outputs == []
    assert list(tmp_path.iterdir()) == []


def test_output_exactly_at_the_cap_is_kept(run: Run) -> None:
    outcome = run(BASE + "CMD head -c 4096 /dev/zero > /output/full\n", make_spec(max_output=4096))
    assert outcome.status is JobStatus.SUCCEEDED
    assert [(f.path, f.size) for f in outcome.outputs] == [("full", 4096)]


def test_output_keeps_only_regular_files(run: Run) -> None:
    outcome = run(
        BASE + "CMD echo data > /output/real; ln -s /etc/passwd /output/link; "
        "ln /output/real /output/hard; mkfifo /output/fifo; mkdir /output/empty-dir\n"
    )
    assert outcome.status is JobStatus.SUCCEEDED
    # The hard link's twin is whichever name the archive lists first; only one is copied.
    assert len(outcome.outputs) == 1
    assert outcome.outputs[0].path in {"real", "hard"}
    assert outcome.outputs[0].local_path.read_bytes() == b"data\n"


def test_long_stdout_is_capped_with_a_dropped_line(run: Run) -> None:
    cap = 4096
    # 100000 bytes: 10000 lines of "123456789\n".
    outcome = run(
        BASE + "CMD seq 100000000 100009999 | cut -c1-9; echo tail-of-stderr >&2\n",
        make_spec(log_cap=cap),
    )
    assert outcome.status is JobStatus.SUCCEEDED
    stdout = outcome.stdout
    assert len(stdout.data) <= cap
    assert stdout.data.startswith(b"100000000\n100000001\n")
    assert stdout.data.endswith(dropped_line(stdout.dropped))
    assert len(stdout.data) - len(dropped_line(stdout.dropped)) + stdout.dropped == 100000
    assert outcome.stderr == type(stdout)(b"tail-of-stderr\n", 0)


def test_cancel_while_running_stops_it_and_removes_everything(
    run: Run, docker_client: docker.DockerClient
) -> None:
    spec = make_spec(timeout=60)
    cancelled = threading.Event()
    found: dict[str, str] = {}

    def cancel_once_running() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            running = docker_client.containers.list(
                filters={"label": f"{LABEL_JOB}={spec.job_id}", "status": "running"}
            )
            if running:
                found["volume"] = running[0].attrs["Mounts"][0]["Name"]
                found["when"] = str(time.monotonic())
                cancelled.set()
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=cancel_once_running)
    watcher.start()
    outcome = run(BASE + "CMD echo working; sleep 60\n", spec, cancelled)
    ended = time.monotonic()
    watcher.join()
    assert (outcome.status, outcome.reason) == (JobStatus.CANCELLED, Reason.CANCELLED)
    assert ended - float(found["when"]) < 2.5
    assert outcome.stdout.data == b"working\n"
    with pytest.raises(docker.errors.NotFound):
        docker_client.volumes.get(found["volume"])


def test_cancel_during_the_build_stops_the_step(
    run: Run, docker_client: docker.DockerClient
) -> None:
    cancelled = threading.Event()
    timer = threading.Timer(1.0, cancelled.set)
    started = time.monotonic()
    timer.start()
    outcome = run(BASE + "RUN echo building; sleep 60\nCMD true\n", make_spec(), cancelled)
    assert (outcome.status, outcome.reason) == (JobStatus.CANCELLED, Reason.CANCELLED)
    # Far below the step's 60 s, with room for a loaded machine.
    assert time.monotonic() - started < 30
    assert b"building" in outcome.build_log.data
    # The builder kills its step container once the client is gone.
    deadline = time.monotonic() + 5
    while any(
        "sleep 60" in " ".join(c.attrs["Args"])
        for c in docker_client.containers.list(ignore_removed=True)
    ):
        assert time.monotonic() < deadline, "the build step kept running after the cancel"
        time.sleep(0.2)


def test_network_none_leaves_only_loopback(run: Run) -> None:
    outcome = run(BASE + "CMD ls /sys/class/net\n")
    assert outcome.status is JobStatus.SUCCEEDED
    assert outcome.stdout.data == b"lo\n"


def test_network_bridge_gives_an_interface(run: Run) -> None:
    outcome = run(BASE + "CMD ls /sys/class/net\n", make_spec(network=Network.BRIDGE))
    assert outcome.status is JobStatus.SUCCEEDED
    assert b"eth0" in outcome.stdout.data.split()


def test_pids_limit_stops_forking_past_it(run: Run) -> None:
    outcome = run(
        BASE + "CMD i=0; while [ $i -lt 100 ]; do sleep 30 & i=$((i+1)); done; echo all-forked\n",
        make_spec(pids=32),
    )
    assert (outcome.status, outcome.reason, outcome.exit_code) == (
        JobStatus.FAILED,
        Reason.NONZERO_EXIT,
        2,
    )
    assert b"Cannot fork" in outcome.stderr.data
    assert b"all-forked" not in outcome.stdout.data


def test_fork_bomb_ends_by_timeout_and_the_host_is_fine(run: Run) -> None:
    started = time.monotonic()
    # `exec`: the job's own shell must not need a fork once the bomb has used up its pids, or
    # it dies of "can't fork" first and the job ends nonzero_exit instead of by its timeout.
    outcome = run(
        BASE + "CMD bomb() { bomb | bomb & }; bomb; exec sleep 60\n",
        make_spec(pids=32, timeout=3),
    )
    assert (outcome.status, outcome.reason) == (JobStatus.FAILED, Reason.TIMEOUT)
    assert time.monotonic() - started < 15
    assert run(BASE + "CMD echo still fine\n").stdout.data == b"still fine\n"


def test_output_is_empty_and_writable_for_a_non_root_user(run: Run) -> None:
    outcome = run(
        BASE + "RUN mkdir /output && echo stale > /output/from-image.txt\n"
        "USER 1000:1000\n"
        "CMD id -u; ls -A /output; echo mine > /output/mine.txt\n"
    )
    assert outcome.status is JobStatus.SUCCEEDED, outcome.stderr.data
    assert outcome.stdout.data == b"1000\n"
    assert [f.path for f in outcome.outputs] == ["mine.txt"]


def test_identical_resubmission_builds_from_cache(run: Run) -> None:
    dockerfile = BASE + f"RUN echo {random.random()} > /seed && sleep 2\nCMD cat /seed\n"
    first = run(dockerfile)
    second = run(dockerfile)
    assert first.status is second.status is JobStatus.SUCCEEDED
    assert b"Using cache" in second.build_log.data
    # The random seed proves the RUN step did not run again.
    assert first.stdout == second.stdout


def _peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/self/status")


def test_a_1_gib_output_does_not_grow_the_worker_memory(run: Run) -> None:
    # "5" resets the peak RSS to the current one, so earlier tests do not hide a spike.
    Path("/proc/self/clear_refs").write_text("5")
    baseline = _peak_rss_kib()
    outcome = run(
        BASE + "CMD dd if=/dev/zero of=/output/big bs=1M count=1024 status=none\n",
        make_spec(max_output=2 * 1024**3, timeout=120),
    )
    grown_kib = _peak_rss_kib() - baseline
    assert outcome.status is JobStatus.SUCCEEDED
    assert [(f.path, f.size) for f in outcome.outputs] == [("big", 1024**3)]
    assert grown_kib < 32 * 1024, f"peak RSS grew by {grown_kib} KiB while copying 1 GiB"
