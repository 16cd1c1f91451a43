"""(a)-(d) in one session: every figure beside its baseline and target, memory across all.

The order matters: (b) warms the layer cache that (c) relies on, and (d) comes last because
a 1 GiB job is the heaviest thing on the machine. `--runs` is not used; each part has its own.
"""

from __future__ import annotations

import argparse
from typing import Any

import big_output
import dispatch_overhead
import parallel_jobs
import submit_throughput
from benchkit import cli, stats
from benchkit.rss import RssSampler

TARGET_MB = 150


def measure(args: argparse.Namespace, sampler: RssSampler) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    args.runs = args.submit_runs
    figures["a"] = submit_throughput.measure(args, sampler)
    args.runs = args.dispatch_runs
    figures["b"] = dispatch_overhead.measure(args, sampler)
    args.runs = args.parallel_runs
    figures["c"] = parallel_jobs.measure(args, sampler)
    figures["d"] = big_output.measure(args, sampler)
    _summary(figures, sampler)
    return figures


def _summary(figures: dict[str, Any], sampler: RssSampler) -> None:
    cli.heading("summary (medians; targets for this 2-core machine with everything on it)")
    a = figures["a"]
    cli.line(
        "(a) submit jobs/s",
        f"{a['submit']['median_per_s']:.0f} (target >= {a['target_per_s']:.0f}; "
        f"/healthz ceiling {a['healthz']['median_per_s']:.0f})",
    )
    b = figures["b"]
    if "overhead_median_s" in b:
        cli.line(
            "(b) dispatch overhead",
            f"{stats.ms(b['overhead_median_s'])} (target <= {stats.ms(b['target_s'])}; "
            f"stack {stats.ms(b['stack']['median_s'])}, "
            f"direct {stats.ms(b['direct']['median_s'])})",
        )
    c = figures["c"]
    if "throughput_ratio" in c:
        cli.line(
            "(c) trivial jobs, throughput stack / direct",
            f"{c['throughput_ratio']:.2f}x (target >= {c['target_throughput_ratio']}x; "
            f"{c['stack_jobs_per_min']:.0f} vs {c['direct_jobs_per_min']:.0f} jobs/min)",
        )
    d = figures["d"]
    cli.line("(d) 1 GiB job", f"ended {d['status']} ({d['reason']})")
    for name in sampler.targets:
        peak = max((p.get(name) or 0) for p in sampler.peaks.values())
        cli.line(
            f"(d) {name} peak RSS over (a)-(d)", f"{stats.mb(peak)} (target <= {TARGET_MB} MB)"
        )


def main() -> None:
    p = cli.parser(__doc__.splitlines()[0], runs=0)
    submit_throughput.add_arguments(p)
    parallel_jobs.add_arguments(p)
    p.add_argument("--submit-runs", type=int, default=5, help="(a) runs (5)")
    p.add_argument("--dispatch-runs", type=int, default=20, help="(b) runs (20)")
    p.add_argument("--parallel-runs", type=int, default=3, help="(c) runs (3)")
    cli.run_bench(p, measure)


if __name__ == "__main__":
    main()
