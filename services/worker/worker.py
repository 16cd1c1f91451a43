"""The worker loop: claim the best queued jobs into free slots, run each in a thread of its own,
keep their leases and live logs fresh, store each result fenced by its attempt.

One `while` loop (rq's shape): reap finished jobs → claim while a slot is free → once a second
renew leases and store live logs → sleep until woken. The engine is tidied in a thread of its
own (`Housekeeping.run`), so a slow Docker answer never delays a claim. It is woken by a Kafka
notice (a new job), by a job ending (a slot freed), or by the one-second tick, which is also
when an idle worker looks for queued jobs on its own: a lost notice delays a job by a second.
Postgres decides who runs what (`dispatch.claim_next`); from a claim on, Postgres owns the job:
if this worker dies its leases run out and the master's sweeper queues the jobs again.
What a job's thread does is in `job_thread`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import docker

from dccf import db, dispatch, schema
from dccf.backoff import Backoff
from dccf.settings import Settings
from services.worker import leases
from services.worker.engine_lock import EngineLock
from services.worker.heartbeat import Heartbeat
from services.worker.housekeeping import Housekeeping
from services.worker.job_thread import JobThread, Slot
from services.worker.live_logs import LiveLogs
from services.worker.wakeups import KafkaWakeups

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0


class Wakeups(Protocol):
    def start(self) -> None: ...
    def close(self) -> None: ...


class Worker:
    def __init__(
        self,
        cfg: Settings,
        pool: db.Pool,
        docker_client: docker.DockerClient,
        wakeups: Callable[[Callable[[], None]], Wakeups] | None = None,
    ) -> None:
        self.cfg = cfg
        self.pool = pool
        self.name = cfg.worker.worker_id
        # When the loop last went round; the watchdog ends a worker whose loop stalls.
        self.progress_at = time.monotonic()
        self._slots: dict[int, Slot] = {}
        self._wake = threading.Event()
        self.heartbeat = Heartbeat(cfg, pool, slots=cfg.worker.slots)
        self._stop = threading.Event()
        self._engine = EngineLock(cfg.worker.docker_host)
        self._housekeeping = Housekeeping(
            docker_client,
            self._engine,
            self.name,
            int(cfg.worker.prune_threshold_gb * 1e9),
        )
        self._make_wakeups = wakeups or (
            lambda wake: KafkaWakeups(cfg.kafka, client_id=self.name, wake=wake)
        )
        self._jobs = JobThread(cfg, pool, docker_client, self._engine, self._housekeeping)
        self._claims = Backoff(first=0.5, cap=min(10.0, cfg.worker.lease_seconds / 3))
        self._claim_after = 0.0
        self._db_away = False

    @property
    def busy(self) -> int:
        """How many jobs run now."""
        return len(self._slots)

    def request_stop(self) -> None:
        """Take no more jobs; finish the running ones, then leave."""
        self._stop.set()
        self._wake.set()

    def run(self, max_jobs: int | None = None, idle_timeout: float | None = None) -> int:
        """Run jobs until asked to stop; returns how many this worker started.

        `max_jobs` (stop claiming after that many) and `idle_timeout` (seconds without a
        running job) make the loop testable; either way running jobs are finished first.
        """
        self._housekeeping.remove_leftovers()
        self._wait_for_schema()
        wakeups = self._make_wakeups(self._wake.set)
        wakeups.start()
        tidied = threading.Event()
        tidying = threading.Thread(
            target=self._housekeeping.run, args=(tidied,), name="housekeeping", daemon=True
        )
        tidying.start()
        started = 0
        idle_since = time.monotonic()
        next_tick = 0.0
        slots = self.cfg.worker.slots
        try:
            with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="job") as executor:
                while True:
                    self.progress_at = time.monotonic()
                    self._reap()
                    if self._slots:
                        idle_since = time.monotonic()
                    done = (
                        self._stop.is_set()
                        or (max_jobs is not None and started >= max_jobs)
                        or (
                            idle_timeout is not None
                            and time.monotonic() - idle_since > idle_timeout
                        )
                    )
                    if done and not self._slots:
                        break
                    if not done:
                        room = slots - len(self._slots)
                        if max_jobs is not None:
                            room = min(room, max_jobs - started)
                        started += self._fill(executor, room)
                    if time.monotonic() >= next_tick:
                        next_tick = time.monotonic() + TICK_SECONDS
                        self._tick()
                    self._wake.wait(max(0.0, min(TICK_SECONDS, next_tick - time.monotonic())))
                    self._wake.clear()
        finally:
            wakeups.close()
            self.heartbeat.leave()
            tidied.set()
            tidying.join()
        return started

    def _wait_for_schema(self) -> None:
        """Workers may start before the master has migrated a new database: claiming then
        would fail, so wait for it (the master migrates at start)."""
        backoff = Backoff(first=0.5, cap=5.0)
        told = False
        while not self._stop.is_set():
            self.progress_at = time.monotonic()
            try:
                with self.pool.connection() as conn:
                    if schema.current(conn):
                        return
            except db.DatabaseUnavailable as exc:
                self._postgres_away(exc)
            else:
                if not told:
                    log.info("waiting for the master to bring the database schema up to date")
                    told = True
            self._stop.wait(backoff.delay())

    # --- the loop's steps ------------------------------------------------------------------

    def _fill(self, executor: ThreadPoolExecutor, room: int) -> int:
        """Claim up to `room` jobs, best first, and start each in a thread."""
        claimed = 0
        while claimed < room and time.monotonic() >= self._claim_after:
            try:
                with self.pool.connection() as conn:
                    job = dispatch.claim_next(conn, self.name, self.cfg.worker.lease_seconds)
            except db.DatabaseUnavailable as exc:
                self._postgres_away(exc)
                self._claim_after = time.monotonic() + self._claims.delay()
                break
            self._postgres_back()
            if job is None:
                break
            log.info("job %d: claimed (attempt %d)", job.id, job.attempt)
            slot = Slot(job, LiveLogs(self.cfg.limits.log_cap_bytes))
            self._slots[job.id] = slot
            slot.future = executor.submit(self._jobs.execute, slot)
            # Woken only once the future is done: a wake-up from inside the job's thread came
            # before its future finished, so the loop found the slot still taken and slept
            # until the next tick (0.77x of direct Docker on trivial jobs).
            slot.future.add_done_callback(lambda _done: self._wake.set())
            claimed += 1
        return claimed

    def _reap(self) -> None:
        for job_id, slot in list(self._slots.items()):
            if slot.future is not None and slot.future.done():
                del self._slots[job_id]
                error = slot.future.exception()
                if error is not None:
                    log.error("job %d: its thread failed", job_id, exc_info=error)

    def _tick(self) -> None:
        """Renew the leases and store the live logs of the jobs running, once a second, and
        record the worker in the registry when a heartbeat is due."""
        self.heartbeat.beat()
        active = [slot for slot in self._slots.values() if not slot.storing.is_set()]
        try:
            state = leases.renew(
                self.pool, [slot.held for slot in active], self.cfg.worker.lease_seconds
            )
            leases.store_logs(self.pool, [(slot.held, slot.logs) for slot in active])
        except db.DatabaseUnavailable as exc:
            # The jobs go on; the master gives leases a grace period after an outage.
            self._postgres_away(exc)
            return
        self._postgres_back()
        for slot in active:
            if slot.job.id not in state.held and not slot.storing.is_set():
                log.warning("job %d: lease lost to another attempt; dropping this run", slot.job.id)
                slot.lost.set()
                slot.cancel.set()
            elif slot.job.id in state.cancel:
                slot.cancel.set()

    def _postgres_away(self, exc: Exception) -> None:
        if not self._db_away:
            log.warning("Postgres unavailable; running jobs go on: %s", exc)
        self._db_away = True

    def _postgres_back(self) -> None:
        if self._db_away:
            log.info("Postgres is back")
        self._db_away = False
        self._claims.reset()
