"""(b) Dispatch overhead: submit -> succeeded through the stack, minus the same job done directly.

The job is trivial and its layers are cached by a warm-up. Runs alternate stack / direct /
runner so that background load hits all three alike. "direct" is the job done by hand with the
docker SDK (benchkit.direct); "runner" is the worker's own runner.run_job called in this
process, which splits the overhead into the runner's share and the dispatch path's share (API,
Postgres, Kafka, claim, context spool, result store, long-poll wake-up).
"""

from __future__ import annotations

import argparse
from typing import Any

import docker
from benchkit import cli, jobs, stats
from benchkit.direct import DIRECT_ERRORS, DirectRunner, InProcessRunner, limits_of
from benchkit.rss import RssSampler

from dccf import settings
from dccf.client import DccfClient

TARGET_OVERHEAD_S = 0.150


def warm_up(client: DccfClient, engine: docker.DockerClient | None) -> dict[str, Any]:
    """One job each way, so every later run builds from cache; returns the stack's job."""
    _seconds, job = jobs.through_stack(client, jobs.TRIVIAL, "bench-warm-up")
    problem = jobs.check_outputs(client, job, jobs.TRIVIAL)
    if problem:
        raise SystemExit(f"the warm-up job did not succeed, so nothing can be measured: {problem}")
    if engine is not None:
        DirectRunner(engine, limits_of(job), settings.Limits().pids).run(
            jobs.TRIVIAL.context_tar(), jobs.TRIVIAL
        )
    return job


def _describe(label: str, values: list[float]) -> dict[str, float]:
    figures = {"median_s": stats.median(values), "p90_s": stats.percentile(values, 90)}
    cli.line(
        f"{label}: median / p90",
        f"{stats.ms(figures['median_s'])} / {stats.ms(figures['p90_s'])}  (n={len(values)})",
    )
    return figures


def measure(args: argparse.Namespace, sampler: RssSampler) -> dict[str, Any]:
    cli.heading(
        f"(b) dispatch overhead: trivial cached job, {args.runs} runs each of stack, direct "
        "docker SDK, and the worker's runner in-process"
    )
    engine = cli.docker_client(args)
    with cli.client(args) as client, sampler.phase("b"):
        warm = warm_up(client, engine)
        limits = limits_of(warm)
        context = jobs.TRIVIAL.context_tar()
        pids = settings.Limits().pids
        direct = DirectRunner(engine, limits, pids) if engine else None
        in_process = InProcessRunner(engine, limits, pids) if engine else None
        through: list[float] = []
        by_hand: list[float] = []
        by_runner: list[float] = []
        failures: list[str] = []
        for index in range(args.runs):
            seconds, job = jobs.through_stack(client, jobs.TRIVIAL, f"bench-dispatch-{index}")
            problem = jobs.check_outputs(client, job, jobs.TRIVIAL)
            if problem:
                failures.append(problem)
            else:
                through.append(seconds)
            if direct and in_process:
                try:
                    by_hand.append(direct.run(context, jobs.TRIVIAL))
                    by_runner.append(in_process.run(context, jobs.TRIVIAL))
                except DIRECT_ERRORS as exc:
                    failures.append(f"direct run {index}: {exc}")
    figures: dict[str, Any] = {"stack": _describe("through the stack", through)}
    for problem in failures:
        cli.warn(problem)
    figures["failures"] = failures
    if not by_hand:
        cli.line("direct baseline", "not measured (no Docker engine)")
        return figures
    figures["direct"] = _describe("direct docker SDK", by_hand)
    figures["runner"] = _describe("worker runner.run_job in-process", by_runner)
    overhead = figures["stack"]["median_s"] - figures["direct"]["median_s"]
    runner_share = figures["runner"]["median_s"] - figures["direct"]["median_s"]
    figures["overhead_median_s"] = overhead
    figures["runner_share_s"] = runner_share
    figures["target_s"] = TARGET_OVERHEAD_S
    cli.line(
        "OVERHEAD = median(stack) - median(direct)",
        f"{stats.ms(overhead)} vs <= {stats.ms(TARGET_OVERHEAD_S)} "
        f"({'met' if overhead <= TARGET_OVERHEAD_S else 'MISSED'})",
    )
    cli.line(
        "  of which the runner vs direct",
        f"{stats.ms(runner_share)}; dispatch path {stats.ms(overhead - runner_share)}",
    )
    return figures


def main() -> None:
    cli.run_bench(cli.parser(__doc__.splitlines()[0], runs=20), measure)


if __name__ == "__main__":
    main()
