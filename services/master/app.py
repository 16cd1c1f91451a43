"""The master's application factory: routes, middleware, error handlers and lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware

from dccf import db, schema, settings
from dccf.backoff import Backoff, retry
from dccf.queue import Notifier
from services.master import (
    error_handlers,
    jobs_api,
    legacy_api,
    resubmit_api,
    service_api,
    workers_api,
)
from services.master.auth import BearerAuthMiddleware
from services.master.body_limit import BodyLimitMiddleware
from services.master.context import MasterContext
from services.master.job_writer import JobWriter
from services.master.metrics import Metrics
from services.master.status_watch import StatusWatch
from services.master.sweeper import Sweeper
from services.master.webhooks import WebhookDispatcher

log = logging.getLogger(__name__)


def read_demo(directory: Path) -> dict[str, bytes]:
    if not (directory / "Dockerfile").is_file():
        raise SystemExit(
            f"the demo job is missing: no Dockerfile in {directory} (set DCCF_DEMO_DIR)"
        )
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def _migrate(pool: db.Pool, wait_seconds: float = 60.0) -> None:
    """Wait for Postgres at start (it may still be booting in a fresh cluster), then migrate."""

    def migrate() -> int:
        with pool.connection() as conn:
            return schema.migrate(conn)

    version = retry(
        migrate,
        on=db.DatabaseUnavailable,
        backoff=Backoff(first=0.5, cap=2.0),
        deadline_seconds=wait_seconds,
        on_failure=lambda exc, delay: log.warning("waiting for Postgres: %s", exc),
    )
    log.info("schema at version %d", version)


def create_app(config: settings.Settings | None = None) -> Starlette:
    cfg = config or settings.load()
    pool = db.Pool(cfg.postgres, "dccf-master")
    notifier = Notifier(cfg.kafka)
    ctx = MasterContext(
        settings=cfg,
        pool=pool,
        notifier=notifier,
        writer=JobWriter(pool, notifier),
        watch=StatusWatch(cfg.postgres),
        metrics=Metrics(pool),
        demo_files=read_demo(cfg.master.demo_dir),
    )
    sweeper = Sweeper(
        pool,
        ctx.notifier,
        cfg.master,
        outage_grace_seconds=cfg.worker.lease_seconds + cfg.master.sweep_seconds,
    )
    dispatcher = WebhookDispatcher(pool, cfg)
    if not cfg.master.api_tokens:
        log.warning("DCCF_API_TOKENS is empty: the API is open to anyone who can reach it")

    watches = [ctx.watch]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        _migrate(pool)
        for watch in watches:
            watch.start()
        ctx.writer.start()
        sweeper.start()
        dispatcher.start()
        try:
            yield
        finally:
            ctx.writer.stop()
            dispatcher.stop()
            sweeper.stop()
            for watch in watches:
                watch.stop()
            ctx.notifier.close()
            pool.close()

    ui_routes = service_api.root_routes
    if cfg.master.dashboard:
        # Imported only when on, so a master without it loads neither Jinja2 nor its
        # templates (bench/dashboard_render.py compares the two).
        from services.master import dashboard

        ui_routes = dashboard.routes
    app = Starlette(
        routes=[
            *jobs_api.routes,
            *resubmit_api.routes,
            *workers_api.routes,
            *legacy_api.routes,
            *service_api.routes,
            *ui_routes,
        ],
        middleware=[
            Middleware(BearerAuthMiddleware, tokens=cfg.master.api_tokens),
            Middleware(BodyLimitMiddleware, max_bytes=cfg.limits.max_upload_bytes),
        ],
        exception_handlers=error_handlers.handlers,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.api_description = service_api.ApiDescription.build(cfg)
    if cfg.master.dashboard:
        watches.append(dashboard.attach(app, cfg).log_watch)
    return app
