"""The arguments every benchmark takes, and finding the stack's processes to watch."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker

from benchkit import rss, stats
from dccf import settings
from dccf.client import DccfClient

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = REPO_ROOT / ".dccf" / "run"


def parser(description: str, runs: int) -> argparse.ArgumentParser:
    client = settings.Client()
    worker = settings.Worker()
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--url", default=client.url, help="the master's URL (default: DCCF_URL)")
    p.add_argument("--token", default=client.token or None, help="API token (DCCF_TOKEN)")
    p.add_argument("--runs", type=int, default=runs, help=f"repetitions (default {runs})")
    p.add_argument(
        "--master-pid", type=int, help="PID of the master (default: .dccf/run/master.pid)"
    )
    p.add_argument(
        "--worker-pids",
        help="comma-separated worker PIDs (default: .dccf/run/worker-*.pid)",
    )
    p.add_argument(
        "--docker-host",
        default=worker.docker_host,
        help="the Docker engine the workers use, for the direct baseline "
        "(default: DCCF_DOCKER_HOST, else the SDK's default)",
    )
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return p


def _pid_file(path: Path) -> int | None:
    # scripts/dev writes the PID on the first line and the process start time after it.
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def targets(args: argparse.Namespace) -> dict[str, int]:
    """The processes to sample: from the arguments, else the local stack's pid files.

    Without either (a remote stack), memory is not measured and the report says so.
    """
    found: dict[str, int] = {}
    master = args.master_pid or _pid_file(RUN_DIR / "master.pid")
    if master:
        found["master"] = master
    if args.worker_pids:
        pids = [int(p) for p in args.worker_pids.split(",") if p.strip()]
        found.update({f"worker-{i}": pid for i, pid in enumerate(pids, 1)})
    else:
        for path in sorted(RUN_DIR.glob("worker-*.pid")):
            pid = _pid_file(path)
            if pid:
                found[path.stem] = pid
    alive = {}
    for name, pid in found.items():
        line = rss.command_line(pid)
        if not line:
            warn(f"{name} PID {pid} is not running; its memory is not measured")
            continue
        expected = "dccf-master" if name == "master" else "dccf-worker"
        if expected not in line:
            warn(f"{name} PID {pid} runs {line[:80]!r}, not {expected}; measuring it anyway")
        alive[name] = pid
    if not alive:
        warn("no master or worker PIDs (pass --master-pid/--worker-pids): memory not measured")
    return alive


def client(args: argparse.Namespace, timeout: float = 60.0) -> DccfClient:
    return DccfClient(args.url, token=args.token, timeout=timeout)


def docker_client(args: argparse.Namespace) -> docker.DockerClient | None:
    """The engine for the direct baseline; None (baseline skipped) if it does not answer."""
    try:
        engine = (
            docker.DockerClient(base_url=args.docker_host, timeout=300)
            if args.docker_host
            else docker.from_env(timeout=300)
        )
        engine.ping()
    except docker.errors.DockerException as exc:
        warn(f"no Docker engine for the direct baseline ({exc}); set --docker-host")
        return None
    return engine


def warn(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


def heading(text: str) -> None:
    print(f"\n== {text}", flush=True)


def line(label: str, value: str) -> None:
    print(f"  {label:<44} {value}", flush=True)


def write_json(path: Path | None, figures: dict[str, Any]) -> None:
    if path is not None:
        path.write_text(json.dumps(figures, indent=2, default=str) + "\n")


Measure = Callable[[argparse.Namespace, rss.RssSampler], dict[str, Any]]


def run_bench(p: argparse.ArgumentParser, measure: Measure) -> None:
    """Parse the arguments, measure while sampling memory, print memory, write the JSON."""
    args = p.parse_args()
    with rss.RssSampler(targets(args)) as sampler:
        figures = measure(args, sampler)
    figures["memory"] = memory_report(sampler)
    write_json(args.json, figures)


def memory_report(sampler: rss.RssSampler) -> dict[str, Any]:
    """Print each process's peak RSS per phase and its VmHWM; return them (KiB)."""
    heading("peak RSS (VmRSS sampled every 50 ms; VmHWM = peak since the process started)")
    if not sampler.targets:
        line("not measured", "no PIDs of the stack's processes")
        return {}
    hwm = sampler.hwm()
    for name in sampler.targets:
        per_phase = ", ".join(
            f"{phase} {stats.mb(peaks.get(name))}" for phase, peaks in sampler.peaks.items()
        )
        line(f"{name} (PID {sampler.targets[name]})", f"{per_phase}; VmHWM {stats.mb(hwm[name])}")
    return {"phases_kib": sampler.peaks, "vmhwm_kib": hwm}
