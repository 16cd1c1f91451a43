"""Queries on the jobs table shared by master and worker: the job's state machine in SQL.

Every transition is a conditional UPDATE, so two actors racing for one job cannot both win:
a claim needs `status='queued'`, and a worker's writes are fenced by its attempt number.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dccf.db import Connection
from dccf.filestore import CHUNK_BYTES
from dccf.jobs import JobLimits, JobStatus, LogStream, Network, Reason

_COLUMNS = (
    "id, principal, name, status, reason, exit_code, attempt, worker, cancel_requested,"
    " timeout_seconds, memory_mb, cpus, network, callback_url, build_args,"
    " created_at, started_at, finished_at"
)


@dataclass(frozen=True)
class JobRecord:
    id: int
    principal: str
    name: str | None
    status: JobStatus
    reason: Reason | None
    exit_code: int | None
    attempt: int
    worker: str | None
    cancel_requested: bool
    limits: JobLimits
    callback_url: str | None
    build_args: dict[str, str]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _record(row: list[Any]) -> JobRecord:
    return JobRecord(
        id=int(row[0]),
        principal=row[1],
        name=row[2],
        status=JobStatus(row[3]),
        reason=Reason(row[4]) if row[4] else None,
        exit_code=row[5],
        attempt=int(row[6]),
        worker=row[7],
        cancel_requested=bool(row[8]),
        limits=JobLimits(int(row[9]), int(row[10]), float(row[11]), Network(row[12])),
        callback_url=row[13],
        build_args=json.loads(row[14]),
        created_at=row[15],
        started_at=row[16],
        finished_at=row[17],
    )


def insert(
    conn: Connection,
    *,
    principal: str,
    name: str | None,
    limits: JobLimits,
    callback_url: str | None,
    build_args: dict[str, str],
    idempotency_key: str | None = None,
    small_file: tuple[str, str, bytes] | None = None,
) -> JobRecord:
    """Insert a queued job.

    `small_file` (kind, path, data of at most one chunk) is stored in the same statement:
    the common submission then costs one round trip and one commit, where a transaction
    of separate inserts took four round trips.
    """
    params: dict[str, Any] = {
        "principal": principal,
        "name": name,
        "timeout": limits.timeout_seconds,
        "memory": limits.memory_mb,
        "cpus": limits.cpus,
        "network": str(limits.network),
        "callback": callback_url,
        "args": json.dumps(build_args, sort_keys=True),
        "key": idempotency_key,
    }
    job_insert = (
        "INSERT INTO jobs (principal, name, timeout_seconds, memory_mb, cpus, network,"
        " callback_url, build_args, idempotency_key)"
        " VALUES (:principal, :name, :timeout, :memory, :cpus, :network, :callback, :args,"
        f" :key) RETURNING {_COLUMNS}"
    )
    if small_file is None:
        return _record(conn.run(job_insert, **params)[0])
    kind, path, data = small_file
    if len(data) > CHUNK_BYTES:
        raise ValueError(f"small_file holds {len(data)} bytes, more than one chunk")
    rows = conn.run(
        f"WITH j AS ({job_insert}),"
        " f AS (INSERT INTO files (job_id, kind, path, size, sha256)"
        " SELECT id, :kind, :path, :size, :sha FROM j RETURNING id),"
        " c AS (INSERT INTO file_chunks (file_id, seq, data) SELECT id, 0, :data FROM f)"
        " SELECT * FROM j",
        kind=kind,
        path=path,
        size=len(data),
        sha=hashlib.sha256(data).hexdigest(),
        data=data,
        **params,
    )
    return _record(rows[0])


def get(conn: Connection, job_id: int, principal: str | None = None) -> JobRecord | None:
    """The job, or None when it does not exist or belongs to another principal."""
    rows = conn.run(
        f"SELECT {_COLUMNS} FROM jobs WHERE id = :id"
        " AND (CAST(:principal AS text) IS NULL OR principal = :principal)",
        id=job_id,
        principal=principal,
    )
    return _record(rows[0]) if rows else None


def from_snapshots(conn: Connection, snapshots: list[str]) -> list[JobRecord]:
    """Jobs as a trigger saw them (`to_jsonb(NEW)`, as JSON text), in the given order, read
    through the same columns and mapping as stored rows, so a webhook's job object matches
    GET /v1/jobs/{id}."""
    if not snapshots:
        return []
    rows = conn.run(
        f"SELECT {_COLUMNS} FROM jsonb_populate_recordset(NULL::jobs, CAST(:snapshots AS jsonb))"
        " WITH ORDINALITY ORDER BY ordinality",
        snapshots="[" + ",".join(snapshots) + "]",
    )
    return [_record(row) for row in rows]


def by_idempotency_key(conn: Connection, principal: str, key: str) -> JobRecord | None:
    """The job this principal created with `key` in the last 24 h; an older key is released."""
    conn.run(
        "UPDATE jobs SET idempotency_key = NULL WHERE principal = :principal"
        " AND idempotency_key = :key AND created_at < now() - interval '24 hours'",
        principal=principal,
        key=key,
    )
    rows = conn.run(
        f"SELECT {_COLUMNS} FROM jobs WHERE principal = :principal AND idempotency_key = :key",
        principal=principal,
        key=key,
    )
    return _record(rows[0]) if rows else None


def request_cancel(conn: Connection, job_id: int, principal: str) -> JobRecord | None:
    """Cancel a queued job at once; flag a running one for its worker to stop.

    None when the job is unknown or already terminal (the caller tells which).
    """
    rows = conn.run(
        "UPDATE jobs SET cancel_requested = true,"
        " status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,"
        " reason = CASE WHEN status = 'queued' THEN 'cancelled' ELSE reason END,"
        " finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END"
        " WHERE id = :id AND principal = :principal AND status IN ('queued', 'running')"
        f" RETURNING {_COLUMNS}",
        id=job_id,
        principal=principal,
    )
    return _record(rows[0]) if rows else None


def delete_terminal(conn: Connection, job_id: int, principal: str) -> bool:
    """Delete a finished job with its files and logs (ON DELETE CASCADE)."""
    rows = conn.run(
        "DELETE FROM jobs WHERE id = :id AND principal = :principal"
        " AND status IN ('succeeded', 'failed', 'cancelled') RETURNING id",
        id=job_id,
        principal=principal,
    )
    return bool(rows)


def page(
    conn: Connection,
    *,
    principal: str | None,
    status: JobStatus | None,
    limit: int,
    before: int | None,
) -> list[JobRecord]:
    """Newest first; `before` is the id the previous page ended at."""
    rows = conn.run(
        f"SELECT {_COLUMNS} FROM jobs"
        " WHERE (CAST(:principal AS text) IS NULL OR principal = :principal)"
        " AND (CAST(:status AS text) IS NULL OR status = :status)"
        " AND (CAST(:before AS bigint) IS NULL OR id < :before)"
        " ORDER BY id DESC LIMIT :limit",
        principal=principal,
        status=str(status) if status else None,
        before=before,
        limit=limit,
    )
    return [_record(r) for r in rows]


def claim(conn: Connection, job_id: int, worker: str, lease_seconds: int) -> JobRecord | None:
    """Take a queued job for this worker; None if another worker has it or it is not queued."""
    rows = conn.run(
        "UPDATE jobs SET status = 'running', attempt = attempt + 1, worker = :worker,"
        " lease_until = now() + make_interval(secs => :lease), started_at = now()"
        f" WHERE id = :id AND status = 'queued' RETURNING {_COLUMNS}",
        id=job_id,
        worker=worker,
        lease=lease_seconds,
    )
    return _record(rows[0]) if rows else None


def renew_lease(conn: Connection, job_id: int, attempt: int, lease_seconds: int) -> bool | None:
    """Extend the lease; returns whether cancel was requested, or None if the job is no
    longer this attempt's (the worker must then stop and write nothing)."""
    rows = conn.run(
        "UPDATE jobs SET lease_until = now() + make_interval(secs => :lease)"
        " WHERE id = :id AND attempt = :attempt AND status = 'running'"
        " RETURNING cancel_requested",
        id=job_id,
        attempt=attempt,
        lease=lease_seconds,
    )
    return bool(rows[0][0]) if rows else None


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


def logs(conn: Connection, job_id: int) -> dict[LogStream, bytes]:
    rows = conn.run("SELECT stream, data FROM job_logs WHERE job_id = :id", id=job_id)
    return {LogStream(r[0]): bytes(r[1]) for r in rows}


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
    notice may be lost (a crash between commit and produce, Kafka down, a busy partition).

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


def status_counts(conn: Connection) -> dict[str, int]:
    rows = conn.run("SELECT status, count(*) FROM jobs GROUP BY status")
    return {r[0]: int(r[1]) for r in rows}


def oldest_queued_age(conn: Connection) -> float:
    rows = conn.run(
        "SELECT coalesce(extract(epoch FROM now() - min(queued_at)), 0) FROM jobs"
        " WHERE status = 'queued'"
    )
    return float(rows[0][0])
