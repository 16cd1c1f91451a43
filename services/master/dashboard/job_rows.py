"""The job list's rows, read for display: Postgres formats the times, so a page of 1,000
jobs costs neither pg8000's timestamp parsing nor Python's formatting (bench/
dashboard_render.py: these two were most of a page's time)."""

from __future__ import annotations

from dataclasses import dataclass

from dccf.db import Connection
from dccf.human import human_duration
from dccf.jobs import JobStatus

_ISO = 'YYYY-MM-DD"T"HH24:MI:SS"Z"'


@dataclass(frozen=True)
class JobRow:
    id: int
    name: str | None
    status: str
    priority: int
    reason: str | None
    exit_code: int | None
    worker: str | None
    created_iso: str
    created_clock: str  # HH:MM:SS today, "Nov 27 13:04" before (UTC)
    took: str  # run time so far, or "—" before the start


def page(
    conn: Connection,
    *,
    principal: str,
    status: JobStatus | None,
    name: str | None,
    priority: int | None = None,
    limit: int,
    before: int | None,
) -> list[JobRow]:
    """Newest first, like GET /v1/jobs; `name` matches names case-insensitively."""
    rows = conn.run(
        "SELECT id, name, status, priority, reason, exit_code, worker,"
        f" to_char(created_at AT TIME ZONE 'UTC', '{_ISO}'),"
        " to_char(created_at AT TIME ZONE 'UTC', CASE WHEN (created_at AT TIME ZONE 'UTC')::date"
        " = (now() AT TIME ZONE 'UTC')::date THEN 'HH24:MI:SS' ELSE 'Mon DD HH24:MI' END),"
        " extract(epoch FROM coalesce(finished_at, now()) - started_at)::float8"
        " FROM jobs WHERE principal = :principal"
        " AND (CAST(:status AS text) IS NULL OR status = :status)"
        " AND (CAST(:priority AS int) IS NULL OR priority = :priority)"
        " AND (CAST(:before AS bigint) IS NULL OR id < :before)"
        " AND (CAST(:name AS text) IS NULL OR strpos(lower(name), lower(:name)) > 0)"
        " ORDER BY id DESC LIMIT :limit",
        principal=principal,
        status=str(status) if status else None,
        priority=priority,
        before=before,
        name=name or None,
        limit=limit,
    )
    return [
        JobRow(
            id=int(r[0]),
            name=r[1],
            status=r[2],
            priority=int(r[3]),
            reason=r[4],
            exit_code=r[5],
            worker=r[6],
            created_iso=r[7],
            created_clock=r[8],
            took="—" if r[9] is None else human_duration(max(0.0, r[9])),
        )
        for r in rows
    ]
