"""Health, readiness, metrics and the API description."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from dccf import db, settings
from services.master import context, models
from services.master.docs_page import render_html
from services.master.error_handlers import detail
from services.master.errors import Unavailable
from services.master.openapi import spec
from services.master.responses import ModelResponse


@dataclass(frozen=True)
class ApiDescription:
    """/openapi.json and /docs, built once per app from the settings it was created with."""

    document: bytes
    page: str

    @classmethod
    def build(cls, config: settings.Settings) -> ApiDescription:
        document = spec(config)
        return cls(msgspec.json.encode(document), render_html(document))


def healthz(request: Request) -> Response:
    return ModelResponse(models.Health(status="ok"))


def _postgres_up(ctx: context.MasterContext) -> bool:
    try:
        ctx.pool.run("SELECT 1")
    except db.DatabaseUnavailable:
        return False
    return True


def _kafka_up(ctx: context.MasterContext) -> bool:
    for server in ctx.settings.kafka.servers:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=1):
                return True
        except (OSError, ValueError):
            continue
    return False


def readyz(request: Request) -> Response:
    ctx = context.of(request)
    started = time.perf_counter()
    checks = {"postgres": _postgres_up(ctx), "kafka": _kafka_up(ctx)}
    down = [name for name, up in checks.items() if not up]
    body = models.Readiness(
        checks=models.Checks(
            postgres="up" if checks["postgres"] else "down",
            kafka="up" if checks["kafka"] else "down",
        ),
        seconds=round(time.perf_counter() - started, 4),
    )
    if down:
        message = f"{' and '.join(down)} not reachable; the master cannot accept jobs"
        body.error = detail(Unavailable(message))
        return ModelResponse(body, status_code=503)
    body.status = "ready"
    return ModelResponse(body)


def metrics(request: Request) -> Response:
    registry = context.of(request).metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _description(request: Request) -> ApiDescription:
    description: ApiDescription = request.app.state.api_description
    return description


def openapi(request: Request) -> Response:
    return Response(_description(request).document, media_type="application/json")


def docs(request: Request) -> Response:
    return HTMLResponse(_description(request).page)


def root(request: Request) -> Response:
    """GET / with the dashboard off (DCCF_DASHBOARD=false): 200 still, as the original's
    probes expect."""
    return PlainTextResponse("DCCF master; the dashboard is off (DCCF_DASHBOARD). API: /docs\n")


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
    Route("/docs", docs, methods=["GET"]),
]

root_routes: list[BaseRoute] = [Route("/", root, methods=["GET"])]
