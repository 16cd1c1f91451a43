"""Submit rate with wrk: POST /v1/jobs and legacy /submit (1 KiB Dockerfile, 8 connections).

A C load generator (Debian's `wrk`, scripted by submit_rate.lua) leaves the 2 cores to the
master, where the Python generator of submit_throughput.py took half of one. Each run is
checked for loss: every 2xx id must be a row in Postgres, the jobs table must have grown by
the 2xx count (plus the requests still in flight when wrk stops), and every id must have a
notice on the Kafka topic. With
`--baseline-url` (another master on the same Postgres and Kafka, e.g. an older commit's) the
two take turns, so background load hits both alike. The jobs of each run are cancelled after
it, so the workers are not left with thousands of queued jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchkit import cli, jobs, rss, stats
from benchkit.http_load import Target, drive, multipart
from kafka import KafkaConsumer, TopicPartition

from dccf import db, queue, settings

TARGET_PER_S = 1000.0
TARGET_P99_S = 0.050
LUA = Path(__file__).with_name("submit_rate.lua")
# (label, path, name of the Dockerfile part)
ENDPOINTS = (("POST /v1/jobs", "/v1/jobs", "dockerfile"), ("POST /submit", "/submit", "dockerFile"))


@dataclass(frozen=True)
class Round:
    rate: float
    p50_s: float
    p99_s: float
    statuses: dict[str, int]
    lost: list[str]
    master_cpu_s: float | None  # per answered request


def _wrk(url: str, path: str, body: Path, content_type: str, args: argparse.Namespace) -> Any:
    with tempfile.NamedTemporaryFile("r", suffix=".out") as out:
        command = [
            "wrk",
            f"-t{args.threads}",
            f"-c{args.clients}",
            f"-d{args.seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            url,
            "--",
            str(body),
            path,
            content_type,
            args.token or "",
        ]
        done = subprocess.run(
            command,
            env={**os.environ, "DCCF_WRK_OUT": out.name},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
        summary = json.loads(out.readline())
        summary["ids"] = [int(line) for line in out if line.strip()]
    return summary


class Checks:
    """Counts rows and reads notices around each run."""

    def __init__(self, connections: int) -> None:
        self.connections = connections
        self.cfg = settings.load()
        self.pool = db.Pool(self.cfg.postgres, "dccf-bench")
        self.consumer = KafkaConsumer(
            bootstrap_servers=self.cfg.kafka.servers, enable_auto_commit=False
        )
        self.partitions = [
            TopicPartition(self.cfg.kafka.topic, p)
            for p in sorted(self.consumer.partitions_for_topic(self.cfg.kafka.topic) or [])
        ]
        self.consumer.assign(self.partitions)

    def before(self) -> tuple[int, dict[TopicPartition, int]]:
        return self._rows(), self.consumer.end_offsets(self.partitions)

    def lost(self, ids: list[int], before: tuple[int, dict[TopicPartition, int]]) -> list[str]:
        """What is missing: rows, or notices (given 10 s to arrive), for the 2xx ids."""
        rows_before, offsets = before
        problems = []
        # wrk stops with up to one request a connection in flight: stored, never answered.
        grown = self._rows() - rows_before
        if not 0 <= grown - len(ids) <= self.connections:
            problems.append(f"the jobs table grew by {grown} rows for {len(ids)} 2xx answers")
        stored = self.pool.run("SELECT count(*) FROM jobs WHERE id = ANY(:ids)", ids=ids)[0][0]
        if stored != len(set(ids)):
            problems.append(f"{len(set(ids)) - stored} 2xx ids have no row")
        missing = self._unnoticed(set(ids), offsets)
        if missing:
            example = sorted(missing)[:5]
            problems.append(f"{len(missing)} stored jobs have no notice, e.g. {example}")
        return problems

    def _rows(self) -> int:
        return int(self.pool.run("SELECT count(*) FROM jobs")[0][0])

    def _unnoticed(self, ids: set[int], offsets: dict[TopicPartition, int]) -> set[int]:
        for partition, offset in offsets.items():
            self.consumer.seek(partition, offset)
        deadline = time.monotonic() + 10
        while ids and time.monotonic() < deadline:
            for records in self.consumer.poll(timeout_ms=500, max_records=50_000).values():
                ids.difference_update(queue.decode(r.value) for r in records)
        return ids

    def close(self) -> None:
        self.consumer.close()
        self.pool.close()


def _round(
    url: str,
    pid: int | None,
    endpoint: tuple[str, str, str],
    args: argparse.Namespace,
    checks: Checks,
) -> Round:
    _label, path, part = endpoint
    data, content_type = multipart(
        {"name": "bench-rate"}, {part: ("Dockerfile", jobs.one_kib_dockerfile().encode())}
    )
    with tempfile.NamedTemporaryFile(suffix=".body") as body:
        body.write(data)
        body.flush()
        before = checks.before()
        cpu_before = _cpu(pid)
        summary = _wrk(url, path, Path(body.name), content_type, args)
        cpu_after = _cpu(pid)
    ids = summary["ids"]
    lost = checks.lost(ids, before)
    _cancel(url, args, ids)
    return Round(
        rate=summary["requests"] / (summary["duration_us"] / 1e6),
        p50_s=summary["p50_us"] / 1e6,
        p99_s=summary["p99_us"] / 1e6,
        statuses={**summary["statuses"], "socket errors": summary["socket_errors"]},
        lost=lost,
        master_cpu_s=(
            None
            if cpu_before is None or cpu_after is None or not summary["requests"]
            else (cpu_after - cpu_before) / summary["requests"]
        ),
    )


def _cpu(pid: int | None) -> float | None:
    return None if pid is None else rss.cpu_seconds(pid)


def _cancel(url: str, args: argparse.Namespace, ids: list[int]) -> None:
    if ids:
        drive(
            Target(url, args.token),
            len(ids),
            args.clients,
            lambda i: ("POST", f"/v1/jobs/{ids[i]}/cancel", b""),
        )


def _report(label: str, rounds: list[Round]) -> dict[str, Any]:
    rate = stats.median([r.rate for r in rounds])
    p50 = stats.median([r.p50_s for r in rounds])
    p99 = stats.median([r.p99_s for r in rounds])
    lost = [problem for r in rounds for problem in r.lost]
    cpu = [r.master_cpu_s for r in rounds if r.master_cpu_s is not None]
    cli.line(f"{label}: rounds (/s)", ", ".join(f"{r.rate:.0f}" for r in rounds))
    cli.line(f"{label}: MEDIAN, p50 / p99", f"{rate:.0f} /s, {stats.ms(p50)} / {stats.ms(p99)}")
    if cpu:
        cli.line(f"{label}: master CPU per request (median)", stats.ms(stats.median(cpu)))
    cli.line(f"{label}: answers", "; ".join(str(r.statuses) for r in rounds))
    cli.line(f"{label}: every 2xx stored and notified", "yes" if not lost else "NO")
    for problem in lost:
        cli.warn(f"{label}: {problem}")
    return {
        "per_round_per_s": [round(r.rate, 1) for r in rounds],
        "median_per_s": rate,
        "p50_s": p50,
        "p99_s": p99,
        "lost": lost,
        "master_cpu_per_request_s": stats.median(cpu) if cpu else None,
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    targets = {"this": (args.url, args.master_pid or _run_pid("master"))}
    if args.baseline_url:
        targets["baseline"] = (args.baseline_url, args.baseline_pid)
    cli.heading(
        f"submit rate: wrk, {args.clients} connections, {args.seconds} s a round, "
        f"{args.runs} rounds, targets {targets} (URL, master PID); "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    checks = Checks(args.clients)
    results: dict[tuple[str, str], list[Round]] = {}
    try:
        for endpoint in ENDPOINTS:
            for url, pid in targets.values():
                _round(url, pid, endpoint, _short(args), checks)
        for _ in range(args.runs):
            for endpoint in ENDPOINTS:
                for name, (url, pid) in targets.items():
                    results.setdefault((name, endpoint[0]), []).append(
                        _round(url, pid, endpoint, args, checks)
                    )
    finally:
        checks.close()
    figures: dict[str, Any] = {}
    for (name, label), rounds in results.items():
        figures[f"{name} {label}"] = _report(f"{name} {label}", rounds)
    for name in targets:
        for label, *_ in ENDPOINTS:
            got = figures[f"{name} {label}"]
            met = got["median_per_s"] >= TARGET_PER_S and got["p99_s"] <= TARGET_P99_S
            cli.line(
                f"{name} {label} vs target",
                f"{got['median_per_s']:.0f} /s, p99 {stats.ms(got['p99_s'])} vs >= "
                f"{TARGET_PER_S:.0f} /s, p99 <= {stats.ms(TARGET_P99_S)} "
                f"({'met' if met and not got['lost'] else 'MISSED'})",
            )
    cli.line("load average (1 min) at the end", f"{os.getloadavg()[0]:.1f}")
    return figures


def _run_pid(name: str) -> int | None:
    try:
        return int((cli.RUN_DIR / f"{name}.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _short(args: argparse.Namespace) -> argparse.Namespace:
    """The untimed warm-up round: connections, code paths, the Kafka producer."""
    return argparse.Namespace(**{**vars(args), "seconds": 2})


def main() -> None:
    p = cli.parser(__doc__.splitlines()[0], runs=3)
    p.add_argument("--baseline-url", help="another master to measure in turns with --url")
    p.add_argument("--baseline-pid", type=int, help="PID of the baseline master, for its CPU")
    p.add_argument("--seconds", type=int, default=10, help="length of a round (10)")
    p.add_argument("--clients", type=int, default=8, help="connections (8)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    args = p.parse_args()
    cli.write_json(args.json, measure(args))


if __name__ == "__main__":
    main()
