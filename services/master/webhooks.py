"""The webhook dispatcher: every master replica delivers the outbox (schema migration 3).

A pass claims due events with `FOR UPDATE SKIP LOCKED`, only the oldest pending event of each
job, so one job's events go out in order while replicas share the work. Claiming leases an
event (its `next_attempt_at` moves past the longest a delivery can take) and commits: no
transaction stays open during the POST. The outcome is recorded fenced by the attempt
number, so a replica whose lease ran out cannot overwrite a newer attempt's. A crash between
POST and record sends the event again after the lease: delivery is at-least-once, and the
`X-DCCF-Delivery` id, the same for every attempt of one event, lets a receiver deduplicate.

An event that fails `webhook_max_attempts` times is given up: logged, kept in the table for
inspection, and the job's later events go out after it (each carries the whole job, so a
receiver that missed one still learns the current state).

The loop wakes on NOTIFY from the outbox trigger, when a delivery finishes, and when the next
retry falls due.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from dccf import db, job_records
from dccf.backoff import Backoff
from dccf.job_records import JobRecord
from dccf.settings import Settings
from services.master.callback_url import CallbackRefused
from services.master.webhook_post import Poster, event_request

log = logging.getLogger(__name__)

CHANNEL = "dccf_webhook"

_CONCURRENCY = 8
# A missed NOTIFY (the listener reconnecting) delays an event by at most this.
_IDLE_SECONDS = 2.0
# How often a replica gives up events whose last attempt died with its replica, and drops
# finished events older than a week.
_HOUSEKEEPING_SECONDS = 30.0
_MAX_ERROR_CHARS = 1000

# Events whose last attempt was cut short (its replica died) with no attempts left.
_GIVE_UP_ABANDONED = """
    UPDATE webhook_deliveries SET state = 'given_up', done_at = now(),
        last_error = coalesce(last_error, 'the last attempt ended without an outcome')
    WHERE state = 'pending' AND attempts >= :max AND next_attempt_at <= now()
    RETURNING id, job_id
"""

_HEAD = """
    NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                WHERE e.job_id = d.job_id AND e.state = 'pending' AND e.id < d.id)
