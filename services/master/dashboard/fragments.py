"""HTML fragments the pages load with htmx, each scoped to the caller like the JSON API.

They sit behind the bearer-token middleware; every list is the caller's own, and a job of
another principal is a 404 here too.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dccf import filestore, job_records, workers
from dccf.filestore import FileKind
from dccf.human import human_duration
from dccf.job_records import Order
from services.master import context, params
from services.master.dashboard import charts, job_rows, overview
from services.master.dashboard.views import PAGE_SIZES, dashboard
from services.master.errors import InvalidInput, NotFound
from services.master.job_json import job_json
from services.master.workers_api import read_workers, worker_json

_NO_STORE = {"Cache-Control": "no-store"}
_MAX_NAME_FILTER = 200


def _render(request: Request, template: str, values: dict[str, Any]) -> Response:
    return dashboard(request).templates.TemplateResponse(
        request, template, values, headers=_NO_STORE
    )


def jobs_fragment(request: Request) -> Response:
    ctx = context.of(request)
    limit = params.int_query(request, "limit", 50, 1, max(PAGE_SIZES))
    status = params.status_query(request)
    priority = params.priority_query(request)
    cursor = params.cursor_query(request, Order.NEWEST)
    before = cursor.id if cursor else None
    name = request.query_params.get("name", "").strip()
    if len(name) > _MAX_NAME_FILTER:
        raise InvalidInput(
            f"the name filter is at most {_MAX_NAME_FILTER} characters", code="invalid_parameter"
        )
    with ctx.pool.connection() as conn:
        found = job_rows.page(
            conn,
            principal=context.principal(request),
            status=status,
            priority=priority,
            name=name,
            limit=limit,
            before=before,
        )
    query: dict[str, Any] = {
        "status": str(status) if status else "",
        "priority": priority,
        "name": name,
        "limit": limit,
    }
    query = {key: value for key, value in query.items() if value not in ("", None)}

    def url(**extra: Any) -> str:
        return "/ui/fragments/jobs?" + urlencode({**query, **extra})

    return _render(
        request,
        "_jobs.html",
        {
            "jobs": found,
            "before": before,
            "filtered": bool(status or name or priority is not None),
            "self_url": url(before=before) if before else url(),
            "first_url": url(),
            "next_url": url(before=found[-1].id) if len(found) == limit else None,
        },
    )


def job_fragment(request: Request) -> Response:
    ctx = context.of(request)
    job_id = params.job_id(request.path_params["id"])
    with ctx.pool.connection() as conn:
        job = job_records.get(conn, job_id, context.principal(request))
        if job is None:
            raise NotFound(f"no job with id {job_id}")
        outputs = filestore.listing(conn, job_id, FileKind.OUTPUT) if job.status.terminal else []
    shown = job_json(job)
    if job.started_at and job.finished_at:
        shown["took"] = human_duration((job.finished_at - job.started_at).total_seconds())
    return _render(request, "_job.html", {"job": shown, "outputs": outputs})


def workers_fragment(request: Request) -> Response:
    ctx = context.of(request)
    found = read_workers(ctx, context.principal(request))
    return _render(
        request,
        "_workers.html",
        {
            "workers": [worker_json(w) for w in found],
            "lost_after": ctx.settings.master.worker_lost_seconds,
        },
    )


def overview_fragment(request: Request) -> Response:
    ctx = context.of(request)
    owner = context.principal(request)
    with ctx.pool.connection() as conn:
        now = overview.read(conn, owner)
        found = workers.listing(conn, ctx.settings.master.worker_lost_seconds, owner)
    finished = charts.stacked(
        [
            [
                (m.succeeded, f"{m.ago} min ago: {m.succeeded} succeeded", "bar-succeeded"),
                (m.failed, f"{m.ago} min ago: {m.failed} failed", "bar-failed"),
                (m.cancelled, f"{m.ago} min ago: {m.cancelled} cancelled", "bar-cancelled"),
            ]
            for m in now.minutes
        ]
    )
    waits = charts.stacked(
        [
            [
                (
                    m.wait_avg_seconds,
                    f"{m.ago} min ago: average wait {m.wait_avg_seconds:.1f} s",
                    "bar-wait",
                ),
                (
                    m.wait_max_seconds - m.wait_avg_seconds,
                    f"{m.ago} min ago: longest wait {m.wait_max_seconds:.1f} s",
                    "bar-wait-max",
                ),
            ]
            for m in now.minutes
        ]
    )
    states = [str(w.state) for w in found]
    return _render(
        request,
        "_overview.html",
        {
            "o": now,
            "finished": finished,
            "waits": waits,
            "longest_wait": max((m.wait_max_seconds for m in now.minutes), default=0.0),
            "workers": [worker_json(w) for w in found if str(w.state) != "stopped"],
            "alive": states.count("alive"),
            "lost": states.count("lost"),
        },
    )


routes = [
    Route("/ui/fragments/overview", overview_fragment, methods=["GET"]),
    Route("/ui/fragments/jobs", jobs_fragment, methods=["GET"]),
    Route("/ui/fragments/jobs/{id}", job_fragment, methods=["GET"]),
    Route("/ui/fragments/workers", workers_fragment, methods=["GET"]),
]
