"""Load: 1,000 jobs from 16 concurrent clients through the stack's workers (3 in the issue).

Every job copies its own nonce to /output, so a result cannot be mistaken for another job's.
Afterwards each job is checked: it succeeded, on attempt 1, and its output is its nonce (none
lost, none mixed up). That none ran to completion twice is checked on the Docker engine too,
when it is reachable: every job container of this run carries a run label, and the engine's
`die` events are counted per job id (exactly one, exit code 0). Reported: wall time from the
first submit to the last terminal status, jobs/min, and peak RSS of master and workers.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
from benchkit import cli, jobs
from benchkit.rss import RssSampler

from dccf.client import DccfError, Job

RUN_LABEL = "dccf.bench.run"


class DieEvents:
    """Counts `die` events of this run's job containers, per job id and exit code."""

    def __init__(self, engine: docker.DockerClient, run_label: str) -> None:
        self.counts: Counter[tuple[int, str]] = Counter()
        self._stream = engine.events(
            decode=True,
            filters={"type": "container", "event": "die", "label": f"{RUN_LABEL}={run_label}"},
        )
        self._thread = threading.Thread(target=self._read, name="docker-events", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with contextlib.suppress(Exception):  # the stream ends when close() cuts it
            for event in self._stream:
                attributes = event.get("Actor", {}).get("Attributes", {})
                job = attributes.get("dccf.job", "")
                if job.isdigit():
                    self.counts[(int(job), attributes.get("exitCode", "?"))] += 1

    def close(self) -> None:
        self._stream.close()
        self._thread.join(timeout=5)


def _client_share(index: int, total: int, clients: int) -> int:
    return total // clients + (1 if index < total % clients else 0)


def measure(args: argparse.Namespace, sampler: RssSampler) -> dict[str, Any]:
    cli.heading(f"load: {args.jobs} jobs from {args.clients} concurrent clients")
    run_label = uuid.uuid4().hex[:12]
    engine = cli.docker_client(args)
    events = DieEvents(engine, run_label) if engine else None
    with cli.client(args) as client:
        warm_spec = jobs.nonce_job(run_label, "warm-up")
        _seconds, warm = jobs.through_stack(client, warm_spec, "bench-load-warm-up")
        if problem := jobs.check_outputs(client, warm, warm_spec):
            raise SystemExit(f"the warm-up job did not succeed, nothing to measure: {problem}")
    submitted: dict[int, str] = {}
    finished: dict[int, Job] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def one_client(index: int) -> None:
        mine: dict[int, str] = {}
        with cli.client(args) as client:
            for n in range(_client_share(index, args.jobs, args.clients)):
                nonce = f"{run_label}-{index}-{n}-{uuid.uuid4().hex}"
                try:
                    job = jobs.submit(client, jobs.nonce_job(run_label, nonce), f"load-{index}")
                except DccfError as exc:
                    with lock:
                        errors.append(f"client {index} submit {n}: {exc}")
                    continue
                if job["id"] in mine:
                    with lock:
                        errors.append(f"job id {job['id']} came back twice")
                mine[job["id"]] = nonce
            with lock:
                duplicates = set(mine) & set(submitted)
                errors.extend(f"job id {i} given to two clients" for i in duplicates)
                submitted.update(mine)
            for job_id in mine:
                try:
                    job = jobs.wait(client, job_id, timeout=args.timeout)
                except DccfError as exc:
                    with lock:
                        errors.append(f"waiting for job {job_id}: {exc}")
                    continue
                with lock:
                    finished[job_id] = job

    threads = [
        threading.Thread(target=one_client, args=(i,), name=f"client-{i}")
        for i in range(args.clients)
    ]
    with sampler.phase("load"):
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    figures = _verify(args, submitted, finished, errors, events, run_label)
    figures.update(
        {"wall_s": wall, "jobs_per_min": len(finished) / wall * 60, "submitted": len(submitted)}
    )
    cli.line("wall time (first submit -> last terminal)", f"{wall:.1f} s")
    cli.line("throughput", f"{figures['jobs_per_min']:.1f} jobs/min")
    return figures


def _verify(
    args: argparse.Namespace,
    submitted: dict[int, str],
    finished: dict[int, Job],
    errors: list[str],
    events: DieEvents | None,
    run_label: str,
) -> dict[str, Any]:
    statuses = Counter(f"{job['status']}/{job.get('reason')}" for job in finished.values())
    attempts = Counter(job["attempt"] for job in finished.values())
    lost = sorted(set(submitted) - set(finished))

    def check(job_id: int) -> str | None:
        with cli.client(args) as client:
            spec = jobs.nonce_job(run_label, submitted[job_id])
            return jobs.check_outputs(client, finished[job_id], spec)

    with ThreadPoolExecutor(8) as pool:
        output_problems = [p for p in pool.map(check, sorted(finished)) if p]
    figures: dict[str, Any] = {
        "statuses": dict(statuses),
        "attempts": {str(k): v for k, v in attempts.items()},
        "not_terminal": lost,
        "output_problems": output_problems,
        "errors": errors,
    }
    cli.line("submitted / terminal", f"{len(submitted)} / {len(finished)} of {args.jobs}")
    cli.line("statuses", str(dict(statuses)))
    cli.line("attempt counts", str(dict(attempts)))
    cli.line("each job's output is its own nonce", "yes" if not output_problems else "NO")
    for problem in (output_problems + errors)[:10]:
        cli.warn(problem)
    if events is not None:
        time.sleep(2)  # the engine's events trail the API's answers a little
        events.close()
        per_job = Counter(job for job, _code in events.counts.elements())
        clean = {job for (job, code) in events.counts if code == "0"}
        twice = sorted(job for job in submitted if per_job[job] > 1)
        never = sorted(job for job in submitted if job not in clean)
        figures["containers_run_twice"] = twice
        figures["containers_missing"] = never
        cli.line(
            "containers that ran per job (engine events)",
            f"{len(submitted) - len(twice) - len(never)} exactly once, "
            f"{len(twice)} more than once, {len(never)} without a clean exit",
        )
    verdict = (
        len(finished) == args.jobs
        and not lost
        and statuses == Counter({"succeeded/None": args.jobs})
        and set(attempts) == {1}
        and not output_problems
        and not figures.get("containers_run_twice")
        and not figures.get("containers_missing")
    )
    figures["all_complete_none_lost_none_twice"] = verdict
    cli.line("ALL COMPLETE, NONE LOST, NONE TWICE", "yes" if verdict else "NO")
    return figures


def main() -> None:
    p = cli.parser(__doc__.splitlines()[0], runs=1)
    p.add_argument("--jobs", type=int, default=1000, help="jobs in total (1000)")
    p.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    p.add_argument("--timeout", type=float, default=3600, help="longest wait for one job, s (3600)")
    cli.run_bench(p, measure)


if __name__ == "__main__":
    main()
