"""The master's share of `GET /v1/jobs?limit=200` and of one job's answer, without the network:
turning stored records into the response body.

Measured: the handlers' path (records → models.Job → msgspec JSON, services/master/job_json.py
and responses.py). Baseline, in the same process: the path before the models — the same job
object built as dicts by hand and encoded with the standard library the way Starlette's
JSONResponse does. Medians of `--runs`; the bodies are checked equal first, so both sides do
the same work. No stack needed.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from benchkit import stats

from dccf.job_records import JobRecord
from dccf.jobs import JobLimits, JobStatus, Reason
from services.master.job_json import job_model
from services.master.models import JobPage
from services.master.responses import ModelResponse


def _records(count: int) -> list[JobRecord]:
    start = datetime(2026, 11, 30, 19, 40, 54, 123456, tzinfo=UTC)
    return [
        JobRecord(
            id=1000 + n,
            principal="bench",
            name=f"job {n}",
            status=JobStatus.FAILED,
            reason=Reason.NONZERO_EXIT,
            exit_code=1,
            attempt=1,
            worker="dccf-worker-1",
            cancel_requested=False,
            limits=JobLimits(timeout_seconds=3600, memory_mb=512, cpus=1.0),
            callback_url=None,
            build_args={},
            created_at=start + timedelta(seconds=n),
            started_at=start + timedelta(seconds=n + 1),
            finished_at=start + timedelta(seconds=n + 2),
        )
        for n in range(count)
    ]


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dict_job(job: JobRecord) -> dict[str, Any]:
    base = f"/v1/jobs/{job.id}"
    return {
        "id": job.id,
        "name": job.name,
        "status": str(job.status),
        "priority": job.priority,
        "reason": str(job.reason) if job.reason else None,
        "exit_code": job.exit_code,
        "attempt": job.attempt,
        "worker": job.worker,
        "created_at": _stamp(job.created_at),
        "started_at": _stamp(job.started_at),
        "finished_at": _stamp(job.finished_at),
        "limits": {**job.limits.__dict__, "network": str(job.limits.network)},
        "callback_url": job.callback_url,
        "links": {
            "self": base,
            "logs": f"{base}/logs",
            "outputs": f"{base}/outputs",
            "archive": f"{base}/outputs.tar.gz",
        },
    }


def _stdlib(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _time(work: Callable[[], bytes], runs: int, repeat: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(repeat):
            work()
        samples.append((time.perf_counter() - started) / repeat)
    return stats.median(samples)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=30, help="repetitions (default 30)")
    args = p.parse_args()
    page = _records(200)
    one = page[:1]
    # name: (the handlers' path, the baseline, calls per sample)
    cases: dict[str, tuple[Callable[[], bytes], Callable[[], bytes], int]] = {
        "page of 200 jobs": (
            lambda: ModelResponse(JobPage(jobs=[job_model(j) for j in page], next="1000")).body,
            lambda: _stdlib({"jobs": [_dict_job(j) for j in page], "next": "1000"}),
            20,
        ),
        "one job": (
            lambda: ModelResponse(job_model(one[0])).body,
            lambda: _stdlib(_dict_job(one[0])),
            2000,
        ),
    }
    for name, (models_path, baseline, repeat) in cases.items():
        assert json.loads(models_path()) == json.loads(baseline()), name
        ours = _time(models_path, args.runs, repeat)
        theirs = _time(baseline, args.runs, repeat)
        print(
            f"{name}: models + msgspec {ours * 1e6:.0f} µs, dicts + json {theirs * 1e6:.0f} µs "
            f"(baseline); {theirs / ours:.1f}x faster (median of {args.runs} runs)"
        )


if __name__ == "__main__":
    main()
