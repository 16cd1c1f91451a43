"""(a) Submit throughput: jobs/s accepted by POST /v1/jobs (1 KiB Dockerfile, 8 clients).

There is no direct equivalent of accepting a job, so the reference is the same client loop
against GET /healthz: the HTTP ceiling of this machine and server. Runs alternate between the
two so that background load hits both alike. The accepted jobs are trivial, and the ones still
queued after a run are cancelled, so the workers are not left with thousands of jobs.
"""

from __future__ import annotations

import argparse
from typing import Any

from benchkit import cli, jobs, rss, stats
from benchkit.http_load import LoadRun, Target, drive, multipart
from benchkit.rss import RssSampler

TARGET_JOBS_PER_S = 300.0


def _summary(label: str, runs: list[LoadRun]) -> dict[str, Any]:
    latencies = [latency for run in runs for latency in run.latencies]
    rates = [run.rate for run in runs]
    figures = {
        "per_run_per_s": [round(rate, 1) for rate in rates],
        "median_per_s": stats.median(rates),
        "latency_p50_s": stats.percentile(latencies, 50),
        "latency_p99_s": stats.percentile(latencies, 99),
        "client_cpu_share": stats.median([r.client_cpu_seconds / r.seconds for r in runs]),
        "statuses": _merged_statuses(runs),
        "transport_errors": sum(len(run.errors) for run in runs),
    }
    cli.line(f"{label}: runs (/s)", ", ".join(f"{r:.0f}" for r in rates))
    cli.line(f"{label}: MEDIAN", f"{figures['median_per_s']:.0f} /s")
    cli.line(
        f"{label}: latency p50 / p99",
        f"{stats.ms(figures['latency_p50_s'])} / {stats.ms(figures['latency_p99_s'])}",
    )
    cli.line(f"{label}: generator CPU (share of one core)", f"{figures['client_cpu_share']:.0%}")
    cli.line(f"{label}: answers", str(figures["statuses"]))
    for run in runs:
        for error in run.errors[:3]:
            cli.warn(f"{label}: {error}")
    return figures


def _merged_statuses(runs: list[LoadRun]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for run in runs:
        for status, count in run.statuses.items():
            merged[status] = merged.get(status, 0) + count
    return merged


def cancel_queued(target: Target, job_ids: list[int], clients: int) -> dict[int, int]:
    """Cancel every job of a run: 202 for queued or running ones, 409 for finished ones."""
    if not job_ids:
        return {}
    run = drive(
        target,
        len(job_ids),
        clients,
        lambda i: ("POST", f"/v1/jobs/{job_ids[i]}/cancel", b""),
    )
    return run.statuses


def measure(args: argparse.Namespace, sampler: RssSampler) -> dict[str, Any]:
    cli.heading(
        f"(a) submit throughput: {args.requests} x POST /v1/jobs (1 KiB Dockerfile) from "
        f"{args.clients} clients, {args.runs} runs; reference: GET /healthz, same loop"
    )
    body, content_type = multipart(
        {"name": "bench-submit"},
        {"dockerfile": ("Dockerfile", jobs.one_kib_dockerfile().encode())},
    )
    submit_target = Target(args.url, args.token, {"Content-Type": content_type})
    plain_target = Target(args.url, args.token)
    submits: list[LoadRun] = []
    health: list[LoadRun] = []
    cancelled: dict[int, int] = {}
    master_cpu: list[float] = []

    # One untimed round of each warms connections, code paths and the Kafka producer.
    def submission(_index: int) -> tuple[str, str, bytes | None]:
        return "POST", "/v1/jobs", body

    def health_check(_index: int) -> tuple[str, str, bytes | None]:
        return "GET", "/healthz", None

    warm = drive(submit_target, 50, args.clients, submission)
    drive(plain_target, 200, args.clients, health_check)
    _add(cancelled, cancel_queued(plain_target, warm.job_ids, args.clients))
    with sampler.phase("a"):
        for _ in range(args.runs):
            health.append(drive(plain_target, args.requests, args.clients, health_check))
            master_before = _master_cpu(sampler)
            run = drive(submit_target, args.requests, args.clients, submission)
            master_after = _master_cpu(sampler)
            if master_before is not None and master_after is not None:
                master_cpu.append((master_after - master_before) / len(run.latencies))
            submits.append(run)
            _add(cancelled, cancel_queued(plain_target, run.job_ids, args.clients))
    figures = {
        "submit": _summary("POST /v1/jobs", submits),
        "healthz": _summary("GET /healthz", health),
        "target_per_s": TARGET_JOBS_PER_S,
        "cancel_answers": cancelled,
    }
    median = figures["submit"]["median_per_s"]
    if master_cpu:
        per_job = stats.median(master_cpu)
        figures["master_cpu_per_submit_s"] = per_job
        cli.line(
            "master CPU per accepted job (median of runs)",
            f"{stats.ms(per_job)}: one core caps it at {1 / per_job:.0f} jobs/s",
        )
    cli.line(
        "submit MEDIAN vs target",
        f"{median:.0f} /s vs >= {TARGET_JOBS_PER_S:.0f} /s "
        f"({'met' if median >= TARGET_JOBS_PER_S else 'MISSED'}); "
        f"{median / figures['healthz']['median_per_s']:.0%} of the /healthz ceiling",
    )
    cli.line(
        "afterwards: cancel answers",
        f"{cancelled} (202 = cancelled while queued/running, 409 = had already finished)",
    )
    return figures


def _master_cpu(sampler: RssSampler) -> float | None:
    pid = sampler.targets.get("master")
    return None if pid is None else rss.cpu_seconds(pid)


def _add(total: dict[int, int], more: dict[int, int]) -> None:
    for status, count in more.items():
        total[status] = total.get(status, 0) + count


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--requests", type=int, default=2000, help="submissions per run (2000)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (8)")


def main() -> None:
    p = cli.parser(__doc__.splitlines()[0], runs=5)
    add_arguments(p)
    cli.run_bench(p, measure)


if __name__ == "__main__":
    main()
