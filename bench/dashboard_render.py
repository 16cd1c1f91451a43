"""The dashboard on the master: a page of 1,000 jobs rendered in under 300 ms, and no more
than 10 MB added to the master's RSS.

Two masters of this checkout run side by side on a database of their own (the same Postgres
and Kafka as DCCF_PG_* and DCCF_KAFKA_BOOTSTRAP name), one with the dashboard and one
without (DCCF_DASHBOARD=false). The database gets 1,000 finished jobs with logs. Both
masters get the same API requests; the one with the dashboard also serves every page,
fragment and stream. Figures: the render time of the 1,000-job fragment
(`/ui/fragments/jobs?limit=1000`, the server's whole work for that page) and of the other
fragments, with `GET /v1/jobs?limit=200` as a baseline, and the RSS of each master after the
same work. Timings on a shared 2-core machine are noisy: medians of `--runs`.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from benchkit import cli, rss, stats

from dccf import db, schema, settings
from dccf.jobs import LogStream

JOBS = 1000
TARGET_MS = 300
TARGET_MB = 10
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fill(cfg: settings.Postgres) -> None:
    conn = db.connect(cfg, "dccf-bench")
    try:
        schema.migrate(conn)
        conn.run(
            "INSERT INTO jobs (name, status, reason, exit_code, attempt, worker, timeout_seconds,"
            " memory_mb, cpus, network, queued_at, started_at, finished_at)"
            " SELECT 'bench job ' || n, CASE WHEN n % 7 = 0 THEN 'failed' ELSE 'succeeded' END,"
            " CASE WHEN n % 7 = 0 THEN 'nonzero_exit' END, CASE WHEN n % 7 = 0 THEN 1 ELSE 0 END,"
            " 1, 'bench-worker-' || (n % 3), 600, 256, 1, 'none',"
            " now() - make_interval(secs => n * 3 + 5), now() - make_interval(secs => n * 3 + 2),"
            " now() - make_interval(secs => n * 3) FROM generate_series(1, :jobs) AS n",
            jobs=JOBS,
        )
        conn.run(
            "INSERT INTO job_logs (job_id, stream, data) SELECT id, :kind,"
            " convert_to(repeat('a line of output ' || id || E'\\n', 50), 'UTF8') FROM jobs",
            kind=str(LogStream.STDOUT),
        )
    finally:
        conn.close()


@contextmanager
def _master(env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    port = _free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(BIN / "dccf-master")],
            env={**os.environ, **env, "DCCF_PORT": str(port), "DCCF_HOST": "127.0.0.1"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"a master did not start; see {log}")
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _times(http: httpx.Client, path: str, runs: int) -> list[float]:
    http.get(path).raise_for_status()  # warm: templates compiled, statements prepared
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        response = http.get(path)
        seconds.append(time.perf_counter() - started)
        response.raise_for_status()
    return seconds


def _api_work(http: httpx.Client) -> None:
    for _ in range(20):
        http.get("/v1/jobs", params={"limit": 200}).raise_for_status()
        http.get("/v1/jobs/1").raise_for_status()
        http.get("/v1/jobs/1/logs").raise_for_status()


def _dashboard_work(http: httpx.Client, runs: int) -> dict[str, list[float]]:
    timed = {
        path: _times(http, path, runs)
        for path in (
            "/ui/fragments/jobs?limit=1000",
            "/ui/fragments/jobs",
            "/ui/fragments/jobs/1",
            "/ui/fragments/overview",
            "/ui/fragments/workers",
            "/",
        )
    }
    for job_id in (1, 2, 3):
        with http.stream("GET", f"/ui/stream/jobs/{job_id}") as stream:
            stream.read()
    return timed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=30, help="timed requests per path (30)")
    args = p.parse_args()
    base = settings.load()
    name = f"dccf_bench_ui_{uuid.uuid4().hex[:8]}"
    admin = db.connect(base.postgres, "dccf-bench-setup")
    admin.run(f"CREATE DATABASE {name}")
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / name
    logs.mkdir(parents=True, exist_ok=True)
    try:
        _fill(settings.Postgres(**{**base.postgres.__dict__, "database": name}))
        env = {"DCCF_PG_DATABASE": name, "DCCF_SWEEP_SECONDS": "3600"}
        cli.heading(f"a page of {JOBS:,} jobs, and the dashboard's memory ({args.runs} runs)")
        with (
            _master({**env, "DCCF_DASHBOARD": "true"}, logs / "with.log") as (with_url, with_pid),
            _master({**env, "DCCF_DASHBOARD": "false"}, logs / "without.log") as (
                without_url,
                without_pid,
            ),
            httpx.Client(base_url=with_url, timeout=60) as with_ui,
            httpx.Client(base_url=without_url, timeout=60) as without_ui,
        ):
            _api_work(with_ui)
            _api_work(without_ui)
            baseline = _times(without_ui, "/v1/jobs?limit=200", args.runs)
            timed = _dashboard_work(with_ui, args.runs)
            _api_work(with_ui)
            _api_work(without_ui)
            rss_with = rss.status_kib(with_pid, "VmRSS")
            rss_without = rss.status_kib(without_pid, "VmRSS")
        cli.line("GET /v1/jobs?limit=200 (baseline)", _summary(baseline))
        for path, seconds in timed.items():
            cli.line(f"GET {path}", _summary(seconds))
        page = stats.median(timed["/ui/fragments/jobs?limit=1000"]) * 1000
        verdict = "met" if page < TARGET_MS else "MISSED"
        cli.line("1,000-job page", f"median {page:.1f} ms vs < {TARGET_MS} ms ({verdict})")
        cli.line("master RSS with the dashboard", stats.mb(rss_with))
        cli.line("master RSS without it", stats.mb(rss_without))
        if rss_with is not None and rss_without is not None:
            delta = (rss_with - rss_without) / 1024
            verdict = "met" if delta <= TARGET_MB else "MISSED"
            cli.line("dashboard's share", f"{delta:+.1f} MB vs <= {TARGET_MB} MB ({verdict})")
    finally:
        admin.run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def _summary(seconds: list[float]) -> str:
    return (
        f"median {stats.ms(stats.median(seconds))}, p90 {stats.ms(stats.percentile(seconds, 90))}"
    )


if __name__ == "__main__":
    main()
