"""What the dashboard's pages and fragments share: its state on the app, and page sizes."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.templating import Jinja2Templates

from services.master.status_watch import StatusWatch

# Up to 1,000 rows a page: the benchmark's page (bench/dashboard_render.py).
PAGE_SIZES = (25, 50, 100, 200, 1000)
LOG_CHANNEL = "dccf_job_log"


@dataclass(frozen=True)
class DashboardState:
    templates: Jinja2Templates
    # Wakes log followers when a worker stores more of a running job's logs.
    log_watch: StatusWatch


def dashboard(request: Request) -> DashboardState:
    state: DashboardState = request.app.state.dashboard
    return state
