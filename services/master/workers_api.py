"""`GET /v1/workers`: the workers registry, with each worker's state computed now."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dccf import workers
from services.master import context, models
from services.master.responses import ModelResponse


def worker_model(worker: workers.WorkerRecord) -> models.Worker:
    stopped = worker.stopped_at
    return models.Worker(
        id=worker.id,
        state=worker.state,
        host=worker.host,
        version=worker.version,
        slots=worker.slots,
        jobs=worker.jobs,
        started_at=models.utc_seconds(worker.started_at),
        last_seen_at=models.utc_seconds(worker.last_seen),
        stopped_at=None if stopped is None else models.utc_seconds(stopped),
    )


def worker_json(worker: workers.WorkerRecord) -> dict[str, Any]:
    """The worker as plain dicts and strings, for the dashboard's templates."""
    body: dict[str, Any] = msgspec.to_builtins(worker_model(worker))
    return body


def read_workers(ctx: context.MasterContext, principal: str) -> list[workers.WorkerRecord]:
    with ctx.pool.connection() as conn:
        return workers.listing(conn, ctx.settings.master.worker_lost_seconds, principal)


def list_workers(request: Request) -> Response:
    ctx = context.of(request)
    found = read_workers(ctx, context.principal(request))
    return ModelResponse(
        models.WorkerList(
            workers=[worker_model(w) for w in found],
            lost_after_seconds=ctx.settings.master.worker_lost_seconds,
        )
    )


routes = [Route("/v1/workers", list_workers, methods=["GET"])]
