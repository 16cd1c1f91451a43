"""What a worker writes once a second for the jobs it runs: their leases (which also bring back
cancel requests) and their logs so far.

A lease that runs out tells the master's sweeper the worker is gone, and the job is queued
again. A job whose lease could not be renewed because its row is locked right now (its final
result is being stored, or the master is flagging a cancel) is only skipped this round: the
worker loop must never wait on a lock, or every other slot's lease would wait with it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from dccf import db, job_results
from dccf.dispatch import Held
from services.worker.live_logs import LiveLogs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseState:
    held: set[int]  # job ids whose lease was renewed or is merely locked right now
    cancel: set[int]  # of those, the ones a client asked to cancel


def renew(pool: db.Pool, held: list[Held], lease_seconds: float) -> LeaseState:
    """Renew every lease in one statement; jobs this worker no longer owns are left out."""
    if not held:
        return LeaseState(set(), set())
    with pool.connection() as conn:
        rows = conn.run(
            "WITH mine AS (SELECT j.id FROM jobs j"
            " JOIN unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[])) AS h(id, attempt)"
            " ON j.id = h.id AND j.attempt = h.attempt WHERE j.status = 'running'"
            " FOR UPDATE OF j SKIP LOCKED),"
            " renewed AS (UPDATE jobs SET lease_until = now() + make_interval(secs => :lease)"
            " FROM mine WHERE jobs.id = mine.id RETURNING jobs.id, jobs.cancel_requested)"
            # Rows locked by someone else are not renewed now, but are still ours if they
            # are still running under our attempt (a plain read does not wait for locks).
            " SELECT j.id, coalesce(r.cancel_requested, j.cancel_requested), r.id IS NOT NULL"
            " FROM jobs j"
            " JOIN unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[])) AS h(id, attempt)"
            " ON j.id = h.id AND j.attempt = h.attempt"
            " LEFT JOIN renewed r ON r.id = j.id WHERE j.status = 'running'",
            ids=[h.job_id for h in held],
            attempts=[h.attempt for h in held],
            lease=float(lease_seconds),
        )
    return LeaseState(
        held={int(row[0]) for row in rows}, cancel={int(row[0]) for row in rows if row[1]}
    )


def store_logs(pool: db.Pool, running: Iterable[tuple[Held, LiveLogs]]) -> None:
    """Store the logs of running jobs that grew since the last call, and tell followers."""
    for held, logs in running:
        changed = logs.changed()
        if not changed:
            continue
        with pool.connection() as conn:
            stored = [
                stream
                for stream, capped in changed.items()
                if job_results.store_live_log(
                    conn, held.job_id, held.attempt, stream, capped.data, capped.dropped
                )
            ]
            if stored:
                job_results.notify_log(conn, held.job_id)
        logs.unstored(stream for stream in changed if stream not in stored)
