"""A worker's writes to the job it runs, each fenced by its attempt: a worker that lost its
lease (the job was queued again and claimed by another) can never overwrite the newer
attempt's logs or result."""

from __future__ import annotations

from dccf.db import Connection
from dccf.jobs import JobStatus, LogStream, Reason

LOG_CHANNEL = "dccf_job_log"


def lock_attempt(conn: Connection, job_id: int, attempt: int) -> bool:
    """Inside a transaction: lock the job row if this attempt still owns it (the fence)."""
    rows = conn.run(
        "SELECT 1 FROM jobs WHERE id = :id AND attempt = :attempt AND status = 'running'"
        " FOR UPDATE",
        id=job_id,
        attempt=attempt,
    )
    return bool(rows)


def finish(
    conn: Connection,
    job_id: int,
    attempt: int,
    status: JobStatus,
    reason: Reason | None,
    exit_code: int | None,
) -> bool:
    """Set the terminal status, fenced by attempt; False if this attempt lost the job."""
    rows = conn.run(
        "UPDATE jobs SET status = :status, reason = :reason, exit_code = :exit_code,"
        " finished_at = now(), lease_until = NULL"
        " WHERE id = :id AND attempt = :attempt AND status = 'running' RETURNING id",
        id=job_id,
        attempt=attempt,
        status=str(status),
        reason=str(reason) if reason else None,
        exit_code=exit_code,
    )
    return bool(rows)


def store_log(conn: Connection, job_id: int, stream: LogStream, data: bytes, dropped: int) -> None:
    conn.run(
        "INSERT INTO job_logs (job_id, stream, data, dropped)"
        " VALUES (:id, :kind, :data, :dropped)"
        " ON CONFLICT (job_id, stream)"
        " DO UPDATE SET data = EXCLUDED.data, dropped = EXCLUDED.dropped",
        id=job_id,
        kind=str(stream),
        data=data,
        dropped=dropped,
    )


def store_live_log(
    conn: Connection, job_id: int, attempt: int, stream: LogStream, data: bytes, dropped: int
) -> bool:
    """The log of a running attempt so far, replacing what was stored; False (and nothing
    written) when the attempt no longer runs the job, or its row is locked right now.

    The job row is locked FOR SHARE, skipping it if locked: the attempt's final result holds
    it while it is stored, so an older snapshot never overwrites the final logs, and a worker
    loop storing live logs never waits on that.
    """
    rows = conn.run(
        "WITH owner AS (SELECT id FROM jobs WHERE id = :id AND attempt = :attempt"
        " AND status = 'running' FOR SHARE SKIP LOCKED)"
        " INSERT INTO job_logs (job_id, stream, data, dropped)"
        " SELECT id, :kind, :data, :dropped FROM owner"
        " ON CONFLICT (job_id, stream)"
        " DO UPDATE SET data = EXCLUDED.data, dropped = EXCLUDED.dropped RETURNING job_id",
        id=job_id,
        attempt=attempt,
        kind=str(stream),
        data=data,
        dropped=dropped,
    )
    return bool(rows)


def notify_log(conn: Connection, job_id: int) -> None:
    """Wakes whoever follows the job's logs; delivered when the transaction commits."""
    conn.run("SELECT pg_notify(:channel, :id)", channel=LOG_CHANNEL, id=str(job_id))