"""

_CLAIM = f"""
    WITH due AS (
        SELECT d.id FROM webhook_deliveries d
        WHERE d.state = 'pending' AND d.next_attempt_at <= now() AND d.attempts < :max
            AND {_HEAD}
        ORDER BY d.next_attempt_at, d.id
        LIMIT :limit
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE webhook_deliveries w
    SET attempts = w.attempts + 1, last_attempt_at = now(),
        next_attempt_at = now() + make_interval(secs => :lease)
    FROM due WHERE w.id = due.id
    RETURNING w.id, w.delivery_id::text, w.attempts, w.callback_url, w.job::text
"""

_NEXT_DUE = f"""
    SELECT extract(epoch FROM min(d.next_attempt_at) - clock_timestamp())
    FROM webhook_deliveries d WHERE d.state = 'pending' AND d.attempts < :max AND {_HEAD}
"""

_DELIVERED = """
    UPDATE webhook_deliveries
    SET state = 'delivered', done_at = now(), last_status = :status, last_error = NULL
    WHERE id = :id AND attempts = :attempt AND state = 'pending'
"""

_FAILED = """
    UPDATE webhook_deliveries
    SET last_status = :status, last_error = :error,
        state = CASE WHEN attempts >= :max THEN 'given_up' ELSE 'pending' END,
        done_at = CASE WHEN attempts >= :max THEN now() END,
        next_attempt_at = now() + make_interval(secs => :delay)
    WHERE id = :id AND attempts = :attempt AND state = 'pending'
    RETURNING state
"""

_PRUNE = """
    DELETE FROM webhook_deliveries
    WHERE state <> 'pending' AND done_at < now() - interval '7 days'
"""


@dataclass(frozen=True)
class Delivery:
    row_id: int
    delivery_id: str
    attempt: int
    callback_url: str
    job: JobRecord


class WebhookDispatcher:
    def __init__(self, pool: db.Pool, cfg: Settings) -> None:
        self._pool = pool
        self._pg = cfg.postgres
        self._cfg = cfg.master
        # Attempts are counted in the database, so the wait is read by number, with jitter so
        # that receivers that failed together are not retried together.
        self._backoff = Backoff(
            cfg.master.webhook_backoff_seconds, cfg.master.webhook_backoff_cap_seconds, jitter=0.5
        )
        self._poster = Poster(
            cfg.master.webhook_timeout_seconds, cfg.limits.allow_private_callbacks
        )
        # Connect, send and read may each take the timeout, plus name resolution; past the
        # lease the event is presumed lost with its replica and is claimed again.
        self._lease_seconds = 4 * cfg.master.webhook_timeout_seconds + 30
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._busy = 0
        self._last_housekeeping = -_HOUSEKEEPING_SECONDS
        self._senders = ThreadPoolExecutor(_CONCURRENCY, thread_name_prefix="webhook-send")
        self._thread = threading.Thread(target=self._loop, name="webhook-dispatch", daemon=True)
        self._listener = threading.Thread(target=self._listen, name="webhook-listen", daemon=True)

    def start(self) -> None:
        self._listener.start()
        self._thread.start()

    def stop(self) -> None:
        """Stop claiming; deliveries under way finish and are recorded first."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self._listener.join(timeout=5)
        self._senders.shutdown(wait=True)
        self._poster.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                wait = self.dispatch_once()
            except db.DatabaseUnavailable as exc:
                log.warning("webhook dispatch skipped, Postgres unavailable: %s", exc)
                wait = _IDLE_SECONDS
            except Exception:  # the dispatcher must outlive any single failure
                log.exception("webhook dispatch failed")
                wait = _IDLE_SECONDS
            self._wake.wait(wait)

    def dispatch_once(self) -> float:
        """Claim what is due and hand it to the senders; returns how long to sleep."""
        self._housekeeping()
        with self._lock:
            free = _CONCURRENCY - self._busy
        if free == 0:
            return _IDLE_SECONDS  # a finishing delivery wakes the loop
        with self._pool.transaction() as conn:
            _commit_without_waiting_for_disk(conn)
            rows = conn.run(
                _CLAIM, limit=free, lease=self._lease_seconds, max=self._cfg.webhook_max_attempts
            )
            jobs = job_records.from_snapshots(conn, [row[4] for row in rows])
        for row, job in zip(rows, jobs, strict=True):
            with self._lock:
                self._busy += 1
            self._senders.submit(
                self._deliver, Delivery(int(row[0]), row[1], int(row[2]), row[3], job)
            )
        if rows:
            return _IDLE_SECONDS  # each finishing delivery wakes the loop
        due = self._pool.run(_NEXT_DUE, max=self._cfg.webhook_max_attempts)[0][0]
        return _IDLE_SECONDS if due is None else max(0.0, min(float(due), _IDLE_SECONDS))

    def _deliver(self, delivery: Delivery) -> None:
        try:
            status, error = self._attempt(delivery)
            self._record(delivery, status, error)
        except Exception:  # the event stays leased, and is tried again when the lease ends
            log.exception("webhook %s: delivery failed unexpectedly", delivery.delivery_id)
        finally:
            with self._lock:
                self._busy -= 1
            self._wake.set()

    def _attempt(self, delivery: Delivery) -> tuple[int | None, str | None]:
        """The answer's status and, unless it was a 2xx, what went wrong."""
        body, headers = event_request(delivery.job, delivery.delivery_id, self._cfg.webhook_secret)
        try:
            status = self._poster.post(delivery.callback_url, body, headers)
        except CallbackRefused as exc:
            return None, str(exc)
        except httpx.TimeoutException:
            return None, f"no answer within {self._cfg.webhook_timeout_seconds:g} s"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        except (httpx.InvalidURL, OSError) as exc:
            return None, f"cannot reach the callback host: {exc}"
        if 200 <= status < 300:
            return status, None
        return status, f"answered HTTP {status}"

    def _record(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        where = dict(id=delivery.row_id, attempt=delivery.attempt, status=status)
        if error is None:
            with self._pool.transaction() as conn:
                _commit_without_waiting_for_disk(conn)
                conn.run(_DELIVERED, **where)
            return
        delay = self._backoff.after(delivery.attempt)
        with self._pool.transaction() as conn:
            _commit_without_waiting_for_disk(conn)
            rows = conn.run(
                _FAILED,
                **where,
                error=error[:_MAX_ERROR_CHARS],
                max=self._cfg.webhook_max_attempts,
                delay=delay,
            )
        job = delivery.job
        if rows and rows[0][0] == "given_up":
            log.warning(
                "webhook %s (job %d %s) given up after %d attempts: %s",
                delivery.delivery_id,
                job.id,
                job.status,
                delivery.attempt,
                error,
            )
        else:
            log.info(
                "webhook %s (job %d %s) attempt %d failed, retrying in %.1f s: %s",
                delivery.delivery_id,
                job.id,
                job.status,
                delivery.attempt,
                delay,
                error,
            )

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_housekeeping < _HOUSEKEEPING_SECONDS:
            return
        self._last_housekeeping = now
        abandoned = self._pool.run(_GIVE_UP_ABANDONED, max=self._cfg.webhook_max_attempts)
        for row_id, job_id in abandoned:
            log.warning("webhook event %d of job %d given up: no attempts left", row_id, job_id)
        self._pool.run(_PRUNE)

    def _listen(self) -> None:
        db.listen(
            self._pg,
            CHANNEL,
            "dccf-webhook-listen",
            self._stop,
            on_notices=lambda _payloads: self._wake.set(),
            on_listening=self._wake.set,  # events written while nobody listened
        )


def _commit_without_waiting_for_disk(conn: db.Connection) -> None:
    """Inside a transaction: COMMIT returns before the WAL reaches disk (saves an fsync, a few
    ms, on every claim and outcome). A Postgres crash may then lose the last claims or
    outcomes, which only means those events are sent again: still at-least-once."""
    conn.run("SET LOCAL synchronous_commit = off")
