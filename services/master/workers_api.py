"""`GET /v1/workers`: the workers registry, with each worker's state computed now."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dccf import workers
from services.master import context
from services.master.job_json import timestamp


def worker_json(worker: workers.WorkerRecord) -> dict[str, Any]:
    return {
        "id": worker.id,
        "state": str(worker.state),
        "host": worker.host,
        "version": worker.version,
        "slots": worker.slots,
        "jobs": worker.jobs,
        "started_at": timestamp(worker.started_at),
        "last_seen_at": timestamp(worker.last_seen),
        "stopped_at": timestamp(worker.stopped_at),
    }


def read_workers(ctx: context.MasterContext, principal: str) -> list[workers.WorkerRecord]:
    with ctx.pool.connection() as conn:
        return workers.listing(conn, ctx.settings.master.worker_lost_seconds, principal)


def list_workers(request: Request) -> Response:
    ctx = context.of(request)
    found = read_workers(ctx, context.principal(request))
    return JSONResponse(
        {
            "workers": [worker_json(w) for w in found],
            "lost_after_seconds": ctx.settings.master.worker_lost_seconds,
        }
    )


routes = [Route("/v1/workers", list_workers, methods=["GET"])]
