"""What the master's endpoints share: connections, the notifier, the job writer, the watcher,
metrics."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from dccf import db
from dccf.queue import Notifier
from dccf.settings import Settings
from services.master.job_writer import JobWriter
from services.master.metrics import Metrics
from services.master.status_watch import StatusWatch


@dataclass(frozen=True)
class MasterContext:
    settings: Settings
    pool: db.Pool
    notifier: Notifier
    writer: JobWriter
    watch: StatusWatch
    metrics: Metrics
    demo_files: dict[str, bytes]


def of(request: Request) -> MasterContext:
    ctx: MasterContext = request.app.state.ctx
    return ctx


def principal(request: Request) -> str:
    """The caller, set by the auth middleware; '' when the API is open."""
    return str(request.scope.get("state", {}).get("principal", ""))
