"""Dispatch: which queued job a free worker slot takes, keeping a running job's lease, and
the master's recovery of jobs whose worker vanished.

Postgres decides everything; a Kafka notice only wakes workers up. A worker with a free slot
calls `claim_next`, which takes the best queued job (priority, then fair share between
principals, then age; see migration 4 in `schema`) whatever notice woke it, so no job waits
while any slot is free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dccf.db import Connection
from dccf.job_records import COLUMNS, JobRecord, from_row


def claim_next(conn: Connection, worker: str, lease_seconds: float) -> JobRecord | None:
    """Take the best queued job for `worker`, or None when nothing is queued."""
    rows = conn.run(
        f"SELECT {COLUMNS} FROM dccf_claim(:worker, :lease)",
        worker=worker,
        lease=float(lease_seconds),
    )
    return from_row(rows[0]) if rows else None


@dataclass(frozen=True)
class Held:
    """A job this worker runs: its id and the attempt the worker claimed."""

    job_id: int
    attempt: int


@dataclass(frozen=True)
class Sweep:
    requeued: list[int]
    lost: list[int]
    republish: list[int]


def sweep(
    conn: Connection,
    *,
    max_attempts: int,
    republish_after_seconds: int,
    batch: int = 500,
    expire_leases: bool = True,
) -> Sweep:
    """Inside a transaction: recover jobs whose worker vanished, and pick queued jobs whose
    notice may be lost (a crash between commit and produce, Kafka down) to wake the workers
    again; idle workers also look for queued jobs on their own every second, so a lost
    notice delays a job by a second at most.

    `expire_leases=False` leaves running jobs alone (their leases may have run out only
    because Postgres was away and nobody could renew them)."""
    requeued: list[list[Any]] = []
    lost: list[list[Any]] = []
    if expire_leases:
        expired = "status = 'running' AND lease_until < now()"
        requeued = conn.run(
            "UPDATE jobs SET status = 'queued', worker = NULL, lease_until = NULL,"
            " queued_at = now(), published_at = now()"
            f" WHERE {expired} AND attempt < :max AND NOT cancel_requested RETURNING id",
            max=max_attempts,
        )
        lost = conn.run(
            "UPDATE jobs SET finished_at = now(), lease_until = NULL,"
            " status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'failed' END,"
            " reason = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'worker_lost' END"
            f" WHERE {expired} RETURNING id",
        )
    republish = conn.run(
        "UPDATE jobs SET published_at = now() WHERE id IN ("
        " SELECT id FROM jobs WHERE status = 'queued'"
        " AND published_at < now() - make_interval(secs => :after)"
        " ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED) RETURNING id",
        after=republish_after_seconds,
        batch=batch,
    )
    return Sweep(
        requeued=[int(r[0]) for r in requeued],
        lost=[int(r[0]) for r in lost],
        republish=[int(r[0]) for r in republish],
    )
