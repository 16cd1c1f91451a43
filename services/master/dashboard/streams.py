"""Live updates as server-sent events, read by the page with fetch() rather than EventSource.

EventSource cannot send headers, so the token would have to travel in the URL (and end up in
access logs and browser history) or in a cookie (and bring CSRF with it). fetch() sends the
same bearer header as every other request and reads the `text/event-stream` body as it comes.

Both streams wait on Postgres LISTEN/NOTIFY (services/master/status_watch.py) and re-read
every `RECHECK_SECONDS` as well, so a missed notice costs at most that; between reads they
hold no database connection.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from dccf import job_records
from dccf.job_records import JobRecord
from services.master import context, params
from services.master.dashboard.live_logs import LogFollower, LogUpdate
from services.master.dashboard.views import dashboard
from services.master.job_json import job_json
from services.master.job_reads import get_job

RECHECK_SECONDS = 2.0
KEEPALIVE_SECONDS = 15.0
_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def _stream(events: AsyncIterator[str]) -> Response:
    return StreamingResponse(events, media_type="text/event-stream", headers=_HEADERS)


def _mine(ctx: context.MasterContext, owner: str, ids: set[int]) -> tuple[list[int], int]:
    """Which of the notified jobs are the caller's, and the caller's newest job id (new jobs
    send no notice: a submission changes no status)."""
    with ctx.pool.connection() as conn:
        row = conn.run(
            "SELECT ARRAY(SELECT id FROM jobs WHERE principal = :p"
            " AND id = ANY(CAST(:ids AS bigint[])) ORDER BY id),"
            " (SELECT coalesce(max(id), 0) FROM jobs WHERE principal = :p)",
            p=owner,
            ids=sorted(ids),
        )[0]
    return [int(i) for i in row[0] or []], int(row[1])


async def jobs_stream(request: Request) -> Response:
    """`jobs` events with the ids of the caller's jobs that changed status or are new."""
    ctx = context.of(request)
    owner = context.principal(request)

    async def events() -> AsyncIterator[str]:
        with ctx.watch.changes() as changes:
            _, newest = await run_in_threadpool(_mine, ctx, owner, set())
            yield ": connected\n\n"
            quiet_since = time.monotonic()
            while True:
                ids = await changes.take(RECHECK_SECONDS)
                changed, latest = await run_in_threadpool(_mine, ctx, owner, ids)
                if latest > newest:
                    changed.append(latest)
                    newest = latest
                if changed:
                    yield event("jobs", changed)
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
                    yield ": keep-alive\n\n"
                    quiet_since = time.monotonic()

    return _stream(events())


def _read(
    ctx: context.MasterContext, follower: LogFollower, owner: str
) -> tuple[JobRecord | None, list[LogUpdate]]:
    with ctx.pool.connection() as conn:
        job = job_records.get(conn, follower.job_id, owner)
        if job is None:
            return None, []
        return job, follower.read(conn, final=job.status.terminal)


async def _either(first: asyncio.Event, second: asyncio.Event, timeout: float) -> None:
    waits = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    first.clear()
    second.clear()


async def job_stream(request: Request) -> Response:
    """One job: `status` (the job object) on every change, `log` ({stream, text, reset}) as
    its logs are stored, `end` once it is terminal and every log byte was sent, `gone` if it
    is deleted meanwhile."""
    ctx = context.of(request)
    job_id = params.job_id(request.path_params["id"])
    owner = context.principal(request)
    await run_in_threadpool(get_job, ctx, job_id, owner)  # a 404 before the stream starts
    log_watch = dashboard(request).log_watch
    follower = LogFollower(job_id)

    async def events() -> AsyncIterator[str]:
        with (
            ctx.watch.subscription(job_id) as status_changed,
            log_watch.subscription(job_id) as logs_changed,
        ):
            last_status = None
            while True:
                job, updates = await run_in_threadpool(_read, ctx, follower, owner)
                if job is None:
                    yield event("gone", {"id": job_id})
                    return
                if job.status != last_status:
                    last_status = job.status
                    yield event("status", job_json(job))
                for update in updates:
                    yield event(
                        "log",
                        {"stream": str(update.stream), "text": update.text, "reset": update.reset},
                    )
                if job.status.terminal:
                    yield event("end", {"id": job_id})
                    return
                await _either(status_changed, logs_changed, RECHECK_SECONDS)

    return _stream(events())


routes = [
    Route("/ui/stream/jobs", jobs_stream, methods=["GET"]),
    Route("/ui/stream/jobs/{id}", job_stream, methods=["GET"]),
]
