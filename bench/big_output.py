"""(d) Memory while a job writes 1 GiB to /output: the worker must stream it, never hold it.

With the default DCCF_MAX_OUTPUT_MB=100 the job ends failed/output_too_large once the worker
has read 100 MB of the archive; with a larger cap it succeeds and the master streams 1 GiB
into Postgres. Either way the peak RSS of master and workers is the figure.
"""

from __future__ import annotations

import argparse
from typing import Any

from benchkit import cli, jobs
from benchkit.rss import RssSampler

TARGET_MB = 150


def measure(args: argparse.Namespace, sampler: RssSampler) -> dict[str, Any]:
    cli.heading("(d) a job writing 1 GiB to /output (dd if=/dev/zero of=/output/big bs=1M)")
    with cli.client(args, timeout=120) as client, sampler.phase("d-1GiB"):
        seconds, job = jobs.through_stack(client, jobs.BIG_OUTPUT, "bench-big-output")
    cli.line("job", f"{job['id']} ended {job['status']} ({job.get('reason')}) in {seconds:.1f} s")
    peaks = sampler.peaks["d-1GiB"]
    for name, kib in peaks.items():
        verdict = "n/a" if kib is None else ("met" if kib / 1024 <= TARGET_MB else "MISSED")
        shown = "n/a" if kib is None else f"{kib / 1024:.1f} MB"
        cli.line(f"{name} peak RSS during it", f"{shown} vs <= {TARGET_MB} MB ({verdict})")
    return {
        "job_id": job["id"],
        "status": job["status"],
        "reason": job.get("reason"),
        "seconds": seconds,
        "peaks_kib": peaks,
    }


def main() -> None:
    cli.run_bench(cli.parser(__doc__.splitlines()[0], runs=1), measure)


if __name__ == "__main__":
    main()
