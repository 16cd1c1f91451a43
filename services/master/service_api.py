"""Health, readiness, metrics and the API description."""

from __future__ import annotations

import socket
import time

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from dccf import db
from services.master import context
from services.master.docs_page import docs_html
from services.master.openapi import spec


def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


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
    body: dict[str, object] = {
        "checks": {name: "up" if up else "down" for name, up in checks.items()},
        "seconds": round(time.perf_counter() - started, 4),
    }
    if down:
        body["error"] = {
            "code": "unavailable",
            "message": f"{' and '.join(down)} not reachable; the master cannot accept jobs",
        }
        return JSONResponse(body, status_code=503)
    body["status"] = "ready"
    return JSONResponse(body)


def metrics(request: Request) -> Response:
    registry = context.of(request).metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def openapi(request: Request) -> Response:
    return JSONResponse(spec())


def docs(request: Request) -> Response:
    return HTMLResponse(docs_html())


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
