"""Reading jobs on behalf of a caller: lookups scoped to the principal, long-polling, logs."""

from __future__ import annotations

import asyncio
import contextlib
import time

from starlette.concurrency import run_in_threadpool

from dccf import job_records
from dccf.job_records import JobRecord
from dccf.jobs import LogStream
from services.master.context import MasterContext
from services.master.errors import NotFound


def get_job(ctx: MasterContext, job_id: int, owner: str) -> JobRecord:
    with ctx.pool.connection() as conn:
        job = job_records.get(conn, job_id, owner)
    if job is None:
        raise NotFound(f"no job with id {job_id}")
    return job


async def wait_for_job(ctx: MasterContext, job_id: int, owner: str, seconds: int) -> JobRecord:
    """The job as soon as it is terminal, or as it is after `seconds`."""
    deadline = time.monotonic() + seconds
    with ctx.watch.subscription(job_id) as changed:
        while True:
            job = await run_in_threadpool(get_job, ctx, job_id, owner)
            remaining = deadline - time.monotonic()
            if job.status.terminal or remaining <= 0:
                return job
            # Re-read at least every second in case a notification was missed.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=min(remaining, 1.0))
            changed.clear()


def render_logs(logs: dict[LogStream, bytes], stream: LogStream | None) -> str:
    if stream is not None:
        return logs.get(stream, b"").decode("utf-8", errors="replace")
    sections = []
    for name in LogStream:
        text = logs.get(name, b"").decode("utf-8", errors="replace")
        if text and not text.endswith("\n"):
            text += "\n"
        sections.append(f"===== {name} =====\n{text}")
    return "".join(sections)
