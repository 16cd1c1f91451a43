"""The worker's entry in the workers registry, refreshed every few seconds.

`Heartbeat.beat` is called from the worker loop's once-a-second tick (which also renews the
leases), and writes only when a beat is due, so the registry costs one small UPDATE every
`heartbeat_seconds`.
"""

from __future__ import annotations

import importlib.metadata
import logging
import socket
import time
from datetime import UTC, datetime

from dccf import db, workers
from dccf.settings import Settings

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, cfg: Settings, pool: db.Pool, slots: int) -> None:
        self._pool = pool
        self._every = cfg.worker.heartbeat_seconds
        self._next = 0.0  # time.monotonic() of the next beat: the first call beats
        self.info = workers.WorkerInfo(
            id=cfg.worker.worker_id,
            host=socket.gethostname(),
            version=importlib.metadata.version("dccf"),
            slots=slots,
            started_at=datetime.now(UTC),
        )

    def beat(self) -> None:
        """Record the worker as alive if a beat is due; a Postgres outage only skips it."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self._every
        try:
            with self._pool.connection() as conn:
                workers.heartbeat(conn, self.info)
        except db.DatabaseUnavailable as exc:
            log.warning("heartbeat skipped, Postgres unavailable: %s", exc)

    def leave(self) -> None:
        """Mark the worker stopped (a clean exit), so it is not shown as lost."""
        try:
            with self._pool.connection() as conn:
                workers.leave(conn, self.info.id)
        except db.DatabaseUnavailable as exc:
            log.warning("could not record the worker's stop: %s", exc)
