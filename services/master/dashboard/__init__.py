"""The web dashboard the master serves at `/` and below `/ui/` (see pages.py for how it
authenticates, streams.py for how it follows jobs live)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from dccf.settings import Settings
from services.master.dashboard import fragments, pages, streams
from services.master.dashboard.templating import templates
from services.master.dashboard.views import LOG_CHANNEL, DashboardState
from services.master.status_watch import StatusWatch

routes: list[BaseRoute] = [*pages.routes, *fragments.routes, *streams.routes]


def attach(app: Starlette, cfg: Settings) -> DashboardState:
    """Give the app the dashboard's state; the caller starts and stops its log watch."""
    state = DashboardState(templates(), StatusWatch(cfg.postgres, channel=LOG_CHANNEL))
    app.state.dashboard = state
    return state
