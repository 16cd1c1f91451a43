"""Recovery in the master: one replica at a time (a Postgres advisory lock) every few
seconds puts jobs of vanished workers back in the queue and re-sends lost notices."""

from __future__ import annotations

import logging
import threading
import time

from dccf import db, dispatch, workers
from dccf.queue import Notifier
from dccf.settings import Master

log = logging.getLogger(__name__)

_SWEEP_LOCK = 0x0DCCF002


class Sweeper:
    """`outage_grace_seconds`: after Postgres was unreachable, how long running jobs are left
    alone. Workers could not renew their leases during the outage either, so right after it
    every lease looks expired; a worker gets this long to renew (or store its result) before
    its job counts as lost. A lease plus a sweep interval is enough."""

    def __init__(
        self,
        pool: db.Pool,
        notifier: Notifier,
        cfg: Master,
        outage_grace_seconds: float = 0.0,
    ) -> None:
        self._pool = pool
        self._notifier = notifier
        self._cfg = cfg
        self._outage_grace = outage_grace_seconds
        self._leases_trusted_from = 0.0  # time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self._cfg.sweep_seconds):
            try:
                self.sweep_once()
            except db.DatabaseUnavailable as exc:
                log.warning("sweep skipped, Postgres unavailable: %s", exc)
                self._leases_trusted_from = time.monotonic() + self._outage_grace
            except Exception:  # the sweeper must outlive any single failure
                log.exception("sweep failed")

    def sweep_once(self) -> dispatch.Sweep | None:
        """One pass; None when another replica holds the sweep lock."""
        with self._pool.transaction() as conn:
            held = conn.run("SELECT pg_try_advisory_xact_lock(:key)", key=_SWEEP_LOCK)[0][0]
            if not held:
                return None
            result = dispatch.sweep(
                conn,
                max_attempts=self._cfg.max_attempts,
                republish_after_seconds=self._cfg.republish_after_seconds,
                expire_leases=time.monotonic() >= self._leases_trusted_from,
            )
            workers.prune(conn, self._cfg.worker_forget_hours)
        for job_id in result.lost:
            log.warning("job %d: worker lost and no attempts left; failed", job_id)
        for job_id in result.requeued:
            log.warning("job %d: worker lost its lease; queued again", job_id)
        for job_id in [*result.requeued, *result.republish]:
            self._notifier.publish(job_id)
        return result
