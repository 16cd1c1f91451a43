"""The job records as the API sees them: create, read, list, cancel, delete.

Every transition is a conditional UPDATE, so two actors racing for one job cannot both win.
A worker's side of the state machine (claims, leases, results) is in `dispatch` and
`job_results`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from dccf.db import Connection
from dccf.filestore import CHUNK_BYTES, FileKind
from dccf.jobs import JobLimits, JobStatus, LogStream, Network, Reason

COLUMNS = (
    "id, principal, name, status, reason, exit_code, attempt, worker, cancel_requested,"
    " timeout_seconds, memory_mb, cpus, network, callback_url, build_args,"
    " created_at, started_at, finished_at, priority"
)


class Order(StrEnum):
    """How a page of jobs is sorted."""

    NEWEST = "newest"
    PRIORITY = "priority"  # highest first, then newest


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
    priority: int = 0


def from_row(row: list[Any]) -> JobRecord:
    """A record from a row of `COLUMNS`."""
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
        priority=int(row[18]),
    )


@dataclass(frozen=True)
class NewJob:
    """A job to insert as queued.

    `small_file` (kind, path, data of at most one chunk) is stored with it, in the same
    statement: the common submission then costs no round trip of its own.
    """

    principal: str
    name: str | None
    limits: JobLimits
    callback_url: str | None
    build_args: dict[str, str]
    priority: int = 0
    idempotency_key: str | None = None
    small_file: tuple[FileKind, str, bytes] | None = None


def insert(conn: Connection, job: NewJob) -> JobRecord:
    """Insert one queued job (see `insert_many`)."""
    return insert_many(conn, [job])[0]


# One statement for any number of jobs: each job's columns arrive as one array, the ids are
# drawn before the inserts so that files can point at their jobs, and the answer comes back
# in the order of the input.
_INSERT_MANY = (
    "WITH new_jobs AS ("
    " SELECT nextval(pg_get_serial_sequence('jobs', 'id')) AS id, t.* FROM unnest("
    " CAST(:principal AS text[]), CAST(:name AS text[]), CAST(:timeout AS integer[]),"
    " CAST(:memory AS integer[]), CAST(:cpus AS double precision[]), CAST(:network AS text[]),"
    " CAST(:callback AS text[]), CAST(:args AS text[]), CAST(:key AS text[]),"
    " CAST(:priority AS integer[]), CAST(:kind AS text[]), CAST(:path AS text[]),"
    " CAST(:size AS bigint[]), CAST(:sha AS text[]), CAST(:data AS bytea[])"
    " ) WITH ORDINALITY AS t(principal, name, timeout, memory, cpus, network, callback, args,"
    " key, priority, kind, path, size, sha, data, ord)),"
    " j AS (INSERT INTO jobs (id, principal, name, timeout_seconds, memory_mb, cpus, network,"
    " callback_url, build_args, idempotency_key, priority)"
    " SELECT id, principal, name, timeout, memory, cpus, network, callback, args, key, priority"
    f" FROM new_jobs ORDER BY ord RETURNING {COLUMNS}),"
    " f AS (INSERT INTO files (job_id, kind, path, size, sha256)"
    " SELECT id, kind, path, size, sha FROM new_jobs WHERE data IS NOT NULL"
    " RETURNING id, job_id),"
    " c AS (INSERT INTO file_chunks (file_id, seq, data)"
    " SELECT f.id, 0, new_jobs.data FROM f JOIN new_jobs ON new_jobs.id = f.job_id)"
    " SELECT j.* FROM j JOIN new_jobs ON new_jobs.id = j.id ORDER BY new_jobs.ord"
)


def insert_many(conn: Connection, jobs: list[NewJob]) -> list[JobRecord]:
    """Insert queued jobs, each with its small file, in one statement (all or none).

    One statement is one round trip and one commit for a whole batch: the master's group
    commit (`services/master/job_writer.py`) stores concurrent submissions this way.
    """
    files = [job.small_file or (None, None, None) for job in jobs]
    for _kind, _path, data in files:
        if data is not None and len(data) > CHUNK_BYTES:
            raise ValueError(f"small_file holds {len(data)} bytes, more than one chunk")
    rows = conn.run(
        _INSERT_MANY,
        principal=[job.principal for job in jobs],
        name=[job.name for job in jobs],
        timeout=[job.limits.timeout_seconds for job in jobs],
        memory=[job.limits.memory_mb for job in jobs],
        cpus=[job.limits.cpus for job in jobs],
        network=[str(job.limits.network) for job in jobs],
        callback=[job.callback_url for job in jobs],
        args=[json.dumps(job.build_args, sort_keys=True) for job in jobs],
        key=[job.idempotency_key for job in jobs],
        priority=[job.priority for job in jobs],
        kind=[kind for kind, _path, _data in files],
        path=[path for _kind, path, _data in files],
        size=[None if data is None else len(data) for _kind, _path, data in files],
        sha=[None if data is None else hashlib.sha256(data).hexdigest() for *_, data in files],
        data=[data for _kind, _path, data in files],
    )
    return [from_row(row) for row in rows]


def get(conn: Connection, job_id: int, principal: str | None = None) -> JobRecord | None:
    """The job, or None when it does not exist or belongs to another principal."""
    rows = conn.run(
        f"SELECT {COLUMNS} FROM jobs WHERE id = :id"
        " AND (CAST(:principal AS text) IS NULL OR principal = :principal)",
        id=job_id,
        principal=principal,
    )
    return from_row(rows[0]) if rows else None


def from_snapshots(conn: Connection, snapshots: list[str]) -> list[JobRecord]:
    """Jobs as a trigger saw them (`to_jsonb(NEW)`, as JSON text), in the given order, read
    through the same columns and mapping as stored rows, so a webhook's job object matches
    GET /v1/jobs/{id}."""
    if not snapshots:
        return []
    rows = conn.run(
        f"SELECT {COLUMNS} FROM jsonb_populate_recordset(NULL::jobs, CAST(:snapshots AS jsonb))"
        " WITH ORDINALITY ORDER BY ordinality",
        snapshots="[" + ",".join(snapshots) + "]",
    )
    return [from_row(row) for row in rows]


def by_idempotency_key(conn: Connection, principal: str, key: str) -> JobRecord | None:
    """The job this principal created with `key` in the last 24 h; an older key is released."""
    conn.run(
        "UPDATE jobs SET idempotency_key = NULL WHERE principal = :principal"
        " AND idempotency_key = :key AND created_at < now() - interval '24 hours'",
        principal=principal,
        key=key,
    )
    rows = conn.run(
        f"SELECT {COLUMNS} FROM jobs WHERE principal = :principal AND idempotency_key = :key",
        principal=principal,
        key=key,
    )
    return from_row(rows[0]) if rows else None


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
        f" RETURNING {COLUMNS}",
        id=job_id,
        principal=principal,
    )
    return from_row(rows[0]) if rows else None


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
    before: Cursor | None,
    priority: int | None = None,
    order: Order = Order.NEWEST,
) -> list[JobRecord]:
    """One page in `order`; `before` is where the previous page ended."""
    if order is Order.PRIORITY:
        sort = "priority DESC, id DESC"
        after = (
            "(CAST(:before_priority AS int) IS NULL"
            " OR (priority, id) < (:before_priority, :before))"
        )
    else:
        sort = "id DESC"
        after = "(CAST(:before AS bigint) IS NULL OR id < :before)"
    rows = conn.run(
        f"SELECT {COLUMNS} FROM jobs"
        " WHERE (CAST(:principal AS text) IS NULL OR principal = :principal)"
        " AND (CAST(:status AS text) IS NULL OR status = :status)"
        " AND (CAST(:priority AS int) IS NULL OR priority = :priority)"
        f" AND {after} ORDER BY {sort} LIMIT :limit",
        principal=principal,
        status=str(status) if status else None,
        priority=priority,
        before=before.id if before else None,
        before_priority=before.priority if before else None,
        limit=limit,
    )
    return [from_row(r) for r in rows]


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the last job's id (and priority, for `Order.PRIORITY`)."""

    id: int
    priority: int = 0

    def encode(self, order: Order) -> str:
        return f"{self.priority}.{self.id}" if order is Order.PRIORITY else str(self.id)

    @classmethod
    def after(cls, job: JobRecord) -> Cursor:
        return cls(job.id, job.priority)


def logs(conn: Connection, job_id: int) -> dict[LogStream, bytes]:
    rows = conn.run("SELECT stream, data FROM job_logs WHERE job_id = :id", id=job_id)
    return {LogStream(r[0]): bytes(r[1]) for r in rows}


def status_counts(conn: Connection) -> dict[str, int]:
    rows = conn.run("SELECT status, count(*) FROM jobs GROUP BY status")
    return {r[0]: int(r[1]) for r in rows}


def oldest_queued_age(conn: Connection) -> float:
    rows = conn.run(
        "SELECT coalesce(extract(epoch FROM now() - min(queued_at)), 0) FROM jobs"
        " WHERE status = 'queued'"
    )
    return float(rows[0][0])
