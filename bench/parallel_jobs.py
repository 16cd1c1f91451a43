"""(c) trivial jobs through the stack's workers versus the same jobs done directly, as many at a
time as the stack has worker slots (default 100 jobs, 2 at a time; the dispatch issue's figure
is `--jobs 1000 --parallel 3` against a stack of 3 workers).

Stack: wall time from the first submit to the last `succeeded` seen by the client (all jobs
are submitted first, then long-polled in order). Direct: two threads, each with its own docker
SDK connection like a worker has, take jobs from one list (benchkit.direct). Runs alternate.
"""

from __future__ import annotations

import argparse
import queue
import threading
import time
from typing import Any

import docker
from benchkit import cli, jobs, stats
from benchkit.direct import DIRECT_ERRORS, DirectRunner, limits_of
from benchkit.rss import RssSampler

from dccf import settings
from dccf.client import DccfClient
from dccf.jobs import JobLimits

# The stack's throughput as a share of the direct baseline's.
TARGET_THROUGHPUT = 0.9


def through_stack(client: DccfClient, count: int) -> tuple[float, list[str]]:
    started = time.perf_counter()
    ids = [jobs.submit(client, jobs.TRIVIAL, f"bench-parallel-{i}")["id"] for i in range(count)]
    finished = [jobs.wait(client, job_id) for job_id in ids]
    seconds = time.perf_counter() - started
    problems = [p for job in finished if (p := _status_problem(job))]
    # Outputs are checked after the clock stops: downloading is not part of running.
    for job in finished[:3]:
        if problem := jobs.check_outputs(client, job, jobs.TRIVIAL):
            problems.append(problem)
    return seconds, problems


def _status_problem(job: dict[str, Any]) -> str | None:
    if job["status"] == "succeeded":
        return None
    return f"job {job['id']} ended {job['status']} ({job.get('reason')})"


def directly(
    args: argparse.Namespace, limits: JobLimits, count: int, parallel: int
) -> tuple[float, list[str]]:
    context = jobs.TRIVIAL.context_tar()
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(count):
        todo.put(index)
    problems: list[str] = []
    runners = []
    for _ in range(parallel):
        engine = cli.docker_client(args)
        assert engine is not None
        runners.append(DirectRunner(engine, limits, settings.Limits().pids))

    def work(runner: DirectRunner) -> None:
        while True:
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return
            try:
                runner.run(context, jobs.TRIVIAL)
            except DIRECT_ERRORS as exc:
                problems.append(f"direct job {index}: {exc}")

    threads = [threading.Thread(target=work, args=(r,)) for r in runners]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    for runner in runners:
        runner.engine.close()
    return seconds, problems


def measure(args: argparse.Namespace, sampler: RssSampler) -> dict[str, Any]:
    cli.heading(
        f"(c) {args.jobs} trivial jobs through the stack's workers vs directly {args.parallel} "
        f"at a time, {args.runs} runs"
    )
    engine: docker.DockerClient | None = cli.docker_client(args)
    stack_s: list[float] = []
    direct_s: list[float] = []
    problems: list[str] = []
    with cli.client(args) as client, sampler.phase("c"):
        _seconds, warm = jobs.through_stack(client, jobs.TRIVIAL, "bench-parallel-warm-up")
        if problem := jobs.check_outputs(client, warm, jobs.TRIVIAL):
            raise SystemExit(f"the warm-up job did not succeed, nothing to measure: {problem}")
        limits = limits_of(warm)
        for run in range(args.runs):
            seconds, found = through_stack(client, args.jobs)
            stack_s.append(seconds)
            problems += found
            cli.line(f"run {run + 1}: stack", f"{seconds:.1f} s")
            if engine is not None:
                seconds, found = directly(args, limits, args.jobs, args.parallel)
                direct_s.append(seconds)
                problems += found
                cli.line(f"run {run + 1}: direct", f"{seconds:.1f} s")
    for problem in problems[:10]:
        cli.warn(problem)
    figures: dict[str, Any] = {
        "stack_runs_s": stack_s,
        "stack_median_s": stats.median(stack_s),
        "problems": problems,
    }
    if not direct_s:
        cli.line("stack: MEDIAN wall time", f"{figures['stack_median_s']:.1f} s")
        cli.line("direct baseline", "not measured (no Docker engine)")
        return figures
    figures["direct_runs_s"] = direct_s
    figures["direct_median_s"] = stats.median(direct_s)
    figures["throughput_ratio"] = figures["direct_median_s"] / figures["stack_median_s"]
    figures["target_throughput_ratio"] = TARGET_THROUGHPUT
    for label, key in (("stack", "stack_median_s"), ("direct", "direct_median_s")):
        figures[f"{label}_jobs_per_min"] = args.jobs * 60 / figures[key]
        cli.line(f"{label}: MEDIAN wall time", f"{figures[key]:.1f} s")
        cli.line(f"{label}: jobs/min", f"{figures[f'{label}_jobs_per_min']:.0f}")
    ratio = figures["throughput_ratio"]
    verdict = "met" if ratio >= TARGET_THROUGHPUT else "MISSED"
    cli.line("THROUGHPUT stack / direct", f"{ratio:.2f}x vs >= {TARGET_THROUGHPUT}x ({verdict})")
    return figures


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", type=int, default=100, help="jobs per run (100)")
    p.add_argument("--parallel", type=int, default=2, help="direct jobs at a time (2)")


def main() -> None:
    p = cli.parser(__doc__.splitlines()[0], runs=3)
    add_arguments(p)
    cli.run_bench(p, measure)


if __name__ == "__main__":
    main()
