"""The dashboard's pages: shells holding no data, so a browser may load them without a token.

Each page fetches its data from the fragment and stream endpoints with the token the user
gives it (kept in sessionStorage, sent as a bearer header): no cookie, so no CSRF surface.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dccf.jobs import JobStatus
from services.master import context
from services.master.dashboard.templating import STATIC
from services.master.dashboard.views import PAGE_SIZES, dashboard


def _page(request: Request, template: str, page: str, title: str, **extra: Any) -> Response:
    ctx = context.of(request)
    return dashboard(request).templates.TemplateResponse(
        request,
        template,
        {
            "page": page,
            "title": title,
            "auth_required": bool(ctx.settings.master.api_tokens),
            **extra,
        },
        headers={"Cache-Control": "no-cache"},
    )


def overview_page(request: Request) -> Response:
    return _page(request, "overview.html", "overview", "Overview")


def jobs_page(request: Request) -> Response:
    return _page(
        request,
        "jobs.html",
        "jobs",
        "Jobs",
        statuses=[str(s) for s in JobStatus],
        page_sizes=PAGE_SIZES,
    )


def job_page(request: Request) -> Response:
    job_id = request.path_params["id"]
    return _page(request, "job.html", "job", f"Job {job_id}", job_id=job_id)


def submit_page(request: Request) -> Response:
    limits = context.of(request).settings.limits
    return _page(request, "submit.html", "submit", "Submit", limits=limits)


def workers_page(request: Request) -> Response:
    return _page(request, "workers.html", "workers", "Workers")


routes = [
    Route("/", overview_page, methods=["GET"]),
    Route("/ui/jobs", jobs_page, methods=["GET"]),
    Route("/ui/jobs/{id:int}", job_page, methods=["GET"]),
    Route("/ui/submit", submit_page, methods=["GET"]),
    Route("/ui/workers", workers_page, methods=["GET"]),
    Mount("/ui/static", StaticFiles(directory=STATIC), name="static"),
]
