"""Queue wait of short jobs while all workers but one run long jobs, and how many workers a
burst keeps busy.

Phase 1: one long job per worker but one (they sleep for the whole phase), then short jobs
submitted one after another; each one's queue wait is the client-observed time from the 201 to
the first `GET /v1/jobs/{id}` that no longer says `queued` (polled every 20 ms). With
consumer-group dispatch a notice landing in a busy worker's partition waited for that worker.
Phase 2: as many sleeping jobs at once as there are workers: the workers that ran them.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from benchkit import cli, jobs, stats
from benchkit.rss import RssSampler

from dccf.client import DccfClient, DccfError

POLL_S = 0.02
TARGET_MAX_S = 2.0


def sleeper(seconds: int) -> jobs.JobSpec:
    return jobs.JobSpec(dockerfile=f'FROM {jobs.BASE}\nCMD ["sleep", "{seconds}"]\n')


def queue_wait(client: DccfClient, name: str) -> float:
    job = jobs.submit(client, jobs.TRIVIAL, name)
    submitted = time.perf_counter()
    while client.job(job["id"])["status"] == "queued":
        time.sleep(POLL_S)
    waited = time.perf_counter() - submitted
    jobs.wait(client, job["id"])
    return waited


def cancel_unless_ended(client: DccfClient, job_id: int) -> None:
    """Cancel a long job; one that has ended (a slow phase outlasts --long-seconds) answers
    409, which is not an error here: the warning below reports it."""
    try:
        client.cancel(job_id)
    except DccfError as exc:
        if exc.status != 409:
            raise


def measure(args: argparse.Namespace, sampler: RssSampler) -> dict[str, Any]:
    workers = args.workers
    cli.heading(
        f"queue wait of {args.jobs} short jobs while {workers - 1} of {workers} workers run "
        "long ones"
    )
    waits: list[float] = []
    with cli.client(args) as client, sampler.phase("queue-wait"):
        jobs.through_stack(client, jobs.TRIVIAL, "bench-queue-wait-warm-up")
        long_ids = [
            jobs.submit(client, sleeper(args.long_seconds), f"bench-long-{i}")["id"]
            for i in range(workers - 1)
        ]
        deadline = time.monotonic() + 120
        while any(client.job(i)["status"] == "queued" for i in long_ids):
            if time.monotonic() > deadline:
                raise SystemExit("the long jobs did not all start within 120 s: too few workers?")
            time.sleep(0.2)
        for index in range(args.jobs):
            waits.append(queue_wait(client, f"bench-short-{index}"))
        busy = sum(client.job(i)["status"] == "running" for i in long_ids)
        for job_id in long_ids:
            cancel_unless_ended(client, job_id)
        if busy < workers - 1:
            cli.warn(f"only {busy} long jobs still ran at the end: raise --long-seconds")
        cli.line("queue wait p50", stats.ms(stats.median(waits)))
        cli.line("queue wait p99", stats.ms(stats.percentile(waits, 99)))
        worst = max(waits)
        verdict = "met" if worst <= TARGET_MAX_S else "MISSED"
        cli.line("queue wait max", f"{stats.ms(worst)} vs <= {TARGET_MAX_S:g} s ({verdict})")

        cli.heading(f"a burst of {workers} jobs of {args.burst_seconds} s on {workers} workers")
        burst = [
            jobs.submit(client, sleeper(args.burst_seconds), f"bench-burst-{i}")["id"]
            for i in range(workers)
        ]
        ran = [jobs.wait(client, job_id) for job_id in burst]
        used = sorted({job["worker"] for job in ran if job["status"] == "succeeded"})
        cli.line("workers that ran a job", f"{len(used)} of {workers}: {', '.join(used)}")
    return {
        "queue_wait_s": waits,
        "p50_s": stats.median(waits),
        "p99_s": stats.percentile(waits, 99),
        "max_s": worst,
        "burst_workers_used": used,
    }


def main() -> None:
    p = cli.parser(__doc__.splitlines()[0], runs=1)
    p.add_argument("--workers", type=int, required=True, help="workers the stack runs")
    p.add_argument("--jobs", type=int, default=20, help="short jobs (20)")
    p.add_argument("--long-seconds", type=int, default=300, help="long jobs' length (300)")
    p.add_argument("--burst-seconds", type=int, default=15, help="burst jobs' length (15)")
    cli.run_bench(p, measure)


if __name__ == "__main__":
    main()
